/**
 * Live updates end to end: two API processes and a worker on one database and one Redis, real
 * subscribers over graphql-ws and over SSE. A change made anywhere reaches every subscriber that
 * may read it, and nobody else; a subscriber that goes away takes its Redis subscription with it.
 *
 * Subscriptions carry no acknowledgement, so a test waits until Redis reports the topic's
 * subscription (`PUBSUB NUMSUB`) before it makes the change it expects to hear about.
 */
import { randomBytes } from 'node:crypto';
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { type Client, createClient, type FormattedExecutionResult } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RECHECK_MS, REFRESH_BY_MS } from '../../src/api/live-access.ts';
import { bookingTopics } from '../../src/domain/bookings/live-events.ts';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { generateSigningKey } from '../../src/domain/identity/signing-keys.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import { accessToken, apiKey, person } from '../helpers/authz.ts';
import type { TestDatabase } from '../helpers/db.ts';
import { FAST_WORKER_ENV, secondConnection, waitFor } from '../helpers/jobs.ts';
import { openSse, parseSseEvent } from '../helpers/sse.ts';
import { rawConnectionInit } from '../helpers/websocket.ts';

const VenueFeed = graphql(`
  subscription LiveVenueBookings($venueId: ID!) {
    bookingChanged(venueId: $venueId) { id status partySize startsAt specialRequests notes guestEmail venue { id } }
  }
`);

const BookingFeed = graphql(`
  subscription LiveBooking($id: ID!) {
    booking(id: $id) { id status history { from to by reason } }
  }
`);

/** Fields that are the same whoever of the team reads them: the process runs it once per change. */
const TeamFeed = graphql(`
  subscription LiveTeamFeed($venueId: ID!) {
    bookingChanged(venueId: $venueId) { id status partySize notes guestEmail }
  }
`);

const RemoveMember = graphql(`
  mutation LiveRemoveMember($membershipId: ID!) {
    removeMember(input: { membershipId: $membershipId }) {
      __typename
      ... on RemoveMemberPayload { removedMembershipId }
    }
  }
`);

const ChangeRole = graphql(`
  mutation LiveChangeMemberRole($membershipId: ID!, $role: MembershipRole!) {
    changeMemberRole(input: { membershipId: $membershipId, role: $role }) {
      __typename
    }
  }
`);

const CreateBooking = graphql(`
  mutation LiveCreateBooking($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { id status expiresAt } }
      ... on Error { message }
    }
  }
`);

const ConfirmBooking = graphql(`
  mutation LiveConfirmBooking($id: ID!) {
    confirmBooking(input: { bookingId: $id }) {
      __typename
      ... on BookingPayload { booking { status } }
      ... on Error { message }
    }
  }
`);

const CancelBooking = graphql(`
  mutation LiveCancelBooking($id: ID!) {
    cancelBooking(input: { bookingId: $id }) { __typename }
  }
`);

/** How long a test waits for an event that should come. */
const EVENT_TIMEOUT_MS = 5_000;

let api: TestApp;
let apiB: TestApp;
let worker: TestApp;
let poolB: TestDatabase;
let poolWorker: TestDatabase;

beforeAll(async () => {
  // One signing key for every process, as a deployment has: a token works on any of them.
  const signing = await generateSigningKey();
  const env = { JWT_PRIVATE_KEY: signing.privateKeyPem, JWT_KEY_ID: signing.keyId, ...FAST_WORKER_ENV };
  api = await startTestApp({ env });
  // Each process has pools of its own on the shared database, and a Redis subscriber of its own.
  poolB = secondConnection(api.database);
  poolWorker = secondConnection(api.database);
  const redis = api.services.redis;
  [apiB, worker] = await Promise.all([
    startTestApp({ env, database: poolB, redis }),
    startTestApp({ env, database: poolWorker, redis, role: 'worker' }),
  ]);
});
afterAll(async () => {
  await worker?.close();
  await apiB?.close();
  await Promise.all([poolB?.drop(), poolWorker?.drop()]);
  await api?.close();
});

// --- the world: an organisation with a venue, its team, guests ---

/** A week ahead in Lisbon, at a local time. */
const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 7 });
const at = (time: string) =>
  new Date(
    date.toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: time }).epochMilliseconds,
  ).toISOString();

interface Venue {
  id: string;
  gid: string;
  organizationId: string;
}

/** A bookable venue of a new organisation. Each test books at venues of its own. */
async function newVenue(): Promise<Venue> {
  const db = api.services.db;
  const orgId = (await db.organization.create({ data: { name: `Live ${hex()}` } })).id;
  const venue = await createBookableVenue(db, {
    name: `Live Kitchen ${hex()}`,
    slug: 'live-kitchen',
    organizationId: orgId,
  });
  return { id: venue.id, gid: globalId('Venue', venue.id), organizationId: orgId };
}

/** Someone with an account and no organisation: a guest, a stranger. */
async function guest(): Promise<{ userId: string; email: string; token: string }> {
  const email = uniqueEmail('guest');
  const user = await api.services.db.user.create({ data: { email } });
  return { userId: user.id, email, token: await accessToken(api, user.id) };
}

async function book(app: TestApp, token: string, venue: Venue, input: Record<string, unknown> = {}) {
  const res = await app.gql(
    CreateBooking,
    { input: { venueId: venue.gid, partySize: 2, startsAt: at('20:00'), ...input } as never },
    { token },
  );
  return member(res.data?.createBooking, 'BookingPayload', res).booking;
}

async function confirm(app: TestApp, token: string, bookingGid: string) {
  const res = await app.gql(ConfirmBooking, { id: bookingGid }, { token });
  return member(res.data?.confirmBooking, 'BookingPayload', res).booking;
}

const hex = () => randomBytes(3).toString('hex');
const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

// --- subscribers ---

/**
 * What a subscriber has received so far. `next()` waits (bounded) for the next result;
 * `ended()` waits for the stream to end and fails on any result that arrives first.
 */
class Feed<T> {
  private readonly results: T[] = [];
  private end: { reason: string } | null = null;
  private wake: (() => void) | null = null;

  push(result: T) {
    this.results.push(result);
    this.wake?.();
  }

  finish(reason: string) {
    this.end ??= { reason };
    this.wake?.();
  }

  async next(timeoutMs = EVENT_TIMEOUT_MS): Promise<T> {
    await this.until(() => this.results.length > 0 || this.end !== null, timeoutMs, 'the next event');
    const result = this.results.shift();
    if (result === undefined)
      throw new Error(`the stream ended (${this.end?.reason}) instead of sending an event`);
    return result;
  }

  async ended(timeoutMs = EVENT_TIMEOUT_MS): Promise<string> {
    await this.until(() => this.results.length > 0 || this.end !== null, timeoutMs, 'the end of the stream');
    if (this.results.length) throw new Error(`expected the end, got ${JSON.stringify(this.results)}`);
    return this.end!.reason;
  }

  private async until(ready: () => boolean, timeoutMs: number, what: string) {
    if (ready()) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.wake = () => ready() && resolve();
        timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
          timeoutMs,
        );
      });
    } finally {
      this.wake = null;
      clearTimeout(timer);
    }
  }
}

type Result<T> = FormattedExecutionResult<T, unknown>;
/** A typed document, or a raw string for operations the schema refuses. */
type Document<T, V> = (DocumentTypeDecoration<T, V> & { toString(): string }) | string;

/** A graphql-ws client on `app`'s `/graphql`, authenticating in `connection_init`; never retries. */
function wsClient(app: TestApp, token?: string): Client {
  const client = createClient({
    url: `${app.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
  clients.add(client);
  return client;
}
const clients = new Set<Client>();
afterAll(async () => {
  await Promise.all([...clients].map((c) => c.dispose()));
});

/** Subscribes over graphql-ws; `stop()` completes the subscription (the client sends `complete`). */
function wsSubscribe<T, V>(client: Client, document: Document<T, V>, variables: V) {
  const feed = new Feed<Result<T>>();
  const stop = client.subscribe<T>(
    { query: document.toString(), variables: variables as Record<string, unknown> },
    {
      next: (result) => feed.push(result as Result<T>),
      error: (error) => feed.finish(describeError(error)),
      complete: () => feed.finish('complete'),
    },
  );
  return Object.assign(feed, { stop });
}

/** A close event as `close <code> <reason>`; refused operations as `errors: <messages>`. */
function describeError(error: unknown): string {
  if (Array.isArray(error)) return `errors: ${error.map((e: { message: string }) => e.message).join('; ')}`;
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    return `close ${(error as { code: number }).code} ${(error as { reason: string }).reason}`;
  }
  return error instanceof Error ? error.message : JSON.stringify(error);
}

/** Subscribes over SSE (`POST /graphql`, `Accept: text/event-stream`); `stop()` hangs up. */
async function sseSubscribe<T, V>(app: TestApp, document: Document<T, V>, variables: V, token?: string) {
  const feed = new Feed<Result<T>>();
  const abort = new AbortController();
  const response = await openSse(app, document, variables, token, abort.signal);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = parseSseEvent(block);
          if (event.event === 'next') feed.push(JSON.parse(event.data) as Result<T>);
          if (event.event === 'complete') feed.finish('complete');
        }
      }
      feed.finish('stream closed');
    } catch (error) {
      feed.finish((error as Error).name);
    }
  })();
  return Object.assign(feed, { status: response.status, stop: () => abort.abort() });
}

// --- Redis ---

const channel = (topic: string) => `${api.services.redis.keyPrefix}ps:${topic}`;
const venueChannel = (venue: Venue) => channel(bookingTopics.venue(venue.id));

/** How many connections (one per process at most) Redis has subscribed to the channel. */
async function subscribers(name: string): Promise<number> {
  const reply = (await api.services.redis.client!.pubsub('NUMSUB', name)) as [string, number | string];
  return Number(reply[1]);
}

/** Waits until Redis reports exactly `count` subscribed connections on the channel. */
function subscribedBy(name: string, count: number) {
  return waitFor(
    async () => (await subscribers(name)) === count,
    `${count} subscriber(s) on ${name}`,
    EVENT_TIMEOUT_MS,
  );
}

// --- the tests ---

describe('a venue team member', () => {
  it('hears over graphql-ws of a booking made and confirmed through another API process, in order', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const owner = await person(api, venue.organizationId, 'OWNER');
    const diner = await guest();

    const feed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);

    // Both changes go through the other process, one right after the other.
    const booking = await book(apiB, diner.token, venue, {
      startsAt: at('19:00'),
      specialRequests: 'by the window',
    });
    await confirm(apiB, owner.token, booking.id);

    const fields = {
      id: booking.id,
      partySize: 2,
      startsAt: at('19:00'),
      specialRequests: 'by the window',
      notes: null,
      guestEmail: diner.email,
      venue: { id: venue.gid },
    };
    expect(await feed.next()).toEqual({
      data: { bookingChanged: { ...fields, status: 'REQUESTED' } },
    });
    expect(await feed.next()).toEqual({
      data: { bookingChanged: { ...fields, status: 'CONFIRMED' } },
    });
    feed.stop();
  });

  it('hears the same over SSE', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const owner = await person(api, venue.organizationId, 'OWNER');
    const diner = await guest();

    const feed = await sseSubscribe(api, VenueFeed, { venueId: venue.gid }, staff.token);
    expect(feed.status).toBe(200);
    await subscribedBy(venueChannel(venue), 1);

    const booking = await book(apiB, diner.token, venue, { startsAt: at('21:00'), partySize: 3 });
    await confirm(apiB, owner.token, booking.id);

    expect((await feed.next()).data?.bookingChanged).toMatchObject({
      id: booking.id,
      status: 'REQUESTED',
      partySize: 3,
      startsAt: at('21:00'),
      venue: { id: venue.gid },
    });
    expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: booking.id, status: 'CONFIRMED' });
    feed.stop();
    // Hanging up ends the subscription on the server, and with it the Redis subscription.
    await subscribedBy(venueChannel(venue), 0);
  });
});

describe('a change made by the worker', () => {
  it('reaches subscribers on both API processes', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();

    const onA = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    const onB = await sseSubscribe(apiB, VenueFeed, { venueId: venue.gid }, staff.token);
    // One Redis subscription per API process.
    await subscribedBy(venueChannel(venue), 2);

    const held = await book(api, diner.token, venue, { hold: true, startsAt: at('18:30') });
    expect(held.status).toBe('HELD');
    for (const feed of [onA, onB]) {
      expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: held.id, status: 'HELD' });
    }

    // The hold runs out: the worker's clock passes `expiresAt`, and the expiry job (scheduled for
    // then) is made due now, so the real worker picks it up on its next poll.
    worker.clock.advance(new Date(held.expiresAt!).getTime() - worker.clock.now().getTime() + 1_000);
    const { rows } = await api.database.pool.query<{ id: string }>(
      `SELECT id FROM graphile_worker.jobs WHERE key = $1`,
      [`booking:${rawId(held.id)}:expire`],
    );
    expect(rows).toHaveLength(1);
    await api.database.pool.query(`SELECT graphile_worker.reschedule_jobs($1::bigint[], run_at := now())`, [
      [rows[0]!.id],
    ]);

    for (const feed of [onA, onB]) {
      expect((await feed.next(10_000)).data?.bookingChanged).toMatchObject({
        id: held.id,
        status: 'EXPIRED',
      });
    }
    const stored = await api.services.db.bookingTransition.findMany({
      where: { bookingId: rawId(held.id) },
      orderBy: { createdAt: 'asc' },
    });
    expect(stored.at(-1)).toMatchObject({ toStatus: 'EXPIRED', actorKind: 'system', reason: 'hold expired' });
    onA.stop();
    onB.stop();
  });
});

describe('authorisation', () => {
  let venue: Venue;
  beforeAll(async () => {
    venue = await newVenue();
  });

  it('closes a WebSocket whose connection_init carries a bad or expired token with 4403 Forbidden', async () => {
    const expired = await issueAccessToken(api.services.keys, {
      userId: (await guest()).userId,
      auth: api.services.config.auth,
      now: new Date(Date.now() - 2 * api.services.config.auth.accessTtlSeconds * 1000),
    });
    for (const token of ['not-a-token', expired.token]) {
      const feed = wsSubscribe(wsClient(api, token), VenueFeed, { venueId: venue.gid });
      expect(await feed.ended()).toBe('close 4403 Forbidden');
    }
    // Not "Bearer …" at all: refused the same way.
    const raw = await rawConnectionInit(api, { authorization: 'Basic dXNlcjpwYXNz' });
    expect(raw).toEqual({ code: 4403, reason: 'Forbidden', acknowledged: false });
    expect(await subscribers(venueChannel(venue))).toBe(0);
  });

  it('refuses anonymous subscribers and other organisations’ members, over graphql-ws and SSE, with no events', async () => {
    const outsider = await person(api, (await newVenue()).organizationId, 'OWNER');
    const anonymousWs = wsSubscribe(wsClient(api), VenueFeed, { venueId: venue.gid });
    const outsiderWs = wsSubscribe(wsClient(apiB, outsider.token), VenueFeed, { venueId: venue.gid });
    const anonymousSse = await sseSubscribe(api, VenueFeed, { venueId: venue.gid });
    const outsiderSse = await sseSubscribe(apiB, VenueFeed, { venueId: venue.gid }, outsider.token);

    const refusals = [
      [anonymousWs, 'UNAUTHENTICATED', 'Sign in to do this'],
      [anonymousSse, 'UNAUTHENTICATED', 'Sign in to do this'],
      [outsiderWs, 'FORBIDDEN', 'You are not allowed to do this'],
      [outsiderSse, 'FORBIDDEN', 'You are not allowed to do this'],
    ] as const;
    for (const [feed, code, message] of refusals) {
      const result = await feed.next();
      expect(result.data ?? null).toBeNull();
      expect(result.errors).toEqual([
        expect.objectContaining({ message, path: ['bookingChanged'], extensions: { code } }),
      ]);
      // The stream ends there: nothing more can arrive.
      expect(await feed.ended()).toMatch(/^complete|stream closed$/);
    }
    // The refused subscriptions never listened.
    expect(await subscribers(venueChannel(venue))).toBe(0);
  });

  it('lets a guest follow their own booking, and refuses a stranger', async () => {
    const owner = await person(api, venue.organizationId, 'OWNER');
    const diner = await guest();
    const stranger = await guest();
    const booking = await book(api, diner.token, venue, { startsAt: at('20:30') });

    const peek = wsSubscribe(wsClient(apiB, stranger.token), BookingFeed, { id: booking.id });
    expect((await peek.next()).errors).toEqual([
      expect.objectContaining({ path: ['booking'], extensions: { code: 'FORBIDDEN' } }),
    ]);
    expect(await peek.ended()).toBe('complete');

    const mine = wsSubscribe(wsClient(apiB, diner.token), BookingFeed, { id: booking.id });
    await subscribedBy(channel(bookingTopics.booking(rawId(booking.id))), 1);
    await confirm(api, owner.token, booking.id);
    expect(await mine.next()).toEqual({
      data: {
        booking: {
          id: booking.id,
          status: 'CONFIRMED',
          history: [
            { from: null, to: 'REQUESTED', by: 'guest', reason: 'created' },
            { from: 'REQUESTED', to: 'CONFIRMED', by: 'venue', reason: null },
          ],
        },
      },
    });
    mine.stop();
  });

  it('sends a subscriber only the bookings of the venue they follow', async () => {
    const other = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();

    const feed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);
    // A booking at the other venue, then one at this venue: events on one Redis connection
    // arrive in the order they were published, so if the first leaked it would come first.
    const elsewhere = await book(apiB, diner.token, other, { startsAt: at('21:30') });
    const here = await book(apiB, diner.token, venue, { startsAt: at('21:30') });
    expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: here.id, venue: { id: venue.gid } });
    expect(elsewhere.id).not.toBe(here.id);
    feed.stop();
  });
});

describe('cleaning up', () => {
  it('keeps one Redis subscription per process while anyone listens, and drops it with the last listener', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();
    const name = venueChannel(venue);

    const first = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(name, 1);
    const secondClient = wsClient(api, staff.token);
    const second = wsSubscribe(secondClient, VenueFeed, { venueId: venue.gid });
    const sse = await sseSubscribe(api, VenueFeed, { venueId: venue.gid }, staff.token);
    const onB = wsSubscribe(wsClient(apiB, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(name, 2);
    // Everyone is listening once everyone has heard the same change.
    const booking = await book(api, diner.token, venue, { startsAt: at('18:00') });
    for (const feed of [first, second, sse, onB]) {
      expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: booking.id, status: 'REQUESTED' });
    }
    expect(await subscribers(name)).toBe(2);

    // The first completes its subscription, the SSE client hangs up: process A still listens for
    // the second, which still hears the next change.
    first.stop();
    expect(await first.ended()).toBe('complete');
    sse.stop();
    expect(await sse.ended()).toBe('AbortError');
    const later = await book(api, diner.token, venue, { startsAt: at('18:00'), partySize: 1 });
    expect((await second.next()).data?.bookingChanged).toMatchObject({ id: later.id });
    expect((await onB.next()).data?.bookingChanged).toMatchObject({ id: later.id });
    expect(await subscribers(name)).toBe(2);

    // The second's socket closes: A's last listener is gone, and so is A's Redis subscription.
    await secondClient.dispose();
    await subscribedBy(name, 1);
    onB.stop();
    await subscribedBy(name, 0);
  });
});

describe('losing access', () => {
  it('ends the subscriptions of a member who leaves the organisation, with FORBIDDEN', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();
    const before = await book(apiB, diner.token, venue, { startsAt: at('19:00') });

    const venueFeed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    const bookingFeed = await sseSubscribe(apiB, BookingFeed, { id: before.id }, staff.token);
    await Promise.all([
      subscribedBy(venueChannel(venue), 1),
      subscribedBy(channel(bookingTopics.booking(rawId(before.id))), 1),
    ]);
    const seen = await book(apiB, diner.token, venue, { startsAt: at('19:30') });
    expect((await venueFeed.next()).data?.bookingChanged).toMatchObject({ id: seen.id });

    await api.services.db.membership.delete({ where: { id: staff.membershipId } });
    // Rights are checked again once the last check is RECHECK_MS old.
    api.clock.advance(RECHECK_MS + 1);
    apiB.clock.advance(RECHECK_MS + 1);
    // Another diner: one person may have only two bookings waiting at a venue.
    await book(apiB, (await guest()).token, venue, { startsAt: at('20:00') });
    await api.gql(CancelBooking, { id: before.id }, { token: diner.token });
    for (const [feed, field] of [
      [venueFeed, 'bookingChanged'],
      [bookingFeed, 'booking'],
    ] as const) {
      expect(await feed.next()).toEqual({
        data: null,
        errors: [expect.objectContaining({ path: [field], extensions: { code: 'FORBIDDEN' } })],
      });
      expect(await feed.ended()).toMatch(/^complete|stream closed$/);
    }
    // And they stopped listening.
    await subscribedBy(venueChannel(venue), 0);
    await subscribedBy(channel(bookingTopics.booking(rawId(before.id))), 0);
  });
});

describe('a failure of ours while listening', () => {
  it('ends the subscription with "Unexpected error.", never the failure’s own words', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const venueFeed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);
    // The re-check of the member's right, due at the next change, cannot read the memberships.
    await api.services.db.$executeRawUnsafe('ALTER TABLE memberships RENAME TO memberships_away');
    try {
      api.clock.advance(RECHECK_MS + 1);
      await api.services.pubsub.publish(bookingTopics.venue(venue.id), {
        bookingId: crypto.randomUUID(),
        venueId: venue.id,
        status: 'REQUESTED',
        from: null,
        at: new Date().toISOString(),
      });
      expect(await venueFeed.ended()).toBe('errors: Unexpected error.');
    } finally {
      await api.services.db.$executeRawUnsafe('ALTER TABLE memberships_away RENAME TO memberships');
    }
  });

  it('closes a connection it failed to open with 4500 "Internal server error", never the failure’s own words', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    // The person's rights are read as the connection opens: that read fails.
    await api.services.db.$executeRawUnsafe('ALTER TABLE memberships RENAME TO memberships_away');
    try {
      const venueFeed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
      expect(await venueFeed.ended()).toBe('close 4500 Internal server error');
    } finally {
      await api.services.db.$executeRawUnsafe('ALTER TABLE memberships_away RENAME TO memberships');
    }
  });
});

describe('a venue taken over', () => {
  it('ends the former team’s subscriptions at the very next change once the claim is approved', async () => {
    const db = api.services.db;
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();
    const venueFeed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);
    const seen = await book(apiB, diner.token, venue, { startsAt: at('19:00') });
    expect((await venueFeed.next()).data?.bookingChanged).toMatchObject({ id: seen.id });

    // Another organisation contests the venue, and a platform admin approves its claim.
    const challenger = (await db.organization.create({ data: { name: `Challenger ${hex()}` } })).id;
    const claimant = await person(api, challenger, 'OWNER');
    const claim = await db.venueClaim.create({
      data: {
        venueId: venue.id,
        organizationId: challenger,
        requestedById: claimant.userId,
        method: 'MANUAL_REVIEW',
        note: 'We bought the place',
      },
    });
    const admin = await db.user.create({ data: { email: uniqueEmail('platform'), isPlatformAdmin: true } });
    const reviewed = await api.gql(
      `mutation Review($input: ReviewVenueClaimInput!) {
        reviewVenueClaim(input: $input) { __typename ... on VenueClaimPayload { claim { status } } }
      }`,
      { input: { claimId: globalId('VenueClaim', claim.id), approve: true, note: 'Deed seen' } },
      { token: await accessToken(api, admin.id) },
    );
    expect(reviewed.data, JSON.stringify(reviewed.body)).toEqual({
      reviewVenueClaim: { __typename: 'VenueClaimPayload', claim: { status: 'APPROVED' } },
    });

    // The next change is not theirs to hear, with no wait for their rights' re-check.
    await book(apiB, (await guest()).token, venue, { startsAt: at('20:00') });
    expect(await venueFeed.next()).toEqual({
      data: null,
      errors: [expect.objectContaining({ path: ['bookingChanged'], extensions: { code: 'FORBIDDEN' } })],
    });
    expect(await venueFeed.ended()).toMatch(/^complete|stream closed$/);
  });
});

describe('losing access, found out ahead of time', () => {
  it('a member removed behind the API hears one more change while their access is checked behind it, then FORBIDDEN', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const feed = wsSubscribe(wsClient(api, staff.token), VenueFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);
    const first = await book(apiB, (await guest()).token, venue, { startsAt: at('19:00') });
    expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: first.id });

    await api.services.db.membership.delete({ where: { id: staff.membershipId } });
    // Late in the answer's life (before RECHECK_MS): the change goes out on the answer still held,
    // and the check it starts in the background finds the membership gone.
    api.clock.advance(REFRESH_BY_MS);
    const second = await book(apiB, (await guest()).token, venue, { startsAt: at('19:30') });
    expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: second.id });
    // A change after that check has answered, still within RECHECK_MS of the first check (the
    // clock does not move again), is refused: the next or, should the check still be running, the
    // one after.
    let answer: Awaited<ReturnType<typeof feed.next>> | undefined;
    for (const time of ['20:00', '20:30', '21:00']) {
      await book(apiB, (await guest()).token, venue, { startsAt: at(time) });
      answer = await feed.next();
      if (answer.errors) break;
    }
    expect(answer).toEqual({
      data: null,
      errors: [expect.objectContaining({ path: ['bookingChanged'], extensions: { code: 'FORBIDDEN' } })],
    });
    await subscribedBy(venueChannel(venue), 0);
  });
});

describe('access re-checks of many subscribers', () => {
  it('read every subscriber’s right in two statements of the process, however many they are', async () => {
    const venue = await newVenue();
    const team = await Promise.all(
      Array.from({ length: 6 }, () => person(api, venue.organizationId, 'STAFF')),
    );
    const feeds = team.map((member) =>
      wsSubscribe(wsClient(api, member.token), VenueFeed, { venueId: venue.gid }),
    );
    await subscribedBy(venueChannel(venue), 1);
    /** The statements process A sends while a change made on B reaches every subscriber. */
    const change = async (time: string) => {
      const sent: string[] = [];
      const stop = api.services.database.onQuery(({ query }) => void sent.push(query));
      try {
        const booking = await book(apiB, (await guest()).token, venue, { startsAt: at(time) });
        for (const feed of feeds)
          expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: booking.id });
      } finally {
        stop();
      }
      return sent;
    };
    // The first checks, then a change whose answers are fresh: what a change costs alone.
    await change('19:00');
    const fresh = await change('19:30');
    // Every answer expired: six subscribers' rights, read together (the venues' organisations, the
    // memberships: one statement each).
    api.clock.advance(RECHECK_MS + 1);
    const rechecked = await change('20:00');
    expect(rechecked.length - fresh.length, rechecked.join('\n')).toBe(2);
    expect(
      rechecked.filter((query) => query.includes('memberships')),
      rechecked.join('\n'),
    ).toEqual([expect.stringContaining('unnest')]);
    for (const feed of feeds) feed.stop();
  });
});

describe('a team listening with the same selection', () => {
  it('all hear each change; a member removed through the API stops at the very next change, at once, while the others go on', async () => {
    const venue = await newVenue();
    const owner = await person(api, venue.organizationId, 'OWNER');
    const [leaving, colleague, elsewhere] = await Promise.all([
      person(api, venue.organizationId, 'STAFF'),
      person(api, venue.organizationId, 'STAFF'),
      person(api, venue.organizationId, 'ADMIN'),
    ]);
    const diner = await guest();
    // Two of them on one process (which executes each change once for both), one on the other.
    const leavingFeed = wsSubscribe(wsClient(api, leaving.token), TeamFeed, { venueId: venue.gid });
    const colleagueFeed = wsSubscribe(wsClient(api, colleague.token), TeamFeed, { venueId: venue.gid });
    const elsewhereFeed = wsSubscribe(wsClient(apiB, elsewhere.token), TeamFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 2);

    const first = await book(apiB, diner.token, venue, { startsAt: at('19:00'), specialRequests: 'window' });
    const heard = {
      bookingChanged: {
        id: first.id,
        status: 'REQUESTED',
        partySize: 2,
        notes: null,
        guestEmail: diner.email,
      },
    };
    for (const feed of [leavingFeed, colleagueFeed, elsewhereFeed]) {
      expect(await feed.next(EVENT_TIMEOUT_MS)).toEqual({ data: heard });
    }

    // Removed by the owner through the other process; nobody's clock moves.
    const removed = await apiB.gql(
      RemoveMember,
      { membershipId: globalId('Membership', leaving.membershipId) },
      { token: owner.token },
    );
    expect(removed.data?.removeMember.__typename, JSON.stringify(removed.body)).toBe('RemoveMemberPayload');
    const second = await book(apiB, diner.token, venue, { startsAt: at('19:30') });
    expect(await leavingFeed.next(EVENT_TIMEOUT_MS)).toEqual({
      data: null,
      errors: [expect.objectContaining({ path: ['bookingChanged'], extensions: { code: 'FORBIDDEN' } })],
    });
    expect(await leavingFeed.ended()).toMatch(/^complete|stream closed$/);
    for (const feed of [colleagueFeed, elsewhereFeed]) {
      expect((await feed.next(EVENT_TIMEOUT_MS)).data?.bookingChanged).toMatchObject({ id: second.id });
    }
    colleagueFeed.stop();
    elsewhereFeed.stop();
  });
});

describe('a member whose role changes while listening', () => {
  it('is ended with FORBIDDEN at the next change, to listen again under the new role; the others go on', async () => {
    const venue = await newVenue();
    const owner = await person(api, venue.organizationId, 'OWNER');
    const [demoted, colleague] = await Promise.all([
      person(api, venue.organizationId, 'ADMIN'),
      person(api, venue.organizationId, 'STAFF'),
    ]);
    const diner = await guest();
    const demotedFeed = wsSubscribe(wsClient(api, demoted.token), TeamFeed, { venueId: venue.gid });
    const colleagueFeed = wsSubscribe(wsClient(api, colleague.token), TeamFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);
    const first = await book(apiB, diner.token, venue, { startsAt: at('19:00') });
    for (const feed of [demotedFeed, colleagueFeed]) {
      expect((await feed.next(EVENT_TIMEOUT_MS)).data?.bookingChanged).toMatchObject({ id: first.id });
    }

    const changed = await apiB.gql(
      ChangeRole,
      { membershipId: globalId('Membership', demoted.membershipId), role: 'STAFF' },
      { token: owner.token },
    );
    expect(changed.data?.changeMemberRole.__typename, JSON.stringify(changed.body)).toBe('MembershipPayload');
    // Subscribed again elsewhere (another device, the same process), as staff now.
    const again = wsSubscribe(wsClient(api, demoted.token), TeamFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);
    const second = await book(apiB, diner.token, venue, { startsAt: at('19:30') });
    expect(await demotedFeed.next(EVENT_TIMEOUT_MS)).toEqual({
      data: null,
      errors: [expect.objectContaining({ path: ['bookingChanged'], extensions: { code: 'FORBIDDEN' } })],
    });
    expect(await demotedFeed.ended()).toMatch(/^complete|stream closed$/);
    expect((await colleagueFeed.next(EVENT_TIMEOUT_MS)).data?.bookingChanged).toMatchObject({
      id: second.id,
    });
    // The new subscription is judged by its own starting role, whichever was checked first. (It
    // may have begun listening just after the booking: then the next one is its proof.)
    let heard: unknown = null;
    for (const time of ['19:30', '20:00', '20:30', '21:00', '21:30']) {
      if (time !== '19:30') await book(apiB, (await guest()).token, venue, { startsAt: at(time) });
      heard = await again.next(2_000).then(
        (result) => result.data?.bookingChanged ?? null,
        () => null,
      );
      if (heard) break;
    }
    expect(heard).toMatchObject({ id: expect.any(String) });
    colleagueFeed.stop();
    again.stop();
  });
});

describe('one socket with two subscriptions to the same changes', () => {
  it('gets each change once per subscription, under its own id, and nothing more for one it completed', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();
    const socket = await rawSubscriber(api, staff.token);
    for (const id of ['first', 'second']) socket.subscribe(id, TeamFeed.toString(), { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);

    const one = await book(apiB, diner.token, venue, { startsAt: at('19:00') });
    await waitFor(
      async () => socket.nexts('first').length === 1 && socket.nexts('second').length === 1,
      'both heard the booking',
    );
    expect(socket.nexts('first')[0]).toEqual({
      data: {
        bookingChanged: {
          id: one.id,
          status: 'REQUESTED',
          partySize: 2,
          notes: null,
          guestEmail: diner.email,
        },
      },
    });
    expect(socket.nexts('second')[0]).toEqual(socket.nexts('first')[0]);

    socket.complete('first');
    const later = [
      await book(apiB, (await guest()).token, venue, { startsAt: at('19:30') }),
      await book(apiB, (await guest()).token, venue, { startsAt: at('20:30') }),
    ];
    await waitFor(async () => socket.nexts('second').length === 3, 'the second heard the next bookings');
    const heard = socket.nexts('second') as { data: { bookingChanged: { id: string } } }[];
    expect(heard.map(({ data }) => data.bookingChanged.id)).toEqual([one.id, ...later.map((b) => b.id)]);
    // Whatever was written for the completed one would have come before the last booking's.
    expect(socket.nexts('first')).toHaveLength(1);
    expect(socket.errors()).toEqual([]);
    socket.close();
  });

  it('gets what each selection asks for when two documents share a name and variables', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();
    const socket = await rawSubscriber(api, staff.token);
    // Two versions of an app: one operation name, other fields.
    const older = 'subscription Feed($venueId: ID!) { bookingChanged(venueId: $venueId) { id status } }';
    const newer = 'subscription Feed($venueId: ID!) { bookingChanged(venueId: $venueId) { id partySize } }';
    socket.subscribe('older', older, { venueId: venue.gid });
    socket.subscribe('newer', newer, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);

    const booking = await book(apiB, diner.token, venue, { startsAt: at('19:00') });
    await waitFor(
      async () => socket.nexts('older').length === 1 && socket.nexts('newer').length === 1,
      'both heard the booking',
    );
    expect(socket.nexts('older')).toEqual([
      { data: { bookingChanged: { id: booking.id, status: 'REQUESTED' } } },
    ]);
    expect(socket.nexts('newer')).toEqual([{ data: { bookingChanged: { id: booking.id, partySize: 2 } } }]);
    socket.close();
  });
});

describe('one document holding two subscriptions', () => {
  it('judges each on its own: one that reads per viewer is not shared because the other may be', async () => {
    const venue = await newVenue();
    const owner = await person(api, venue.organizationId, 'OWNER');
    const staff = await person(api, venue.organizationId, 'STAFF');
    const key = await apiKey(api, venue.organizationId, owner.userId, ['read']);
    const document = `
      subscription Feed($venueId: ID!) { bookingChanged(venueId: $venueId) { id status } }
      subscription Moves($venueId: ID!) { bookingChanged(venueId: $venueId) { id allowedTransitions } }`;
    const watcher = await rawSubscriber(api, staff.token);
    const reader = await rawSubscriber(api, key.secret);
    // The shareable one first; then a person and a read-only key ask for the moves.
    watcher.subscribe('feed', document, { venueId: venue.gid }, 'Feed');
    watcher.subscribe('moves', document, { venueId: venue.gid }, 'Moves');
    reader.subscribe('moves', document, { venueId: venue.gid }, 'Moves');
    await subscribedBy(venueChannel(venue), 1);

    const booking = await book(apiB, (await guest()).token, venue, { startsAt: at('19:00') });
    await waitFor(
      async () =>
        watcher.nexts('feed').length === 1 &&
        watcher.nexts('moves').length === 1 &&
        reader.nexts('moves').length === 1,
      'all heard the booking',
    );
    const moves = (payload: unknown) =>
      (payload as { data: { bookingChanged: { allowedTransitions: string[] } } }).data.bookingChanged
        .allowedTransitions;
    expect(moves(watcher.nexts('moves')[0]).length).toBeGreaterThan(0);
    // A read-only key moves nothing, whoever heard the booking first.
    expect(moves(reader.nexts('moves')[0])).toEqual([]);
    expect(watcher.nexts('feed')).toEqual([
      { data: { bookingChanged: { id: booking.id, status: 'REQUESTED' } } },
    ]);
    watcher.close();
    reader.close();
  });
});

/** A bare graphql-transport-ws connection, for what the server writes on it message by message. */
async function rawSubscriber(app: TestApp, token: string) {
  const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: { id?: string; type: string; payload?: unknown }[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  await waitFor(async () => messages.some((m) => m.type === 'connection_ack'), 'acknowledged');
  return {
    subscribe: (id: string, query: string, variables: Record<string, unknown>, operationName?: string) =>
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables, operationName } })),
    complete: (id: string) => socket.send(JSON.stringify({ id, type: 'complete' })),
    /** The payloads of the `next` messages of subscription `id`, in order. */
    nexts: (id: string) => messages.filter((m) => m.type === 'next' && m.id === id).map((m) => m.payload),
    errors: () => messages.filter((m) => m.type === 'error'),
    close: () => socket.close(1000),
  };
}

describe('a broken operation', () => {
  it('is refused on its own, and the connection’s other subscriptions carry on', async () => {
    const venue = await newVenue();
    const staff = await person(api, venue.organizationId, 'STAFF');
    const diner = await guest();
    const client = wsClient(api, staff.token);
    const feed = wsSubscribe(client, VenueFeed, { venueId: venue.gid });
    await subscribedBy(venueChannel(venue), 1);

    const unparsable = wsSubscribe(client, 'subscription { bookingChanged(', {});
    expect(await unparsable.ended()).toBe('errors: Syntax Error: Expected Name, found <EOF>.');
    const invalid = wsSubscribe(client, 'subscription { nope }', {});
    expect(await invalid.ended()).toBe('errors: Cannot query field "nope" on type "Subscription".');

    const booking = await book(apiB, diner.token, venue, { startsAt: at('20:30') });
    expect((await feed.next()).data?.bookingChanged).toMatchObject({ id: booking.id });
    feed.stop();
  });
});
