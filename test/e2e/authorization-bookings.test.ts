/**
 * Who may do what with bookings: every booking mutation, the reads whose answer depends on the
 * caller, and the live subscriptions (refused or accepted when they start, over SSE), run as every
 * kind of caller against the real server. The callers are those of the other tables
 * (test/helpers/authz.ts) plus the booking's GUEST: a person of no organisation who owns it. Each
 * cell states its outcome:
 *
 * - `allowed`: the call succeeds and its effect is in the answer and the database (for a
 *   subscription: a change made after it started reaches the subscriber);
 * - `null`: the call succeeds but the field hides itself from this caller (null, with no error);
 * - `HTTP 401`: the credential itself no longer works (a write key whose creator was removed
 *   from the organisation, or whose organisation has no owner left): refused before GraphQL
 *   runs, like any credential that does not verify. A write key whose creator was demoted to
 *   STAFF acts as that STAFF member would;
 * - `UNAUTHENTICATED` / `FORBIDDEN`: scope-auth refuses before the resolver runs (a GraphQL error
 *   with that `extensions.code`, the field null);
 * - `hidden`: `node(id)` answers null with no error, as for a booking that does not exist;
 * - `NotAllowedError`: the mutation admits the caller and the domain says no, as a typed member of
 *   the result union.
 *
 * Every outcome but `allowed` is also checked to have changed nothing: the booking with its
 * history and messages, the venue's inbox items, the size of every table a booking change writes
 * (envelopes included), the job queue, and the Redis subscriptions of the booking's and the
 * inbox's topics.
 *
 * Every cell gets fresh organisations, callers, a published venue with hours and tables, and a
 * booking of the guest in the status its row starts from, written straight to the database, so
 * cells are independent and "allowed" really moves the booking. Bookings the venue seats, marks
 * as no-shows or completes started a little while ago; the others start a week ahead.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemTransition } from '../../src/domain/bookings/bookings.ts';
import { bookingTopics } from '../../src/domain/bookings/live-events.ts';
import { inboxEvent, inboxTopic, openInboxItem } from '../../src/domain/network/staff-inbox.ts';
import type { BookingStatus } from '../../src/generated/prisma/enums.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createBooking } from '../factories/bookings.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { type GraphQLResponse, rawId, startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import {
  ACTORS,
  type Actors,
  createActors,
  credentialFor,
  expectRefusal,
  expectUnauthorized,
  type Guest,
  guest,
  type HIDDEN,
  hiddenWhereRefused,
  unique,
  userOf,
  valueAt,
} from '../helpers/authz.ts';
import { openSse, parseSseEvent } from '../helpers/sse.ts';

/** The callers of the other tables, and the booking's own guest. */
const CALLERS = [...ACTORS, 'GUEST'] as const;
type Caller = (typeof CALLERS)[number];

type Outcome =
  | 'allowed'
  | 'null'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NotAllowedError'
  | 'HTTP 401'
  | typeof HIDDEN;

const CreateBooking = graphql(`
  mutation AuthzBookingsCreate($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { id status partySize startsAt guestEmail history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const ModifyBooking = graphql(`
  mutation AuthzBookingsModify($id: ID!, $startsAt: DateTime!) {
    modifyBooking(input: { bookingId: $id, startsAt: $startsAt, partySize: 4, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status partySize startsAt history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const ConfirmBooking = graphql(`
  mutation AuthzBookingsConfirm($id: ID!) {
    confirmBooking(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const DeclineBooking = graphql(`
  mutation AuthzBookingsDecline($id: ID!) {
    declineBooking(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const HoldBooking = graphql(`
  mutation AuthzBookingsHold($id: ID!) {
    holdBooking(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const SeatBooking = graphql(`
  mutation AuthzBookingsSeat($id: ID!) {
    seatBooking(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const CompleteBooking = graphql(`
  mutation AuthzBookingsComplete($id: ID!) {
    completeBooking(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const MarkBookingNoShow = graphql(`
  mutation AuthzBookingsNoShow($id: ID!) {
    markBookingNoShow(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const CancelBooking = graphql(`
  mutation AuthzBookingsCancel($id: ID!) {
    cancelBooking(input: { bookingId: $id, reason: "authz table" }) {
      __typename
      ... on BookingPayload { booking { id status history { from to by reason } } }
      ... on Error { message }
    }
  }
`);

const BookingNode = graphql(`
  query AuthzBookingsNode($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Booking { status partySize startsAt allowedTransitions venue { id } }
    }
  }
`);

const BookingNotes = graphql(`
  query AuthzBookingsNotes($id: ID!) {
    node(id: $id) { id ... on Booking { notes } }
  }
`);

const VenueBookings = graphql(`
  query AuthzBookingsVenueBookings($id: ID!) {
    node(id: $id) {
      ... on Venue { bookings(first: 10) { totalCount edges { node { id status guestEmail notes } } } }
    }
  }
`);

const MyBookings = graphql(`
  query AuthzBookingsMine {
    myBookings(first: 10) { edges { node { id status } } }
  }
`);

const VenueFeed = graphql(`
  subscription AuthzBookingsVenueFeed($venueId: ID!) {
    bookingChanged(venueId: $venueId) { id status notes guestEmail }
  }
`);

const BookingFeed = graphql(`
  subscription AuthzBookingsBookingFeed($id: ID!) {
    booking(id: $id) { id status notes guestEmail }
  }
`);

const AcceptRequest = graphql(`
  mutation AuthzInboxAccept($itemId: ID!) {
    acceptBookingRequest(input: { itemId: $itemId }) {
      __typename
      ... on VenueInboxItemPayload { item { id status booking { id status history { from to by reason } } } }
      ... on Error { message }
    }
  }
`);

const DeclineRequest = graphql(`
  mutation AuthzInboxDecline($itemId: ID!, $alternatives: [DateTime!]) {
    declineBookingRequest(input: { itemId: $itemId, reason: "authz table", alternatives: $alternatives }) {
      __typename
      ... on VenueInboxItemPayload { item { id status answer alternatives booking { id status } } }
      ... on Error { message }
    }
  }
`);

const AnswerQuestion = graphql(`
  mutation AuthzInboxAnswer($itemId: ID!) {
    answerVenueQuestion(input: { itemId: $itemId, answer: "Yes, high chairs on request" }) {
      __typename
      ... on VenueInboxItemPayload { item { id status answer } }
      ... on Error { message }
    }
  }
`);

const VenueInbox = graphql(`
  query AuthzInboxVenueInbox($id: ID!) {
    node(id: $id) {
      ... on Venue { agentInbox(first: 10) { edges { node { id kind status guestText booking { id } } } } }
    }
  }
`);

const BookingEnvelopes = graphql(`
  query AuthzBookingsEnvelopes($id: ID!) {
    node(id: $id) { id ... on Booking { envelopes { intent direction state } } }
  }
`);

const InboxFeed = graphql(`
  subscription AuthzInboxFeed($venueId: ID!) {
    venueInboxItemAdded(venueId: $venueId) { kind status guestText }
  }
`);

/** The reason every move in this table gives, kept in the booking's history. */
const REASON = 'authz table';
/** The venue's own notes on the fixture's booking. */
const NOTES = 'Regular; likes the window';
/** How long a subscriber waits for the first event. */
const EVENT_TIMEOUT_MS = 5_000;

/** Where the fixture's booking stands before the call. */
interface Start {
  status: BookingStatus;
  /** The booking started this long ago (the party is due); otherwise it starts a week ahead. */
  startedMinutesAgo?: number;
}

/** The callers, the booking's guest, the organisation's venue and the guest's booking there. */
interface Fixture extends Actors {
  guest: Guest;
  venue: { id: string; gid: string };
  booking: { id: string; gid: string; status: BookingStatus; startsAt: Date };
  /**
   * The venue agent's inbox: the booking put before staff (its `booking.request` envelope is in the
   * booking's history), and a question of the guest's.
   */
  inbox: { request: InboxItemRef; question: InboxItemRef };
}

interface InboxItemRef {
  id: string;
  gid: string;
  envelopeId: string;
}

/** The guest's question in every fixture's inbox. */
const QUESTION = 'Do you have high chairs?';

interface Row {
  name: string;
  /** The booking the cell starts with (REQUESTED a week ahead unless said). */
  start?: Start;
  /** Where the answer is read from: the top-level field, or a field inside it. */
  path: string[];
  /**
   * Where a scope-auth refusal is reported, when not at `path`. Scopes on a type are checked as
   * the object's fields resolve, so `node` refusals point at `node.id`; `node` is null all the same.
   */
  refusedAt?: string[];
  call: (fx: Fixture, token: string | undefined) => Promise<GraphQLResponse<unknown>>;
  /** For allowed cells: the answer and the database show the effect. */
  effect: (fx: Fixture, answer: unknown, caller: Caller) => Promise<void>;
  expected: Record<Caller, Outcome>;
}

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const gid = (type: 'Venue' | 'Booking' | 'VenueInboxItem', id: string) => encodeGlobalID(type, id);

/** A week ahead in Lisbon, at a local time: inside the venue's hours, horizon and lead time. */
const day = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 7 });
const at = (time: string) =>
  new Date(day.toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: time }).epochMilliseconds);

const MINUTE = 60_000;
const TURN_MINUTES = 90;

/** The history a booking in `status` has behind it: created by its guest, moved on by the venue. */
const PATH_TO: Record<string, BookingStatus[]> = {
  REQUESTED: ['REQUESTED'],
  CONFIRMED: ['REQUESTED', 'CONFIRMED'],
  SEATED: ['REQUESTED', 'CONFIRMED', 'SEATED'],
};

async function createFixture(start: Start = { status: 'REQUESTED' }): Promise<Fixture> {
  const actors = await createActors(app);
  const db = app.services.db;
  const venue = await createBookableVenue(db, {
    organizationId: actors.organizationId,
    name: unique('Authz Bookings Venue'),
    slug: 'authz-bookings-venue',
    publishedAt: new Date(),
    turnMinutes: TURN_MINUTES,
    tables: [
      { name: 'One', seats: 4 },
      { name: 'Two', seats: 4 },
    ],
  });
  const diner = await guest(app);
  const now = app.clock.now();
  const startsAt =
    start.startedMinutesAgo === undefined
      ? at('20:00')
      : new Date(now.getTime() - start.startedMinutesAgo * MINUTE);
  const steps = PATH_TO[start.status];
  if (!steps) throw new Error(`no fixture path to ${start.status}`);
  const booking = await createBooking(db, {
    venueId: venue.id,
    guestId: diner.userId,
    requestedById: diner.userId,
    partySize: 2,
    startsAt,
    endsAt: new Date(startsAt.getTime() + TURN_MINUTES * MINUTE),
    status: start.status,
    source: 'CHAT',
    notes: NOTES,
    specialRequests: 'By the window',
    expiresAt: start.status === 'REQUESTED' ? new Date(now.getTime() + 120 * MINUTE) : null,
    transitions: {
      // A day apart, in the past, so the call's own step is always the last.
      create: steps.map((to, i) => ({
        fromStatus: i === 0 ? null : steps[i - 1]!,
        toStatus: to,
        actorKind: i === 0 ? 'guest' : 'venue',
        actorId: i === 0 ? diner.userId : actors.owner.userId,
        reason: i === 0 ? 'created' : null,
        createdAt: new Date(now.getTime() - (steps.length - i) * 86_400_000),
      })),
    },
  });
  const requestEnvelopeId = randomUUID();
  await db.a2aEnvelope.create({
    data: {
      envelopeId: requestEnvelopeId,
      direction: 'INBOUND',
      fromAgent: consumerAgentId(diner.userId),
      toAgent: venueAgentId(venue.id),
      intent: 'booking.request',
      state: 'ANSWERED',
      bookingId: booking.id,
    },
  });
  const open = async (kind: 'BOOKING_REQUEST' | 'QUESTION', envelopeId: string): Promise<InboxItemRef> => {
    const { item } = await db.$transaction((tx) =>
      openInboxItem(tx, {
        venueId: venue.id,
        kind,
        envelopeId,
        fromAgent: consumerAgentId(diner.userId),
        bookingId: kind === 'BOOKING_REQUEST' ? booking.id : null,
        guestId: diner.userId,
        guestText: kind === 'QUESTION' ? QUESTION : null,
        reason: 'authz table',
      }),
    );
    return { id: item.id, gid: gid('VenueInboxItem', item.id), envelopeId };
  };
  return {
    ...actors,
    guest: diner,
    venue: { id: venue.id, gid: gid('Venue', venue.id) },
    booking: { id: booking.id, gid: gid('Booking', booking.id), status: booking.status, startsAt },
    inbox: {
      request: await open('BOOKING_REQUEST', requestEnvelopeId),
      question: await open('QUESTION', randomUUID()),
    },
  };
}

const tokenOf = (fx: Fixture, caller: Caller) =>
  caller === 'GUEST' ? fx.guest.token : credentialFor(app, fx, caller);
/** The person a call acts for (an API key acts for its creator). */
const personOf = (fx: Fixture, caller: Caller) => (caller === 'GUEST' ? fx.guest.userId : userOf(fx, caller));

/** How many Redis connections listen on a topic (one per API process at most). */
async function listeners(topic: string): Promise<number> {
  const redis = app.services.redis;
  const reply = (await redis.client!.pubsub('NUMSUB', `${redis.keyPrefix}ps:${topic}`)) as [
    string,
    number | string,
  ];
  return Number(reply[1]);
}

/** The keys (`booking:<id>:<purpose>`) of the jobs queued for the booking, by purpose. */
async function jobsOf(bookingId: string): Promise<string[]> {
  const { rows } = await app.services.database.pool.query<{ key: string }>(
    'SELECT key FROM graphile_worker.jobs WHERE key LIKE $1 ORDER BY key',
    [`booking:${bookingId}:%`],
  );
  return rows.map((row) => row.key.slice(`booking:${bookingId}:`.length));
}

/**
 * What a refused call must leave untouched: the booking with its history and messages, the size
 * of every table a booking change writes (a booking for someone else creates their user), the job
 * queue, and who listens on the booking's topics.
 */
async function snapshot(fx: Fixture) {
  const db = app.services.db;
  const { rows } = await app.services.database.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM graphile_worker.jobs',
  );
  return {
    booking: await db.booking.findUnique({
      where: { id: fx.booking.id },
      include: { transitions: { orderBy: { createdAt: 'asc' } }, messages: true },
    }),
    inbox: await db.venueInboxItem.findMany({
      where: { venueId: fx.venue.id },
      orderBy: { createdAt: 'asc' },
    }),
    counts: {
      a2aEnvelopes: await db.a2aEnvelope.count(),
      users: await db.user.count(),
      bookings: await db.booking.count(),
      bookingTransitions: await db.bookingTransition.count(),
      outboundMessages: await db.outboundMessage.count(),
      jobs: rows[0]!.n,
    },
    listening: {
      venue: await listeners(bookingTopics.venue(fx.venue.id)),
      booking: await listeners(bookingTopics.booking(fx.booking.id)),
      inbox: await listeners(inboxTopic(fx.venue.id)),
    },
  };
}

const storedBooking = (id: string) =>
  app.services.db.booking.findUniqueOrThrow({
    where: { id },
    include: { guest: true, transitions: { orderBy: { createdAt: 'asc' } }, messages: true },
  });

/** The value at `path` inside `data`; undefined when a step on the way is missing. */

/** The first result a stream sends, or null when it completes or closes without one. */
async function firstResult(body: ReadableStream<Uint8Array>): Promise<Record<string, unknown> | null> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const { event, data } = parseSseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event === 'next') return JSON.parse(data) as Record<string, unknown>;
      if (event === 'complete') return null;
    }
  }
  return null;
}

/**
 * Subscribes over SSE (`POST /graphql`, `Accept: text/event-stream`) and answers with the first
 * result, then hangs up. A refused subscription sends its error at once; an accepted one listens
 * on `topic` in Redis, and once it does, `change` makes the change it should hear about.
 */
async function subscribe(
  document: { toString(): string },
  variables: Record<string, unknown>,
  token: string | undefined,
  topic: string,
  change: () => Promise<unknown>,
): Promise<GraphQLResponse<unknown>> {
  const abort = new AbortController();
  try {
    const response = await openSse(app, document, variables, token, abort.signal);
    if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
      // Refused before the stream started (a 401): a plain JSON answer.
      const text = await response.text();
      const { errors } = (JSON.parse(text) ?? {}) as Pick<GraphQLResponse<unknown>, 'errors'>;
      return { status: response.status, headers: response.headers, data: undefined, errors, body: text };
    }
    let settled = false;
    const first = firstResult(response.body!);
    first.then(
      () => (settled = true),
      () => (settled = true),
    );
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (!settled && Date.now() < deadline) {
      if ((await listeners(topic)) > 0) {
        await change();
        break;
      }
      await sleep(10);
    }
    const result = await Promise.race([
      first,
      sleep(EVENT_TIMEOUT_MS).then(() => {
        throw new Error(`no event within ${EVENT_TIMEOUT_MS} ms`);
      }),
    ]);
    return {
      status: response.status,
      headers: response.headers,
      data: result?.data as never,
      ...(result?.errors ? { errors: result.errors as GraphQLResponse<unknown>['errors'] } : {}),
      body: result,
    };
  } finally {
    abort.abort();
  }
}

/** The answers queued to the guest's agent in reply to `envelopeId`, with who they come from. */
async function repliesTo(envelopeId: string) {
  const rows = await app.services.db.a2aEnvelope.findMany({ where: { inReplyTo: envelopeId } });
  return rows.map((r) => ({
    intent: r.intent,
    direction: r.direction,
    fromAgent: r.fromAgent,
    toAgent: r.toAgent,
    state: r.state,
    payload: r.payload,
  }));
}

/** The change an inbox subscriber should hear about: the venue's agent opens a new question. */
const questionOpened = (fx: Fixture) => async () => {
  const { item } = await app.services.db.$transaction((tx) =>
    openInboxItem(tx, {
      venueId: fx.venue.id,
      kind: 'QUESTION',
      envelopeId: randomUUID(),
      fromAgent: consumerAgentId(fx.guest.userId),
      guestId: fx.guest.userId,
      guestText: 'Is the terrace open?',
      reason: 'authz table',
    }),
  );
  await app.services.pubsub.publish(inboxTopic(fx.venue.id), inboxEvent(item, app.clock.now()));
};

/** The change a subscriber should hear about: the platform confirms the REQUESTED booking. */
const confirmedElsewhere = (fx: Fixture) => () =>
  systemTransition(app.services.bookings, { bookingId: fx.booking.id, to: 'CONFIRMED', reason: REASON });

interface Moved {
  booking: { id: string; status: BookingStatus; history: { from: string; to: string; by: string }[] };
}

/**
 * The effect of moving the fixture's booking to `to`: the answer and the stored booking say so,
 * the history names who did it, and the guest's message and the jobs that follow are queued.
 */
function moved(
  to: BookingStatus | ((caller: Caller) => BookingStatus),
  follows: (to: BookingStatus) => {
    messages: string[];
    jobs: string[];
  },
) {
  return async (fx: Fixture, answer: unknown, caller: Caller) => {
    const target = typeof to === 'function' ? to(caller) : to;
    const by = caller === 'GUEST' ? 'guest' : 'venue';
    const { booking } = answer as Moved;
    expect(answer).toMatchObject({
      __typename: 'BookingPayload',
      booking: { id: fx.booking.gid, status: target },
    });
    expect(booking.history.at(-1)).toEqual({ from: fx.booking.status, to: target, by, reason: REASON });
    const stored = await storedBooking(fx.booking.id);
    expect(stored.status).toBe(target);
    expect(stored.transitions.at(-1)).toMatchObject({
      fromStatus: fx.booking.status,
      toStatus: target,
      actorKind: by,
      actorId: personOf(fx, caller),
      reason: REASON,
    });
    const { messages, jobs } = follows(target);
    expect(stored.messages.map((m) => ({ kind: m.kind, userId: m.userId }))).toEqual(
      messages.map((kind) => ({ kind, userId: fx.guest.userId })),
    );
    expect(await jobsOf(fx.booking.id)).toEqual(jobs);
  };
}

/**
 * The venue's moves: its team (any role), platform admins and write keys. The guest, outsiders and
 * read-only keys are refused before anything runs.
 */
const VENUE_MOVES: Record<Caller, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'allowed',
  OTHER_OWNER: 'FORBIDDEN',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'allowed',
  // A `read` key reads what the organisation may read; it changes nothing, bookings included.
  KEY_READ: 'FORBIDDEN',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'allowed',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
  GUEST: 'FORBIDDEN',
};

/** Changes both sides of a booking may make: the venue's movers and the booking's guest. */
const GUEST_OR_VENUE_CHANGES: Record<Caller, Outcome> = { ...VENUE_MOVES, GUEST: 'allowed' };

/** What the venue's team (any role, any key) and platform admins may read of its bookings. */
const VENUE_TEAM_READS: Record<Caller, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'allowed',
  OTHER_OWNER: 'FORBIDDEN',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'allowed',
  KEY_READ: 'allowed',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'allowed',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
  GUEST: 'FORBIDDEN',
};

/** A booking itself: the venue's team and its guest. */
const BOOKING_READS: Record<Caller, Outcome> = { ...VENUE_TEAM_READS, GUEST: 'allowed' };

/** The moves a caller sees as buttons on a REQUESTED booking. */
const BUTTONS_ON_REQUESTED: Record<Caller, BookingStatus[]> = {
  OWNER: ['HELD', 'CONFIRMED', 'DECLINED', 'CANCELLED_BY_VENUE'],
  ADMIN: ['HELD', 'CONFIRMED', 'DECLINED', 'CANCELLED_BY_VENUE'],
  STAFF: ['HELD', 'CONFIRMED', 'DECLINED', 'CANCELLED_BY_VENUE'],
  OTHER_OWNER: [],
  PLATFORM_ADMIN: ['HELD', 'CONFIRMED', 'DECLINED', 'CANCELLED_BY_VENUE'],
  KEY_WRITE: ['HELD', 'CONFIRMED', 'DECLINED', 'CANCELLED_BY_VENUE'],
  KEY_READ: [],
  KEY_CREATOR_REMOVED: [],
  KEY_CREATOR_DEMOTED: ['HELD', 'CONFIRMED', 'DECLINED', 'CANCELLED_BY_VENUE'],
  KEY_NO_OWNER: [],
  ANONYMOUS: [],
  GUEST: ['CANCELLED_BY_GUEST'],
};

const CONFIRMED_JOBS = ['no-show', 'reminder-24h', 'reminder-2h'];

const rows: Row[] = [
  {
    name: 'createBooking (for oneself)',
    path: ['createBooking'],
    call: (fx, token) =>
      app.gql(
        CreateBooking,
        { input: { venueId: fx.venue.gid, startsAt: at('18:30').toISOString(), partySize: 2 } },
        { token },
      ),
    async effect(fx, answer, caller) {
      const me = personOf(fx, caller)!;
      expect(answer).toMatchObject({
        __typename: 'BookingPayload',
        booking: {
          status: 'REQUESTED',
          partySize: 2,
          startsAt: at('18:30').toISOString(),
          history: [{ from: null, to: 'REQUESTED', by: 'guest', reason: 'created' }],
        },
      });
      const id = rawId((answer as Moved).booking.id);
      const stored = await storedBooking(id);
      // The caller's own booking (a key's, its creator's), whoever they are to the venue: the
      // venue's own when its team made it, else booked through AGNT (a fee the venue owes).
      expect(stored).toMatchObject({
        venueId: fx.venue.id,
        guestId: me,
        requestedById: me,
        status: 'REQUESTED',
        source: caller === 'OTHER_OWNER' || caller === 'GUEST' ? 'API' : 'DASHBOARD',
        transitions: [{ fromStatus: null, toStatus: 'REQUESTED', actorKind: 'guest', actorId: me }],
      });
      expect(await jobsOf(id)).toEqual(['expire']);
    },
    // Anyone signed in books a table at a published venue for themselves; a read key changes nothing.
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'allowed',
      OTHER_OWNER: 'allowed',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'allowed',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
      GUEST: 'allowed',
    },
  },
  {
    name: 'createBooking (with guestEmail: the venue books for someone)',
    path: ['createBooking'],
    call: (fx, token) =>
      app.gql(
        CreateBooking,
        {
          input: {
            venueId: fx.venue.gid,
            startsAt: at('18:30').toISOString(),
            partySize: 3,
            guestEmail: uniqueEmail('walk-in'),
            notes: 'Booked by phone',
          },
        },
        { token },
      ),
    async effect(fx, answer, caller) {
      expect(answer).toMatchObject({
        __typename: 'BookingPayload',
        booking: {
          status: 'CONFIRMED',
          partySize: 3,
          guestEmail: expect.stringMatching(/^walk-in-/),
          history: [{ from: null, to: 'CONFIRMED', by: 'venue', reason: 'created' }],
        },
      });
      const { id, guestEmail } = (answer as { booking: { id: string; guestEmail: string } }).booking;
      const stored = await storedBooking(rawId(id));
      expect(stored).toMatchObject({
        venueId: fx.venue.id,
        guest: { email: guestEmail },
        requestedById: personOf(fx, caller),
        status: 'CONFIRMED',
        notes: 'Booked by phone',
        transitions: [{ toStatus: 'CONFIRMED', actorKind: 'venue', actorId: personOf(fx, caller) }],
      });
      expect(await jobsOf(stored.id)).toEqual(CONFIRMED_JOBS);
    },
    // Booking for someone else is the venue's: others pass the field's scope (they may book for
    // themselves) and the domain refuses them.
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'allowed',
      OTHER_OWNER: 'NotAllowedError',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'allowed',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
      GUEST: 'NotAllowedError',
    },
  },
  {
    name: 'modifyBooking (a REQUESTED booking: later, and for four)',
    path: ['modifyBooking'],
    call: (fx, token) =>
      app.gql(ModifyBooking, { id: fx.booking.gid, startsAt: at('21:00').toISOString() }, { token }),
    async effect(fx, answer, caller) {
      const by = caller === 'GUEST' ? 'guest' : 'venue';
      expect(answer).toMatchObject({
        __typename: 'BookingPayload',
        booking: {
          id: fx.booking.gid,
          status: 'REQUESTED',
          partySize: 4,
          startsAt: at('21:00').toISOString(),
        },
      });
      // What changed, then the reason the caller gave.
      expect((answer as Moved).booking.history.at(-1)).toEqual({
        from: 'REQUESTED',
        to: 'REQUESTED',
        by,
        reason: `changed time ${at('20:00').toISOString()} → ${at('21:00').toISOString()}, party 2 → 4 (${REASON})`,
      });
      const stored = await storedBooking(fx.booking.id);
      expect(stored).toMatchObject({
        status: 'REQUESTED',
        partySize: 4,
        startsAt: at('21:00'),
        endsAt: new Date(at('21:00').getTime() + TURN_MINUTES * MINUTE),
      });
      expect(stored.transitions.at(-1)).toMatchObject({ actorKind: by, actorId: personOf(fx, caller) });
      // The venue's change is news to the guest (what it is now, and was); their own is not.
      const notices = stored.messages.map((m) => ({ kind: m.kind, userId: m.userId }));
      expect(notices).toEqual(
        caller === 'GUEST' ? [] : [{ kind: 'booking.changed', userId: fx.guest.userId }],
      );
    },
    expected: GUEST_OR_VENUE_CHANGES,
  },
  {
    name: 'confirmBooking (a REQUESTED booking)',
    path: ['confirmBooking'],
    call: (fx, token) => app.gql(ConfirmBooking, { id: fx.booking.gid }, { token }),
    effect: moved('CONFIRMED', () => ({ messages: ['booking.confirmed'], jobs: CONFIRMED_JOBS })),
    expected: VENUE_MOVES,
  },
  {
    name: 'declineBooking (a REQUESTED booking)',
    path: ['declineBooking'],
    call: (fx, token) => app.gql(DeclineBooking, { id: fx.booking.gid }, { token }),
    effect: moved('DECLINED', () => ({ messages: ['booking.declined'], jobs: [] })),
    expected: VENUE_MOVES,
  },
  {
    name: 'holdBooking (a REQUESTED booking)',
    path: ['holdBooking'],
    call: (fx, token) => app.gql(HoldBooking, { id: fx.booking.gid }, { token }),
    effect: moved('HELD', () => ({ messages: [], jobs: ['expire'] })),
    expected: VENUE_MOVES,
  },
  {
    name: 'seatBooking (a CONFIRMED booking, due 10 minutes ago)',
    start: { status: 'CONFIRMED', startedMinutesAgo: 10 },
    path: ['seatBooking'],
    call: (fx, token) => app.gql(SeatBooking, { id: fx.booking.gid }, { token }),
    effect: moved('SEATED', () => ({ messages: [], jobs: ['complete'] })),
    expected: VENUE_MOVES,
  },
  {
    name: 'completeBooking (a SEATED booking whose turn is over)',
    start: { status: 'SEATED', startedMinutesAgo: TURN_MINUTES + 10 },
    path: ['completeBooking'],
    call: (fx, token) => app.gql(CompleteBooking, { id: fx.booking.gid }, { token }),
    // The booking was made in chat, so its completion also earns the venue's fee (its job).
    effect: moved('COMPLETED', () => ({ messages: [], jobs: ['fee', 'feedback'] })),
    expected: VENUE_MOVES,
  },
  {
    name: 'markBookingNoShow (a CONFIRMED booking, due 45 minutes ago)',
    start: { status: 'CONFIRMED', startedMinutesAgo: 45 },
    path: ['markBookingNoShow'],
    call: (fx, token) => app.gql(MarkBookingNoShow, { id: fx.booking.gid }, { token }),
    effect: moved('NO_SHOW', () => ({ messages: [], jobs: [] })),
    expected: VENUE_MOVES,
  },
  {
    name: 'cancelBooking (a CONFIRMED booking: by the venue, or by its guest)',
    start: { status: 'CONFIRMED' },
    path: ['cancelBooking'],
    call: (fx, token) => app.gql(CancelBooking, { id: fx.booking.gid }, { token }),
    effect: moved(
      (caller) => (caller === 'GUEST' ? 'CANCELLED_BY_GUEST' : 'CANCELLED_BY_VENUE'),
      (to) => ({ messages: to === 'CANCELLED_BY_VENUE' ? ['booking.cancelled_by_venue'] : [], jobs: [] }),
    ),
    expected: GUEST_OR_VENUE_CHANGES,
  },
  {
    name: 'node(id) of a booking, with the moves open to the caller',
    path: ['node'],
    call: (fx, token) => app.gql(BookingNode, { id: fx.booking.gid }, { token }),
    async effect(fx, answer, caller) {
      expect(answer).toEqual({
        __typename: 'Booking',
        id: fx.booking.gid,
        status: 'REQUESTED',
        partySize: 2,
        startsAt: at('20:00').toISOString(),
        allowedTransitions: BUTTONS_ON_REQUESTED[caller],
        venue: { id: fx.venue.gid },
      });
    },
    // Anyone else gets null, as for a booking that does not exist.
    expected: hiddenWhereRefused(BOOKING_READS),
  },
  {
    name: 'Booking.notes (the venue’s own)',
    path: ['node', 'notes'],
    call: (fx, token) => app.gql(BookingNotes, { id: fx.booking.gid }, { token }),
    async effect(_fx, answer) {
      expect(answer).toBe(NOTES);
    },
    // The guest sees their booking, not what the venue wrote about them.
    expected: { ...hiddenWhereRefused(BOOKING_READS), GUEST: 'null' },
  },
  {
    name: 'Venue.bookings of a published venue',
    path: ['node', 'bookings'],
    call: (fx, token) => app.gql(VenueBookings, { id: fx.venue.gid }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        totalCount: 1,
        edges: [
          { node: { id: fx.booking.gid, status: 'REQUESTED', guestEmail: fx.guest.email, notes: NOTES } },
        ],
      });
    },
    // The venue is public; its list of bookings is its team's. `bookings` is non-null, so a
    // refusal takes the venue (`node`) with it.
    expected: VENUE_TEAM_READS,
  },
  {
    name: 'myBookings (the guest’s booking is theirs alone)',
    path: ['myBookings'],
    call: (_fx, token) => app.gql(MyBookings, {}, { token }),
    async effect(fx, answer, caller) {
      // The venue's team see the booking on the venue, never as their own.
      expect(answer).toEqual({
        edges: caller === 'GUEST' ? [{ node: { id: fx.booking.gid, status: 'REQUESTED' } }] : [],
      });
    },
    // A person's own bookings: keys are nobody's guest.
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'allowed',
      OTHER_OWNER: 'allowed',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
      GUEST: 'allowed',
    },
  },
  {
    name: 'subscription bookingChanged(venueId) over SSE',
    path: ['bookingChanged'],
    call: (fx, token) =>
      subscribe(
        VenueFeed,
        { venueId: fx.venue.gid },
        token,
        bookingTopics.venue(fx.venue.id),
        confirmedElsewhere(fx),
      ),
    async effect(fx, answer) {
      expect(answer).toEqual({
        id: fx.booking.gid,
        status: 'CONFIRMED',
        notes: NOTES,
        guestEmail: fx.guest.email,
      });
    },
    expected: VENUE_TEAM_READS,
  },
  {
    name: 'subscription booking(id) over SSE',
    path: ['booking'],
    call: (fx, token) =>
      subscribe(
        BookingFeed,
        { id: fx.booking.gid },
        token,
        bookingTopics.booking(fx.booking.id),
        confirmedElsewhere(fx),
      ),
    async effect(fx, answer, caller) {
      expect(answer).toEqual({
        id: fx.booking.gid,
        status: 'CONFIRMED',
        notes: caller === 'GUEST' ? null : NOTES,
        guestEmail: fx.guest.email,
      });
    },
    expected: BOOKING_READS,
  },
  {
    name: 'acceptBookingRequest (the REQUESTED booking in the venue’s inbox)',
    path: ['acceptBookingRequest'],
    call: (fx, token) => app.gql(AcceptRequest, { itemId: fx.inbox.request.gid }, { token }),
    async effect(fx, answer, caller) {
      expect(answer).toMatchObject({
        __typename: 'VenueInboxItemPayload',
        item: {
          id: fx.inbox.request.gid,
          status: 'ACCEPTED',
          booking: { id: fx.booking.gid, status: 'CONFIRMED' },
        },
      });
      const stored = await storedBooking(fx.booking.id);
      expect(stored.transitions.at(-1)).toMatchObject({
        fromStatus: 'REQUESTED',
        toStatus: 'CONFIRMED',
        actorKind: 'venue',
        actorId: personOf(fx, caller),
      });
      expect(stored.messages.map((m) => m.kind)).toEqual(['booking.confirmed']);
      expect(await jobsOf(fx.booking.id)).toEqual(CONFIRMED_JOBS);
      expect(await repliesTo(fx.inbox.request.envelopeId)).toEqual([
        {
          intent: 'booking.accepted',
          direction: 'OUTBOUND',
          fromAgent: venueAgentId(fx.venue.id),
          toAgent: consumerAgentId(fx.guest.userId),
          state: 'PENDING',
          payload: { bookingId: fx.booking.id },
        },
      ]);
    },
    expected: VENUE_MOVES,
  },
  {
    name: 'declineBookingRequest (the REQUESTED booking, offering 21:00 instead)',
    path: ['declineBookingRequest'],
    call: (fx, token) =>
      app.gql(
        DeclineRequest,
        { itemId: fx.inbox.request.gid, alternatives: [at('21:00').toISOString()] },
        { token },
      ),
    async effect(fx, answer, caller) {
      expect(answer).toMatchObject({
        __typename: 'VenueInboxItemPayload',
        item: {
          status: 'DECLINED',
          answer: REASON,
          alternatives: [at('21:00').toISOString()],
          booking: { id: fx.booking.gid, status: 'DECLINED' },
        },
      });
      const stored = await storedBooking(fx.booking.id);
      expect(stored.transitions.at(-1)).toMatchObject({
        toStatus: 'DECLINED',
        actorKind: 'venue',
        actorId: personOf(fx, caller),
        reason: REASON,
      });
      expect(await repliesTo(fx.inbox.request.envelopeId)).toEqual([
        expect.objectContaining({
          intent: 'booking.declined',
          payload: { bookingId: fx.booking.id, reason: REASON, alternatives: [at('21:00').toISOString()] },
        }),
      ]);
    },
    expected: VENUE_MOVES,
  },
  {
    name: 'answerVenueQuestion (the guest’s question in the venue’s inbox)',
    path: ['answerVenueQuestion'],
    call: (fx, token) => app.gql(AnswerQuestion, { itemId: fx.inbox.question.gid }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'VenueInboxItemPayload',
        item: { id: fx.inbox.question.gid, status: 'ANSWERED', answer: 'Yes, high chairs on request' },
      });
      expect(await repliesTo(fx.inbox.question.envelopeId)).toEqual([
        expect.objectContaining({
          intent: 'venue.answer',
          fromAgent: venueAgentId(fx.venue.id),
          toAgent: consumerAgentId(fx.guest.userId),
          payload: { text: 'Yes, high chairs on request', questionId: fx.inbox.question.envelopeId },
        }),
      ]);
      expect((await storedBooking(fx.booking.id)).status).toBe('REQUESTED');
    },
    expected: VENUE_MOVES,
  },
  {
    name: 'Venue.agentInbox of a published venue',
    path: ['node', 'agentInbox'],
    call: (fx, token) => app.gql(VenueInbox, { id: fx.venue.gid }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        edges: [
          {
            node: {
              id: fx.inbox.request.gid,
              kind: 'BOOKING_REQUEST',
              status: 'OPEN',
              guestText: null,
              booking: { id: fx.booking.gid },
            },
          },
          {
            node: {
              id: fx.inbox.question.gid,
              kind: 'QUESTION',
              status: 'OPEN',
              guestText: QUESTION,
              booking: null,
            },
          },
        ],
      });
    },
    // The venue is public; its inbox is its team's (a read key reads it too). `agentInbox` is
    // non-null, so a refusal takes the venue (`node`) with it.
    expected: VENUE_TEAM_READS,
  },
  {
    name: 'Booking.envelopes (the history between agents, for support)',
    path: ['node', 'envelopes'],
    call: (fx, token) => app.gql(BookingEnvelopes, { id: fx.booking.gid }, { token }),
    async effect(_fx, answer) {
      expect(answer).toEqual([{ intent: 'booking.request', direction: 'INBOUND', state: 'ANSWERED' }]);
    },
    // The guest sees their booking and its status, not the plumbing between agents.
    expected: { ...hiddenWhereRefused(BOOKING_READS), GUEST: 'null' },
  },
  {
    name: 'subscription venueInboxItemAdded(venueId) over SSE',
    path: ['venueInboxItemAdded'],
    call: (fx, token) =>
      subscribe(InboxFeed, { venueId: fx.venue.gid }, token, inboxTopic(fx.venue.id), questionOpened(fx)),
    async effect(_fx, answer) {
      expect(answer).toEqual({ kind: 'QUESTION', status: 'OPEN', guestText: 'Is the terrace open?' });
    },
    expected: VENUE_TEAM_READS,
  },
];

describe.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
  it.each(CALLERS.map((caller) => [caller, row.expected[caller]] as const))(
    'as %s: %s',
    async (caller, outcome) => {
      const fx = await createFixture(row.start);
      const credential = await tokenOf(fx, caller);
      const before = await snapshot(fx);
      const response = await row.call(fx, credential);
      const body = JSON.stringify(response.body);
      if (outcome === 'HTTP 401') {
        expectUnauthorized(response, body);
        expect(await snapshot(fx), `${body}\nthe refused call changed something`).toEqual(before);
        return;
      }
      expect(response.status, body).toBe(200);

      if (outcome === 'allowed') {
        expect(response.errors, body).toBeUndefined();
        const answer = valueAt(response.data, row.path);
        expect(answer, body).toBeTruthy();
        await row.effect(fx, answer, caller);
        return;
      }

      expectRefusal(response, outcome, row, body);
      expect(await snapshot(fx), `${body}\nthe refused call changed something`).toEqual(before);
    },
  );
});

describe('the answer to a refused call', () => {
  it('is exactly this for the guest confirming their own booking', async () => {
    const fx = await createFixture();
    const response = await app.gql(ConfirmBooking, { id: fx.booking.gid }, { token: fx.guest.token });
    expect(response.body).toEqual({
      data: null,
      errors: [
        {
          message: 'You are not allowed to do this',
          locations: [{ line: 3, column: 3 }],
          path: ['confirmBooking'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });

  it('is exactly this for a read-only key confirming a booking of its venue', async () => {
    const fx = await createFixture();
    const response = await app.gql(ConfirmBooking, { id: fx.booking.gid }, { token: fx.keyRead.secret });
    expect(response.body).toEqual({
      data: null,
      errors: [
        {
          message: 'You are not allowed to do this',
          locations: [{ line: 3, column: 3 }],
          path: ['confirmBooking'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });

  it("is exactly this for another organisation's owner reading a booking: what a missing one gets", async () => {
    const fx = await createFixture();
    const response = await app.gql(BookingNode, { id: fx.booking.gid }, { token: fx.otherOwner.token });
    expect(response.body).toEqual({ data: { node: null } });
    const missing = encodeGlobalID('Booking', randomUUID());
    expect((await app.gql(BookingNode, { id: missing }, { token: fx.otherOwner.token })).body).toEqual(
      response.body,
    );
  });
});
