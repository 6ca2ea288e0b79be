/**
 * The consumer side acting on the venue agents' answers, through the embedded gateway: an answer
 * to a booking still REQUESTED (an outside venue agent, which does not share our bookings) moves
 * it; one to a booking the venue already moved tells the guest nothing more; an escalation and an
 * answer to a question are notices; the request is ANSWERED and the decision time metered. And
 * the answer-due check: no answer within the TTL tells the guest once, an answer tells nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemTransition } from '../../src/domain/bookings/bookings.ts';
import { bookingTopics } from '../../src/domain/bookings/live-events.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { tellIfNotAnswered } from '../../src/domain/network/answer-due.ts';
import { askVenueAgent } from '../../src/domain/network/consumer-agent.ts';
import { openInboxItem } from '../../src/domain/network/staff-inbox.ts';
import { runDueJobs } from '../helpers/jobs.ts';
import { at, type ConsumerWorld, consumerWorld } from './consumer-world.ts';

let world: ConsumerWorld;
beforeAll(async () => {
  world = await consumerWorld();
});
afterAll(() => world?.close());

/** A guest's booking at a venue with an active agent, its request sent to the venue's inbox. */
async function requested(name = 'Marta') {
  const { venue } = await world.venue({ agent: true });
  const guest = await world.person(name);
  const created = await world.book(guest.token, venue.id);
  const bookingId = Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!;
  const request = await world.sendRequest(bookingId);
  return { venue, guest, bookingId, request };
}

const statusOf = async (bookingId: string) =>
  (await world.db.booking.findUniqueOrThrow({ where: { id: bookingId } })).status;

async function decisions(outcome: string): Promise<number> {
  const metric = await world.metrics.registry.getSingleMetric('a2a_decision_seconds')?.get();
  return (
    metric?.values.find(
      (v) =>
        (v as { metricName?: string }).metricName === 'a2a_decision_seconds_count' &&
        v.labels.outcome === outcome,
    )?.value ?? 0
  );
}

describe('booking.accepted', () => {
  it('moves a booking still REQUESTED to CONFIRMED as the system, marks the request ANSWERED, tells the guest once', async () => {
    const { db } = world;
    const { guest, bookingId, request } = await requested();
    const before = await decisions('accept');
    const updates = world.app.services.pubsub.subscribe(bookingTopics.booking(bookingId));
    const update = updates.next();

    const outcome = await world.answer(request, 'booking.accepted', { bookingId });
    expect(outcome).toEqual({ handled: true, note: 'booking CONFIRMED' });
    expect(await statusOf(bookingId)).toBe('CONFIRMED');
    const transition = await db.bookingTransition.findFirstOrThrow({
      where: { bookingId, toStatus: 'CONFIRMED' },
    });
    expect(transition).toMatchObject({ fromStatus: 'REQUESTED', actorKind: 'system' });
    expect(transition.reason).toBe('accepted by the venue’s agent');
    expect((await db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.id } })).state).toBe('ANSWERED');
    expect(await world.notices(guest.userId, 'booking.confirmed')).toHaveLength(1);
    expect(await decisions('accept')).toBe(before + 1);
    // Dashboards and the guest's app see it live, once committed.
    expect((await update).value).toMatchObject({ bookingId, status: 'CONFIRMED' });
    await updates.return?.();
  });

  it('answering a change of the booking, not its request, moves nothing', async () => {
    const { db } = world;
    const { guest, bookingId, request } = await requested();
    // The guest's agent asked to change the booking still waiting for the venue's answer.
    const change = await queueEnvelope(db, {
      from: request.fromAgent,
      to: request.toAgent,
      intent: 'booking.modify',
      payload: { bookingId, change: { partySize: 3 } },
      bookingId,
      now: world.app.clock.now(),
    });
    await world.sendRequestRow(change.id, guest.userId);
    const sentChange = await db.a2aEnvelope.findUniqueOrThrow({ where: { id: change.id } });
    const outcome = await world.answer(sentChange, 'booking.accepted', {
      bookingId,
      reason: 'The booking was changed',
    });
    expect(outcome).toEqual({ handled: true, note: 'answers a booking.modify, not a booking request' });
    expect(await statusOf(bookingId)).toBe('REQUESTED');
    expect(await world.notices(guest.userId, 'booking.confirmed')).toEqual([]);
  });

  it('after the venue already moved the booking: nothing more, the guest told once (by the move)', async () => {
    const { app } = world;
    const { guest, bookingId, request } = await requested();
    const before = await decisions('accept');
    // The venue's agent (ours) confirms with its answer: the booking's effects tell the guest.
    await systemTransition(app.services.bookings, {
      bookingId,
      to: 'CONFIRMED',
      reason: 'accepted by the venue’s agent',
    });
    const outcome = await world.answer(request, 'booking.accepted', { bookingId });
    expect(outcome.note).toBe('booking already CONFIRMED');
    expect(await statusOf(bookingId)).toBe('CONFIRMED');
    expect(await world.notices(guest.userId, 'booking.confirmed')).toHaveLength(1);
    // The venue's agent timed its own decision.
    expect(await decisions('accept')).toBe(before);
  });

  it("from another venue's agent, or about someone else's booking: nothing moves", async () => {
    const { bookingId, request } = await requested();
    const other = await world.venue({ agent: true });
    const wrongSender = await world.answer(
      request,
      'booking.accepted',
      { bookingId },
      {
        from: `venue-${other.venue.id}`,
      },
    );
    expect(wrongSender.note).toContain('not from the booking’s venue');
    expect(await statusOf(bookingId)).toBe('REQUESTED');

    const stranger = await requested('Rui');
    const notTheirs = await world.answer(stranger.request, 'booking.accepted', { bookingId });
    expect(notTheirs.note).toBe('no such booking of this person');
    expect(await statusOf(bookingId)).toBe('REQUESTED');
  });
});

describe('booking.declined', () => {
  it('moves a booking still REQUESTED to DECLINED and gives the guest the times offered, in one message', async () => {
    const { db } = world;
    const { guest, bookingId, request } = await requested();
    const outcome = await world.answer(request, 'booking.declined', {
      bookingId,
      reason: 'Full at eight',
      alternatives: [at('21:30').toISOString()],
    });
    expect(outcome.note).toBe('booking DECLINED');
    expect(await statusOf(bookingId)).toBe('DECLINED');
    expect(
      (await db.bookingTransition.findFirstOrThrow({ where: { bookingId, toStatus: 'DECLINED' } })).reason,
    ).toBe('Full at eight');
    const [declined, ...more] = await world.notices(guest.userId, 'booking.declined');
    expect(more).toEqual([]);
    expect(declined!.body).toContain('21:30');
    expect(await decisions('decline')).toBeGreaterThan(0);
  });
});

describe('booking.escalated', () => {
  it("tells the guest the venue's team is checking; the booking stays REQUESTED", async () => {
    const { db } = world;
    const { venue, guest, bookingId, request } = await requested();
    const outcome = await world.answer(request, 'booking.escalated', { bookingId, reason: 'Large party' });
    expect(outcome.note).toContain('guest told');
    expect(await statusOf(bookingId)).toBe('REQUESTED');
    const [notice, ...more] = await world.notices(guest.userId, 'booking.escalated');
    expect(more).toEqual([]);
    expect(notice!.body).toContain(`${venue.name}'s team is checking`);
    expect((await db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.id } })).state).toBe('ANSWERED');
  });
});

describe('venue.answer', () => {
  it("gives the person the venue's words, with their question", async () => {
    const { db, app } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const { questionId } = await askVenueAgent(db, app.services, {
      userId: marta.userId,
      venueId: venue.id,
      text: 'Do you have a high chair?',
    });
    const question = await db.a2aEnvelope.findFirstOrThrow({ where: { envelopeId: questionId } });
    await world.sendRequestRow(question.id, marta.userId);
    const outcome = await world.answer(question, 'venue.answer', { text: 'Yes, two of them.', questionId });
    expect(outcome.note).toBe('person told the venue’s answer');
    const [notice, ...more] = await world.notices(marta.userId, 'venue.answer');
    expect(more).toEqual([]);
    expect(notice!.body).toContain('Yes, two of them.');
    expect(notice!.body).toContain('Do you have a high chair?');
    expect(notice!.body).toContain(venue.name);
  });

  it("tells no one an answer to no question of theirs: none asked, or another person's", async () => {
    const { db, app } = world;
    const { venue } = await world.venue({ agent: true });
    const marta = await world.person();
    const ana = await world.person();
    const { questionId } = await askVenueAgent(db, app.services, {
      userId: marta.userId,
      venueId: venue.id,
      text: 'Is the terrace open?',
    });
    const question = await db.a2aEnvelope.findFirstOrThrow({ where: { envelopeId: questionId } });
    const anaAgent = `consumer-${ana.userId}`;
    await world.sendRequestRow(question.id, marta.userId);
    await world.registerConsumer(ana.userId);
    // Unasked: no reply-to, no question id.
    const unasked = await world.answer(
      { envelopeId: null, fromAgent: anaAgent, toAgent: question.toAgent, bookingId: null },
      'venue.answer',
      { text: 'Try our new tasting menu!' },
    );
    expect(unasked.note).toBe('not acted on: it answers no question this person asked the venue');
    // Replying to Marta's question, sent to Ana: Ana is told nothing, and neither is Marta's question shown.
    const misdirected = await world.answer(
      { envelopeId: question.envelopeId, fromAgent: anaAgent, toAgent: question.toAgent, bookingId: null },
      'venue.answer',
      { text: 'Yes, until 23:00.', questionId },
    );
    expect(misdirected.note).toBe('not acted on: it answers no question this person asked the venue');
    expect(await world.notices(ana.userId, 'venue.answer')).toEqual([]);
  });
});

describe('the answer-due check', () => {
  it('tells a guest with no answer once that the venue has not answered yet', async () => {
    const { db } = world;
    const { venue } = await world.venue({ agent: true });
    const guest = await world.person();
    const created = await world.book(guest.token, venue.id);
    const bookingId = Buffer.from(created.booking!.id, 'base64').toString().split(':')[1]!;
    const request = (await world.requestOf(bookingId))!;

    // Its job, run when due (here: made due now), as the worker runs it.
    await db.$executeRaw`
      UPDATE graphile_worker._private_jobs SET run_at = now() WHERE key = ${`a2a-answer-due:${bookingId}`}`;
    await runDueJobs(world.app, ['a2a-answer-due']);
    const [notice, ...more] = await world.notices(guest.userId, 'booking.not_answered_yet');
    expect(more).toEqual([]);
    expect(notice!.body).toContain(`${venue.name} hasn't answered yet`);
    expect(await tellIfNotAnswered(db, { bookingId, envelopeRowId: request.id })).toBe('told_before');
    expect(await world.notices(guest.userId, 'booking.not_answered_yet')).toHaveLength(1);
  });

  it('tells nothing when the answer came, the booking moved on, or the request was escalated', async () => {
    const { db } = world;
    const answered = await requested();
    await world.answer(answered.request, 'booking.accepted', { bookingId: answered.bookingId });
    expect(
      await tellIfNotAnswered(db, { bookingId: answered.bookingId, envelopeRowId: answered.request.id }),
    ).toBe('answered');
    expect(await world.notices(answered.guest.userId, 'booking.not_answered_yet')).toEqual([]);

    const escalated = await requested();
    await world.answer(escalated.request, 'booking.escalated', { bookingId: escalated.bookingId });
    // The request is ANSWERED by the escalation itself.
    expect(
      await tellIfNotAnswered(db, { bookingId: escalated.bookingId, envelopeRowId: escalated.request.id }),
    ).toBe('answered');

    // Put before the venue's staff by a venue agent of ours, its answer not read yet.
    const withStaff = await requested();
    await db.$transaction((tx) =>
      openInboxItem(tx, {
        venueId: withStaff.venue.id,
        kind: 'BOOKING_REQUEST',
        envelopeId: withStaff.request.envelopeId!,
        fromAgent: withStaff.request.fromAgent,
        bookingId: withStaff.bookingId,
        guestId: withStaff.guest.userId,
        reason: 'Large party',
      }),
    );
    expect(
      await tellIfNotAnswered(db, { bookingId: withStaff.bookingId, envelopeRowId: withStaff.request.id }),
    ).toBe('escalated');
    expect(await world.notices(withStaff.guest.userId, 'booking.not_answered_yet')).toEqual([]);

    const moved = await requested();
    await systemTransition(world.app.services.bookings, {
      bookingId: moved.bookingId,
      to: 'CONFIRMED',
      reason: 'accepted by the venue’s team',
    });
    expect(await tellIfNotAnswered(db, { bookingId: moved.bookingId, envelopeRowId: moved.request.id })).toBe(
      'moved_on',
    );
    expect(await world.notices(moved.guest.userId, 'booking.not_answered_yet')).toEqual([]);
  });
});
