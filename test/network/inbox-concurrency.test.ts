/**
 * Two worker processes (`node src/main.ts worker`) drain one venue agent's inbox at once: many
 * guests ask at the same moment, each send wakes the inbox from whichever process sent it, so
 * drains of the same inbox overlap. Every request must be acted on once: one decision per
 * booking, one answer per request, one accepted inbound row per envelope. Then the same through
 * an outside gateway (the fake) that hands every message out twice, newest first, and hands
 * unacknowledged messages out again at once, so overlapping drains read the same messages.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyringSpec } from '../../src/domain/agents/secrets.ts';
import { type FakeClawPulse, startFakeClawPulse } from '../fakes/clawpulse.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_WORKER_ENV, waitFor } from '../helpers/jobs.ts';
import {
  exited,
  guest,
  lisbon,
  outcomeOf,
  type Registrar,
  requestBooking,
  requestTimes,
  spawnWorker,
  venue,
  type WorkerProcess,
} from './chaos-world.ts';

const REQUESTS = 16;

let api: TestApp;
let fake: FakeClawPulse;
const children: { child: WorkerProcess; output: () => string }[] = [];

beforeAll(async () => {
  api = await startTestApp({ env: { ...FAST_WORKER_ENV, AGENT_SECRET_KEYS: generateKeyringSpec() } });
  // Every unacknowledged message is handed out again on the next read.
  fake = await startFakeClawPulse({ visibilityTimeoutMs: 1 });
});

afterEach(async () => {
  for (const { child } of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
});

afterAll(async () => {
  await fake?.close();
  await api?.close();
});

/** Many guests ask one venue at once; two workers do the rest. */
async function askAtOnce(register: Registrar | undefined, env: Record<string, string>) {
  const v = await venue(api, register);
  const guests = await Promise.all(Array.from({ length: REQUESTS }, () => guest(api, register)));
  children.push(...(await Promise.all([spawnWorker(api, env), spawnWorker(api, env)])));
  const times = requestTimes(REQUESTS, lisbon);
  const requests = await Promise.all(guests.map((g, i) => requestBooking(api.services.db, g, v, times[i]!)));
  await waitFor(
    async () =>
      (await api.services.db.booking.count({
        where: { id: { in: requests.map((r) => r.booking.id) }, status: 'CONFIRMED' },
      })) === REQUESTS,
    'every booking to be confirmed',
    60_000,
  );
  // Whatever is still running (a late drain, a duplicate handling) has its chance to act twice.
  await waitFor(
    async () => {
      const { rows } = await api.database.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM graphile_worker.jobs
         WHERE task_identifier IN ('a2a-handle', 'a2a-send') AND attempts < max_attempts`,
      );
      return rows[0]!.n === 0;
    },
    'the workers to finish handling and answering',
    60_000,
  );
  return { v, requests };
}

async function expectEachActedOnOnce(requests: Awaited<ReturnType<typeof askAtOnce>>['requests']) {
  for (const request of requests) {
    const outcome = await outcomeOf(api.services.db, request);
    expect(outcome, request.booking.id).toMatchObject({
      status: 'CONFIRMED',
      transitions: ['REQUESTED->CONFIRMED'],
      answers: ['booking.accepted'],
      handled: ['accepted'],
      messages: ['booking.confirmed'],
      inboxItems: 0,
    });
    // One accepted row per envelope; another row could only be a replay, refused.
    const rows = await api.services.db.a2aEnvelope.findMany({
      where: { direction: 'INBOUND', envelopeId: request.envelope.envelopeId },
    });
    expect(rows.filter((r) => r.state !== 'REJECTED').map((r) => r.state)).toEqual(['DELIVERED']);
    expect(rows.filter((r) => r.state === 'REJECTED').map((r) => r.rejectReason)).toEqual(
      rows.filter((r) => r.state === 'REJECTED').map(() => 'replayed'),
    );
  }
}

describe("two workers draining one venue agent's inbox", () => {
  it('act on each request once through the embedded gateway', async () => {
    const { requests } = await askAtOnce(undefined, FAST_WORKER_ENV);

    await expectEachActedOnOnce(requests);
  }, 120_000);

  it('act on each request once through an outside gateway that delivers twice, reordered, and again before the ack', async () => {
    fake.duplicateDelivery = true;
    fake.reorder = true;
    const register: Registrar = async (gatewayId) => fake.register(gatewayId);

    const { v, requests } = await askAtOnce(register, {
      ...FAST_WORKER_ENV,
      CLAWPULSE_GATEWAY: fake.url,
      CLAWPULSE_API_KEY: fake.apiKey,
    });

    await expectEachActedOnOnce(requests);
    // The gateway did hand the requests out more than once.
    const delivered = fake.messages.filter((m) => m.to === v.id);
    expect(delivered).toHaveLength(REQUESTS);
    expect(delivered.every((m) => m.ackedAt)).toBe(true);
  }, 120_000);
});
