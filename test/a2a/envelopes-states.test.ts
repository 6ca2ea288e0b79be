/**
 * The envelope state machine: one transition table, and `moveEnvelope` refusing every move the
 * table does not list; the outbox written in the caller's transaction, with its job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import {
  canMove,
  ENVELOPE_STATES,
  ENVELOPE_TRANSITIONS,
  moveEnvelope,
} from '../../src/domain/envelopes/states.ts';
import { sendKey } from '../../src/domain/envelopes/tasks.ts';
import { OUTBOXES, sweepOutboxes } from '../../src/domain/operations/outboxes.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { type EnvelopeWorld, envelopeWorld } from './envelopes-world.ts';

let world: EnvelopeWorld;
beforeAll(async () => {
  world = await envelopeWorld();
});
afterAll(() => world.close());

async function queued(world: EnvelopeWorld) {
  const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
  return queueEnvelope(world.db, {
    from: guest.id,
    to: place.id,
    intent: 'network.ping',
    payload: {},
  });
}

describe('envelope states', () => {
  it('allows exactly the moves of CLAWPULSE.md', () => {
    expect(ENVELOPE_TRANSITIONS).toEqual({
      PENDING: ['SENT', 'ANSWERED', 'FAILED', 'EXPIRED'],
      SENT: ['DELIVERED', 'ANSWERED', 'EXPIRED'],
      DELIVERED: ['ANSWERED', 'EXPIRED'],
      EXPIRED: ['ANSWERED'],
      ANSWERED: [],
      FAILED: [],
      REJECTED: [],
    });
  });

  it('refuses every move the table does not list, and makes every one it does', async () => {
    const row = await queued(world);
    for (const from of ENVELOPE_STATES) {
      for (const to of ENVELOPE_STATES) {
        await world.db.a2aEnvelope.update({ where: { id: row.id }, data: { state: from } });
        const moved = await moveEnvelope(world.db, row.id, to);
        const now = await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } });
        if (canMove(from, to)) {
          expect(moved?.state, `${from} → ${to}`).toBe(to);
          expect(now.state, `${from} → ${to}`).toBe(to);
        } else {
          expect(moved, `${from} → ${to}`).toBeNull();
          expect(now.state, `${from} → ${to} refused`).toBe(from);
        }
      }
    }
  });

  it('moves a row once when two processes race to move it', async () => {
    const row = await queued(world);
    const results = await Promise.all([
      moveEnvelope(world.db, row.id, 'SENT', { from: ['PENDING'] }),
      moveEnvelope(world.db, row.id, 'FAILED', { from: ['PENDING'] }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('stamps the time a state was reached', async () => {
    const row = await queued(world);
    const at = new Date('2026-12-03T12:00:00.000Z');
    const sent = await moveEnvelope(world.db, row.id, 'SENT', { now: at });
    expect(sent?.sentAt).toEqual(at);
    const answered = await moveEnvelope(world.db, row.id, 'ANSWERED', { now: at });
    expect(answered?.answeredAt).toEqual(at);
  });
});

describe('the outbox', () => {
  it('writes the row PENDING and its send job in the caller’s transaction', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const row = await world.db.$transaction((tx) =>
      queueEnvelope(tx, {
        from: guest.id,
        to: place.id,
        intent: 'venue.question',
        payload: { text: 'Do you have a terrace?' },
      }),
    );
    expect(row).toMatchObject({
      direction: 'OUTBOUND',
      state: 'PENDING',
      attempts: 0,
      fromAgent: guest.id,
      toAgent: place.id,
    });
    expect(await world.jobs(sendKey(row.id))).toEqual([
      expect.objectContaining({ task: 'a2a-send', payload: { envelopeRowId: row.id } }),
    ]);
  });

  it('leaves no row and no job when the transaction rolls back', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    let rowId = '';
    await expect(
      world.db.$transaction(async (tx) => {
        const row = await queueEnvelope(tx, {
          from: guest.id,
          to: place.id,
          intent: 'network.ping',
          payload: {},
        });
        rowId = row.id;
        throw new Error('the booking failed');
      }),
    ).rejects.toThrow('the booking failed');
    expect(rowId).not.toBe('');
    expect(await world.db.a2aEnvelope.findUnique({ where: { id: rowId } })).toBeNull();
    expect(await world.jobs(sendKey(rowId))).toEqual([]);
  });

  it('refuses a payload its intent’s schema does not pass', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    await expect(
      queueEnvelope(world.db, {
        from: guest.id,
        to: place.id,
        intent: 'booking.request',
        payload: {
          venueId: place.venue.id,
          startsAt: '2026-12-04T20:00:00',
          partySize: 2,
          guestName: 'Ana',
          clientKey: 'k1',
        },
      }),
    ).rejects.toThrow(/booking.request payload does not pass/);
  });

  it('is swept: a PENDING envelope left with no job gets its send job again', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const row = await queueEnvelope(world.db, {
      from: guest.id,
      to: place.id,
      intent: 'network.ping',
      payload: {},
    });
    await world.db.$executeRaw`DELETE FROM graphile_worker._private_jobs WHERE key = ${sendKey(row.id)}`;
    await world.db
      .$executeRaw`UPDATE a2a_envelopes SET created_at = now() - interval '2 minutes' WHERE id = ${row.id}::uuid`;
    const outboxes = OUTBOXES.filter((o) => o.name === 'a2a');
    const logger = createLogger('silent');
    expect(await sweepOutboxes(world.db, { logger, outboxes })).toEqual([
      { outbox: 'a2a', scheduled: [sendKey(row.id)] },
    ]);
    expect(await world.jobs(sendKey(row.id))).toEqual([
      expect.objectContaining({ task: 'a2a-send', payload: { envelopeRowId: row.id } }),
    ]);
    // Its job is coming now: the next sweep leaves it alone.
    expect(await sweepOutboxes(world.db, { logger, outboxes })).toEqual([{ outbox: 'a2a', scheduled: [] }]);
  });
});
