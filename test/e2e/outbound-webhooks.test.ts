/**
 * Outbound webhooks end to end: owners subscribe over GraphQL, booking changes queue deliveries
 * in their transaction, the real `webhook-drain` task sends them to a loopback receiver that
 * verifies every one with the `standardwebhooks` library. Time-dependent behaviour (backoff, the
 * 3-day retry window, disabling after 5 days, the 24-hour rotation overlap) runs the same drain
 * with a clock moved ahead, never with sleeps.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyringSpec, parseKeyring, type SecretKeyring } from '../../src/domain/agents/secrets.ts';
import { cancelBooking, systemTransition } from '../../src/domain/bookings/bookings.ts';
import { OUTBOXES, sweepOutboxes } from '../../src/domain/operations/outboxes.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { drainWebhooks } from '../../src/domain/outbound-webhooks/delivery.ts';
import { webhookSendDeps } from '../../src/domain/outbound-webhooks/deps.ts';
import { secretText } from '../../src/domain/outbound-webhooks/signing.ts';
import {
  reencryptWebhookSecrets,
  subscriptionKeys,
} from '../../src/domain/outbound-webhooks/subscriptions.ts';
import { drainKey } from '../../src/domain/outbound-webhooks/tasks.ts';
import type { Booking, Venue } from '../../src/generated/prisma/client.ts';
import type { BookingStatus } from '../../src/generated/prisma/enums.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createBooking } from '../factories/bookings.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startWebhookReceiver, verifies, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { apiKey, guest, type Person, person, unique } from '../helpers/authz.ts';
import { allReadBeforeAnyWrites } from '../helpers/db.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let app: TestApp;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  // Loopback receivers are private addresses: only 127.0.0.1 is allowed, so ::1 and the rest stay refused.
  app = await startTestApp({ env: { WEBHOOK_ALLOWED_HOSTS: '127.0.0.1/32' } });
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close().catch(() => {})));
  await app?.close();
});

async function receiver(options: { checkTimestamp?: boolean } = {}): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver(options);
  receivers.push(started);
  return started;
}

interface World {
  organizationId: string;
  owner: Person;
  staff: Person;
  venue: Venue;
  guestId: string;
}

async function world(): Promise<World> {
  const organization = await app.services.db.organization.create({ data: { name: unique('Hooks Org') } });
  const venue = await createBookableVenue(app.services.db, { organizationId: organization.id });
  return {
    organizationId: organization.id,
    owner: await person(app, organization.id, 'OWNER'),
    staff: await person(app, organization.id, 'STAFF'),
    venue,
    guestId: (await guest(app)).userId,
  };
}

/** The answers of createWebhookSubscription these tests read. */
type Created =
  | { __typename: 'WebhookSubscriptionSecretPayload'; secret: string; subscription: { id: string } }
  | { __typename: 'ValidationError'; message: string; field: string | null };

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

const CREATE = `mutation Create($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) {
    __typename
    ... on WebhookSubscriptionSecretPayload { secret subscription { id url events enabled } }
    ... on ValidationError { message field }
    ... on Error { message }
  }
}`;

async function subscribe(
  w: World,
  url: string,
  events = [
    'BOOKING_REQUESTED',
    'BOOKING_CONFIRMED',
    'BOOKING_DECLINED',
    'BOOKING_CANCELLED',
    'BOOKING_COMPLETED',
  ],
) {
  const res = await app.gql<{ createWebhookSubscription: Created }, unknown>(
    CREATE,
    { input: { organizationId: gid('Organization', w.organizationId), url, events } },
    { token: w.owner.token },
  );
  const payload = member(res.data?.createWebhookSubscription, 'WebhookSubscriptionSecretPayload', res);
  return { id: rawId(payload.subscription.id), globalId: payload.subscription.id, secret: payload.secret };
}

/** Rotates the subscription's secret as its owner; the new secret. */
async function rotateSecret(w: World, globalId: string): Promise<string> {
  const rotated = await app.gql<
    { rotateWebhookSecret: { __typename: 'WebhookSubscriptionSecretPayload'; secret: string } },
    unknown
  >(
    `mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) {
      __typename ... on WebhookSubscriptionSecretPayload { secret } } }`,
    { input: { subscriptionId: globalId } },
    { token: w.owner.token },
  );
  return member(rotated.data?.rotateWebhookSecret, 'WebhookSubscriptionSecretPayload', rotated).secret;
}

/** A new booking, REQUESTED, through the effects its creation runs (the hook queues booking.requested). */
async function requested(w: World, hoursAhead = 48): Promise<Booking> {
  const booking = await createBooking(app.services.db, {
    venueId: w.venue.id,
    guestId: w.guestId,
    startsAt: new Date(Date.now() + hoursAhead * HOUR),
  });
  await app.services.db.$transaction((tx) =>
    app.services.bookings.effects.inTransaction(tx, { booking, venue: w.venue, from: null }),
  );
  return booking;
}

/** The venue's owner cancels, as the dashboard would. */
function cancelAsVenue(w: World, booking: Booking) {
  const access = createAccess(app.services.db, {
    kind: 'user',
    userId: w.owner.userId,
    isPlatformAdmin: false,
  });
  return cancelBooking(app.services.bookings, access, { bookingId: booking.id, reason: 'test' });
}

function move(booking: Booking, to: BookingStatus) {
  return systemTransition(app.services.bookings, { bookingId: booking.id, to, reason: 'test' });
}

/** The drain as the worker runs it, with a clock `offsetMs` ahead and, optionally, another allow-list. */
function drain(subscriptionId: string, offsetMs = 0, env: { allowed?: boolean } = {}) {
  const config = app.services.config;
  return drainWebhooks(
    webhookSendDeps({
      config:
        env.allowed === false
          ? { ...config, webhooks: { ...config.webhooks, allowed: { hosts: [], cidrs: [] } } }
          : config,
      database: app.services.database,
      keyring: app.services.keyring,
      logger: app.services.logger,
      now: () => new Date(Date.now() + offsetMs),
    }),
    subscriptionId,
  );
}

/**
 * The drain run as its job comes back for each retry, from `fromMs` on, while the next run is due
 * by `untilMs`: a receiver that stays down is tried on the real schedule (at most 6 hours apart),
 * not skipped ahead by days. The clock offset of the last run and its outcome.
 */
async function retryUntil(subscriptionId: string, fromMs: number, untilMs: number) {
  let at = fromMs;
  let outcome = await drain(subscriptionId, at);
  while (outcome.retryAfterMs !== null && at + outcome.retryAfterMs <= untilMs) {
    at += outcome.retryAfterMs;
    outcome = await drain(subscriptionId, at);
  }
  return { at, outcome };
}

/** A subscription's `webhook.disabled` notices. */
async function disabledNotices(subscriptionId: string) {
  const notices = await app.services.db.outboundMessage.findMany({ where: { kind: 'webhook.disabled' } });
  return notices.filter((n) => (n.data as { subscriptionId?: string }).subscriptionId === subscriptionId);
}

const typesOf = (r: WebhookReceiver) =>
  r.accepted.map((d) => `${d.body.data.bookingId ?? '-'} ${d.body.type}`);

describe('outbound webhooks', () => {
  it('sends every booking event, signed the Standard Webhooks way, and the receiver verifies each one', async () => {
    const w = await world();
    const hook = await receiver();
    const { secret } = await subscribe(w, hook.url);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    hook.secrets.push(secret);

    const a = await requested(w);
    await move(a, 'CONFIRMED');
    const b = await requested(w);
    await move(b, 'DECLINED');
    const c = await requested(w);
    await move(c, 'CONFIRMED');
    await app.services.bookings.db.booking.update({ where: { id: c.id }, data: { status: 'SEATED' } });
    await move(c, 'COMPLETED');
    const d = await requested(w);
    await move(d, 'CONFIRMED');
    await cancelAsVenue(w, d);

    await runDueJobs(app, ['webhook-drain']);

    expect(hook.requests).toHaveLength(hook.accepted.length);
    expect(typesOf(hook)).toEqual([
      `${a.id} booking.requested`,
      `${a.id} booking.confirmed`,
      `${b.id} booking.requested`,
      `${b.id} booking.declined`,
      `${c.id} booking.requested`,
      `${c.id} booking.confirmed`,
      `${c.id} booking.completed`,
      `${d.id} booking.requested`,
      `${d.id} booking.confirmed`,
      `${d.id} booking.cancelled`,
    ]);
    const first = hook.accepted[0]!;
    expect(first.id).toMatch(/^msg_/);
    expect(first.body.data).toMatchObject({
      bookingId: a.id,
      venueId: w.venue.id,
      status: 'REQUESTED',
      partySize: 2,
    });
    // No guest's details go to the organisation's receivers.
    expect(first.raw).not.toContain(w.guestId);
  });

  it('passes over a subscription deleted after the change read them, and the change goes through', async () => {
    const w = await world();
    const hook = await receiver();
    const kept = await subscribe(w, hook.url);
    const gone = await subscribe(w, hook.url);
    const booking = await createBooking(app.services.db, {
      venueId: w.venue.id,
      guestId: w.guestId,
      startsAt: new Date(Date.now() + 48 * HOUR),
    });
    // What the change read before its locks, then the owner deletes one of the two.
    const enabled = await app.services.db.webhookSubscription.findMany({
      where: { organizationId: w.organizationId, enabled: true },
      select: { id: true, events: true },
    });
    await app.services.db.webhookSubscription.delete({ where: { id: gone.id } });
    await app.services.db.$transaction((tx) =>
      app.services.bookings.effects.inTransaction(tx, {
        booking,
        venue: w.venue,
        from: null,
        known: { agent: null, webhookSubscriptions: enabled },
      }),
    );
    const deliveries = await app.services.db.webhookDelivery.findMany({ where: { bookingId: booking.id } });
    expect(deliveries.map((d) => [d.subscriptionId, d.eventType])).toEqual([[kept.id, 'booking.requested']]);
  });

  it('queues nothing for a change that rolls back', async () => {
    const w = await world();
    const hook = await receiver();
    const { id } = await subscribe(w, hook.url);
    const booking = await createBooking(app.services.db, {
      venueId: w.venue.id,
      guestId: w.guestId,
      startsAt: new Date(Date.now() + 48 * HOUR),
    });
    await expect(
      app.services.db.$transaction(async (tx) => {
        await app.services.bookings.effects.inTransaction(tx, { booking, venue: w.venue, from: null });
        throw new Error('the change fails after its effects');
      }),
    ).rejects.toThrow('the change fails');
    expect(await app.services.db.webhookDelivery.count({ where: { subscriptionId: id } })).toBe(0);
  });

  it('a receiver down for a while gets every event once it is back, in order per booking, with growing waits', async () => {
    const w = await world();
    // The sender's clock moves minutes ahead: signatures are checked without the 5-minute tolerance.
    const hook = await receiver({ checkTimestamp: false });
    const { id, secret } = await subscribe(w, hook.url);
    hook.secrets.push(secret);
    hook.down();

    const a = await requested(w);
    const b = await requested(w);
    await move(a, 'CONFIRMED');
    await move(b, 'DECLINED');
    await cancelAsVenue(w, a);

    // Down (503): the first delivery is tried and the rest wait behind it.
    expect(await drain(id)).toEqual({ sent: 0, retryAfterMs: 30_000 });
    expect(hook.requests).toHaveLength(1);
    // Not before its time.
    const early = await drain(id, 29_000);
    expect(early.sent).toBe(0);
    expect(early.retryAfterMs).toBeGreaterThan(0);
    expect(early.retryAfterMs).toBeLessThanOrEqual(1000);
    expect(hook.requests).toHaveLength(1);

    let offset = 0;
    const waits: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      offset += (await drain(id, offset)).retryAfterMs!;
      const outcome = await drain(id, offset);
      waits.push(outcome.retryAfterMs!);
    }
    // 30 s, then twice as long after each failure.
    expect(waits).toEqual([60_000, 120_000, 240_000, 480_000]);

    // Connection refused for a while: the attempts are logged with the error.
    await hook.close();
    offset += 480_000;
    expect((await drain(id, offset)).retryAfterMs).toBe(960_000);
    await hook.reopen();

    const head = await app.services.db.webhookDelivery.findFirstOrThrow({
      where: { subscriptionId: id },
      orderBy: { sequence: 'asc' },
      include: { attemptLog: { orderBy: { attemptedAt: 'asc' } } },
    });
    expect(head.attempts).toBe(6);
    expect(head.attemptLog.slice(0, 5).map((t) => [t.statusCode, t.responseSnippet])).toEqual(
      Array(5).fill([503, 'receiver is down for maintenance']),
    );
    expect(head.attemptLog[5]).toMatchObject({
      statusCode: null,
      error: expect.stringContaining('ECONNREFUSED'),
    });
    expect(head.attemptLog.every((t) => t.durationMs >= 0)).toBe(true);

    // Back: everything arrives, in the order it happened.
    hook.up();
    offset += 960_000;
    expect(await drain(id, offset)).toEqual({ sent: 5, retryAfterMs: null });
    expect(typesOf(hook)).toEqual([
      `${a.id} booking.requested`,
      `${b.id} booking.requested`,
      `${a.id} booking.confirmed`,
      `${b.id} booking.declined`,
      `${a.id} booking.cancelled`,
    ]);
    expect(
      (await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } })).failingSince,
    ).toBeNull();
  });

  it('gives a delivery up after 3 days, and disables a subscription failing for 5 days and tells its owners', async () => {
    const w = await world();
    const hook = await receiver({ checkTimestamp: false });
    const { id, globalId, secret } = await subscribe(w, hook.url);
    hook.secrets.push(secret);
    hook.down();

    const a = await requested(w);
    // Every retry up to day 3, at growing waits; the first delivery is still being retried.
    const first = await retryUntil(id, 0, 3 * DAY);
    const ofA = { where: { subscriptionId: id, bookingId: a.id } };
    expect(await app.services.db.webhookDelivery.findFirstOrThrow(ofA)).toMatchObject({ status: 'PENDING' });
    // Past its retry window: FAILED, and the next in line (queued on day 3) goes at once.
    app.clock.advance(3 * DAY);
    const b = await requested(w).finally(() => app.clock.advance(-3 * DAY));
    const due = first.at + first.outcome.retryAfterMs!;
    expect(due).toBeGreaterThanOrEqual(3 * DAY);
    expect((await drain(id, due)).retryAfterMs).toBe(30_000);
    expect(await app.services.db.webhookDelivery.findFirstOrThrow(ofA)).toMatchObject({ status: 'FAILED' });

    // Still failing at 5 days, tried all along: disabled at the first attempt past them, owners told.
    const { at, outcome } = await retryUntil(id, due, 6 * DAY);
    expect(outcome).toEqual({ sent: 0, retryAfterMs: null });
    expect(at).toBeGreaterThanOrEqual(5 * DAY);
    expect(at).toBeLessThanOrEqual(5 * DAY + 6 * HOUR);
    const attemptTimes = (
      await app.services.db.webhookAttempt.findMany({
        where: { delivery: { subscriptionId: id } },
        orderBy: { attemptedAt: 'asc' },
      })
    ).map((t) => t.attemptedAt.getTime());
    const gaps = attemptTimes.slice(1).map((t, i) => t - attemptTimes[i]!);
    // At most 6 hours apart, give or take the real milliseconds the test itself takes.
    expect(Math.max(...gaps)).toBeLessThan(6 * HOUR + 60_000);
    const disabled = await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } });
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'Every delivery failed for 5 days' });
    expect(disabled.failingSince).toEqual(new Date(attemptTimes[0]!));
    const told = await disabledNotices(id);
    expect(told.map((n) => n.userId)).toEqual([w.owner.userId]);
    expect(told[0]!.body).toContain(hook.url);

    // Disabled: it is sent nothing, and events meanwhile are not queued for it.
    const sentBefore = hook.requests.length;
    await requested(w);
    expect(await drain(id, at + HOUR)).toEqual({ sent: 0, retryAfterMs: null });
    expect(hook.requests).toHaveLength(sentBefore);

    // Enabled again by an owner: what was still waiting goes.
    hook.up();
    const res = await app.gql<{ updateWebhookSubscription: { __typename: string } }, unknown>(
      `mutation($input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(input: $input) {
        __typename ... on UpdateWebhookSubscriptionPayload { subscription { enabled failingSince } } } }`,
      { input: { subscriptionId: globalId, enabled: true } },
      { token: w.owner.token },
    );
    member(res.data?.updateWebhookSubscription, 'UpdateWebhookSubscriptionPayload', res);
    expect(await drain(id, at + 2 * HOUR)).toEqual({ sent: 1, retryAfterMs: null });
    expect(hook.accepted.map((d) => d.body.data.bookingId)).toEqual([b.id]);
  });

  it('does not disable for an outage given up weeks ago: a rare event after a quiet month is retried as usual', async () => {
    const w = await world();
    const hook = await receiver({ checkTimestamp: false });
    const { id, secret } = await subscribe(w, hook.url);
    hook.secrets.push(secret);
    hook.down();

    // This month's one event: the receiver is down through all its retries, and it is given up.
    const a = await requested(w);
    expect((await retryUntil(id, 0, 4 * DAY)).outcome).toEqual({ sent: 0, retryAfterMs: null });
    expect(
      await app.services.db.webhookDelivery.findFirstOrThrow({
        where: { subscriptionId: id, bookingId: a.id },
      }),
    ).toMatchObject({ status: 'FAILED' });
    expect(await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } })).toMatchObject({
      enabled: true,
      failingSince: expect.any(Date),
    });

    // A month later the owner has fixed it, but the next event's first attempt meets a passing 503.
    app.clock.advance(30 * DAY);
    const b = await requested(w).finally(() => app.clock.advance(-30 * DAY));
    const monthLater = Date.now() + 30 * DAY;
    expect(await drain(id, 30 * DAY)).toEqual({ sent: 0, retryAfterMs: 30_000 });
    // Not disabled: that failure starts a new run rather than ending the one of a month ago.
    const after = await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } });
    expect(after).toMatchObject({ enabled: true, disabledReason: null });
    expect(after.failingSince!.getTime()).toBeGreaterThanOrEqual(monthLater);

    // So the delivery gets its retry, and arrives.
    hook.up();
    expect(await drain(id, 30 * DAY + 31_000)).toEqual({ sent: 1, retryAfterMs: null });
    expect(hook.accepted.map((d) => d.body.data.bookingId)).toEqual([b.id]);
    expect(await disabledNotices(id)).toEqual([]);
  });

  it('starts the run of failures over when an owner changes the URL', async () => {
    const w = await world();
    const old = await receiver({ checkTimestamp: false });
    const moved = await receiver({ checkTimestamp: false });
    const { id, globalId, secret } = await subscribe(w, old.url);
    old.down();
    moved.down();

    // Two days of failures at the old address.
    await requested(w);
    const before = await retryUntil(id, 0, 2 * DAY);
    const start = (await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } }))
      .failingSince!;

    // The owner points it at a new receiver, which is not ready yet either.
    const res = await app.gql<
      {
        updateWebhookSubscription:
          | {
              __typename: 'UpdateWebhookSubscriptionPayload';
              subscription: { url: string; failingSince: string | null };
            }
          | { __typename: 'ValidationError' };
      },
      unknown
    >(
      `mutation($input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(input: $input) {
        __typename ... on UpdateWebhookSubscriptionPayload { subscription { url failingSince } } } }`,
      { input: { subscriptionId: globalId, url: moved.url } },
      { token: w.owner.token },
    );
    expect(
      member(res.data?.updateWebhookSubscription, 'UpdateWebhookSubscriptionPayload', res).subscription,
    ).toEqual({ url: moved.url, failingSince: null });
    moved.secrets.push(secret);
    const oldRequests = old.requests.length;
    // Events on day 2 and day 4½ keep attempts coming, at most 6 hours apart, until day 7½.
    for (const day of [2, 4.5]) {
      app.clock.advance(day * DAY);
      await requested(w).finally(() => app.clock.advance(-day * DAY));
    }

    // Past 5 days since the first failure at the old address, still enabled and still retried.
    const mid = await retryUntil(id, before.at + before.outcome.retryAfterMs!, 6 * DAY);
    expect(mid.at).toBeGreaterThan(5 * DAY);
    expect(mid.outcome.retryAfterMs).not.toBeNull();
    const failing = await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } });
    expect(failing.enabled).toBe(true);
    // The run began with the first failure at the new address.
    expect(failing.failingSince!.getTime()).toBeGreaterThan(start.getTime() + before.at);
    expect(old.requests).toHaveLength(oldRequests);
    expect(moved.requests.length).toBeGreaterThan(0);

    // The new address down for 5 days of its own: disabled then.
    const end = await retryUntil(id, mid.at + mid.outcome.retryAfterMs!, 9 * DAY);
    expect(end.outcome).toEqual({ sent: 0, retryAfterMs: null });
    const disabled = await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id } });
    expect(disabled.enabled).toBe(false);
    const ranFor = disabled.disabledAt!.getTime() - failing.failingSince!.getTime();
    expect(ranFor).toBeGreaterThanOrEqual(5 * DAY);
    expect(ranFor).toBeLessThanOrEqual(5 * DAY + 6 * HOUR);
  });

  it('an owner who enables it again while an attempt is on its way is not overruled by that attempt failing', async () => {
    const w = await world();
    // A receiver that answers 503, after running `duringAttempt` (when set) while the attempt waits.
    let duringAttempt: (() => Promise<void>) | null = null;
    const failing = createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        const during = duringAttempt;
        duringAttempt = null;
        await during?.();
        res.writeHead(503).end('busy');
      });
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/hooks`;
      const control = await subscribe(w, url);
      const toggled = await subscribe(w, url);
      await requested(w);
      // Both have failed for 5 days on end, the last time a minute ago: the next failure disables.
      const now = Date.now();
      await app.services.db.webhookSubscription.updateMany({
        where: { id: { in: [control.id, toggled.id] } },
        data: { failingSince: new Date(now - 5 * DAY), lastFailedAt: new Date(now - 60_000) },
      });
      expect(await drain(control.id)).toEqual({ sent: 0, retryAfterMs: null });
      expect(
        await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id: control.id } }),
      ).toMatchObject({ enabled: false });
      // The other's delivery has been tried for three days: this failure would be its last.
      await app.services.db.webhookDelivery.updateMany({
        where: { subscriptionId: toggled.id },
        data: { attempts: 9, queuedAt: new Date(now - 3 * DAY - 60_000) },
      });

      // The owner turns the other off and on again (clearing its run) while its attempt waits.
      const setEnabled = async (enabled: boolean) => {
        const res = await app.gql<{ updateWebhookSubscription: { __typename: string } }, unknown>(
          `mutation($input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(input: $input) { __typename } }`,
          { input: { subscriptionId: toggled.globalId, enabled } },
          { token: w.owner.token },
        );
        member(res.data?.updateWebhookSubscription, 'UpdateWebhookSubscriptionPayload', res);
      };
      duringAttempt = async () => {
        await setEnabled(false);
        await setEnabled(true);
      };
      expect(await drain(toggled.id)).toEqual({ sent: 0, retryAfterMs: 30_000 });
      expect(duringAttempt).toBeNull();
      expect(
        await app.services.db.webhookSubscription.findUniqueOrThrow({ where: { id: toggled.id } }),
      ).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
      expect(await disabledNotices(toggled.id)).toEqual([]);
      // Nor is the delivery: enabled again, it has its retries afresh, not the attempt's ninth
      // failure and its deadline.
      const [waiting] = await app.services.db.webhookDelivery.findMany({
        where: { subscriptionId: toggled.id },
      });
      expect(waiting).toMatchObject({ status: 'PENDING', attempts: 0, nextAttemptAt: null });
      expect(waiting!.queuedAt.getTime()).toBeGreaterThan(now);
      const attempts = await app.services.db.webhookAttempt.findMany({
        where: { delivery: { subscriptionId: toggled.id } },
      });
      expect(attempts.map((t) => t.statusCode)).toEqual([503]);
    } finally {
      failing.closeAllConnections();
      await new Promise((r) => failing.close(r));
    }
  });

  it('gives what waited while disabled its retries afresh once enabled: a receiver still down does not lose it', async () => {
    const w = await world();
    const hook = await receiver({ checkTimestamp: false });
    const { id, globalId, secret } = await subscribe(w, hook.url);
    hook.secrets.push(secret);
    const waiting = await requested(w);
    // Queued four days ago, while the subscription was disabled.
    await app.services.db.webhookDelivery.updateMany({
      where: { subscriptionId: id },
      data: { queuedAt: new Date(Date.now() - 4 * DAY) },
    });
    await app.services.db.webhookSubscription.update({
      where: { id },
      data: { enabled: false, disabledAt: new Date(), disabledReason: 'Disabled by a person' },
    });
    const res = await app.gql<{ updateWebhookSubscription: { __typename: string } }, unknown>(
      `mutation($input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(input: $input) { __typename } }`,
      { input: { subscriptionId: globalId, enabled: true } },
      { token: w.owner.token },
    );
    expect(res.data?.updateWebhookSubscription.__typename).toBe('UpdateWebhookSubscriptionPayload');
    // The receiver is still down at the first try: the delivery waits for its retry.
    hook.down();
    expect((await drain(id)).retryAfterMs).toBe(30_000);
    expect(
      await app.services.db.webhookDelivery.findFirstOrThrow({
        where: { subscriptionId: id, bookingId: waiting.id },
      }),
    ).toMatchObject({ status: 'PENDING', attempts: 1 });
    hook.up();
    expect(await drain(id, 31_000)).toEqual({ sent: 1, retryAfterMs: null });
  });

  it('the drain job comes back for the retry, and a drain lost from the queue is swept back', async () => {
    const w = await world();
    const hook = await receiver();
    const { id } = await subscribe(w, hook.url);
    hook.down();
    await requested(w);
    await runDueJobs(app, ['webhook-drain']);
    expect(hook.requests).toHaveLength(1);
    const [job] = await app.services.db.$queryRaw<{ run_at: Date; task_identifier: string }[]>`
      SELECT run_at, task_identifier FROM graphile_worker.jobs WHERE key = ${drainKey(id)}`;
    expect(job?.task_identifier).toBe('webhook-drain');
    expect(job!.run_at.getTime() - Date.now()).toBeGreaterThan(25_000);
    expect(job!.run_at.getTime() - Date.now()).toBeLessThanOrEqual(30_000);

    // The job lost (cancelled by hand, say) while a delivery waits: the outbox sweep brings it back.
    await app.services.db.$executeRaw`DELETE FROM graphile_worker._private_jobs WHERE key = ${drainKey(id)}`;
    await app.services.db.$executeRaw`
      UPDATE webhook_deliveries SET queued_at = now() - interval '2 minutes' WHERE subscription_id = ${id}::uuid`;
    const outboxes = OUTBOXES.filter((o) => o.name === 'webhooks');
    const logger = createLogger('silent');
    expect(await sweepOutboxes(app.services.db, { logger, outboxes })).toEqual([
      { outbox: 'webhooks', scheduled: [drainKey(id)] },
    ]);
    expect(await sweepOutboxes(app.services.db, { logger, outboxes })).toEqual([
      { outbox: 'webhooks', scheduled: [] },
    ]);
  });

  it('gives a receiver one deadline for its whole answer: a 200 whose body never ends counts, a status that never comes fails', async () => {
    // Receivers that answer a byte at a time, each well within the socket's idle timeout.
    const timers = new Set<NodeJS.Timeout>();
    const trickle = (res: ServerResponse) => {
      const timer = setInterval(() => res.write('.'), 50);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
    };
    const endless = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      trickle(res);
    });
    const silent = createServer((req, res) => {
      req.resume();
      // A status line and headers a byte at a time, the last header without end: no answer.
      const head = 'HTTP/1.1 200 OK\r\nX-Slow: ';
      let sent = 0;
      const timer = setInterval(() => res.socket?.write(head[sent++] ?? 'a'), 50);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
    });
    await Promise.all(
      [endless, silent].map((server) => new Promise<void>((r) => server.listen(0, '127.0.0.1', r))),
    );
    try {
      const config = app.services.config;
      const deps = webhookSendDeps({
        config: { ...config, webhooks: { ...config.webhooks, timeoutMs: 400 } },
        database: app.services.database,
        keyring: app.services.keyring,
        logger: app.services.logger,
        now: () => new Date(),
      });
      const w = await world();
      const port = (server: Server) => (server.address() as AddressInfo).port;
      const fine = await subscribe(w, `http://127.0.0.1:${port(endless)}/hooks`, ['BOOKING_REQUESTED']);
      const stuck = await subscribe(w, `http://127.0.0.1:${port(silent)}/hooks`, ['BOOKING_REQUESTED']);
      await requested(w);

      const started = performance.now();
      await Promise.all([drainWebhooks(deps, fine.id), drainWebhooks(deps, stuck.id)]);
      expect(performance.now() - started).toBeLessThan(3_000);
      const attempts = await app.services.db.webhookAttempt.findMany({
        where: { delivery: { subscriptionId: { in: [fine.id, stuck.id] } } },
        include: { delivery: { select: { subscriptionId: true, status: true } } },
      });
      const of = (id: string) => attempts.find((a) => a.delivery.subscriptionId === id)!;
      expect(of(fine.id)).toMatchObject({ statusCode: 200, error: null, delivery: { status: 'DELIVERED' } });
      expect(of(fine.id).responseSnippet).toMatch(/^\.+$/);
      expect(of(stuck.id)).toMatchObject({ statusCode: null, error: 'no answer within 400 ms' });
      expect(of(stuck.id).delivery.status).not.toBe('DELIVERED');
    } finally {
      for (const timer of timers) clearInterval(timer);
      endless.closeAllConnections();
      silent.closeAllConnections();
      await Promise.all([endless, silent].map((server) => new Promise((r) => server.close(r))));
    }
  });

  it('records a receiver’s answer holding bytes PostgreSQL cannot store, and counts the delivery done', async () => {
    // A NUL, and the start of the answer cut inside a four-byte character.
    const answer = Buffer.concat([Buffer.from('ok\u0000 '), Buffer.from('é'.repeat(995)), Buffer.from('😀')]);
    const odd = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(answer);
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    try {
      const config = app.services.config;
      const deps = webhookSendDeps({
        config,
        database: app.services.database,
        keyring: app.services.keyring,
        logger: app.services.logger,
        now: () => new Date(),
      });
      const w = await world();
      const sub = await subscribe(w, `http://127.0.0.1:${(odd.address() as AddressInfo).port}/hooks`, [
        'BOOKING_REQUESTED',
      ]);
      await requested(w);
      await drainWebhooks(deps, sub.id);
      const [attempt, ...more] = await app.services.db.webhookAttempt.findMany({
        where: { delivery: { subscriptionId: sub.id } },
        include: { delivery: { select: { status: true } } },
      });
      expect(more).toEqual([]);
      expect(attempt).toMatchObject({ statusCode: 200, error: null, delivery: { status: 'DELIVERED' } });
      expect(attempt!.responseSnippet?.startsWith('ok\ufffd é')).toBe(true);
    } finally {
      odd.closeAllConnections();
      await new Promise((r) => odd.close(r));
    }
  });

  it('refuses private, loopback and link-local targets when subscribing', async () => {
    const w = await world();
    for (const url of [
      'http://169.254.169.254/latest',
      'http://10.0.0.5/hooks',
      'http://[::1]:8080/',
      'http://[::ffff:192.168.1.1]/',
      'ftp://example.com/',
    ]) {
      const res = await app.gql<{ createWebhookSubscription: Created }, unknown>(
        CREATE,
        {
          input: {
            organizationId: gid('Organization', w.organizationId),
            url,
            events: ['BOOKING_CONFIRMED'],
          },
        },
        { token: w.owner.token },
      );
      const refused = member(res.data?.createWebhookSubscription, 'ValidationError', res);
      expect(refused.field, url).toBe('url');
    }
    expect(
      await app.services.db.webhookSubscription.count({ where: { organizationId: w.organizationId } }),
    ).toBe(0);
  });

  it('holds an organisation to 20 webhooks, even when several are asked for at once', async () => {
    const w = await world();
    const hook = await receiver();
    for (let i = 0; i < 19; i++) await subscribe(w, `${hook.url}/${i}`);
    const answers = await allReadBeforeAnyWrites(
      app.services,
      ['SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [w.organizationId]],
      6,
      () =>
        Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            app.gql<
              { createWebhookSubscription: Created | { __typename: 'ConflictError'; message: string } },
              unknown
            >(
              CREATE,
              {
                input: {
                  organizationId: gid('Organization', w.organizationId),
                  url: `${hook.url}/at-once-${i}`,
                  events: ['BOOKING_CONFIRMED'],
                },
              },
              { token: w.owner.token },
            ),
          ),
        ),
    );
    const kinds = answers.map((a) => a.data?.createWebhookSubscription.__typename).sort();
    expect(kinds).toEqual([
      'ConflictError',
      'ConflictError',
      'ConflictError',
      'ConflictError',
      'ConflictError',
      'WebhookSubscriptionSecretPayload',
    ]);
    expect(
      await app.services.db.webhookSubscription.count({ where: { organizationId: w.organizationId } }),
    ).toBe(20);
  });

  it('checks the address again when sending, and refuses one no longer allowed', async () => {
    const w = await world();
    const hook = await receiver();
    const { id } = await subscribe(w, hook.url);
    await requested(w);
    // The same target, now that 127.0.0.1 is not allowed (as when a name comes to resolve to it).
    expect((await drain(id, 0, { allowed: false })).retryAfterMs).toBe(30_000);
    expect(hook.requests).toHaveLength(0);
    const attempt = await app.services.db.webhookAttempt.findFirstOrThrow({
      where: { delivery: { subscriptionId: id } },
    });
    expect(attempt).toMatchObject({
      statusCode: null,
      error: expect.stringMatching(/refused: .*127\.0\.0\.1 is a loopback address/),
    });
  });

  it('after a rotation signs with both secrets for 24 hours, then with the new one only', async () => {
    const w = await world();
    const hook = await receiver({ checkTimestamp: false });
    const { id, globalId, secret: old } = await subscribe(w, hook.url);
    const fresh = await rotateSecret(w, globalId);
    expect(fresh).not.toBe(old);
    hook.secrets.push(fresh);

    const sendTest = async () => {
      const res = await app.gql<{ sendTestWebhook: { __typename: string } }, unknown>(
        `mutation($input: SendTestWebhookInput!) { sendTestWebhook(input: $input) {
          __typename ... on SendTestWebhookPayload { delivery { id eventType status } } } }`,
        { input: { subscriptionId: globalId } },
        { token: w.owner.token },
      );
      member(res.data?.sendTestWebhook, 'SendTestWebhookPayload', res);
    };
    await sendTest();
    await drain(id, 23 * HOUR);
    await sendTest();
    await drain(id, 25 * HOUR);

    expect(hook.accepted.map((d) => d.body.type)).toEqual(['webhook.test', 'webhook.test']);
    const [within, after] = hook.accepted as [(typeof hook.accepted)[0], (typeof hook.accepted)[0]];
    const headersOf = (d: typeof within) => ({
      'webhook-id': d.id,
      'webhook-timestamp': d.timestamp,
      'webhook-signature': d.signature,
    });
    expect(within.signature.split(' ')).toHaveLength(2);
    expect(verifies(old, within.raw, headersOf(within), false)).toBe(true);
    expect(verifies(fresh, within.raw, headersOf(within), false)).toBe(true);
    expect(after.signature.split(' ')).toHaveLength(1);
    expect(verifies(old, after.raw, headersOf(after), false)).toBe(false);
    expect(verifies(fresh, after.raw, headersOf(after), false)).toBe(true);
  });

  it('re-seals its secrets under a new keyring key, the rotated-out one too, and keeps signing with them', async () => {
    const w = await world();
    const hook = await receiver({ checkTimestamp: false });
    const plain = await subscribe(w, hook.url);
    const { id, globalId, secret: old } = await subscribe(w, hook.url);
    const fresh = await rotateSecret(w, globalId);

    const db = app.services.db;
    const spec = (keyring: SecretKeyring) =>
      [...keyring.keys].map(([keyId, key]) => `${keyId}:${key.toString('base64url')}`).join(',');
    const running = app.services.keyring;
    const next = parseKeyring(`${generateKeyringSpec('next')},${spec(running)}`);
    const keysUnder = async (keyring: SecretKeyring, subscriptionId: string) =>
      (
        await subscriptionKeys(
          db,
          keyring,
          await db.webhookSubscription.findUniqueOrThrow({ where: { id: subscriptionId } }),
          app.clock.now(),
        )
      ).map(secretText);

    // A secret rotated out long ago, under a key already dropped: cleared, not opened.
    const stale = await subscribe(w, hook.url);
    await db.webhookSubscription.update({
      where: { id: stale.id },
      data: {
        previousSecretCiphertext: 'sealed under a key no longer kept',
        previousSecretKeyId: 'dropped',
        previousSecretExpiresAt: new Date(app.clock.now().getTime() - HOUR),
      },
    });

    // The operator's rotation: a new key first, `npm run agents:reencrypt`, then the old key dropped.
    expect(await reencryptWebhookSecrets(db, next, app.clock.now())).toBeGreaterThanOrEqual(3);
    expect(await db.webhookSubscription.findUniqueOrThrow({ where: { id: stale.id } })).toMatchObject({
      secretKeyId: 'next',
      previousSecretCiphertext: null,
      previousSecretKeyId: null,
      previousSecretExpiresAt: null,
    });
    expect(await db.webhookSubscription.findUniqueOrThrow({ where: { id } })).toMatchObject({
      secretKeyId: 'next',
      previousSecretKeyId: 'next',
    });
    expect(await db.webhookSubscription.findUniqueOrThrow({ where: { id: plain.id } })).toMatchObject({
      secretKeyId: 'next',
      previousSecretKeyId: null,
    });
    const nextAlone = parseKeyring(spec(next).split(',')[0]!);
    expect(await keysUnder(nextAlone, id)).toEqual([fresh, old]);
    expect(await keysUnder(nextAlone, plain.id)).toEqual([plain.secret]);
    await expect(keysUnder(running, id)).rejects.toThrow(/No key next/);
    // Run again, nothing is left to do.
    expect(await reencryptWebhookSecrets(db, next, app.clock.now())).toBe(0);

    // And back under the running key (the app here keeps its keyring), which signs with both still.
    const back = parseKeyring(`${spec(running)},${spec(nextAlone)}`);
    expect(await reencryptWebhookSecrets(db, back, app.clock.now())).toBeGreaterThanOrEqual(3);
    expect(await keysUnder(running, id)).toEqual([fresh, old]);
    hook.secrets.push(fresh);
    const sent = await app.gql<{ sendTestWebhook: { __typename: string } }, unknown>(
      `mutation($input: SendTestWebhookInput!) { sendTestWebhook(input: $input) { __typename } }`,
      { input: { subscriptionId: globalId } },
      { token: w.owner.token },
    );
    expect(sent.data?.sendTestWebhook.__typename, JSON.stringify(sent.body)).toBe('SendTestWebhookPayload');
    await drain(id);
    expect(hook.accepted.map((d) => d.body.type)).toEqual(['webhook.test']);
  });

  it('lists subscriptions with their deliveries and attempts, and resends one with its webhook-id', async () => {
    const w = await world();
    const hook = await receiver();
    const { globalId, secret } = await subscribe(w, hook.url);
    hook.secrets.push(secret);
    await requested(w);
    await runDueJobs(app, ['webhook-drain']);
    expect(hook.accepted).toHaveLength(1);

    const listed = await app.gql<
      {
        node: {
          webhookSubscriptions: { totalCount: number; edges: { node: { id: string; url: string } }[] };
        };
      },
      unknown
    >(
      `query($id: ID!) { node(id: $id) { ... on Organization {
        webhookSubscriptions(first: 10) { totalCount edges { node { id url } } } } } }`,
      { id: gid('Organization', w.organizationId) },
      { token: w.owner.token },
    );
    expect(
      listed.data?.node.webhookSubscriptions.edges.map((e) => e.node),
      JSON.stringify(listed.body),
    ).toEqual([{ id: globalId, url: hook.url }]);
    const recent = await app.gql<
      {
        node: {
          deliveries: {
            edges: {
              node: {
                id: string;
                messageId: string;
                status: string;
                eventType: string;
                body: string;
                attemptLog: { statusCode: number }[];
              };
            }[];
          };
        };
      },
      unknown
    >(
      `query($id: ID!) { node(id: $id) { ... on WebhookSubscription {
        deliveries(first: 5) { edges { node { id messageId status eventType body attemptLog { statusCode durationMs } } } } } } }`,
      { id: globalId },
      { token: w.owner.token },
    );
    const delivery = recent.data?.node.deliveries.edges[0]?.node;
    if (!delivery) throw new Error(`no delivery listed: ${JSON.stringify(recent.body)}`);
    expect(delivery, JSON.stringify(recent.body)).toMatchObject({
      status: 'DELIVERED',
      eventType: 'booking.requested',
      messageId: hook.accepted[0]!.id,
      body: hook.accepted[0]!.raw,
    });
    expect(delivery!.attemptLog.map((a) => a.statusCode)).toEqual([204]);

    const resent = await app.gql<{ resendWebhookDelivery: { __typename: string } }, unknown>(
      `mutation($input: ResendWebhookDeliveryInput!) { resendWebhookDelivery(input: $input) {
        __typename ... on ResendWebhookDeliveryPayload { delivery { status } } } }`,
      { input: { deliveryId: delivery.id } },
      { token: w.owner.token },
    );
    member(resent.data?.resendWebhookDelivery, 'ResendWebhookDeliveryPayload', resent);
    await runDueJobs(app, ['webhook-drain']);
    expect(hook.accepted.map((d) => d.id)).toEqual([delivery.messageId, delivery.messageId]);

    // Staff of the organisation see none of it.
    const asStaff = await app.gql<{ node: { webhookSubscriptions: unknown } | null }, unknown>(
      `query($id: ID!) { node(id: $id) { ... on Organization { webhookSubscriptions(first: 10) { totalCount } } } }`,
      { id: gid('Organization', w.organizationId) },
      { token: w.staff.token },
    );
    expect(asStaff.data?.node?.webhookSubscriptions ?? null, JSON.stringify(asStaff.body)).toBeNull();
  });

  it('refuses staff and other organisations, and deletes with the deliveries', async () => {
    const w = await world();
    const hook = await receiver();
    // STAFF, and a write key acting as the owner who made it: both refused, nothing created.
    const key = await apiKey(app, w.organizationId, w.owner.userId, ['read', 'write']);
    for (const token of [w.staff.token, key.secret]) {
      const refused = await app.gql<{ createWebhookSubscription: { __typename: string } | null }, unknown>(
        CREATE,
        {
          input: {
            organizationId: gid('Organization', w.organizationId),
            url: hook.url,
            events: ['BOOKING_CONFIRMED'],
          },
        },
        { token },
      );
      expect(refused.data?.createWebhookSubscription ?? null, JSON.stringify(refused.body)).toBeNull();
      expect(refused.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([
        ['You are not allowed to do this', 'FORBIDDEN'],
      ]);
    }
    expect(
      await app.services.db.webhookSubscription.count({ where: { organizationId: w.organizationId } }),
    ).toBe(0);
    const other = await world();
    const { globalId, id } = await subscribe(w, hook.url);
    for (const token of [w.staff.token, other.owner.token]) {
      const res = await app.gql<{ deleteWebhookSubscription: { __typename: string } | null }, unknown>(
        `mutation($input: DeleteWebhookSubscriptionInput!) { deleteWebhookSubscription(input: $input) { __typename } }`,
        { input: { subscriptionId: globalId } },
        { token },
      );
      expect(
        res.data?.deleteWebhookSubscription?.__typename ?? res.errors?.[0]?.message,
        JSON.stringify(res.body),
      ).toMatch(/NotAllowedError|not allowed/i);
    }
    await requested(w);
    const deleted = await app.gql<{ deleteWebhookSubscription: { __typename: string } }, unknown>(
      `mutation($input: DeleteWebhookSubscriptionInput!) { deleteWebhookSubscription(input: $input) { __typename } }`,
      { input: { subscriptionId: globalId } },
      { token: w.owner.token },
    );
    expect(deleted.data?.deleteWebhookSubscription.__typename).toBe('DeleteWebhookSubscriptionPayload');
    expect(await app.services.db.webhookDelivery.count({ where: { subscriptionId: id } })).toBe(0);
    // The drain job left behind finds nothing to send.
    await runDueJobs(app, ['webhook-drain']);
    expect(hook.requests).toHaveLength(0);
  });
});
