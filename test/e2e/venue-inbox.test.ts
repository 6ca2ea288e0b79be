/**
 * Staff in the loop, end to end over real HTTP: what the venue's agent put before its staff (items
 * opened here with `openInboxItem`, as the agent opens them), read oldest first by the venue's team
 * and nobody else; each decision moves the booking and queues the answer envelope to the guest's
 * agent in one transaction, once; the live feed of new items; the booking's envelope history.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemTransition } from '../../src/domain/bookings/bookings.ts';
import { sendKey } from '../../src/domain/envelopes/tasks.ts';
import { inboxEvent, inboxTopic, openInboxItem } from '../../src/domain/network/staff-inbox.ts';
import type { InboxItemKind } from '../../src/generated/prisma/enums.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createBooking } from '../factories/bookings.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { type GraphQLResponse, member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors, type Guest, guest } from '../helpers/authz.ts';
import { waitFor } from '../helpers/jobs.ts';
import { openSse, parseSseEvent } from '../helpers/sse.ts';

const Inbox = graphql(`
  query VenueInbox($venueId: ID!, $status: InboxItemStatus, $first: Int, $after: String) {
    node(id: $venueId) {
      ... on Venue {
        agentInbox(status: $status, first: $first, after: $after) {
          edges { node { id kind status guestText reason createdAt booking { id status partySize } } }
          pageInfo { hasNextPage endCursor }
        }
      }
    }
  }
`);

const ItemNode = graphql(`
  query InboxItemNode($id: ID!) {
    node(id: $id) { ... on VenueInboxItem { id status } }
  }
`);

const Accept = graphql(`
  mutation AcceptBookingRequest($itemId: ID!) {
    acceptBookingRequest(input: { itemId: $itemId }) {
      __typename
      ... on VenueInboxItemPayload { item { id status resolvedAt booking { status history { from to by reason } } } }
      ... on InboxItemSettledError { message status }
      ... on BookingRequestSettledError { message bookingStatus }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

const Decline = graphql(`
  mutation DeclineBookingRequest($itemId: ID!, $reason: String, $alternatives: [DateTime!]) {
    declineBookingRequest(input: { itemId: $itemId, reason: $reason, alternatives: $alternatives }) {
      __typename
      ... on VenueInboxItemPayload { item { id status answer alternatives booking { status } } }
      ... on InboxItemSettledError { message status }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

const Answer = graphql(`
  mutation AnswerVenueQuestion($itemId: ID!, $answer: String!) {
    answerVenueQuestion(input: { itemId: $itemId, answer: $answer }) {
      __typename
      ... on VenueInboxItemPayload { item { id status answer } }
      ... on InboxItemSettledError { message status }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

const Envelopes = graphql(`
  query BookingEnvelopes($id: ID!) {
    node(id: $id) {
      ... on Booking {
        status
        envelopes { envelopeId direction intent state fromAgent toAgent inReplyTo reason lastError attempts createdAt }
      }
    }
  }
`);

const ItemAdded = graphql(`
  subscription InboxItemAdded($venueId: ID!) {
    venueInboxItemAdded(venueId: $venueId) { id kind status guestText booking { id } }
  }
`);

const ItemChanged = graphql(`
  subscription InboxItemChanged($venueId: ID!) {
    venueInboxItemChanged(venueId: $venueId) { id status }
  }
`);

let app: TestApp;
let fx: Actors;

beforeAll(async () => {
  app = await startTestApp();
  fx = await createActors(app);
}, 60_000);

afterAll(() => app?.close());

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

/** A start `days` ahead at `hour`:00 UTC (Lisbon's time in winter), inside the factory's 18:00–23:00. */
function at(days: number, hour: number, minute = 0): Date {
  const day = new Date(app.clock.now().getTime() + days * 86_400_000);
  return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour, minute));
}

interface World {
  venueId: string;
  guest: Guest;
}

/** A bookable venue of the fixture's organisation and a guest. */
async function world(): Promise<World> {
  const venue = await createBookableVenue(app.services.db, { organizationId: fx.organizationId });
  return { venueId: venue.id, guest: await guest(app) };
}

/** A REQUESTED booking of the world's guest. */
function requested(w: World, startsAt = at(3, 19), partySize = 2) {
  return createBooking(app.services.db, {
    venueId: w.venueId,
    guestId: w.guest.userId,
    requestedById: w.guest.userId,
    startsAt,
    partySize,
    source: 'A2A',
    status: 'REQUESTED',
    expiresAt: new Date(startsAt.getTime() - 3_600_000),
  });
}

/** An OPEN item, as the venue's agent opens it on a guest agent's envelope. */
async function item(
  w: World,
  kind: InboxItemKind,
  fields: { bookingId?: string; guestText?: string; reason?: string } = {},
) {
  const { item } = await app.services.db.$transaction((tx) =>
    openInboxItem(tx, {
      venueId: w.venueId,
      kind,
      envelopeId: randomUUID(),
      fromAgent: consumerAgentId(w.guest.userId),
      bookingId: fields.bookingId ?? null,
      guestId: w.guest.userId,
      guestText: fields.guestText ?? null,
      reason: fields.reason ?? 'Parties above 6 are decided by the venue’s staff',
    }),
  );
  return item;
}

/** The outbound envelopes that answer `envelopeId`, and whether each has its send job. */
async function answersTo(envelopeId: string) {
  const rows = await app.services.db.a2aEnvelope.findMany({
    where: { inReplyTo: envelopeId },
    orderBy: { createdAt: 'asc' },
  });
  const jobs = await app.services.db.$queryRaw<{ key: string }[]>`
    SELECT key FROM graphile_worker.jobs WHERE task_identifier = 'a2a-send'`;
  const keys = new Set(jobs.map((j) => j.key));
  return rows.map((row) => ({ ...row, queued: keys.has(sendKey(row.id)) }));
}

function expectOk<T>(res: GraphQLResponse<T>): T {
  expect(res.errors, JSON.stringify(res.body, null, 2)).toBeUndefined();
  return res.data!;
}

function errorCode(res: GraphQLResponse<unknown>): unknown {
  return res.errors?.[0]?.extensions?.code;
}

describe('the venue inbox', () => {
  it('shows the venue’s team its items oldest first, with the guest’s words and the booking', async () => {
    const w = await world();
    const booking = await requested(w, at(3, 19), 10);
    const first = await item(w, 'BOOKING_REQUEST', {
      bookingId: booking.id,
      guestText: 'Birthday <b>party</b>, one wheelchair',
    });
    const second = await item(w, 'QUESTION', {
      guestText: 'Do you have a vegan menu?',
      reason: 'Not in the facts',
    });
    const third = await item(w, 'QUESTION', { guestText: 'Can we bring a cake?' });
    // Opened in this order, a second apart (one insert after another can share a millisecond).
    const base = app.clock.now().getTime() - 60_000;
    for (const [i, it] of [first, second, third].entries()) {
      await app.services.db.venueInboxItem.update({
        where: { id: it.id },
        data: { createdAt: new Date(base + i * 1000) },
      });
    }

    for (const caller of [fx.staff, fx.admin, fx.owner, fx.platformAdmin]) {
      const data = expectOk(
        await app.gql(Inbox, { venueId: gid('Venue', w.venueId) }, { token: caller.token }),
      );
      const nodes =
        data.node && 'agentInbox' in data.node ? data.node.agentInbox.edges.map((e) => e.node) : [];
      expect(nodes.map((n) => rawId(n.id))).toEqual([first.id, second.id, third.id]);
      expect(nodes[0]).toMatchObject({
        kind: 'BOOKING_REQUEST',
        status: 'OPEN',
        guestText: 'Birthday <b>party</b>, one wheelchair',
        reason: 'Parties above 6 are decided by the venue’s staff',
        booking: { id: gid('Booking', booking.id), status: 'REQUESTED', partySize: 10 },
      });
      expect(nodes[1]).toMatchObject({
        kind: 'QUESTION',
        guestText: 'Do you have a vegan menu?',
        booking: null,
      });
    }

    // Pages follow the same order; a status narrows it.
    const page = expectOk(
      await app.gql(Inbox, { venueId: gid('Venue', w.venueId), first: 2 }, { token: fx.staff.token }),
    );
    const inbox = page.node && 'agentInbox' in page.node ? page.node.agentInbox : null;
    expect(inbox?.edges.map((e) => rawId(e.node.id))).toEqual([first.id, second.id]);
    expect(inbox?.pageInfo.hasNextPage).toBe(true);
    const rest = expectOk(
      await app.gql(
        Inbox,
        { venueId: gid('Venue', w.venueId), first: 2, after: inbox?.pageInfo.endCursor },
        { token: fx.staff.token },
      ),
    );
    expect(
      rest.node && 'agentInbox' in rest.node ? rest.node.agentInbox.edges.map((e) => rawId(e.node.id)) : [],
    ).toEqual([third.id]);
    await app.services.db.venueInboxItem.update({ where: { id: second.id }, data: { status: 'ANSWERED' } });
    const open = expectOk(
      await app.gql(Inbox, { venueId: gid('Venue', w.venueId), status: 'OPEN' }, { token: fx.staff.token }),
    );
    expect(
      open.node && 'agentInbox' in open.node ? open.node.agentInbox.edges.map((e) => rawId(e.node.id)) : [],
    ).toEqual([first.id, third.id]);
  });

  it('costs the same SQL statements for a page of 2 as for a page of 30, bookings included', async () => {
    const w = await world();
    for (let i = 0; i < 30; i += 1) {
      const booking = await requested(w, at(3 + (i % 20), 18 + (i % 4)));
      await item(w, 'BOOKING_REQUEST', { bookingId: booking.id, guestText: `request ${i}` });
    }
    const statements = async (first: number) => {
      let count = 0;
      const stop = app.services.database.onQuery(() => {
        count += 1;
      });
      try {
        const res = await app.gql(
          Inbox,
          { venueId: gid('Venue', w.venueId), first },
          { token: fx.staff.token },
        );
        const data = expectOk(res);
        expect(data.node && 'agentInbox' in data.node ? data.node.agentInbox.edges : []).toHaveLength(first);
      } finally {
        stop();
      }
      return count;
    };
    expect(await statements(30)).toBe(await statements(2));
  });

  it('is refused to another venue’s team, the guest and strangers, and its items are hidden from them', async () => {
    const w = await world();
    const booking = await requested(w);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id, guestText: 'private words' });

    for (const token of [fx.otherOwner.token, w.guest.token]) {
      const res = await app.gql(Inbox, { venueId: gid('Venue', w.venueId) }, { token });
      expect(errorCode(res), JSON.stringify(res.body)).toBe('FORBIDDEN');
      expect(JSON.stringify(res.body)).not.toContain('private words');
      const node = await app.gql(ItemNode, { id: gid('VenueInboxItem', request.id) }, { token });
      expect(expectOk(node).node).toBeNull();
    }
    const anonymous = await app.gql(Inbox, { venueId: gid('Venue', w.venueId) });
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');

    // Nor may they decide it: refused before anything runs, and nothing changes.
    for (const token of [fx.otherOwner.token, w.guest.token]) {
      const res = await app.gql(Accept, { itemId: gid('VenueInboxItem', request.id) }, { token });
      expect(errorCode(res), JSON.stringify(res.body)).toBe('FORBIDDEN');
    }
    const readKey = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', request.id) },
      { token: fx.keyRead.secret },
    );
    expect(errorCode(readKey), JSON.stringify(readKey.body)).toBe('FORBIDDEN');
    expect(
      (await app.services.db.venueInboxItem.findUniqueOrThrow({ where: { id: request.id } })).status,
    ).toBe('OPEN');
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    expect(await answersTo(request.envelopeId)).toEqual([]);
  });
});

describe('staff decisions', () => {
  it('accepting confirms the booking and queues booking.accepted to the guest’s agent, in reply, once', async () => {
    const w = await world();
    const booking = await requested(w, at(4, 20), 8);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id });

    const res = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', request.id) },
      { token: fx.staff.token },
    );
    const { item: accepted } = member(expectOk(res).acceptBookingRequest, 'VenueInboxItemPayload', res);
    expect(accepted.status).toBe('ACCEPTED');
    expect(accepted.resolvedAt).not.toBeNull();
    expect(accepted.booking?.status).toBe('CONFIRMED');
    expect(accepted.booking?.history.at(-1)).toEqual({
      from: 'REQUESTED',
      to: 'CONFIRMED',
      by: 'venue',
      reason: "accepted by the venue's staff",
    });

    const stored = await app.services.db.venueInboxItem.findUniqueOrThrow({ where: { id: request.id } });
    expect(stored.resolvedById).toBe(fx.staff.userId);
    expect(
      (await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).expiresAt,
    ).toBeNull();

    const sent = await answersTo(request.envelopeId);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      direction: 'OUTBOUND',
      intent: 'booking.accepted',
      fromAgent: venueAgentId(w.venueId),
      toAgent: consumerAgentId(w.guest.userId),
      inReplyTo: request.envelopeId,
      bookingId: booking.id,
      state: 'PENDING',
      payload: { bookingId: booking.id },
      queued: true,
    });

    // Acting again: a typed conflict, and nothing more is sent or moved.
    for (const mutation of [Accept.toString(), Decline.toString()]) {
      const again = await app.gql<Record<string, unknown>, unknown>(
        mutation,
        { itemId: gid('VenueInboxItem', request.id) },
        { token: fx.owner.token },
      );
      const data = expectOk(again) as Record<string, { __typename: string; status?: string }>;
      const answer = Object.values(data)[0]!;
      expect(answer, JSON.stringify(again.body)).toMatchObject({
        __typename: 'InboxItemSettledError',
        status: 'ACCEPTED',
      });
    }
    expect(await answersTo(request.envelopeId)).toHaveLength(1);
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CONFIRMED',
    );
  });

  it('two members accepting at once: one wins, the other hears it was already done, one envelope', async () => {
    const w = await world();
    const booking = await requested(w);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id });
    const results = await Promise.all(
      [fx.staff.token, fx.admin.token].map((token) =>
        app.gql(Accept, { itemId: gid('VenueInboxItem', request.id) }, { token }),
      ),
    );
    const kinds = results.map((r) => expectOk(r).acceptBookingRequest.__typename).sort();
    expect(kinds).toEqual(['InboxItemSettledError', 'VenueInboxItemPayload']);
    expect(await answersTo(request.envelopeId)).toHaveLength(1);
    const history = await app.services.db.bookingTransition.count({
      where: { bookingId: booking.id, toStatus: 'CONFIRMED' },
    });
    expect(history).toBe(1);
  });

  it('a decision and the guest cancelling at once: both answered, never a deadlock, the item true to what happened', async () => {
    const w = await world();
    for (let round = 0; round < 5; round += 1) {
      const booking = await requested(w, at(3 + round, 19));
      const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id });
      const [accept, cancel] = await Promise.all([
        app.gql(Accept, { itemId: gid('VenueInboxItem', request.id) }, { token: fx.staff.token }),
        app.gql(
          `mutation($id: ID!) { cancelBooking(input: { bookingId: $id }) { __typename } }`,
          { id: gid('Booking', booking.id) },
          { token: w.guest.token },
        ),
      ]);
      expect(accept.errors, JSON.stringify(accept.body)).toBeUndefined();
      expect(cancel.data, JSON.stringify(cancel.body)).toEqual({
        cancelBooking: { __typename: 'BookingPayload' },
      });
      const stored = await app.services.db.venueInboxItem.findUniqueOrThrow({ where: { id: request.id } });
      const sent = await answersTo(request.envelopeId);
      if (accept.data?.acceptBookingRequest.__typename === 'VenueInboxItemPayload') {
        // Accepted first, then cancelled by the guest.
        expect(stored.status).toBe('ACCEPTED');
        expect(sent.map((e) => e.intent)).toEqual(['booking.accepted']);
      } else {
        // Cancelled first: the request closed, nothing sent.
        expect(accept.data?.acceptBookingRequest).toMatchObject({
          __typename: 'InboxItemSettledError',
          status: 'CLOSED',
        });
        expect(stored.status).toBe('CLOSED');
        expect(sent).toEqual([]);
      }
      expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
        'CANCELLED_BY_GUEST',
      );
    }
  });

  it('declining sends booking.declined with the times offered instead, which must be free and ahead', async () => {
    const w = await world();
    const booking = await requested(w, at(5, 19), 4);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id });
    const itemId = gid('VenueInboxItem', request.id);

    // Refused, and nothing changes: a time the venue does not offer (03:00), a time in the past.
    const closedHours = await app.gql(
      Decline,
      { itemId, alternatives: [at(5, 20).toISOString(), at(5, 3).toISOString()] },
      { token: fx.staff.token },
    );
    expect(expectOk(closedHours).declineBookingRequest).toMatchObject({
      __typename: 'ValidationError',
      field: 'alternatives.1',
    });
    const past = await app.gql(
      Decline,
      { itemId, alternatives: [new Date(app.clock.now().getTime() - 3_600_000).toISOString()] },
      { token: fx.staff.token },
    );
    expect(expectOk(past).declineBookingRequest).toMatchObject({
      __typename: 'ValidationError',
      field: 'alternatives.0',
      message: 'Offer a time in the future',
    });
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    expect(
      (await app.services.db.venueInboxItem.findUniqueOrThrow({ where: { id: request.id } })).status,
    ).toBe('OPEN');
    expect(await answersTo(request.envelopeId)).toEqual([]);

    // The same booking's own time is free again once it is declined, so it may be offered too.
    const offered = [at(6, 20, 30), at(5, 19), at(5, 21)];
    const res = await app.gql(
      Decline,
      {
        itemId,
        reason: 'We are fully booked for large parties',
        alternatives: offered.map((d) => d.toISOString()),
      },
      { token: fx.staff.token },
    );
    const { item: declined } = member(expectOk(res).declineBookingRequest, 'VenueInboxItemPayload', res);
    const inOrder = [...offered].sort((a, b) => a.getTime() - b.getTime()).map((d) => d.toISOString());
    expect(declined).toMatchObject({
      status: 'DECLINED',
      answer: 'We are fully booked for large parties',
      alternatives: inOrder,
      booking: { status: 'DECLINED' },
    });
    // The guest's message offers the times staff offered, once.
    const told = await app.services.db.outboundMessage.findMany({
      where: { bookingId: booking.id, kind: 'booking.declined' },
    });
    expect(told).toHaveLength(1);
    expect((told[0]!.data as { alternatives?: string[] }).alternatives).toEqual(inOrder);
    const sent = await answersTo(request.envelopeId);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      intent: 'booking.declined',
      fromAgent: venueAgentId(w.venueId),
      toAgent: consumerAgentId(w.guest.userId),
      bookingId: booking.id,
      payload: {
        bookingId: booking.id,
        reason: 'We are fully booked for large parties',
        alternatives: inOrder,
      },
      queued: true,
    });
  });

  it('answering a question queues venue.answer with the question’s id', async () => {
    const w = await world();
    const question = await item(w, 'QUESTION', { guestText: 'Is there parking nearby?' });
    const itemId = gid('VenueInboxItem', question.id);

    const res = await app.gql(
      Answer,
      { itemId, answer: '  Yes: the Garagem on Rua Nova, two minutes away.  ' },
      { token: fx.staff.token },
    );
    const { item: answered } = member(expectOk(res).answerVenueQuestion, 'VenueInboxItemPayload', res);
    expect(answered).toMatchObject({
      status: 'ANSWERED',
      answer: 'Yes: the Garagem on Rua Nova, two minutes away.',
    });
    const sent = await answersTo(question.envelopeId);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      intent: 'venue.answer',
      fromAgent: venueAgentId(w.venueId),
      toAgent: consumerAgentId(w.guest.userId),
      inReplyTo: question.envelopeId,
      bookingId: null,
      payload: { text: 'Yes: the Garagem on Rua Nova, two minutes away.', questionId: question.envelopeId },
      queued: true,
    });

    const again = await app.gql(Answer, { itemId, answer: 'Also a bus stop' }, { token: fx.owner.token });
    expect(expectOk(again).answerVenueQuestion).toMatchObject({
      __typename: 'InboxItemSettledError',
      status: 'ANSWERED',
    });
    expect(await answersTo(question.envelopeId)).toHaveLength(1);
    expect(
      (await app.services.db.venueInboxItem.findUniqueOrThrow({ where: { id: question.id } })).answer,
    ).toBe('Yes: the Garagem on Rua Nova, two minutes away.');
  });

  it('a request whose booking moved on is closed with a clear error, and nothing is sent', async () => {
    const w = await world();
    const booking = await requested(w);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id });
    await app.services.db.booking.update({
      where: { id: booking.id },
      data: { status: 'CANCELLED_BY_GUEST' },
    });

    const res = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', request.id) },
      { token: fx.staff.token },
    );
    expect(expectOk(res).acceptBookingRequest).toMatchObject({
      __typename: 'BookingRequestSettledError',
      bookingStatus: 'CANCELLED_BY_GUEST',
      message: 'The booking is already cancelled by guest; this request is closed',
    });
    const stored = await app.services.db.venueInboxItem.findUniqueOrThrow({ where: { id: request.id } });
    expect(stored.status).toBe('CLOSED');
    expect(stored.resolvedAt).not.toBeNull();
    expect(await answersTo(request.envelopeId)).toEqual([]);
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CANCELLED_BY_GUEST',
    );

    const again = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', request.id) },
      { token: fx.staff.token },
    );
    expect(expectOk(again).acceptBookingRequest).toMatchObject({
      __typename: 'InboxItemSettledError',
      status: 'CLOSED',
    });
  });

  it('a booking settled any other way closes its request, announced once; a hold or a staff decision does not', async () => {
    const w = await world();
    const db = app.services.db;
    const events = app.services.pubsub.subscribe(inboxTopic(w.venueId));
    await listening(w.venueId);
    /** Every announcement until now: a marker published last is read last. */
    const announced = async () => {
      await app.services.pubsub.publish(inboxTopic(w.venueId), { marker: true });
      const seen: unknown[] = [];
      for (;;) {
        const next = await events.next();
        if ((next.value as { marker?: boolean }).marker) return seen;
        seen.push(next.value);
      }
    };

    // The guest cancels from their app: the request is closed, the question left to staff.
    const cancelled = await requested(w);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: cancelled.id });
    const question = await item(w, 'QUESTION', { bookingId: cancelled.id, guestText: 'Is it quiet?' });
    const cancel = await app.gql(
      `mutation($id: ID!) { cancelBooking(input: { bookingId: $id }) { __typename } }`,
      { id: gid('Booking', cancelled.id) },
      { token: w.guest.token },
    );
    expect(cancel.data, JSON.stringify(cancel.body)).toEqual({
      cancelBooking: { __typename: 'BookingPayload' },
    });
    expect(await db.venueInboxItem.findUniqueOrThrow({ where: { id: request.id } })).toMatchObject({
      status: 'CLOSED',
      resolvedAt: expect.any(Date),
    });
    expect((await db.venueInboxItem.findUniqueOrThrow({ where: { id: question.id } })).status).toBe('OPEN');
    expect(await announced()).toEqual([
      {
        itemId: request.id,
        venueId: w.venueId,
        status: 'CLOSED',
        change: 'resolved',
        at: expect.any(String),
      },
    ]);

    // The platform lapses another: closed too.
    const lapsing = await requested(w, at(3, 21));
    const lapsed = await item(w, 'BOOKING_REQUEST', { bookingId: lapsing.id });
    await systemTransition(app.services.bookings, { bookingId: lapsing.id, to: 'EXPIRED', reason: 'lapsed' });
    expect((await db.venueInboxItem.findUniqueOrThrow({ where: { id: lapsed.id } })).status).toBe('CLOSED');
    expect(await announced()).toEqual([expect.objectContaining({ itemId: lapsed.id, status: 'CLOSED' })]);

    // A hold keeps it waiting; a decision through the inbox stands and is announced as itself.
    const held = await requested(w, at(3, 20));
    const heldItem = await item(w, 'BOOKING_REQUEST', { bookingId: held.id });
    await systemTransition(app.services.bookings, { bookingId: held.id, to: 'HELD', reason: 'holding' });
    expect((await db.venueInboxItem.findUniqueOrThrow({ where: { id: heldItem.id } })).status).toBe('OPEN');
    expect(await announced()).toEqual([]);
    const res = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', heldItem.id) },
      { token: fx.staff.token },
    );
    member(expectOk(res).acceptBookingRequest, 'VenueInboxItemPayload', res);
    expect((await db.venueInboxItem.findUniqueOrThrow({ where: { id: heldItem.id } })).status).toBe(
      'ACCEPTED',
    );
    expect(await announced()).toEqual([expect.objectContaining({ itemId: heldItem.id, status: 'ACCEPTED' })]);
    await events.return?.();
  });
});

// --- live feed ---

type Result = {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
};

/** Subscribes over SSE; `next()` is the next result, `stop()` hangs up. */
async function subscribe(document: { toString(): string }, variables: unknown, token?: string) {
  const abort = new AbortController();
  const response = await openSse(app, document, variables, token, abort.signal);
  const results: Result[] = [];
  const waiting: { wake: (() => void) | null } = { wake: null };
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = parseSseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event.event === 'next') {
            results.push(JSON.parse(event.data) as Result);
            waiting.wake?.();
          }
        }
      }
    } catch {
      // hung up
    }
  })();
  return {
    async next(): Promise<Result> {
      const deadline = Date.now() + 10_000;
      while (results.length === 0) {
        if (Date.now() > deadline) throw new Error('no event within 10 s');
        await new Promise<void>((resolve) => {
          waiting.wake = resolve;
          setTimeout(resolve, 100);
        });
      }
      return results.shift()!;
    },
    stop: () => abort.abort(),
  };
}

/** Waits until this process's Redis subscriber listens on the venue's inbox topic. */
async function listening(venueId: string) {
  const channel = `${app.services.redis.keyPrefix}ps:${inboxTopic(venueId)}`;
  const client = app.services.redis.client;
  if (!client) return;
  await waitFor(
    async () => Number(((await client.pubsub('NUMSUB', channel)) as [string, number])[1]) > 0,
    'the inbox subscription',
    10_000,
  );
}

describe('the live feed', () => {
  it('delivers each new item to the venue’s team; decisions reach the changes feed, not the new-items one', async () => {
    const w = await world();
    const added = await subscribe(ItemAdded, { venueId: gid('Venue', w.venueId) }, fx.staff.token);
    const changed = await subscribe(ItemChanged, { venueId: gid('Venue', w.venueId) }, fx.owner.token);
    await listening(w.venueId);

    // A decision first: announced as a change only.
    const booking = await requested(w);
    const request = await item(w, 'BOOKING_REQUEST', { bookingId: booking.id });
    const res = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', request.id) },
      { token: fx.staff.token },
    );
    member(expectOk(res).acceptBookingRequest, 'VenueInboxItemPayload', res);
    expect((await changed.next()).data).toEqual({
      venueInboxItemChanged: { id: gid('VenueInboxItem', request.id), status: 'ACCEPTED' },
    });

    // Then a new question, announced as the venue's agent announces it after its commit.
    const question = await item(w, 'QUESTION', { guestText: 'Dogs allowed?' });
    await app.services.pubsub.publish(inboxTopic(w.venueId), inboxEvent(question, app.clock.now()));
    expect((await added.next()).data).toEqual({
      venueInboxItemAdded: {
        id: gid('VenueInboxItem', question.id),
        kind: 'QUESTION',
        status: 'OPEN',
        guestText: 'Dogs allowed?',
        booking: null,
      },
    });
    expect((await changed.next()).data).toEqual({
      venueInboxItemChanged: { id: gid('VenueInboxItem', question.id), status: 'OPEN' },
    });

    // An announcement that names the item alone is a new item too.
    const another = await item(w, 'QUESTION', { guestText: 'Any gluten-free desserts?' });
    await app.services.pubsub.publish(inboxTopic(w.venueId), {
      itemId: another.id,
      venueId: w.venueId,
      kind: 'QUESTION',
    });
    expect((await added.next()).data).toMatchObject({
      venueInboxItemAdded: { id: gid('VenueInboxItem', another.id), guestText: 'Any gluten-free desserts?' },
    });
    added.stop();
    changed.stop();
  });

  it('is refused to another venue’s team and to guests', async () => {
    const w = await world();
    for (const token of [fx.otherOwner.token, w.guest.token]) {
      const feed = await subscribe(ItemAdded, { venueId: gid('Venue', w.venueId) }, token);
      const first = await feed.next();
      expect(first.errors?.[0]?.extensions?.code, JSON.stringify(first)).toBe('FORBIDDEN');
      feed.stop();
    }
  });
});

// --- envelope history ---

describe('a booking’s envelope history', () => {
  it('is shown to the venue’s team and platform admins, without the signed bytes, and hidden from the guest', async () => {
    const w = await world();
    const booking = await requested(w);
    const requestEnvelopeId = randomUUID();
    await app.services.db.a2aEnvelope.create({
      data: {
        envelopeId: requestEnvelopeId,
        direction: 'INBOUND',
        fromAgent: consumerAgentId(w.guest.userId),
        toAgent: venueAgentId(w.venueId),
        intent: 'booking.request',
        payload: { guestName: 'secret name' },
        envelope: '{"signature":"sig-bytes-never-shown"}',
        state: 'ANSWERED',
        bookingId: booking.id,
        createdAt: new Date(app.clock.now().getTime() - 60_000),
      },
    });
    const { item: opened } = await app.services.db.$transaction((tx) =>
      openInboxItem(tx, {
        venueId: w.venueId,
        kind: 'BOOKING_REQUEST',
        envelopeId: requestEnvelopeId,
        fromAgent: consumerAgentId(w.guest.userId),
        bookingId: booking.id,
        reason: 'manual policy',
      }),
    );
    const res = await app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', opened.id) },
      { token: fx.staff.token },
    );
    member(expectOk(res).acceptBookingRequest, 'VenueInboxItemPayload', res);

    for (const token of [fx.staff.token, fx.platformAdmin.token]) {
      const read = await app.gql(Envelopes, { id: gid('Booking', booking.id) }, { token });
      const node = expectOk(read).node;
      const envelopes = node && 'envelopes' in node ? node.envelopes : null;
      expect(envelopes?.map((e) => [e.direction, e.intent, e.state])).toEqual([
        ['INBOUND', 'booking.request', 'ANSWERED'],
        ['OUTBOUND', 'booking.accepted', 'PENDING'],
      ]);
      expect(envelopes?.[1]).toMatchObject({
        inReplyTo: requestEnvelopeId,
        fromAgent: venueAgentId(w.venueId),
        toAgent: consumerAgentId(w.guest.userId),
        attempts: 0,
        reason: null,
        lastError: null,
      });
      expect(JSON.stringify(read.body)).not.toMatch(/sig-bytes-never-shown|secret name/);
    }

    const asGuest = await app.gql(Envelopes, { id: gid('Booking', booking.id) }, { token: w.guest.token });
    const guestNode = expectOk(asGuest).node;
    expect(guestNode && 'status' in guestNode ? guestNode.status : null).toBe('CONFIRMED');
    expect(guestNode && 'envelopes' in guestNode ? guestNode.envelopes : 'missing').toBeNull();
    const stranger = await app.gql(
      Envelopes,
      { id: gid('Booking', booking.id) },
      { token: fx.otherOwner.token },
    );
    expect(expectOk(stranger).node).toBeNull();
  });
});
