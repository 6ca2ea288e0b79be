import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modifyBooking } from '../../src/domain/bookings/bookings.ts';
import { bookingTopics } from '../../src/domain/bookings/live-events.ts';
import { handleEnvelope, type IntentHandlers } from '../../src/domain/envelopes/handle.ts';
import { inboxTopic, openInboxItem } from '../../src/domain/network/staff-inbox.ts';
import { ACCEPTED_BY_AGENT } from '../../src/domain/network/venue-agent.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { createBooking } from '../factories/bookings.ts';
import { waitingForLock } from '../helpers/db.ts';
import { lisbon, type VenueAgentWorld, venueAgentWorld } from './venue-agent-world.ts';

let world: VenueAgentWorld;

beforeAll(async () => {
  world = await venueAgentWorld();
});

afterAll(async () => {
  await world?.close();
});

async function decisionCount(outcome: string): Promise<number> {
  const metric = await world.metrics.registry.getSingleMetric('a2a_decision_seconds')?.get();
  return (
    metric?.values.find(
      (v) => v.labels.outcome === outcome && (v as { metricName?: string }).metricName?.endsWith('_count'),
    )?.value ?? 0
  );
}

describe("a venue's agent answering booking requests", () => {
  it('judges the lead time as of the request, not of its late answer; a start already past is declined', async () => {
    const guest = await world.guest();
    const startsAt = lisbon(3, '20:00');
    // The venue's notice ends five minutes after the guest asks: the answer comes ten minutes on.
    const leadTimeMinutes = Math.floor((startsAt.getTime() - world.services.now().getTime()) / 60_000) - 5;
    const venue = await world.venue({}, { leadTimeMinutes });
    const booking = await world.requested(guest.person.id, venue.venue.id, startsAt, 2);
    world.app.clock.advance(10 * 60_000);
    const { outcome } = await world.request(guest, venue, booking);
    expect(outcome).toEqual({ handled: true, note: 'accepted' });
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CONFIRMED',
    );

    // Asked three days ago for yesterday evening, answered only now: too late, whenever asked.
    const askedAt = new Date(world.services.now().getTime() - 3 * 86_400_000);
    const plain = await world.venue();
    const stale = await world.requested(guest.person.id, plain.venue.id, lisbon(-1, '20:00'), 2);
    await world.db.$executeRaw`
      UPDATE bookings SET created_at = ${askedAt}, updated_at = ${askedAt} WHERE id = ${stale.id}::uuid`;
    expect((await world.request(guest, plain, stale)).outcome).toEqual({
      handled: true,
      note: 'declined: not_bookable',
    });
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: stale.id } })).status).toBe('DECLINED');
  });

  it('confirms a request inside its rules, answers booking.accepted and tells the guest once', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:00'), 2);
    const before = await decisionCount('accept');
    const live = await world.listen(bookingTopics.booking(booking.id));

    const { outbound, inboundRowId, outcome } = await world.request(guest, venue, booking);

    expect(outcome).toEqual({ handled: true, note: 'accepted' });
    const after = await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } });
    expect(after.status).toBe('CONFIRMED');
    expect(after.expiresAt).toBeNull();
    const transition = await world.db.bookingTransition.findFirstOrThrow({
      where: { bookingId: booking.id, toStatus: 'CONFIRMED' },
    });
    expect(transition).toMatchObject({
      fromStatus: 'REQUESTED',
      actorKind: 'venue',
      actorId: null,
      reason: ACCEPTED_BY_AGENT,
    });
    const answers = await world.answers(outbound.envelopeId!);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({
      intent: 'booking.accepted',
      fromAgent: venue.id,
      toAgent: guest.id,
      state: 'PENDING',
      bookingId: booking.id,
      payload: { bookingId: booking.id },
    });
    const messages = await world.db.outboundMessage.findMany({ where: { bookingId: booking.id } });
    expect(messages.map((m) => m.kind)).toEqual(['booking.confirmed']);
    const inbound = await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: inboundRowId } });
    expect(inbound.bookingId).toBe(booking.id);
    expect(inbound.handledNote).toBe('accepted');
    expect(await decisionCount('accept')).toBe(before + 1);
    // The live update, published after the commit.
    expect(await live.next()).toMatchObject({
      bookingId: booking.id,
      status: 'CONFIRMED',
      from: 'REQUESTED',
    });
    await live.close();
  });

  it('leaves nothing done, and publishes nothing, when the handling rolls back after the decision', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '21:00'), 2);
    const { outbound, inboundRowId } = await world.deliverRequest(guest, venue, booking);
    const live = await world.listen(bookingTopics.booking(booking.id));
    const decide = world.handlers['booking.request'];
    if (typeof decide !== 'function') throw new Error('booking.request is decided in the transaction alone');
    const failing: IntentHandlers = {
      'booking.request': async (tx, envelope, context) => {
        await decide(tx, envelope, context);
        throw new Error('the process died after deciding');
      },
    };

    await expect(
      handleEnvelope(
        { db: world.db, logger: world.services.logger, now: world.services.now },
        inboundRowId,
        failing,
      ),
    ).rejects.toThrow('the process died after deciding');

    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    expect(await world.answers(outbound.envelopeId!)).toHaveLength(0);
    expect(await world.db.outboundMessage.count({ where: { bookingId: booking.id } })).toBe(0);
    expect(await live.next(300)).toBeUndefined();

    // The job's retry handles it.
    expect(await world.handle(inboundRowId)).toEqual({ handled: true, note: 'accepted' });
    expect(await live.next()).toMatchObject({ status: 'CONFIRMED' });
    await live.close();
  });

  it('acts once on a request handled twice at the same time, and again later', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '19:00'), 2);
    const { outbound, inboundRowId } = await world.deliverRequest(guest, venue, booking);

    const outcomes = await Promise.all([world.handle(inboundRowId), world.handle(inboundRowId)]);
    const later = await world.handle(inboundRowId);

    expect(outcomes.map((o) => o.handled).sort()).toEqual([false, true]);
    expect(later).toEqual({ handled: false, note: 'accepted' });
    expect(await world.answers(outbound.envelopeId!)).toHaveLength(1);
    expect(await world.db.bookingTransition.count({ where: { bookingId: booking.id } })).toBe(1);
    expect(await world.db.outboundMessage.count({ where: { bookingId: booking.id } })).toBe(1);
  });

  it('answers a second request for a decided booking with what it is, without moving it', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(4, '20:00'), 2);
    await world.request(guest, venue, booking);
    const confirmed = await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } });

    const second = await world.request(guest, venue, confirmed);

    expect(second.outcome.note).toBe('already confirmed: answered accepted');
    const [reply] = await world.answers(second.outbound.envelopeId!);
    expect(reply).toMatchObject({ intent: 'booking.accepted', payload: { bookingId: booking.id } });

    const cancelled = await world.requested(guest.person.id, venue.venue.id, lisbon(4, '21:00'), 2, {
      status: 'CANCELLED_BY_GUEST',
    });
    const third = await world.request(guest, venue, cancelled);
    const [declined] = await world.answers(third.outbound.envelopeId!);
    expect(declined).toMatchObject({
      intent: 'booking.declined',
      payload: { bookingId: cancelled.id, reason: 'The booking is cancelled by guest' },
    });
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: cancelled.id } })).status).toBe(
      'CANCELLED_BY_GUEST',
    );
  });

  it('puts a party above the staff threshold before staff: REQUESTED, an inbox item, booking.escalated', async () => {
    const guest = await world.guest();
    const venue = await world.venue({ askStaffAbovePartySize: 4 });
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:00'), 6);
    const before = await decisionCount('escalate');

    const { outbound, outcome } = await world.request(guest, venue, booking, {
      notes: 'A birthday, a cake please',
    });

    expect(outcome.note).toBe('escalated: party_size');
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    const items = await world.db.venueInboxItem.findMany({ where: { venueId: venue.venue.id } });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      kind: 'BOOKING_REQUEST',
      status: 'OPEN',
      bookingId: booking.id,
      guestId: guest.person.id,
      fromAgent: guest.id,
      envelopeId: outbound.envelopeId,
      guestText: 'A birthday, a cake please',
      reason: "Parties above 4 are decided by the venue's staff",
    });
    const [reply] = await world.answers(outbound.envelopeId!);
    expect(reply).toMatchObject({
      intent: 'booking.escalated',
      bookingId: booking.id,
      payload: { bookingId: booking.id, reason: "Parties above 4 are decided by the venue's staff" },
    });
    expect(world.published).toContainEqual({
      topic: inboxTopic(venue.venue.id),
      payload: { itemId: items[0]!.id, venueId: venue.venue.id, kind: 'BOOKING_REQUEST' },
    });
    expect(await world.db.outboundMessage.count({ where: { bookingId: booking.id } })).toBe(0);
    expect(await decisionCount('escalate')).toBe(before + 1);

    // Asked again while staff have it: the same item, answered escalated again.
    const again = await world.request(guest, venue, booking);
    expect(again.outcome.note).toBe('escalated: party_size');
    expect(await world.db.venueInboxItem.count({ where: { venueId: venue.venue.id } })).toBe(1);
  });

  it('puts before staff a party the venue no longer takes (its party sizes changed after the booking)', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:30'), 6);
    await world.db.venue.update({ where: { id: venue.venue.id }, data: { partySizeMax: 4 } });

    const { outbound, outcome } = await world.request(guest, venue, booking);

    expect(outcome).toEqual({ handled: true, note: 'escalated: party_size' });
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    const [reply] = await world.answers(outbound.envelopeId!);
    expect(reply).toMatchObject({
      intent: 'booking.escalated',
      payload: { bookingId: booking.id, reason: 'The venue books parties of 1 to 4; its staff decide' },
    });
  });

  it('decides on the venue as it is under its lock: suspended while the agent waited, it declines', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '21:30'), 2);
    const { inboundRowId } = await world.deliverRequest(guest, venue, booking);
    // The venue's suspension, uncommitted and holding its row, while the agent starts deciding.
    const admin = await world.app.database.pool.connect();
    try {
      await admin.query('BEGIN');
      await admin.query(`UPDATE venues SET status = 'SUSPENDED' WHERE id = $1`, [venue.venue.id]);
      const handling = world.handle(inboundRowId);
      const deadline = Date.now() + 5_000;
      for (;;) {
        const { rows } = await world.app.database.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query ILIKE '%lock_for_decision(%'`,
        );
        if (rows[0]!.n > 0) break;
        if (Date.now() > deadline) throw new Error('the handling never waited for the venue’s lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await admin.query('COMMIT');
      expect(await handling).toEqual({ handled: true, note: 'declined: not_bookable' });
    } finally {
      admin.release();
    }
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe('DECLINED');
  });

  it('puts a request in a blackout window before staff', async () => {
    const guest = await world.guest();
    const startsAt = lisbon(5, '20:00');
    const venue = await world.venue({
      blackoutWindows: [
        {
          startsAt: new Date(startsAt.getTime() - 3_600_000).toISOString(),
          endsAt: new Date(startsAt.getTime() + 3_600_000).toISOString(),
          reason: 'private event',
        },
      ],
    });
    const booking = await world.requested(guest.person.id, venue.venue.id, startsAt, 2);

    const { outbound, outcome } = await world.request(guest, venue, booking);

    expect(outcome.note).toBe('escalated: blackout');
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    expect(await world.db.venueInboxItem.count({ where: { bookingId: booking.id, status: 'OPEN' } })).toBe(1);
    expect((await world.answers(outbound.envelopeId!))[0]?.intent).toBe('booking.escalated');
  });

  it("offers a late service's own times for a full time after midnight, not the next night's", async () => {
    const guest = await world.guest();
    const venue = await world.venue({}, { open: ['22:00', '03:00'], timeZone: 'Europe/Lisbon' });
    // 00:30 on day 3 is day 2's service, which runs from 22:00 to 03:00.
    const startsAt = lisbon(3, '00:30');
    await takenByOthers(venue.venue.id, startsAt);
    const booking = await world.requested(guest.person.id, venue.venue.id, startsAt, 2);
    const { outbound, outcome } = await world.request(guest, venue, booking);
    expect(outcome.note).toBe('declined: full');
    const [reply] = await world.answers(outbound.envelopeId!);
    const { alternatives } = reply!.payload as { alternatives: string[] };
    // 90-minute turns ending by 03:00: before 00:30's tables, that same night.
    expect(alternatives.map((a) => new Date(a).getTime())).toEqual(
      [lisbon(2, '23:00'), lisbon(2, '22:30'), lisbon(2, '22:00')].map((d) => d.getTime()),
    );
  });

  it('declines a full time with the nearest free times, and tells the guest', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const startsAt = lisbon(3, '20:00');
    // Four tables of four, all taken at 20:00 by others.
    await takenByOthers(venue.venue.id, startsAt);
    const booking = await world.requested(guest.person.id, venue.venue.id, startsAt, 2);
    const before = await decisionCount('decline');

    const { outbound, outcome } = await world.request(guest, venue, booking);

    expect(outcome.note).toBe('declined: full');
    const after = await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } });
    expect(after.status).toBe('DECLINED');
    const [reply] = await world.answers(outbound.envelopeId!);
    const payload = reply!.payload as { bookingId: string; reason: string; alternatives: string[] };
    expect(reply!.intent).toBe('booking.declined');
    expect(payload.bookingId).toBe(booking.id);
    // 90-minute turns: the nearest times clear of 20:00's tables are 18:30 and 21:30 (earlier first
    // on a tie), then 18:00.
    expect(payload.alternatives.map((a) => new Date(a).getTime())).toEqual(
      [lisbon(3, '18:30'), lisbon(3, '21:30'), lisbon(3, '18:00')].map((d) => d.getTime()),
    );
    expect(payload.reason).toMatch(/^That time is fully booked\. Nearest free times: .*21:30/);
    const transition = await world.db.bookingTransition.findFirstOrThrow({
      where: { bookingId: booking.id, toStatus: 'DECLINED' },
    });
    expect(transition).toMatchObject({ actorKind: 'venue', reason: payload.reason });
    const told = await world.db.outboundMessage.findMany({ where: { bookingId: booking.id } });
    expect(told.map((m) => m.kind)).toEqual(['booking.declined']);
    // The guest's message offers the same times the venue's agent offered.
    expect(told[0]!.body).toContain('18:30');
    expect(told[0]!.body).toContain('21:30');
    expect(await decisionCount('decline')).toBe(before + 1);
  });

  it("finds the booking by the requester's client key when the request names none", async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(7, '20:00'), 2);

    const { outcome } = await world.request(guest, venue, booking, { bookingId: undefined });

    expect(outcome.note).toBe('accepted');
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CONFIRMED',
    );
  });

  it('declines a time the venue does not offer with the nearest ones it does', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    // 17:00: before the venue opens at 18:00.
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '17:00'), 2);

    const { outbound, outcome } = await world.request(guest, venue, booking);

    expect(outcome.note).toBe('declined: not_bookable');
    const [reply] = await world.answers(outbound.envelopeId!);
    expect(
      (reply!.payload as { alternatives: string[] }).alternatives.map((a) => new Date(a).getTime()),
    ).toEqual([lisbon(3, '18:00'), lisbon(3, '18:30'), lisbon(3, '19:00')].map((d) => d.getTime()));
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe('DECLINED');
  });

  it('puts a request that reaches a paused agent before staff', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    await world.db.agent.update({ where: { id: venue.agent.id }, data: { status: 'PAUSED' } });
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:00'), 2);

    const { outcome } = await world.request(guest, venue, booking);

    expect(outcome.note).toBe('escalated: manual_policy');
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'REQUESTED',
    );
    expect(await world.db.venueInboxItem.count({ where: { bookingId: booking.id } })).toBe(1);
  });

  it("emails what it puts before staff to the agent's escalation contact, else to the venue, once", async () => {
    const emails = (bookingId: string) =>
      world.db.outboundMessage.findMany({
        where: { bookingId, kind: 'venue.inbox' },
        select: { channel: true, emailTo: true, subject: true, body: true },
      });
    const guest = await world.guest();

    // An escalation contact with an address: the email goes to them.
    const named = await world.venue(
      { autoAcceptWithinRules: false },
      { name: 'Casa Contact', email: 'desk@casa.example' },
    );
    const dna = named.agent.dna as Record<string, unknown>;
    await world.db.agent.update({
      where: { id: named.agent.id },
      data: { dna: { ...dna, escalationContact: { name: 'Rita', email: 'rita@casa.example' } } },
    });
    const first = await world.requested(guest.person.id, named.venue.id, lisbon(3, '20:00'), 2);
    await world.request(guest, named, first, { notes: 'A quiet table, please' });
    const [email, ...more] = await emails(first.id);
    expect(more).toEqual([]);
    expect(email).toMatchObject({
      channel: 'EMAIL',
      emailTo: 'rita@casa.example',
      subject: 'A booking request for Casa Contact waits for you',
    });
    expect(email!.body).toContain('Hello Rita,');
    expect(email!.body).toContain('Why: The venue confirms every booking itself');
    expect(email!.body).toContain(', party of 2');
    expect(email!.body).toContain('A quiet table, please');
    // The item opened again for the same envelope (a handling run twice) emails nothing new.
    const item = await world.db.venueInboxItem.findFirstOrThrow({ where: { bookingId: first.id } });
    const again = await world.db.$transaction((tx) =>
      openInboxItem(tx, {
        venueId: item.venueId,
        kind: item.kind,
        envelopeId: item.envelopeId,
        fromAgent: item.fromAgent,
        bookingId: item.bookingId,
        guestId: item.guestId,
        reason: item.reason,
      }),
    );
    expect(again).toMatchObject({ created: false, item: { id: item.id } });
    expect(await emails(first.id)).toHaveLength(1);

    // A contact without an address: the venue's own, not greeting the contact. Neither: the
    // dashboard alone.
    const plain = await world.venue({ autoAcceptWithinRules: false }, { email: 'hello@plain.example' });
    await world.db.agent.update({
      where: { id: plain.agent.id },
      data: {
        dna: {
          ...(plain.agent.dna as Record<string, unknown>),
          escalationContact: { name: 'Rui', phone: '+351910000000' },
        },
      },
    });
    const second = await world.requested(guest.person.id, plain.venue.id, lisbon(3, '21:00'), 2);
    await world.request(guest, plain, second);
    const [toVenue] = await emails(second.id);
    expect(toVenue?.emailTo).toBe('hello@plain.example');
    expect(toVenue?.body).toMatch(/^Hello,\n/);
    const silent = await world.venue({ autoAcceptWithinRules: false });
    const third = await world.requested(guest.person.id, silent.venue.id, lisbon(3, '21:00'), 2);
    await world.request(guest, silent, third);
    expect(await world.db.venueInboxItem.count({ where: { bookingId: third.id } })).toBe(1);
    expect(await emails(third.id)).toEqual([]);
  });

  it("declines a request naming someone else's booking, without touching it; decides the guest's own as it now stands", async () => {
    const guest = await world.guest();
    const stranger = await world.guest();
    const venue = await world.venue();
    const theirs = await world.requested(stranger.person.id, venue.venue.id, lisbon(3, '20:00'), 2);

    const { outbound, outcome } = await world.request(guest, venue, theirs);

    expect(outcome.note).toBe("declined: the booking is not this guest's");
    const [reply] = await world.answers(outbound.envelopeId!);
    expect(reply).toMatchObject({ intent: 'booking.declined', bookingId: null });
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: theirs.id } })).status).toBe('REQUESTED');

    // The guest asked for 21:00 for three, then changed the booking to 20:00 for two before the
    // venue's agent read the request: the agent decides the booking as it is, and the guest's agent
    // is told it was accepted (a refusal would have declined the booking on the guest's side).
    const mine = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:00'), 2);
    const stale = await world.request(guest, venue, mine, {
      startsAt: lisbon(3, '21:00').toISOString(),
      partySize: 3,
    });
    expect(stale.outcome.note).toBe('accepted');
    expect(await world.db.booking.findUniqueOrThrow({ where: { id: mine.id } })).toMatchObject({
      status: 'CONFIRMED',
      startsAt: lisbon(3, '20:00'),
      partySize: 2,
    });
    const [accepted] = await world.answers(stale.outbound.envelopeId!);
    expect(accepted).toMatchObject({ intent: 'booking.accepted', bookingId: mine.id });
  });

  it('decides a booking whose time changed since the request by the room at its new time', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    // 20:00 is full (four tables of four taken by others); 22:00, the time first asked for, is free.
    const other = await world.guest();
    for (let i = 0; i < 4; i++) {
      await createBooking(world.db, {
        venueId: venue.venue.id,
        guestId: other.person.id,
        startsAt: lisbon(3, '20:00'),
        partySize: 4,
        status: 'CONFIRMED',
      });
    }
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:00'), 2);
    const { outcome } = await world.request(guest, venue, booking, {
      startsAt: lisbon(3, '22:00').toISOString(),
    });
    expect(outcome.note).toBe('declined: full');
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe('DECLINED');
  });

  it("cancels the guest's own booking as the guest, and nobody else's", async () => {
    const guest = await world.guest();
    const stranger = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(3, '20:00'), 2, {
      status: 'CONFIRMED',
    });

    const refused = await world.deliver(stranger.id, venue.id, 'booking.cancel', {
      bookingId: booking.id,
      reason: 'not mine',
    });
    expect((await world.handle(refused.inboundRowId)).note).toBe(
      "not acted on: not the guest's booking at this venue",
    );
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CONFIRMED',
    );

    const { outbound, inboundRowId } = await world.deliver(guest.id, venue.id, 'booking.cancel', {
      bookingId: booking.id,
      reason: 'plans changed',
    });
    expect(await world.handle(inboundRowId)).toEqual({ handled: true, note: 'cancelled by the guest' });
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CANCELLED_BY_GUEST',
    );
    const transition = await world.db.bookingTransition.findFirstOrThrow({
      where: { bookingId: booking.id, toStatus: 'CANCELLED_BY_GUEST' },
    });
    expect(transition).toMatchObject({
      actorKind: 'guest',
      actorId: guest.person.id,
      reason: 'plans changed',
    });
    expect(await world.answers(outbound.envelopeId!)).toHaveLength(0);
  });

  it('does not cancel, for the guest, a confirmed booking whose time has come', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const started = new Date(Date.now() - 10 * 60_000);
    const booking = await world.requested(guest.person.id, venue.venue.id, started, 2, {
      status: 'CONFIRMED',
    });
    const { inboundRowId } = await world.deliver(guest.id, venue.id, 'booking.cancel', {
      bookingId: booking.id,
      reason: 'running late',
    });
    expect((await world.handle(inboundRowId)).note).toBe(
      'not cancelled: A confirmed booking cannot be cancelled by its guest once its time has come: tell the venue',
    );
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CONFIRMED',
    );
  });

  it('does not move, for the guest, a confirmed booking whose time has come', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const started = new Date(Date.now() - 10 * 60_000);
    const booking = await world.requested(guest.person.id, venue.venue.id, started, 2, {
      status: 'CONFIRMED',
    });
    const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { startsAt: lisbon(1, '19:00').toISOString() },
    });
    expect((await world.handle(asked.inboundRowId)).note).toBe(
      'change declined: A confirmed booking cannot be changed by its guest once its time has come: tell the venue',
    );
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).startsAt).toEqual(
      started,
    );
  });

  it('gives a request moved later through the agents its own time to be answered', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    // Asked an hour before its time: it would lapse at its start, before the usual wait is over.
    const soon = new Date(Date.now() + 3_600_000);
    const booking = await world.requested(guest.person.id, venue.venue.id, soon, 2, { expiresAt: soon });
    const later = lisbon(3, '19:00');
    const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { startsAt: later.toISOString() },
    });
    expect((await world.handle(asked.inboundRowId)).note).toBe('changed by the guest');
    const moved = await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } });
    const requestMinutes = world.services.config.bookings.requestMinutes;
    expect(moved.status).toBe('REQUESTED');
    expect(moved.expiresAt).toEqual(
      new Date(Math.min(moved.createdAt.getTime() + requestMinutes * 60_000, later.getTime())),
    );
    expect(moved.expiresAt!.getTime()).toBeGreaterThan(soon.getTime());
  });

  it('holds a change asked through the agents to what the app holds it to: a party its staff decide is theirs to change', async () => {
    const guest = await world.guest();
    const venue = await world.venue({ askStaffAbovePartySize: 4 });
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(6, '19:00'), 2, {
      status: 'CONFIRMED',
    });
    for (const [partySize, reason] of [
      [
        6,
        "change declined: Parties above 4 are decided by the venue's staff: ask the venue's team for this change",
      ],
      [
        40,
        "change declined: Parties above 4 are decided by the venue's staff: ask the venue's team for this change",
      ],
    ] as const) {
      const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
        bookingId: booking.id,
        change: { partySize },
      });
      expect((await world.handle(asked.inboundRowId)).note).toBe(reason);
      expect((await world.answers(asked.outbound.envelopeId!))[0]?.intent).toBe('booking.declined');
    }
    // Outside the venue's sizes: answered (it threw, and was tried ten times).
    const open = await world.venue();
    const mine = await world.requested(guest.person.id, open.venue.id, lisbon(6, '19:00'), 2, {
      status: 'CONFIRMED',
    });
    const huge = await world.deliver(guest.id, open.id, 'booking.modify', {
      bookingId: mine.id,
      change: { partySize: 40 },
    });
    expect((await world.handle(huge.inboundRowId)).note).toMatch(
      /^change declined: Parties above 8 are decided by the venue's staff/,
    );
    for (const id of [booking.id, mine.id]) {
      expect(await world.db.booking.findUniqueOrThrow({ where: { id } })).toMatchObject({ partySize: 2 });
    }
    // Paused, the agent confirms nothing: its staff's threshold still holds, and any larger party
    // of a confirmed booking is theirs to agree, as a new request would be. A smaller one fits.
    await world.db.agent.update({ where: { id: venue.agent.id }, data: { status: 'PAUSED' } });
    for (const [partySize, note] of [
      [
        6,
        "change declined: Parties above 4 are decided by the venue's staff: ask the venue's team for this change",
      ],
      [3, "change declined: The venue confirms every booking itself: ask the venue's team for this change"],
      [1, 'changed by the guest'],
    ] as const) {
      const paused = await world.deliver(guest.id, venue.id, 'booking.modify', {
        bookingId: booking.id,
        change: { partySize },
      });
      expect((await world.handle(paused.inboundRowId)).note).toBe(note);
    }
    expect(await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).toMatchObject({
      status: 'CONFIRMED',
      partySize: 1,
    });
  });

  it("leaves a confirmed booking's new time or larger party to the staff of a venue that confirms every booking itself", async () => {
    const guest = await world.guest();
    const venue = await world.venue({ autoAcceptWithinRules: false });
    const startsAt = lisbon(8, '19:00');
    const confirmed = await world.requested(guest.person.id, venue.venue.id, startsAt, 2, {
      status: 'CONFIRMED',
    });
    for (const change of [
      { startsAt: lisbon(9, '20:30').toISOString(), partySize: 6 },
      { startsAt: lisbon(8, '20:00').toISOString() },
      { partySize: 3 },
    ]) {
      const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
        bookingId: confirmed.id,
        change,
      });
      expect((await world.handle(asked.inboundRowId)).note).toBe(
        "change declined: The venue confirms every booking itself: ask the venue's team for this change",
      );
      expect((await world.answers(asked.outbound.envelopeId!))[0]?.intent).toBe('booking.declined');
    }
    expect(await world.db.booking.findUniqueOrThrow({ where: { id: confirmed.id } })).toMatchObject({
      status: 'CONFIRMED',
      startsAt,
      partySize: 2,
    });
    expect(await world.db.outboundMessage.count({ where: { bookingId: confirmed.id } })).toBe(0);
    // A request still waiting for the staff's answer may change: they decide it as it then stands.
    const waiting = await world.requested(guest.person.id, venue.venue.id, lisbon(8, '19:30'), 2);
    const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: waiting.id,
      change: { startsAt: lisbon(8, '20:30').toISOString() },
    });
    expect((await world.handle(asked.inboundRowId)).note).toBe('changed by the guest');
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: waiting.id } })).status).toBe(
      'REQUESTED',
    );
  });

  it("changes the party of a confirmed booking inside the venue's notice: its start was judged when booked", async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    // Three quarters of an hour ahead; the venue wants an hour's notice for a new booking.
    const soon = new Date(world.services.now().getTime() + 45 * 60_000);
    const booking = await world.requested(guest.person.id, venue.venue.id, soon, 2, { status: 'CONFIRMED' });
    const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { partySize: 3 },
    });
    expect((await world.handle(asked.inboundRowId)).note).toBe('changed by the guest');
    expect(await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).toMatchObject({
      status: 'CONFIRMED',
      startsAt: soon,
      partySize: 3,
    });
  });

  it('changes what the booking is under its lock: a time another change moved meanwhile is kept', async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(7, '19:00'), 2, {
      status: 'CONFIRMED',
    });
    const asked = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { partySize: 3 },
    });
    // The venue's team moves the booking to 20:00 while the agent's handling waits for the venue.
    const other = await world.services.database.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM venues WHERE id = $1 FOR UPDATE', [venue.venue.id]);
      const handling = world.handle(asked.inboundRowId);
      await waitingForLock(world.db, 'FROM venues WHERE id');
      await other.query('UPDATE bookings SET starts_at = $2, ends_at = $3 WHERE id = $1', [
        booking.id,
        lisbon(7, '20:00'),
        new Date(lisbon(7, '20:00').getTime() + 90 * 60_000),
      ]);
      await other.query('COMMIT');
      expect((await handling).note).toBe('changed by the guest');
    } finally {
      other.release();
    }
    expect(await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).toMatchObject({
      partySize: 3,
      startsAt: lisbon(7, '20:00'),
    });
    const line = await world.db.bookingTransition.findFirstOrThrow({
      where: { bookingId: booking.id, fromStatus: 'CONFIRMED', toStatus: 'CONFIRMED' },
      orderBy: { createdAt: 'desc' },
    });
    expect(line.reason).toBe('changed party 2 → 3');
  });

  it("holds a guest's own change (the app, the chat) to the agent's blackouts and staff party size; its team may make it", async () => {
    const guest = await world.guest();
    const startsAt = lisbon(6, '19:00');
    const blackout = lisbon(6, '21:00');
    const venue = await world.venue({
      askStaffAbovePartySize: 2,
      blackoutWindows: [
        {
          startsAt: blackout.toISOString(),
          endsAt: new Date(blackout.getTime() + 3 * 3_600_000).toISOString(),
          reason: 'private event',
        },
      ],
    });
    const booking = await world.requested(guest.person.id, venue.venue.id, startsAt, 2, {
      status: 'CONFIRMED',
    });
    const asGuest = createAccess(world.db, { kind: 'user', userId: guest.person.id, isPlatformAdmin: false });
    await expect(
      modifyBooking(world.services.bookings, asGuest, { bookingId: booking.id, startsAt: blackout }),
    ).rejects.toThrow("The venue takes no bookings at that time as a rule: ask the venue's team");
    await expect(
      modifyBooking(world.services.bookings, asGuest, { bookingId: booking.id, partySize: 3 }),
    ).rejects.toThrow(
      "Parties above 2 are decided by the venue's staff: ask the venue's team for this change",
    );
    // Within the rules it goes through.
    const later = lisbon(6, '19:30');
    const moved = await modifyBooking(world.services.bookings, asGuest, {
      bookingId: booking.id,
      startsAt: later,
    });
    expect(moved).toMatchObject({ partySize: 2, startsAt: later });
    // The venue's team decides for itself.
    const teamMember = (await world.guest()).person;
    const organization = await world.db.organization.create({
      data: { name: 'Agent House', memberships: { create: { userId: teamMember.id, role: 'OWNER' } } },
    });
    await world.db.venue.update({ where: { id: venue.venue.id }, data: { organizationId: organization.id } });
    const asTeam = createAccess(world.db, { kind: 'user', userId: teamMember.id, isPlatformAdmin: false });
    expect(
      await modifyBooking(world.services.bookings, asTeam, { bookingId: booking.id, partySize: 3 }),
    ).toMatchObject({ partySize: 3 });
  });

  it("holds a guest's own change to the venue's blackouts and staff party size with its agent paused", async () => {
    const guest = await world.guest();
    const blackout = lisbon(10, '21:00');
    const venue = await world.venue({
      askStaffAbovePartySize: 3,
      blackoutWindows: [
        {
          startsAt: blackout.toISOString(),
          endsAt: new Date(blackout.getTime() + 3 * 3_600_000).toISOString(),
          reason: 'private event',
        },
      ],
    });
    await world.db.agent.update({ where: { id: venue.agent.id }, data: { status: 'PAUSED' } });
    // Still waiting for the staff's answer, so only the policy's rules stand in its way.
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(10, '19:00'), 2);
    const asGuest = createAccess(world.db, { kind: 'user', userId: guest.person.id, isPlatformAdmin: false });
    await expect(
      modifyBooking(world.services.bookings, asGuest, { bookingId: booking.id, startsAt: blackout }),
    ).rejects.toThrow("The venue takes no bookings at that time as a rule: ask the venue's team");
    await expect(
      modifyBooking(world.services.bookings, asGuest, { bookingId: booking.id, partySize: 4 }),
    ).rejects.toThrow(
      "Parties above 3 are decided by the venue's staff: ask the venue's team for this change",
    );
    expect(
      await modifyBooking(world.services.bookings, asGuest, { bookingId: booking.id, partySize: 3 }),
    ).toMatchObject({ status: 'REQUESTED', partySize: 3 });
  });

  it("changes the guest's booking when there is room, else declines with the nearest free times", async () => {
    const guest = await world.guest();
    const venue = await world.venue();
    const booking = await world.requested(guest.person.id, venue.venue.id, lisbon(6, '19:00'), 2, {
      status: 'CONFIRMED',
    });

    const moved = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { startsAt: lisbon(6, '20:00').toISOString(), partySize: 3 },
    });
    expect((await world.handle(moved.inboundRowId)).note).toBe('changed by the guest');
    const changed = await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } });
    expect(changed).toMatchObject({ status: 'CONFIRMED', partySize: 3, startsAt: lisbon(6, '20:00') });
    expect((await world.answers(moved.outbound.envelopeId!))[0]?.intent).toBe('booking.accepted');

    const other = await world.guest();
    for (let i = 0; i < 4; i++) {
      await createBooking(world.db, {
        venueId: venue.venue.id,
        guestId: other.person.id,
        startsAt: lisbon(6, '21:30'),
        partySize: 4,
        status: 'CONFIRMED',
      });
    }
    const full = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { startsAt: lisbon(6, '21:30').toISOString() },
    });
    expect((await world.handle(full.inboundRowId)).note).toMatch(
      /^change declined: That time is fully booked/,
    );
    const [reply] = await world.answers(full.outbound.envelopeId!);
    expect(reply!.intent).toBe('booking.declined');
    expect((reply!.payload as { alternatives: string[] }).alternatives.length).toBeGreaterThan(0);
    expect((await world.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).startsAt).toEqual(
      lisbon(6, '20:00'),
    );

    const notes = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { notes: 'window seat' },
    });
    expect((await world.handle(notes.inboundRowId)).note).toBe(
      'change declined: Only the time and the party size of a booking can be changed',
    );
    await world.db.booking.update({ where: { id: booking.id }, data: { status: 'CANCELLED_BY_GUEST' } });
    const gone = await world.deliver(guest.id, venue.id, 'booking.modify', {
      bookingId: booking.id,
      change: { partySize: 2 },
    });
    expect((await world.handle(gone.inboundRowId)).note).toBe(
      'change declined: A cancelled by guest booking cannot be changed',
    );
  });
});

/** Every table of the venue (four of four) taken at `startsAt` by someone else, confirmed. */
async function takenByOthers(venueId: string, startsAt: Date) {
  const other = await world.guest();
  for (let i = 0; i < 4; i++) {
    await createBooking(world.db, {
      venueId,
      guestId: other.person.id,
      startsAt,
      partySize: 4,
      status: 'CONFIRMED',
    });
  }
}
