/**
 * The outside gateway (the fake, via CLAWPULSE_GATEWAY) down for the whole test window, then back.
 * Guests keep asking venues whose agents are ours; a real worker sends. With the breakers at 5
 * failures in 10 minutes, a 2 s cooldown and retries after 1 s:
 *
 * - the first five sends fail and open the global breaker and the busy venue's own;
 * - while a breaker is open nothing reaches the gateway, envelopes wait PENDING (a send refused by
 *   a breaker counts no attempt, send.ts), none is dead-lettered, none is lost;
 * - after the cooldown exactly one probe goes through (half-open); it fails and the breaker opens
 *   again for a full cooldown, counting no attempt against the envelope that probed;
 * - once the gateway answers again the next probe closes the breakers and every request is
 *   delivered and acted on exactly once: each booking CONFIRMED once, one booking.accepted each,
 *   one message to each guest.
 *
 * Twice: the gateway answering 503 at once, and the gateway hanging (calls cut by a short
 * CLAWPULSE_TIMEOUT_MS), where the probe in flight can be seen half-open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GLOBAL_SCOPE, recipientScope } from '../../src/domain/envelopes/breakers.ts';
import { type FakeClawPulse, type InjectedFailure, startFakeClawPulse } from '../fakes/clawpulse.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_WORKER_ENV, metric, startWorkerApp, type WorkerApp, waitFor } from '../helpers/jobs.ts';
import {
  type Guest,
  guest,
  lisbon,
  outcomeOf,
  type Registrar,
  requestBooking,
  requestTimes,
  type VenueWithAgent,
  venue,
} from './chaos-world.ts';

const COOLDOWN_MS = 2_000;

let fake: FakeClawPulse | undefined;
let api: TestApp | undefined;
let worker: WorkerApp | undefined;

afterEach(async () => {
  await worker?.stop();
  await api?.close();
  await fake?.close();
  worker = undefined;
  api = undefined;
  fake = undefined;
});

async function outageWorld(timeoutMs: number) {
  fake = await startFakeClawPulse();
  api = await startTestApp({
    env: {
      ...FAST_WORKER_ENV,
      CLAWPULSE_GATEWAY: fake.url,
      CLAWPULSE_API_KEY: fake.apiKey,
      CLAWPULSE_TIMEOUT_MS: String(timeoutMs),
      A2A_BREAKER_FAILURES: '5',
      A2A_BREAKER_WINDOW_SECONDS: '600',
      A2A_BREAKER_COOLDOWN_SECONDS: String(COOLDOWN_MS / 1000),
      A2A_RETRY_DELAYS_SECONDS: '1,1,1',
    },
  });
  const gateway = fake;
  const register: Registrar = async (gatewayId) => gateway.register(gatewayId);
  return { fake: gateway, api, register };
}

/** Posts of envelopes that reached the fake gateway (answered or not). */
/** Envelopes POSTed to the gateway (those that arrived before `before`, when given). */
function posts(gateway: FakeClawPulse, before?: Date): number {
  return gateway.server.requests.filter(
    (r) => r.method === 'POST' && r.path === '/api/agents/message' && (!before || r.receivedAt < before),
  ).length;
}

async function readiness(w: WorkerApp): Promise<string> {
  const body = (await (await fetch(`${w.url}/readyz`)).json()) as {
    checks: Record<string, { ok: boolean; detail?: string }>;
  };
  expect(body.checks.a2aBreakers?.ok).toBe(true);
  return body.checks.a2aBreakers!.detail!;
}

async function outboundStates(app: TestApp, ids: string[]) {
  const rows = await app.services.db.a2aEnvelope.findMany({ where: { id: { in: ids } } });
  return rows.map((r) => r.state);
}

async function runOutage(failure: InjectedFailure, timeoutMs: number) {
  const { fake, api, register } = await outageWorld(timeoutMs);
  const db = api.services.db;
  const breakers = api.services.network.breakers;
  const busy = await venue(api, register);
  const others: VenueWithAgent[] = [await venue(api, register), await venue(api, register)];
  const guests: Guest[] = await Promise.all(Array.from({ length: 12 }, () => guest(api, register)));
  const times = requestTimes(12, lisbon);

  fake.down(failure);
  // Five guests ask the busy venue: five sends, five failures.
  const first = await Promise.all(guests.slice(0, 5).map((g, i) => requestBooking(db, g, busy, times[i]!)));
  worker = await startWorkerApp(api);
  const w = worker;
  await waitFor(
    async () =>
      (await breakers.snapshot(GLOBAL_SCOPE)).state === 'open' &&
      (await breakers.snapshot(recipientScope(busy.id))).state === 'open',
    'the global breaker and the busy venue’s to open',
    15_000,
  );
  const opened = await breakers.snapshot(GLOBAL_SCOPE);
  expect(posts(fake)).toBe(5);
  expect(await readiness(w)).toMatch(
    new RegExp(`^global open until .*, recipient:${busy.id} open until .* \\(shared in Redis\\)$`),
  );
  const metrics = await w.metrics();
  expect(metric(metrics, `a2a_breaker_state{scope="${GLOBAL_SCOPE}"}`)).toBe(2);
  expect(metric(metrics, `a2a_breaker_state{scope="recipient:${busy.id}"}`)).toBe(2);

  // Seven more ask, the busy venue and two others: the open breaker holds them all back.
  const later = await Promise.all(
    guests.slice(5).map((g, i) => requestBooking(db, g, i === 0 ? busy : others[i % 2]!, times[5 + i]!)),
  );
  const requests = [...first, ...later];
  const ids = requests.map((r) => r.envelope.id);
  await waitFor(
    async () =>
      (await db.a2aEnvelope.count({
        where: { id: { in: ids }, lastError: { startsWith: 'circuit open' } },
      })) >= later.length,
    'the later requests to wait on the breaker',
  );
  // Nothing was sent while the breaker was open; a slow machine may already be past the cooldown,
  // when exactly one probe goes.
  expect(posts(fake, opened.retryAt!)).toBe(5);
  expect(posts(fake)).toBeLessThanOrEqual(6);
  expect(await outboundStates(api, ids)).toEqual(ids.map(() => 'PENDING'));

  // After the cooldown: one probe, which fails; the breaker opens again for a full cooldown.
  const probeHeld = waitFor(async () => posts(fake) >= 6, 'the half-open probe', 10_000);
  if ('hang' in failure) {
    await probeHeld;
    // The probe hangs: half-open until the client gives up on it. A busy machine may look only
    // after the probe was cut (the check above waited past the cooldown): then the breaker is
    // open again, which the rest of the test checks.
    const probe = fake.server.requests.filter((r) => r.path === '/api/agents/message')[5]!;
    const state = (await breakers.snapshot(GLOBAL_SCOPE)).state;
    if (Date.now() - probe.receivedAt.getTime() < timeoutMs / 2) {
      expect(state).toBe('half_open');
      expect(metric(await w.metrics(), `a2a_breaker_state{scope="${GLOBAL_SCOPE}"}`)).toBe(1);
      expect(await readiness(w)).toMatch(/^global half-open/);
    }
  }
  await probeHeld;
  // Only sends that failed with the breakers closed count attempts: the first five. The probe's
  // failure re-opens the breaker and counts none (its envelope waits like the rest).
  const attempts = async () =>
    (await db.a2aEnvelope.aggregate({ where: { id: { in: ids } }, _sum: { attempts: true } }))._sum.attempts;
  await waitFor(
    async () => {
      const now = await breakers.snapshot(GLOBAL_SCOPE);
      return (
        now.state === 'open' &&
        now.retryAt!.getTime() > opened.retryAt!.getTime() &&
        (await db.a2aEnvelope.count({
          where: { id: { in: ids }, lastError: { startsWith: 'probe failed' } },
        })) === 1
      );
    },
    'the failed probe to open the breaker again',
    10_000,
  );
  expect(posts(fake)).toBe(6);
  expect(await attempts()).toBe(5);
  // Nothing dead-lettered, nothing lost: every request waits, PENDING.
  expect(await outboundStates(api, ids)).toEqual(ids.map(() => 'PENDING'));
  for (const request of requests) expect((await outcomeOf(db, request)).status).toBe('REQUESTED');

  // The gateway is back: the next probe closes the breakers, and everything goes.
  fake.up();
  const upAt = Date.now();
  await waitFor(
    async () =>
      (await db.booking.count({
        where: { id: { in: requests.map((r) => r.booking.id) }, status: 'CONFIRMED' },
      })) === requests.length,
    'every booking to be confirmed',
    30_000,
  );
  // The answers reach the guests' agents, which mark each request ANSWERED.
  await waitFor(
    async () => {
      const answered = await db.a2aEnvelope.count({ where: { id: { in: ids }, state: 'ANSWERED' } });
      const { rows } = await api.database.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM graphile_worker.jobs
         WHERE task_identifier IN ('a2a-handle', 'a2a-send', 'a2a-inbox') AND attempts < max_attempts
           AND run_at <= now()`,
      );
      return answered === ids.length && rows[0]!.n === 0;
    },
    'the answers to be sent and handled',
    30_000,
  );
  const recoveredInMs = Date.now() - upAt;

  for (const request of requests) {
    expect(await outcomeOf(db, request), request.booking.id).toMatchObject({
      status: 'CONFIRMED',
      transitions: ['REQUESTED->CONFIRMED'],
      answers: ['booking.accepted'],
      inbound: ['DELIVERED'],
      handled: ['accepted'],
      messages: ['booking.confirmed'],
      inboxItems: 0,
      sent: 'ANSWERED',
    });
  }
  // Each request reached the gateway once, once it was up.
  const delivered = fake.messages
    .filter((m) => m.from.startsWith('consumer-'))
    .map((m) => (JSON.parse((m.payload as { envelope: string }).envelope) as { id: string }).id)
    .sort();
  expect(delivered).toEqual(requests.map((r) => r.envelope.envelopeId).sort());
  expect((await breakers.snapshots()).map((s) => s.state)).toEqual(['closed']);
  expect(await readiness(w)).toBe('all closed (shared in Redis)');
  return { recoveredInMs };
}

describe('the outside gateway down for the whole window, then back', () => {
  it('answering 503: envelopes wait, the breakers open and half-open as specified, and each request is acted on once after recovery', async () => {
    const { recoveredInMs } = await runOutage({ status: 503, body: { error: 'gateway unavailable' } }, 2_000);
    // The waiting envelopes come back within a few cooldowns, not after a probe's whole lease.
    expect(recoveredInMs).toBeLessThan(15_000);
  }, 120_000);

  it('hanging: calls cut by the client timeout count as failures, the probe in flight is half-open, and each request is acted on once after recovery', async () => {
    const { recoveredInMs } = await runOutage({ hang: true }, 1_000);
    expect(recoveredInMs).toBeLessThan(15_000);
  }, 120_000);
});
