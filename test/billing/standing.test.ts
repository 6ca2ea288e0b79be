/**
 * Subscription standing, dunning and the daily reconcile, against the loopback Stripe and real
 * PostgreSQL. A failed renewal makes the organisation PAST_DUE with its features on until grace
 * ends, and its owners (not admins or staff) get one notice with the date and the billing page,
 * however often Stripe says so; past grace it is RESTRICTED (no plan's features) and told so once;
 * paid again it is ACTIVE and told so once. The reconcile puts right a subscription whose webhook
 * was lost and cancels one Stripe no longer knows; run again, it changes nothing.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileSubscriptions, reconcileSubscriptionsTask } from '../../src/domain/billing/reconcile.ts';
import { isVenueSubscriber, planStanding, subscriptionStanding } from '../../src/domain/billing/standing.ts';
import { applyRecordedStripeEvent } from '../../src/domain/billing/stripe-events.ts';
import { developerTier } from '../../src/domain/developer/tiers.ts';
import type { StripeClient } from '../../src/integrations/stripe/client.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { stripeDepsOf } from '../../src/worker/billing.ts';
import { type FakeStripe, type StripeEvent, startFakeStripe, stripeEnv } from '../fakes/stripe.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, accessToken, createActors, type Person, person } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const GROWTH = 'price_venue_growth_test';
const DAY = 86_400_000;

let fake: FakeStripe;
let app: TestApp;
let stripe: StripeClient;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: stripeEnv(fake, { STRIPE_TIMEOUT_MS: '2000', STRIPE_PRICE_VENUE_GROWTH: GROWTH }),
  });
  stripe = app.services.billing.stripe!;
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
});

const seconds = () => Math.floor(Date.now() / 1000);
const standingDeps = () => ({
  plans: app.services.config.billing.plans,
  now: app.services.now,
  graceDays: app.services.config.billing.graceDays,
});
const standing = (organizationId: string) => planStanding(app.services.db, standingDeps(), organizationId);
const row = (id: string) =>
  app.services.db.billingSubscription.findUniqueOrThrow({ where: { stripeSubscriptionId: id } });

interface Subscribed {
  fx: Actors;
  secondOwner: Person;
  customerId: string;
  subscriptionId: string;
}

/** An organisation (two owners, an admin, staff) on the venue plan growth, active and stored. */
async function subscribed(): Promise<Subscribed> {
  const fx = await createActors(app);
  const secondOwner = await person(app, fx.organizationId, 'OWNER');
  const customer = await stripe.customers.create(
    { metadata: { organizationId: fx.organizationId } },
    { idempotencyKey: `customer:${fx.organizationId}:v1` },
  );
  // As Checkout makes it: the plan's item, and the items of the meters it bills (listed first).
  const subscription = fake.createSubscription({
    customer: customer.id,
    organizationId: fx.organizationId,
    price: GROWTH,
    meteredPrices: ['price_conversations_test', 'price_a2a_bookings_test'],
  });
  await deliver(fake.event('customer.subscription.created', subscription, { created: seconds() - 600 }));
  expect(await row(subscription.id)).toMatchObject({ status: 'active', notifiedStanding: 'ACTIVE' });
  return { fx, secondOwner, customerId: customer.id, subscriptionId: subscription.id };
}

async function deliver(event: StripeEvent) {
  const response = await fake.sendEvent(`${app.url}/webhooks/stripe`, event);
  expect(response.status).toBe(200);
  await runDueJobs(app, ['stripe-event']);
}

const paymentFailed = (s: Subscribed) =>
  fake.event('invoice.payment_failed', {
    id: `in_${s.subscriptionId}`,
    object: 'invoice',
    customer: s.customerId,
    status: 'open',
    parent: { subscription_details: { subscription: s.subscriptionId } },
  });

/** Every billing notice written for the organisation's people, by kind, as [userId, …]. */
async function notices(s: Subscribed) {
  const rows = await app.services.db.outboundMessage.findMany({
    where: {
      kind: { startsWith: 'billing.' },
      userId: {
        in: [s.fx.owner.userId, s.secondOwner.userId, s.fx.admin.userId, s.fx.staff.userId],
      },
    },
    orderBy: { createdAt: 'asc' },
  });
  return rows;
}
const recipients = (rows: Awaited<ReturnType<typeof notices>>, kind: string) =>
  rows
    .filter((r) => r.kind === kind)
    .map((r) => r.userId)
    .sort();

const BILLING = /* GraphQL */ `
  query ($id: ID!) {
    organization(id: $id) {
      billing { plan status standing graceEndsAt }
    }
  }
`;
async function billingAs(token: string, organizationId: string) {
  const res = await app.gql<{ organization: { billing: Record<string, unknown> | null } }, unknown>(
    BILLING,
    { id: encodeGlobalID('Organization', organizationId) },
    { token },
  );
  expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
  return res.data!.organization.billing;
}

describe('dunning', () => {
  it('keeps a past-due organisation on until grace ends, tells its owners once, then restricts it, and welcomes it back', async () => {
    const s = await subscribed();
    const org = s.fx.organizationId;
    const owners = [s.fx.owner.userId, s.secondOwner.userId].sort();

    // The renewal fails: Stripe marks the subscription past_due and sends invoice.payment_failed,
    // twice (a redelivery), and customer.subscription.updated besides.
    const before = app.services.now();
    fake.updateSubscription(s.subscriptionId, { status: 'past_due' });
    const failed = paymentFailed(s);
    await fake.sendEvent(`${app.url}/webhooks/stripe`, failed);
    await deliver(failed);
    const firstSince = (await row(s.subscriptionId)).pastDueSince;
    await deliver(fake.event('customer.subscription.updated', fake.objects.get(s.subscriptionId)));
    // The job applying the event once more (a worker that died after applying it).
    const [recorded] = await app.services.db.providerEvent.findMany({
      where: { provider: 'stripe', eventId: failed.id },
    });
    await applyRecordedStripeEvent(app.services.db, recorded!.id, stripeDepsOf(app.services)!);

    const stored = await row(s.subscriptionId);
    expect(stored.status).toBe('past_due');
    // Grace counts from the first time it was seen past due, however often it is seen again.
    expect(stored.pastDueSince).toEqual(firstSince);
    expect(stored.pastDueSince!.getTime()).toBeGreaterThanOrEqual(before.getTime());
    expect(stored.pastDueSince!.getTime()).toBeLessThanOrEqual(app.services.now().getTime());
    const graceEndsAt = new Date(stored.pastDueSince!.getTime() + 7 * DAY);

    const pastDue = await standing(org);
    expect(pastDue).toMatchObject({
      standing: 'PAST_DUE',
      plan: 'VENUE_GROWTH',
      subscribedPlan: 'VENUE_GROWTH',
      status: 'past_due',
      graceEndsAt,
    });
    expect(isVenueSubscriber(pastDue)).toBe(true);

    // Each owner, and nobody else, got one notice: what failed, until when, where to pay.
    let sent = await notices(s);
    expect(sent.map((r) => r.kind)).toEqual(['billing.past_due', 'billing.past_due']);
    expect(recipients(sent, 'billing.past_due')).toEqual(owners);
    const [notice] = sent;
    expect(notice).toMatchObject({ channel: 'EMAIL', status: 'PENDING' });
    expect(notice!.subject).toContain('Payment failed: AGNT Venue Growth');
    expect(notice!.body).toContain("couldn't collect the payment");
    expect(notice!.body).toContain('https://app.agnt.test/billing');
    const written = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'UTC',
      weekday: 'short',
      day: 'numeric',
      month: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    }).format(graceEndsAt);
    expect(notice!.body).toContain(`until ${written} UTC`);

    // The dashboard: owners see the standing and the grace; STAFF see no billing at all.
    expect(await billingAs(s.fx.owner.token, org)).toEqual({
      plan: 'VENUE_GROWTH',
      status: 'past_due',
      standing: 'PAST_DUE',
      graceEndsAt: graceEndsAt.toISOString(),
    });
    expect(await billingAs(s.fx.staff.token, org)).toBeNull();

    // The end of grace has its job, due then.
    const { rows: jobs } = await app.services.database.pool.query<{ run_at: Date }>(
      'SELECT run_at FROM graphile_worker.jobs WHERE key = $1',
      [`subscription-grace-end:${stored.id}`],
    );
    expect(jobs.map((j) => j.run_at)).toEqual([graceEndsAt]);

    // A minute before grace ends nothing has changed; a minute after, the organisation is restricted.
    app.clock.advance(graceEndsAt.getTime() - app.services.now().getTime() - 60_000);
    expect((await standing(org)).standing).toBe('PAST_DUE');
    // The queue's clock ahead of ours: the job runs early, tells nobody, and waits for the end again.
    const runGraceEndNow = async () => {
      await app.services.database.pool.query(
        'UPDATE graphile_worker._private_jobs SET run_at = now() WHERE key = $1',
        [`subscription-grace-end:${stored.id}`],
      );
      await runDueJobs(app, ['subscription-grace-end']);
    };
    await runGraceEndNow();
    expect(recipients(await notices(s), 'billing.restricted')).toEqual([]);
    expect(
      (
        await app.services.database.pool.query<{ run_at: Date }>(
          'SELECT run_at FROM graphile_worker.jobs WHERE key = $1',
          [`subscription-grace-end:${stored.id}`],
        )
      ).rows.map((j) => j.run_at),
    ).toEqual([graceEndsAt]);
    app.clock.advance(120_000);
    const restricted = await standing(org);
    expect(restricted).toMatchObject({
      standing: 'RESTRICTED',
      plan: null,
      subscribedPlan: 'VENUE_GROWTH',
      status: 'past_due',
      graceEndsAt,
    });
    expect(isVenueSubscriber(restricted)).toBe(false);
    // A week on, the owner signs in again.
    const ownerToken = await accessToken(app, s.fx.owner.userId);
    expect(await billingAs(ownerToken, org)).toEqual({
      plan: 'VENUE_GROWTH',
      status: 'past_due',
      standing: 'RESTRICTED',
      graceEndsAt: graceEndsAt.toISOString(),
    });

    // The grace-end job runs (the queue's clock brought level with ours), and the daily reconcile
    // after it: the owners are told once that the features are off.
    await runGraceEndNow();
    expect(recipients(await notices(s), 'billing.restricted')).toEqual(owners);
    await reconcileSubscriptions(app.services.db, {
      ...stripeDepsOf(app.services)!,
      logger: app.services.logger,
    });
    sent = await notices(s);
    expect(recipients(sent, 'billing.restricted')).toEqual(owners);
    expect(sent.find((r) => r.kind === 'billing.restricted')!.body).toContain(
      'https://app.agnt.test/billing',
    );

    // Paid at last: active again, features on, the owners told once.
    fake.updateSubscription(s.subscriptionId, { status: 'active' });
    const paid = fake.event('invoice.paid', {
      id: `in_paid_${s.subscriptionId}`,
      object: 'invoice',
      customer: s.customerId,
      parent: { subscription_details: { subscription: s.subscriptionId } },
    });
    await deliver(paid);
    await deliver(fake.event('customer.subscription.updated', fake.objects.get(s.subscriptionId)));
    expect(await standing(org)).toMatchObject({
      standing: 'ACTIVE',
      plan: 'VENUE_GROWTH',
      status: 'active',
      graceEndsAt: null,
    });
    expect((await row(s.subscriptionId)).pastDueSince).toBeNull();
    sent = await notices(s);
    expect(recipients(sent, 'billing.recovered')).toEqual(owners);
    expect(sent).toHaveLength(6);
    expect(await billingAs(ownerToken, org)).toMatchObject({ standing: 'ACTIVE', graceEndsAt: null });
    expect(await billingAs(await accessToken(app, s.fx.staff.userId), org)).toBeNull();
  });

  it('tells nobody about a first payment still incomplete, nor welcomes it when it goes through', async () => {
    const fx = await createActors(app);
    const customer = await stripe.customers.create(
      { metadata: { organizationId: fx.organizationId } },
      { idempotencyKey: `customer:${fx.organizationId}:v1` },
    );
    const subscription = fake.createSubscription({
      customer: customer.id,
      organizationId: fx.organizationId,
      price: GROWTH,
      status: 'incomplete',
    });
    await deliver(fake.event('customer.subscription.created', subscription, { created: seconds() - 60 }));
    expect(await standing(fx.organizationId)).toMatchObject({ standing: 'RESTRICTED', plan: null });
    await deliver(
      fake.event(
        'customer.subscription.updated',
        fake.updateSubscription(subscription.id, { status: 'active' }),
      ),
    );
    expect(await standing(fx.organizationId)).toMatchObject({ standing: 'ACTIVE', plan: 'VENUE_GROWTH' });
    expect(
      await app.services.db.outboundMessage.count({
        where: { kind: { startsWith: 'billing.' }, userId: fx.owner.userId },
      }),
    ).toBe(0);
  });

  it('restricts an unpaid subscription at once and a cancelled one has no plan', async () => {
    const s = await subscribed();
    const org = s.fx.organizationId;
    await deliver(
      fake.event(
        'customer.subscription.updated',
        fake.updateSubscription(s.subscriptionId, { status: 'unpaid' }),
      ),
    );
    expect(await standing(org)).toMatchObject({ standing: 'RESTRICTED', plan: null, graceEndsAt: null });
    expect(recipients(await notices(s), 'billing.restricted')).toEqual(
      [s.fx.owner.userId, s.secondOwner.userId].sort(),
    );
    await deliver(
      fake.event(
        'customer.subscription.deleted',
        fake.updateSubscription(s.subscriptionId, { status: 'canceled' }),
      ),
    );
    expect(await standing(org)).toMatchObject({
      standing: 'NONE',
      plan: null,
      subscribedPlan: 'VENUE_GROWTH',
    });
    // Nothing to tell about a cancellation the owners made themselves.
    expect(await notices(s)).toHaveLength(2);
  });

  it('counts the subscription in the best standing when an organisation has two, whichever Stripe told of last', async () => {
    const s = await subscribed();
    const org = s.fx.organizationId;
    await deliver(
      fake.event(
        'customer.subscription.updated',
        fake.updateSubscription(s.subscriptionId, { status: 'unpaid' }),
        { created: seconds() - 300 },
      ),
    );
    expect(await standing(org)).toMatchObject({ standing: 'RESTRICTED' });
    // The owner subscribes again; then Stripe tells of the old one once more (a reconcile, a late event).
    const again = fake.createSubscription({ customer: s.customerId, organizationId: org, price: GROWTH });
    await deliver(fake.event('customer.subscription.created', again, { created: seconds() - 200 }));
    await deliver(
      fake.event('customer.subscription.updated', fake.updateSubscription(s.subscriptionId, {}), {
        created: seconds(),
      }),
    );
    expect((await row(s.subscriptionId)).stateAt.getTime()).toBeGreaterThan(
      (await row(again.id)).stateAt.getTime(),
    );
    expect(await standing(org)).toMatchObject({
      standing: 'ACTIVE',
      plan: 'VENUE_GROWTH',
      stripeSubscriptionId: again.id,
    });
  });

  it('answers for a venue plan and a developer plan held side by side, each by its own subscription', async () => {
    const s = await subscribed();
    const org = s.fx.organizationId;
    // Event times on the app's clock, which earlier tests moved on.
    const clock = () => Math.floor(app.services.now().getTime() / 1000);
    // A developer plan, whose renewal failed yesterday (in grace), beside the active venue plan.
    const developer = fake.createSubscription({
      customer: s.customerId,
      organizationId: org,
      price: 'price_developer_pro_test',
      meteredPrices: ['price_api_calls_test'],
    });
    await deliver(fake.event('customer.subscription.created', developer, { created: clock() - 500 }));
    await deliver(
      fake.event(
        'customer.subscription.updated',
        fake.updateSubscription(developer.id, { status: 'past_due' }),
        {
          created: clock() - 400,
        },
      ),
    );
    const tierDeps = { db: app.services.db, billing: true, ...standingDeps() };
    expect(await developerTier(tierDeps, org)).toBe('PRO');
    expect(await planStanding(app.services.db, standingDeps(), org, 'DEVELOPER')).toMatchObject({
      plan: 'DEVELOPER_PRO',
      standing: 'PAST_DUE',
    });
    const venue = await planStanding(app.services.db, standingDeps(), org, 'VENUE');
    expect(venue).toMatchObject({ plan: 'VENUE_GROWTH', standing: 'ACTIVE' });
    expect(isVenueSubscriber(venue)).toBe(true);
    // The venue plan cancelled: the developer plan stands, and fees see no venue plan.
    await deliver(
      fake.event(
        'customer.subscription.deleted',
        fake.updateSubscription(s.subscriptionId, { status: 'canceled' }),
        {
          created: clock() - 300,
        },
      ),
    );
    expect(await developerTier(tierDeps, org)).toBe('PRO');
    expect(isVenueSubscriber(await planStanding(app.services.db, standingDeps(), org, 'VENUE'))).toBe(false);
  });

  it('keeps subscribers on a price the plan was sold at before on the plan, once the plan moves to a new price', async () => {
    const s = await subscribed();
    const org = s.fx.organizationId;
    const { plans } = app.services.config.billing;
    // Growth sold at a new price, its old one kept after it: the subscription on the old is growth.
    const moved = {
      ...standingDeps(),
      plans: { ...plans, VENUE_GROWTH: ['price_venue_growth_2027', GROWTH] },
    };
    expect(await planStanding(app.services.db, moved, org, 'VENUE')).toMatchObject({
      plan: 'VENUE_GROWTH',
      standing: 'ACTIVE',
    });
    // The old price forgotten: the subscription is no plan of ours.
    const forgotten = { ...standingDeps(), plans: { ...plans, VENUE_GROWTH: ['price_venue_growth_2027'] } };
    expect(await planStanding(app.services.db, forgotten, org, 'VENUE')).toMatchObject({
      plan: null,
      standing: 'NONE',
    });
  });
});

describe('reconcile-subscriptions', () => {
  it('repairs a subscription that missed its webhook, cancels one Stripe no longer knows, and changes nothing the second time', async () => {
    const deps = { ...stripeDepsOf(app.services)!, logger: app.services.logger };
    const missed = await subscribed();
    const deleted = await subscribed();
    const ended = await subscribed();
    await deliver(
      fake.event(
        'customer.subscription.deleted',
        fake.updateSubscription(ended.subscriptionId, { status: 'canceled' }),
      ),
    );
    // Everything stored so far agrees with Stripe.
    await reconcileSubscriptions(app.services.db, deps);
    const reads = (id: string) =>
      fake.requests.filter((r) => r.method === 'GET' && r.path === `/v1/subscriptions/${id}`).length;
    const readsOfEnded = reads(ended.subscriptionId);

    // Stripe moves on without telling us: a renewal fails (its webhook lost), a subscription is gone.
    fake.updateSubscription(missed.subscriptionId, { status: 'past_due' });
    fake.objects.delete(deleted.subscriptionId);

    // Run as the worker runs it, from its job.
    await enqueue(app.services.db, reconcileSubscriptionsTask, {});
    await runDueJobs(app, ['reconcile-subscriptions']);
    expect(await row(missed.subscriptionId)).toMatchObject({ status: 'past_due', source: 'reconcile' });
    expect((await row(missed.subscriptionId)).pastDueSince).toBeInstanceOf(Date);
    expect(await standing(missed.fx.organizationId)).toMatchObject({ standing: 'PAST_DUE' });
    expect(recipients(await notices(missed), 'billing.past_due')).toEqual(
      [missed.fx.owner.userId, missed.secondOwner.userId].sort(),
    );
    expect(await row(deleted.subscriptionId)).toMatchObject({
      status: 'canceled',
      source: 'reconcile:missing',
      priceId: GROWTH,
    });
    expect(await standing(deleted.fx.organizationId)).toMatchObject({ standing: 'NONE', plan: null });
    // A final state is never read again.
    expect(reads(ended.subscriptionId)).toBe(readsOfEnded);

    // Again: nothing changes, nobody is told anything twice, and the canceled one is not read.
    const readsOfDeleted = reads(deleted.subscriptionId);
    const before = await app.services.db.outboundMessage.count({
      where: { kind: { startsWith: 'billing.' } },
    });
    expect(await reconcileSubscriptions(app.services.db, deps)).toMatchObject({
      changed: 0,
      missing: 0,
      failed: 0,
    });
    expect(await app.services.db.outboundMessage.count({ where: { kind: { startsWith: 'billing.' } } })).toBe(
      before,
    );
    expect(await row(deleted.subscriptionId)).toMatchObject({ status: 'canceled' });
    expect(reads(deleted.subscriptionId)).toBe(readsOfDeleted);
  });

  it('cancels nothing when Stripe knows neither a subscription nor its customer (a key of another account or mode)', async () => {
    const deps = { ...stripeDepsOf(app.services)!, logger: app.services.logger };
    await reconcileSubscriptions(app.services.db, deps);
    const s = await subscribed();
    const notices = () =>
      app.services.db.outboundMessage.count({ where: { kind: { startsWith: 'billing.' } } });
    const told = await notices();
    // What a wrong key sees: none of the account's objects.
    const subscription = fake.objects.get(s.subscriptionId)!;
    const customer = fake.objects.get(s.customerId)!;
    fake.objects.delete(s.subscriptionId);
    fake.objects.delete(s.customerId);
    const result = await reconcileSubscriptions(app.services.db, deps);
    expect(result).toMatchObject({ missing: 0 });
    expect(result.failed).toBeGreaterThanOrEqual(1);
    expect(await row(s.subscriptionId)).toMatchObject({ status: 'active' });
    expect(await standing(s.fx.organizationId)).toMatchObject({ standing: 'ACTIVE' });
    expect(await notices()).toBe(told);
    // The right key again: all as it was.
    fake.objects.set(s.subscriptionId, subscription);
    fake.objects.set(s.customerId, customer);
    expect(await reconcileSubscriptions(app.services.db, deps)).toMatchObject({ missing: 0, failed: 0 });
    expect(await row(s.subscriptionId)).toMatchObject({ status: 'active' });
  });

  it('counts what it changed', async () => {
    const deps = { ...stripeDepsOf(app.services)!, logger: app.services.logger };
    await reconcileSubscriptions(app.services.db, deps);
    const a = await subscribed();
    const b = await subscribed();
    fake.updateSubscription(a.subscriptionId, { status: 'unpaid' });
    fake.objects.delete(b.subscriptionId);
    const result = await reconcileSubscriptions(app.services.db, deps, { batchSize: 2 });
    expect(result).toMatchObject({ changed: 2, missing: 1, failed: 0 });
    expect(result.checked).toBeGreaterThanOrEqual(2);
  });

  it('is a no-op while billing is off', async () => {
    const off = await startTestApp();
    try {
      await enqueue(off.services.db, reconcileSubscriptionsTask, {});
      await runDueJobs(off, ['reconcile-subscriptions']);
      const { rows } = await off.services.database.pool.query(
        "SELECT id FROM graphile_worker.jobs WHERE task_identifier = 'reconcile-subscriptions'",
      );
      expect(rows).toEqual([]);
    } finally {
      await off.close();
    }
  });
});

describe('subscriptionStanding', () => {
  const since = new Date('2026-12-01T10:00:00Z');
  const at = (iso: string) => ({ now: () => new Date(iso), graceDays: 7 });
  const of = (status: string, pastDueSince: Date | null = null) => ({ status, pastDueSince, stateAt: since });

  it("reads Stripe's statuses, and a past-due one by its grace", () => {
    const now = at('2026-12-02T00:00:00Z');
    expect(subscriptionStanding(of('active'), now)).toEqual({ standing: 'ACTIVE', graceEndsAt: null });
    expect(subscriptionStanding(of('trialing'), now).standing).toBe('ACTIVE');
    for (const status of ['unpaid', 'paused', 'incomplete']) {
      expect(subscriptionStanding(of(status), now)).toEqual({ standing: 'RESTRICTED', graceEndsAt: null });
    }
    for (const status of ['canceled', 'incomplete_expired']) {
      expect(subscriptionStanding(of(status), now)).toEqual({ standing: 'NONE', graceEndsAt: null });
    }
    const graceEndsAt = new Date('2026-12-08T10:00:00Z');
    expect(subscriptionStanding(of('past_due', since), at('2026-12-08T09:59:59.999Z'))).toEqual({
      standing: 'PAST_DUE',
      graceEndsAt,
    });
    expect(subscriptionStanding(of('past_due', since), at('2026-12-08T10:00:00Z'))).toEqual({
      standing: 'RESTRICTED',
      graceEndsAt,
    });
    // No grace configured: restricted as soon as it is past due.
    expect(subscriptionStanding(of('past_due', since), { ...now, graceDays: 0 }).standing).toBe('RESTRICTED');
  });
});
