/**
 * Escalation with staff in the loop, on the real path: the guest's agent asks by envelope through
 * the embedded gateway, the venue's agent puts the request (or the question) before staff, the
 * team's dashboard hears of it live, a member decides over GraphQL, the booking moves, the guest
 * is told, and the answer envelope, signed as the venue's agent, reaches the guest agent's inbox
 * and passes its checks there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelopeDeps } from '../../src/domain/envelopes/deps.ts';
import { drainInbox } from '../../src/domain/envelopes/receive.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { inboxTopic } from '../../src/domain/network/staff-inbox.ts';
import { graphql } from '../generated/gql.ts';
import { member } from '../helpers/app.ts';
import { type Actors, createActors } from '../helpers/authz.ts';
import { waitFor } from '../helpers/jobs.ts';
import { openSse, parseSseEvent } from '../helpers/sse.ts';
import { lisbon, type VenueAgentWorld, venueAgentWorld } from './venue-agent-world.ts';

const Added = graphql(`
  subscription EscalationInboxAdded($venueId: ID!) {
    venueInboxItemAdded(venueId: $venueId) { id kind status guestText reason booking { id status partySize } }
  }
`);

const Accept = graphql(`
  mutation EscalationAccept($itemId: ID!) {
    acceptBookingRequest(input: { itemId: $itemId }) {
      __typename
      ... on VenueInboxItemPayload { item { status booking { status } } }
      ... on Error { message }
    }
  }
`);

const Answer = graphql(`
  mutation EscalationAnswer($itemId: ID!, $answer: String!) {
    answerVenueQuestion(input: { itemId: $itemId, answer: $answer }) {
      __typename
      ... on VenueInboxItemPayload { item { status answer } }
      ... on Error { message }
    }
  }
`);

const History = graphql(`
  query EscalationEnvelopes($id: ID!) {
    node(id: $id) { ... on Booking { envelopes { intent direction state fromAgent toAgent } } }
  }
`);

let world: VenueAgentWorld;
let fx: Actors;

beforeAll(async () => {
  world = await venueAgentWorld();
  fx = await createActors(world.app);
}, 60_000);

afterAll(async () => {
  await world?.close();
});

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

/** Envelope sending and receiving on the world's services. */
const deps = () =>
  envelopeDeps({
    db: world.db,
    keyring: world.services.keyring,
    clawpulse: world.services.network.clawpulse,
    breakers: world.services.network.breakers,
    logger: world.services.logger,
    now: world.services.now,
    network: world.services.config.network,
  });

/** The first `next` result of a subscription over SSE, once Redis listens on `topic`; then hangs up. */
async function firstEvent(
  document: { toString(): string },
  variables: unknown,
  token: string,
  topic: string,
  cause: () => Promise<unknown>,
): Promise<Record<string, unknown>> {
  const abort = new AbortController();
  try {
    const response = await openSse(world.app, document, variables, token, abort.signal);
    const channel = `${world.services.redis.keyPrefix}ps:${topic}`;
    const first = (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = parseSseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event.event === 'next') return JSON.parse(event.data) as Record<string, unknown>;
        }
      }
      throw new Error('the stream ended without an event');
    })();
    const client = world.services.redis.client;
    if (client) {
      await waitFor(
        async () => Number(((await client.pubsub('NUMSUB', channel)) as [string, number])[1]) > 0,
        'the inbox subscription',
      );
    }
    await cause();
    return await first;
  } finally {
    abort.abort();
  }
}

describe('staff in the loop', () => {
  it('a large party: escalated, seen live by staff, accepted over GraphQL, the guest told and answered by envelope', async () => {
    const guest = await world.guest();
    const venue = await world.venue({ askStaffAbovePartySize: 6 }, { organizationId: fx.organizationId });
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(4, '20:00'), 8);

    let outboundEnvelopeId = '';
    const event = await firstEvent(
      Added,
      { venueId: gid('Venue', venue.venue.id) },
      fx.staff.token,
      inboxTopic(venue.venue.id),
      async () => {
        const { outbound, outcome } = await world.request(guest, venue, booking, {
          notes: 'A retirement party',
        });
        expect(outcome.note).toBe('escalated: party_size');
        outboundEnvelopeId = outbound.envelopeId!;
      },
    );
    const item = await world.db.venueInboxItem.findFirstOrThrow({ where: { venueId: venue.venue.id } });
    expect(event.data).toEqual({
      venueInboxItemAdded: {
        id: gid('VenueInboxItem', item.id),
        kind: 'BOOKING_REQUEST',
        status: 'OPEN',
        guestText: 'A retirement party',
        reason: "Parties above 6 are decided by the venue's staff",
        booking: { id: gid('Booking', booking.id), status: 'REQUESTED', partySize: 8 },
      },
    });

    const res = await world.app.gql(
      Accept,
      { itemId: gid('VenueInboxItem', item.id) },
      { token: fx.staff.token },
    );
    const accepted = member(res.data?.acceptBookingRequest, 'VenueInboxItemPayload', res);
    expect(accepted.item).toEqual({ status: 'ACCEPTED', booking: { status: 'CONFIRMED' } });

    // The guest is told by the booking's own notice, once.
    const messages = await world.db.outboundMessage.findMany({ where: { bookingId: booking.id } });
    expect(messages.map((m) => [m.kind, m.userId])).toEqual([['booking.confirmed', guest.person.id]]);

    // The answer goes through the gateway to the guest's agent, which accepts it as the venue's.
    const reply = await world.db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'OUTBOUND', inReplyTo: outboundEnvelopeId, intent: 'booking.accepted' },
    });
    expect((await sendEnvelope(deps(), reply.id)).result).toBe('sent');
    expect((await drainInbox(deps(), guest.id)).accepted).toBeGreaterThanOrEqual(1);
    const received = await world.db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'INBOUND', envelopeId: reply.envelopeId },
    });
    expect(received).toMatchObject({
      state: 'DELIVERED',
      fromAgent: venue.id,
      toAgent: guest.id,
      intent: 'booking.accepted',
      inReplyTo: outboundEnvelopeId,
      payload: { bookingId: booking.id },
    });

    // Support sees the exchange on the booking. (The guest agent's copy of the answer
    // joins it when the consumer side handles it and names the booking.)
    const history = await world.app.gql(
      History,
      { id: gid('Booking', booking.id) },
      { token: fx.owner.token },
    );
    const envelopes =
      history.data?.node && 'envelopes' in history.data.node ? (history.data.node.envelopes ?? []) : [];
    expect(envelopes).toHaveLength(4);
    expect(envelopes.map((e) => [e.direction, e.intent, e.fromAgent])).toEqual(
      expect.arrayContaining([
        ['OUTBOUND', 'booking.request', guest.id],
        ['INBOUND', 'booking.request', guest.id],
        ['OUTBOUND', 'booking.escalated', venue.id],
        ['OUTBOUND', 'booking.accepted', venue.id],
      ]),
    );
  });

  it('a question the facts do not answer: put before staff, answered, and the answer reaches the guest’s agent', async () => {
    const guest = await world.guest();
    const venue = await world.venue({}, { organizationId: fx.organizationId });
    const asked = await world.deliver(guest.id, venue.id, 'venue.question', {
      text: 'Could you keep the table by the fireplace for my grandmother?',
    });
    await world.handle(asked.inboundRowId);
    const item = await world.db.venueInboxItem.findFirstOrThrow({
      where: { venueId: venue.venue.id, kind: 'QUESTION' },
    });
    expect(item.guestText).toBe('Could you keep the table by the fireplace for my grandmother?');

    const res = await world.app.gql(
      Answer,
      { itemId: gid('VenueInboxItem', item.id), answer: 'Yes, it is hers from 19:30.' },
      { token: fx.staff.token },
    );
    expect(member(res.data?.answerVenueQuestion, 'VenueInboxItemPayload', res).item).toEqual({
      status: 'ANSWERED',
      answer: 'Yes, it is hers from 19:30.',
    });
    const reply = await world.db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'OUTBOUND', inReplyTo: item.envelopeId, intent: 'venue.answer' },
    });
    expect((await sendEnvelope(deps(), reply.id)).result).toBe('sent');
    await drainInbox(deps(), guest.id);
    expect(
      await world.db.a2aEnvelope.findFirstOrThrow({
        where: { direction: 'INBOUND', envelopeId: reply.envelopeId },
      }),
    ).toMatchObject({
      state: 'DELIVERED',
      fromAgent: venue.id,
      payload: { text: 'Yes, it is hers from 19:30.', questionId: item.envelopeId },
    });
  });
});

describe('a takeover committed while staff decide', () => {
  it("refuses the former team's answer, changing nothing: the question waits for the new team, no answer is sent", async () => {
    const guest = await world.guest();
    const venue = await world.venue({}, { organizationId: fx.organizationId });
    const asked = await world.deliver(guest.id, venue.id, 'venue.question', {
      text: 'Is the terrace heated?',
    });
    await world.handle(asked.inboundRowId);
    const item = await world.db.venueInboxItem.findFirstOrThrow({
      where: { venueId: venue.venue.id, kind: 'QUESTION' },
    });
    const res = await world.takenOverDuring(venue.venue.id, () =>
      world.app.gql(
        Answer,
        { itemId: gid('VenueInboxItem', item.id), answer: 'Yes, from October on.' },
        { token: fx.staff.token },
      ),
    );
    expect(res.data?.answerVenueQuestion).toEqual({
      __typename: 'ConflictError',
      message: 'This venue changed hands while the decision was being made: nothing was changed',
    });
    expect(await world.db.venueInboxItem.findUniqueOrThrow({ where: { id: item.id } })).toMatchObject({
      status: 'OPEN',
      answer: null,
      resolvedAt: null,
    });
    expect(
      await world.db.a2aEnvelope.count({
        where: { direction: 'OUTBOUND', inReplyTo: item.envelopeId, intent: 'venue.answer' },
      }),
    ).toBe(0);
  });
});
