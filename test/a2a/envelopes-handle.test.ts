/**
 * Handling accepted envelopes exactly once, with the handlers callers supply; a reply moves our
 * envelope to ANSWERED in the same transaction. And the two schedules: the reaper and the orphan
 * sweep.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleEnvelope, type IntentHandlers, preparedHandler } from '../../src/domain/envelopes/handle.ts';
import {
  ORPHAN_AFTER_MS,
  reapStaleEnvelopes,
  sweepOrphanedResponses,
} from '../../src/domain/envelopes/maintenance.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { drainInbox } from '../../src/domain/envelopes/receive.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { createBooking } from '../factories/bookings.ts';
import { type EnvelopeWorld, envelopeWorld } from './envelopes-world.ts';

let world: EnvelopeWorld;
beforeAll(async () => {
  world = await envelopeWorld();
});
afterAll(() => world.close());

const handleDeps = () => ({ db: world.db, logger: world.deps.logger, now: world.clock.now });

/** Sends `from` → `to` through the gateway and has `to` accept it; the inbound row. */
async function deliver(input: Parameters<typeof queueEnvelope>[1]) {
  const queued = await queueEnvelope(world.db, input);
  expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
  expect(await drainInbox(world.deps, input.to)).toMatchObject({ accepted: 1 });
  const row = await world.db.a2aEnvelope.findFirstOrThrow({
    where: { direction: 'INBOUND', envelopeId: queued.envelopeId! },
  });
  return { queued, row };
}

/** Queues the venue's answer to a question with the text prepared before the transaction. */
async function answerWith(
  tx: Parameters<typeof queueEnvelope>[0],
  envelope: { from: string; to: string; envelopeId: string },
  text: string,
) {
  await queueEnvelope(tx, {
    from: envelope.to,
    to: envelope.from,
    intent: 'venue.answer',
    payload: { text },
    inReplyTo: envelope.envelopeId,
  });
  return 'answered';
}

/** An inbound question refused when it arrived (a bad signature), as the inbox stores it. */
async function rejectedQuestion() {
  const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
  return world.db.a2aEnvelope.create({
    data: {
      direction: 'INBOUND',
      envelopeId: randomUUID(),
      fromAgent: guest.id,
      toAgent: place.id,
      intent: 'venue.question',
      payload: { text: 'x' },
      state: 'REJECTED',
      rejectReason: 'bad signature',
    },
  });
}

describe('handling envelopes', () => {
  it('acts on an envelope exactly once under two concurrent handlers', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const { row } = await deliver({
      from: guest.id,
      to: place.id,
      intent: 'venue.question',
      payload: { text: 'Parking?' },
    });
    const calls: string[] = [];
    const seen: unknown[] = [];
    const handlers: IntentHandlers = {
      'venue.question': async (tx, envelope) => {
        calls.push(envelope.payload.text);
        seen.push(envelope);
        // Long enough for the second handler to arrive while this one holds the row.
        await tx.$executeRaw`SELECT pg_sleep(0.2)`;
        return 'answered from the venue’s facts';
      },
    };
    const outcomes = await Promise.all([
      handleEnvelope(handleDeps(), row.id, handlers),
      handleEnvelope(handleDeps(), row.id, handlers),
    ]);
    expect(calls).toEqual(['Parking?']);
    // The handler is given the row as stored, read in the statement that locked it.
    expect(seen).toStrictEqual([
      {
        rowId: row.id,
        envelopeId: row.envelopeId,
        from: guest.id,
        to: place.id,
        intent: 'venue.question',
        payload: { text: 'Parking?' },
        inReplyTo: null,
        repliesTo: null,
        bookingId: null,
        receivedAt: row.createdAt,
      },
    ]);
    expect(outcomes.filter((o) => o.handled)).toHaveLength(1);
    const handled = await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } });
    expect(handled).toMatchObject({
      handledNote: 'answered from the venue’s facts',
      handledAt: expect.any(Date),
    });
    // A third run (the job again after a crash): nothing.
    expect(await handleEnvelope(handleDeps(), row.id, handlers)).toMatchObject({ handled: false });
    expect(calls).toHaveLength(1);
  });

  it('leaves the envelope unhandled when its handler fails, for the retry', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const { row } = await deliver({
      from: guest.id,
      to: place.id,
      intent: 'venue.question',
      payload: { text: 'Wifi?' },
    });
    const failing: IntentHandlers = {
      'venue.question': async (tx, envelope) => {
        await queueEnvelope(tx, {
          from: envelope.to,
          to: envelope.from,
          intent: 'venue.answer',
          payload: { text: 'Yes' },
        });
        throw new Error('the model is away');
      },
    };
    await expect(handleEnvelope(handleDeps(), row.id, failing)).rejects.toThrow('the model is away');
    expect((await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).handledAt).toBeNull();
    // The reply queued inside was rolled back with it.
    expect(
      await world.db.a2aEnvelope.count({
        where: { direction: 'OUTBOUND', fromAgent: place.id, intent: 'venue.answer' },
      }),
    ).toBe(0);
  });

  it('moves our envelope to ANSWERED when the reply is handled, and links the reply to its booking', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const booking = await createBooking(world.db, {
      venueId: place.venue.id,
      guestId: guest.person.id,
      startsAt: new Date(Date.now() + 86_400_000),
      status: 'REQUESTED',
    });
    const request = await deliver({
      from: guest.id,
      to: place.id,
      intent: 'booking.request',
      bookingId: booking.id,
      payload: {
        venueId: place.venue.id,
        startsAt: '2026-12-04T20:00:00+00:00',
        partySize: 2,
        guestName: 'Ana',
        clientKey: randomUUID(),
      },
    });
    const venueSide: IntentHandlers = {
      'booking.request': async (tx, envelope) => {
        await queueEnvelope(tx, {
          from: envelope.to,
          to: envelope.from,
          intent: 'booking.accepted',
          inReplyTo: envelope.envelopeId,
          payload: { bookingId: booking.id },
        });
        return { note: 'accepted within the rules', bookingId: booking.id };
      },
    };
    expect(await handleEnvelope(handleDeps(), request.row.id, venueSide)).toEqual({
      handled: true,
      note: 'accepted within the rules',
    });
    // The venue's side links the request it received to the booking its handler named.
    expect((await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.row.id } })).bookingId).toBe(
      booking.id,
    );
    const reply = await world.db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'OUTBOUND', inReplyTo: request.queued.envelopeId },
    });
    expect((await sendEnvelope(world.deps, reply.id)).result).toBe('sent');
    expect(await drainInbox(world.deps, guest.id)).toMatchObject({ accepted: 1 });
    const inboundReply = await world.db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'INBOUND', envelopeId: reply.envelopeId! },
    });

    const seen: unknown[] = [];
    const consumerSide: IntentHandlers = {
      'booking.accepted': async (_tx, envelope) => {
        seen.push([
          envelope.payload.bookingId,
          envelope.repliesTo?.id,
          envelope.bookingId,
          envelope.inReplyTo,
        ]);
        return undefined;
      },
    };
    expect(await handleEnvelope(handleDeps(), inboundReply.id, consumerSide)).toEqual({
      handled: true,
      note: null,
    });
    expect(seen).toEqual([[booking.id, request.queued.id, booking.id, request.queued.envelopeId]]);
    expect(await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: request.queued.id } })).toMatchObject({
      state: 'ANSWERED',
      answeredAt: expect.any(Date),
    });
    expect((await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: inboundReply.id } })).bookingId).toBe(
      booking.id,
    );
    // The booking's envelope history.
    const history = await world.db.a2aEnvelope.findMany({
      where: { bookingId: booking.id },
      orderBy: { createdAt: 'asc' },
    });
    expect(history.map((e) => [e.direction, e.intent])).toEqual([
      ['OUTBOUND', 'booking.request'],
      ['INBOUND', 'booking.request'],
      ['INBOUND', 'booking.accepted'],
    ]);
  });

  it('reads the row only under its lock when its job names an intent whose handler prepares nothing', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const handlers: IntentHandlers = { 'venue.question': async () => 'answered' };
    const reads = async (rowId: string, known?: { intent: string }) => {
      const statements: string[] = [];
      const stop = world.database.onQuery(({ query }) => statements.push(query));
      try {
        expect(await handleEnvelope(handleDeps(), rowId, handlers, known)).toEqual({
          handled: true,
          note: 'answered',
        });
      } finally {
        stop();
      }
      return statements.filter((q) =>
        /^\s*SELECT\b[\s\S]*\bFROM\s+"?(public"?\.)?"?a2a_envelopes\b/i.test(q),
      );
    };
    const ask = async () =>
      (await deliver({ from: guest.id, to: place.id, intent: 'venue.question', payload: { text: 'Hi?' } }))
        .row.id;
    // Without the intent (a job queued before jobs carried it): read first, then locked and read.
    const unknown = await reads(await ask());
    expect(unknown).toHaveLength(2);
    const known = await reads(await ask(), { intent: 'venue.question' });
    expect(known).toHaveLength(1);
    expect(known[0]).toMatch(/FOR UPDATE/);
  });

  it('records a ping, and an intent nobody handles, as handled with a note', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const ping = await deliver({ from: guest.id, to: place.id, intent: 'network.ping', payload: {} });
    expect(await handleEnvelope(handleDeps(), ping.row.id, {})).toEqual({ handled: true, note: 'ping' });
    const question = await deliver({
      from: guest.id,
      to: place.id,
      intent: 'venue.question',
      payload: { text: 'Hi?' },
    });
    expect(await handleEnvelope(handleDeps(), question.row.id, {})).toEqual({
      handled: true,
      note: 'no handler for venue.question',
    });
  });

  it('never hands a REJECTED envelope to a handler', async () => {
    const rejected = await rejectedQuestion();
    let called = false;
    const outcome = await handleEnvelope(handleDeps(), rejected.id, {
      'venue.question': async () => {
        called = true;
      },
    });
    expect(outcome).toEqual({ handled: false, note: null });
    expect(called).toBe(false);
  });

  it('never prepares a REJECTED envelope', async () => {
    const rejected = await rejectedQuestion();
    const calls: string[] = [];
    const outcome = await handleEnvelope(handleDeps(), rejected.id, {
      'venue.question': preparedHandler({
        prepare: async () => {
          calls.push('prepare');
        },
        handle: async () => {
          calls.push('handle');
        },
      }),
    });
    expect(outcome).toEqual({ handled: false, note: null });
    expect(calls).toEqual([]);
  });
});

describe('handling with a preparation before the transaction', () => {
  /** Whether another connection can lock the envelope's row at once (nobody holds it). */
  async function lockableNow(rowId: string): Promise<boolean> {
    const other = await world.database.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM a2a_envelopes WHERE id = $1 FOR UPDATE NOWAIT', [rowId]);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === '55P03') return false;
      throw error;
    } finally {
      await other.query('ROLLBACK');
      other.release();
    }
  }

  async function question(text: string) {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const { row } = await deliver({
      from: guest.id,
      to: place.id,
      intent: 'venue.question',
      payload: { text },
    });
    return row;
  }

  it('prepares with the row unlocked, then hands what it prepared to the handler in the transaction', async () => {
    const row = await question('Terrace?');
    const seen: { prepared: string[]; lockable: boolean[]; handled: string[] } = {
      prepared: [],
      lockable: [],
      handled: [],
    };
    const handlers: IntentHandlers = {
      'venue.question': preparedHandler({
        prepare: async (db, envelope) => {
          seen.prepared.push(envelope.payload.text);
          seen.lockable.push(await lockableNow(envelope.rowId));
          // The plain client, not a transaction: its reads see only what is committed.
          expect(await db.a2aEnvelope.count({ where: { id: envelope.rowId, handledAt: null } })).toBe(1);
          return { answer: 'Yes, ten tables' };
        },
        handle: async (_tx, envelope, _context, prepared) => {
          seen.handled.push(prepared.answer);
          // Inside, the row is ours.
          seen.lockable.push(await lockableNow(envelope.rowId));
          return `answered: ${prepared.answer}`;
        },
      }),
    };

    // With the intent its job carries, as the worker runs it.
    expect(await handleEnvelope(handleDeps(), row.id, handlers, { intent: 'venue.question' })).toEqual({
      handled: true,
      note: 'answered: Yes, ten tables',
    });
    expect(seen).toEqual({ prepared: ['Terrace?'], lockable: [true, false], handled: ['Yes, ten tables'] });
    // Handled: a run again neither prepares nor handles.
    expect(await handleEnvelope(handleDeps(), row.id, handlers)).toEqual({
      handled: false,
      note: 'answered: Yes, ten tables',
    });
    expect(seen.prepared).toHaveLength(1);
    expect(seen.handled).toHaveLength(1);
  });

  it('writes nothing when the preparation fails, and the retry prepares again and handles', async () => {
    const row = await question('Heated?');
    let attempts = 0;
    const handled: string[] = [];
    const handlers: IntentHandlers = {
      'venue.question': preparedHandler({
        prepare: async () => {
          attempts += 1;
          if (attempts === 1) throw new Error('the model is away');
          return 'Yes, in winter';
        },
        handle: async (tx, envelope, _context, prepared) => {
          handled.push(prepared);
          return answerWith(tx, envelope, prepared);
        },
      }),
    };

    await expect(handleEnvelope(handleDeps(), row.id, handlers)).rejects.toThrow('the model is away');
    expect(handled).toEqual([]);
    expect(await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      handledAt: null,
    });
    expect(await world.db.a2aEnvelope.count({ where: { inReplyTo: row.envelopeId } })).toBe(0);

    expect(await handleEnvelope(handleDeps(), row.id, handlers)).toEqual({ handled: true, note: 'answered' });
    expect(attempts).toBe(2);
    expect(await world.db.a2aEnvelope.count({ where: { inReplyTo: row.envelopeId } })).toBe(1);
  });

  it('writes once when two runs prepare at once: the second finds it handled and drops what it prepared', async () => {
    const row = await question('Vegan?');
    let prepares = 0;
    let bothPrepared!: () => void;
    const together = new Promise<void>((resolve) => {
      bothPrepared = resolve;
    });
    const handlers: IntentHandlers = {
      'venue.question': preparedHandler({
        prepare: async () => {
          prepares += 1;
          if (prepares === 2) bothPrepared();
          await together;
          return `plan ${prepares}`;
        },
        handle: async (tx, envelope, _context, prepared) => {
          return answerWith(tx, envelope, prepared);
        },
      }),
    };

    const outcomes = await Promise.all([
      handleEnvelope(handleDeps(), row.id, handlers),
      handleEnvelope(handleDeps(), row.id, handlers),
    ]);
    expect(prepares).toBe(2);
    expect(outcomes).toEqual(
      expect.arrayContaining([
        { handled: true, note: 'answered' },
        { handled: false, note: 'answered' },
      ]),
    );
    expect(await world.db.a2aEnvelope.count({ where: { inReplyTo: row.envelopeId } })).toBe(1);
  });
});

describe('the schedules', () => {
  it('expires outbound envelopes past their expiry that were never answered, and nothing else', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const past = new Date(world.clock.now().getTime() - 1000);
    const make = (state: 'PENDING' | 'SENT' | 'DELIVERED' | 'ANSWERED' | 'FAILED', expiresAt: Date) =>
      world.db.a2aEnvelope.create({
        data: {
          direction: 'OUTBOUND',
          envelopeId: randomUUID(),
          fromAgent: guest.id,
          toAgent: place.id,
          intent: 'network.ping',
          state,
          expiresAt,
        },
      });
    const stale = await Promise.all([make('PENDING', past), make('SENT', past), make('DELIVERED', past)]);
    const kept = await Promise.all([
      make('ANSWERED', past),
      make('FAILED', past),
      make('PENDING', new Date(world.clock.now().getTime() + 60_000)),
    ]);
    expect(await reapStaleEnvelopes(world.db, world.clock.now())).toBeGreaterThanOrEqual(3);
    for (const row of stale)
      expect((await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).state).toBe('EXPIRED');
    expect(
      await Promise.all(
        kept.map(
          async (row) => (await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).state,
        ),
      ),
    ).toEqual(['ANSWERED', 'FAILED', 'PENDING']);
  });

  it('closes replies that answer nothing of ours or whose booking is gone, once left unhandled', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const old = new Date(world.clock.now().getTime() - ORPHAN_AFTER_MS - 1000);
    const ours = await world.db.a2aEnvelope.create({
      data: {
        direction: 'OUTBOUND',
        envelopeId: randomUUID(),
        fromAgent: guest.id,
        toAgent: place.id,
        intent: 'booking.request',
        state: 'SENT',
      },
    });
    const booking = await createBooking(world.db, {
      venueId: place.venue.id,
      guestId: guest.person.id,
      startsAt: new Date(Date.now() + 86_400_000),
      status: 'REQUESTED',
    });
    const reply = (inReplyTo: string, bookingId: string, createdAt = old) =>
      world.db.a2aEnvelope.create({
        data: {
          direction: 'INBOUND',
          envelopeId: randomUUID(),
          fromAgent: place.id,
          toAgent: guest.id,
          intent: 'booking.accepted',
          payload: { bookingId },
          state: 'DELIVERED',
          inReplyTo,
          createdAt,
        },
      });
    const answersNothing = await reply(randomUUID(), booking.id);
    const bookingGone = await reply(ours.envelopeId!, randomUUID());
    const fine = await reply(ours.envelopeId!, booking.id);
    const recent = await reply(randomUUID(), booking.id, world.clock.now());

    expect(await sweepOrphanedResponses(world.db, world.clock.now())).toBeGreaterThanOrEqual(2);
    const note = async (id: string) =>
      (await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id } })).handledNote;
    expect(await note(answersNothing.id)).toBe('orphaned: answers no envelope of ours');
    expect(await note(bookingGone.id)).toBe('orphaned: booking gone');
    expect(await note(fine.id)).toBeNull();
    expect(await note(recent.id)).toBeNull();
    // Closed means handled: no handler ever acts on it.
    let called = false;
    expect(
      await handleEnvelope(handleDeps(), answersNothing.id, {
        'booking.accepted': async () => {
          called = true;
        },
      }),
    ).toMatchObject({ handled: false });
    expect(called).toBe(false);
  });
});
