/**
 * A worker process killed (SIGKILL) in the middle of handling a booking request. The handling is
 * held deterministically: the test holds the booking's row lock, so the venue agent's handler waits
 * for it inside its transaction (the envelope row and the venue already locked). The process dies
 * there; nothing it did is committed, its heartbeat stops, and once it is older than
 * WORKER_DEAD_AFTER_MS a live worker frees the `a2a-handle` job it held, which runs again: the
 * request is handled exactly once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyringSpec } from '../../src/domain/agents/secrets.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_WORKER_ENV, metric, startWorkerApp, type WorkerApp, waitFor } from '../helpers/jobs.ts';
import {
  exited,
  guest,
  lisbon,
  outcomeOf,
  requestBooking,
  spawnWorker,
  venue,
  type WorkerProcess,
} from './chaos-world.ts';

/** Heartbeats every second; a worker silent for 3 s is dead. */
const LIVENESS_ENV = { WORKER_HEARTBEAT_MS: '1000', WORKER_DEAD_AFTER_MS: '3000' };

let api: TestApp;
const children: WorkerProcess[] = [];
let recovering: WorkerApp | undefined;

beforeAll(async () => {
  api = await startTestApp({
    env: { ...FAST_WORKER_ENV, ...LIVENESS_ENV, AGENT_SECRET_KEYS: generateKeyringSpec() },
  });
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
  await recovering?.stop();
  recovering = undefined;
});

afterAll(async () => {
  await api?.close();
});

/** The handle job of the request's inbound row, as the queue holds it. */
async function handleJob(envelopeId: string) {
  const { rows } = await api.database.pool.query<{ id: string; locked_by: string | null; attempts: number }>(
    `SELECT j.id::text, j.locked_by, j.attempts FROM graphile_worker.jobs AS j
     JOIN a2a_envelopes AS e ON j.key = 'a2a-handle:' || e.id::text
     WHERE e.direction = 'INBOUND' AND e.envelope_id = $1::uuid`,
    [envelopeId],
  );
  return rows[0];
}

/**
 * Backends of the test database waiting for a lock on a booking row: the handler's statement that
 * locks the venue's row and then the booking's (`lock_for_decision`), or another locking it.
 */
async function waitingOnBooking(): Promise<number> {
  const { rows } = await api.database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND wait_event_type = 'Lock'
       AND (query ILIKE '%FROM bookings WHERE id%FOR UPDATE%' OR query ILIKE '%lock_for_decision(%')`,
  );
  return rows[0]!.n;
}

describe('a worker killed (SIGKILL) while it handles a booking request', () => {
  it('leaves the request handled exactly once, by the worker that takes over', async () => {
    const db = api.services.db;
    const g = await guest(api);
    const v = await venue(api);
    const request = await requestBooking(db, g, v, lisbon(3, '20:00'));

    // The booking's row lock, held by the test: the handler will wait for it mid-transaction.
    const holder = await api.database.pool.connect();
    let killedAt = 0;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM bookings WHERE id = $1 FOR UPDATE', [request.booking.id]);

      const { child } = await spawnWorker(api, { ...FAST_WORKER_ENV, ...LIVENESS_ENV });
      children.push(child);
      // Sent, read from the venue agent's inbox, verified, and its handling waiting on the booking.
      await waitFor(
        async () =>
          (await handleJob(request.envelope.envelopeId!))?.locked_by && (await waitingOnBooking()) === 1,
        'the worker process to be handling the request',
        30_000,
      );
      const held = await handleJob(request.envelope.envelopeId!);
      expect(held?.attempts).toBe(1);
      child.kill('SIGKILL');
      await exited(child);
      killedAt = Date.now();
    } finally {
      // Its backend, given the lock, finds its client gone and rolls back.
      await holder.query('COMMIT');
      holder.release();
    }

    // Nothing of the dead worker's handling is committed.
    expect(await outcomeOf(db, request)).toMatchObject({
      status: 'REQUESTED',
      transitions: [],
      answers: [],
      inbound: ['DELIVERED'],
      handled: [],
      messages: [],
    });

    recovering = await startWorkerApp(api);
    await waitFor(
      async () =>
        (await db.a2aEnvelope.findFirst({
          where: { direction: 'INBOUND', envelopeId: request.envelope.envelopeId, handledAt: { not: null } },
        })) && !(await handleJob(request.envelope.envelopeId!)),
      'the request to be handled by the live worker',
      30_000,
    );
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(2_000);

    expect(await outcomeOf(db, request)).toMatchObject({
      status: 'CONFIRMED',
      transitions: ['REQUESTED->CONFIRMED'],
      answers: ['booking.accepted'],
      inbound: ['DELIVERED'],
      handled: ['accepted'],
      messages: ['booking.confirmed'],
      inboxItems: 0,
    });
    expect(
      metric(await recovering.metrics(), 'jobs_recovered_total{task="a2a-handle",outcome="RELEASED"}'),
    ).toBe(1);
  }, 90_000);
});
