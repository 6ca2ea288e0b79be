/**
 * Real worker processes (`node src/main.ts worker`) and what happens when they go away: killed
 * mid-job (SIGKILL), their heartbeat stops, and once it is older than WORKER_DEAD_AFTER_MS a live
 * worker frees the jobs they held, which run again (or, replaced meanwhile by a newer job with
 * the same key, are removed with a reason); sent SIGTERM, the process lets the running job
 * finish, deregisters and exits.
 *
 * The heartbeat here is 1 s and the dead limit 3 s (30 s by default), so a dead worker is
 * noticed within about 4 s.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type InboundHandler, type InboundRecord, recordInbound } from '../../src/domain/channels/inbound.ts';
import { enqueue, noopTask } from '../../src/platform/jobs.ts';
import { inboundText } from '../factories/inbound.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testRedisUrl, testServerUrl } from '../helpers/env.ts';
import {
  completed,
  FAST_WORKER_ENV,
  jobRow,
  metric,
  platformAdminToken,
  startWorkerApp,
  type WorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

type WorkerProcess = ChildProcessByStdio<null, Readable, Readable>;

/** Heartbeats every second; a worker silent for 3 s is dead. */
const LIVENESS_ENV = { WORKER_HEARTBEAT_MS: '1000', WORKER_DEAD_AFTER_MS: '3000' };

let database: TestDatabase;
let api: TestApp;
const children: WorkerProcess[] = [];
let recovering: WorkerApp | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  api = await startTestApp({ database, env: { ...FAST_WORKER_ENV, ...LIVENESS_ENV } });
  await database.pool.query(`
    CREATE TABLE test_handled (n serial PRIMARY KEY, event_id uuid NOT NULL, chat text NOT NULL)`);
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await recovering?.stop();
  recovering = undefined;
  // Each test starts with an empty queue: a long job a test left (given back when its worker
  // stopped) would otherwise take the next test's single slot first.
  await database.pool.query('DELETE FROM graphile_worker._private_jobs');
});
afterAll(async () => {
  await api?.close();
  await database?.drop();
});

/** Starts `node src/main.ts worker` on the test database; resolves once it serves. */
async function spawnWorker(
  env: Record<string, string> = {},
): Promise<{ child: WorkerProcess; output: () => string }> {
  const child = spawn(process.execPath, ['src/main.ts', 'worker'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `${testServerUrl()}/${database.name}`,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: `test:jobs-recovery:${process.pid}:`,
      PORT: '0',
      HOST: '127.0.0.1',
      SEED_DEMO: 'false',
      // Messages are acknowledged (the channel layer alone): no language model here.
      CONSUMER_AGENT: 'false',
      ...FAST_WORKER_ENV,
      ...LIVENESS_ENV,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    const started = () => {
      if (/"http\.port":\d+/.test(output)) resolve();
    };
    child.stdout.on('data', started);
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${output}`)));
  });
  return { child, output: () => output };
}

function exited(child: WorkerProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function lockOf(id: string) {
  const { rows } = await database.pool.query<{
    locked_by: string | null;
    locked_at: Date | null;
    attempts: number;
    max_attempts: number;
    last_error: string | null;
  }>(
    'SELECT locked_by, locked_at, attempts, max_attempts, last_error FROM graphile_worker.jobs WHERE id = $1',
    [id],
  );
  return rows[0];
}

/** Waits, when less than `needMs` remain before the next minute, for that minute to begin. */
async function clearOfMinuteTick(needMs: number): Promise<void> {
  const toNextMinute = 60_000 - (Date.now() % 60_000);
  if (toNextMinute < needMs) await new Promise((resolve) => setTimeout(resolve, toNextMinute + 1_000));
}

/**
 * Adds `count` no-op jobs in one transaction (one notification) while the worker's one slot is
 * busy: it takes them in one query into its local queue, locked to it, and runs none of them.
 */
async function waitingInLocalQueue(workerId: string, count: number): Promise<{ id: string }[]> {
  const jobs = await api.services.db.$transaction(async (tx) => {
    const added: { id: string }[] = [];
    for (let i = 0; i < count; i += 1) added.push(await enqueue(tx, noopTask, {}));
    return added;
  });
  await waitFor(async () => {
    const locks = await Promise.all(jobs.map((job) => lockOf(job.id)));
    return locks.every((lock) => lock?.locked_by === workerId);
  }, 'the worker process to take the waiting jobs into its local queue');
  return jobs;
}

const ACCOUNT = 'recovery-bot';

function message(chat: string, n: number): InboundRecord {
  return inboundText({ account: ACCOUNT, chat, id: `${chat}-${n}`, text: `message ${n}` });
}

/** Pending event ids of each chat, in the chat's order. */
async function pendingByChat(chats: string[]): Promise<Map<string, string[]>> {
  const { rows } = await database.pool.query<{ chat: string; id: string }>(
    `SELECT external_chat_id AS chat, id::text FROM inbound_events
     WHERE account = $1 AND external_chat_id = ANY($2::text[]) AND status = 'PENDING' ORDER BY sequence`,
    [ACCOUNT, chats],
  );
  const byChat = new Map(chats.map((chat) => [chat, [] as string[]]));
  for (const row of rows) byChat.get(row.chat)?.push(row.id);
  return byChat;
}

/** The drain jobs of these chats that a worker holds, by the worker's pool id. */
async function heldDrains(chats: string[]): Promise<{ id: string; locked_by: string }[]> {
  const { rows } = await database.pool.query<{ id: string; locked_by: string }>(
    `SELECT jobs.id::text, jobs.locked_by
     FROM graphile_worker._private_jobs AS jobs
     JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
     WHERE tasks.identifier = 'chat-inbound' AND jobs.locked_by IS NOT NULL
       AND jobs.payload->>'externalChatId' = ANY($1::text[])`,
    [chats],
  );
  return rows;
}

async function heartbeats(): Promise<{ worker_id: string; role: string }[]> {
  return (await database.pool.query('SELECT worker_id, role FROM worker_heartbeats ORDER BY started_at'))
    .rows;
}

describe('a worker killed (SIGKILL) while it drains chats', () => {
  it('is found dead once its heartbeat is 3 s old; every affected chat is then drained by a live worker, each message once and in order', async () => {
    const chats = Array.from({ length: 5 }, (_, i) => `kill-${process.pid}-${i}`);
    const PER_CHAT = 60;
    for (let n = 0; n < PER_CHAT; n += 1) {
      await Promise.all(chats.map((chat) => recordInbound(database, message(chat, n))));
    }
    const { child } = await spawnWorker();
    const [registered] = await heartbeats();
    expect(registered?.role).toBe('worker');
    const deadId = registered!.worker_id;

    // Kill it while it holds every chat's drain, a few messages in.
    await waitFor(
      async () => {
        const held = await heldDrains(chats);
        const processed = await database.pool.query(
          `SELECT 1 FROM inbound_events WHERE account = $1 AND status = 'PROCESSED' LIMIT 10`,
          [ACCOUNT],
        );
        return held.length === chats.length && processed.rowCount === 10;
      },
      'the worker process to be draining every chat',
      30_000,
    );
    child.kill('SIGKILL');
    await exited(child);
    const killedAt = Date.now();
    const held = await heldDrains(chats);
    expect(held.map((job) => job.locked_by)).toEqual(chats.map(() => deadId));
    // Every job locked to it: the drains it ran, and any job waiting in its local queue (a
    // schedule's tick backfilled at its start, say).
    const { rows: allHeld } = await database.pool.query<{ id: string }>(
      'SELECT id::text FROM graphile_worker._private_jobs WHERE locked_by = $1 ORDER BY _private_jobs.id',
      [deadId],
    );
    expect(allHeld.map((job) => job.id)).toEqual(expect.arrayContaining(held.map((job) => job.id)));
    const pending = await pendingByChat(chats);
    for (const chat of chats) expect(pending.get(chat)!.length, chat).toBeGreaterThan(0);

    // A live worker (here in the test process), whose handler records each message it handles.
    const handler: InboundHandler = async (message, { eventId }) => {
      await database.pool.query('INSERT INTO test_handled (event_id, chat) VALUES ($1, $2)', [
        eventId,
        message.externalChatId,
      ]);
    };
    recovering = await startWorkerApp({ ...api, services: { ...api.services, inbound: handler } });
    // Throughout, every chat with messages pending has exactly one drain job keyed to it.
    const drainsPerWaitingChat = async () =>
      (
        await database.pool.query<{ chat: string; jobs: number }>(
          `SELECT e.external_chat_id AS chat,
                  (SELECT count(*)::int FROM graphile_worker.jobs AS j
                   WHERE j.key = 'chat:telegram:' || e.account || ':' || e.external_chat_id) AS jobs
           FROM inbound_events AS e
           WHERE e.account = $1 AND e.status = 'PENDING'
           GROUP BY e.account, e.external_chat_id`,
          [ACCOUNT],
        )
      ).rows;
    await waitFor(
      async () => {
        const waiting = await drainsPerWaitingChat();
        expect(waiting.filter((w) => w.jobs !== 1)).toEqual([]);
        return waiting.length === 0;
      },
      'every chat to be drained',
      60_000,
    );
    const drainedAfterMs = Date.now() - killedAt;
    expect(drainedAfterMs).toBeLessThan(60_000);

    // Exactly the messages left pending by the kill, each once, in each chat's order.
    const { rows: handled } = await database.pool.query<{ event_id: string; chat: string }>(
      'SELECT event_id, chat FROM test_handled ORDER BY n',
    );
    for (const chat of chats) {
      expect(handled.filter((h) => h.chat === chat).map((h) => h.event_id)).toEqual(pending.get(chat));
    }
    const { rows: states } = await database.pool.query(
      `SELECT status, count(*)::int AS n FROM inbound_events WHERE account = $1 GROUP BY status`,
      [ACCOUNT],
    );
    expect(states).toEqual([{ status: 'PROCESSED', n: chats.length * PER_CHAT }]);

    // What the recovery recorded, counted and cleared.
    const { rows: recoveries } = await database.pool.query<{
      job_id: string;
      task_identifier: string;
      outcome: string;
      reason: string;
    }>(
      `SELECT job_id::text, task_identifier, outcome, reason FROM job_recoveries
        WHERE worker_id = $1 ORDER BY job_recoveries.job_id`,
      [deadId],
    );
    // Every job it held is recovered: RELEASED to run again, or SUPERSEDED where a drain had
    // already queued its own next run (in the local queue too), which does the work instead.
    expect(recoveries.map((r) => r.job_id)).toEqual(allHeld.map((job) => job.id));
    for (const r of recoveries) expect(['RELEASED', 'SUPERSEDED']).toContain(r.outcome);
    const released = recoveries.filter((r) => r.outcome === 'RELEASED');
    expect(released.length).toBeGreaterThan(0);
    expect(released[0]!.reason).toMatch(
      /^Its worker stopped answering \(last seen .*\) during attempt 1; freed to run again$/,
    );
    const metrics = await recovering.metrics();
    const count = (outcome: string) =>
      recoveries.filter((r) => r.task_identifier === 'chat-inbound' && r.outcome === outcome).length;
    expect(metric(metrics, 'jobs_recovered_total{task="chat-inbound",outcome="RELEASED"}')).toBe(
      count('RELEASED'),
    );
    expect(metric(metrics, 'jobs_recovered_total{task="chat-inbound",outcome="SUPERSEDED"}')).toBe(
      count('SUPERSEDED'),
    );
    expect(metric(metrics, 'job_recovery_latency_seconds_count')).toBe(1);
    expect(metric(metrics, 'job_recovery_latency_seconds_sum')).toBeGreaterThanOrEqual(3);
    expect((await heartbeats()).map((h) => h.worker_id)).not.toContain(deadId);
  }, 120_000);
});

describe('a worker killed while holding a job a newer one replaced, and a job on its last attempt', () => {
  it('removes the replaced job with its reason (SUPERSEDED in the jobs query), runs the newer one again, and fails the last attempt with its reason', async () => {
    const key = `recovery-superseded-${process.pid}`;
    const replaced = await enqueue(api.services.db, noopTask, { holdMs: 20_000 }, { jobKey: key });
    const lastTry = await enqueue(api.services.db, noopTask, { holdMs: 20_000 });
    // Two attempts already spent: the worker's will be its third and last.
    await database.pool.query('SELECT graphile_worker.reschedule_jobs(ARRAY[$1::bigint], attempts => 2)', [
      lastTry.id,
    ]);
    const { child } = await spawnWorker();
    await waitFor(
      async () => (await lockOf(replaced.id))?.locked_by && (await lockOf(lastTry.id))?.locked_by,
      'the worker process to take both jobs',
    );
    // A newer job with the same key, while the first runs: graphile-worker clears the running
    // job's key and spends its attempts, and adds the newer one (which the worker takes too).
    const newer = await enqueue(api.services.db, noopTask, { holdMs: 20_000 }, { jobKey: key });
    expect(newer.id).not.toBe(replaced.id);
    const deadId = (await waitFor(
      async () => (await lockOf(newer.id))?.locked_by,
      'the newer job to start',
    ))!;
    child.kill('SIGKILL');
    await exited(child);

    recovering = await startWorkerApp(api);
    await waitFor(
      async () =>
        (await database.pool.query('SELECT 1 FROM job_recoveries WHERE worker_id = $1', [deadId]))
          .rowCount === 3,
      'the dead worker’s jobs to be recovered',
    );
    // The replaced job is gone from the queue; the newer one runs again on the live worker.
    expect(await lockOf(replaced.id)).toBeUndefined();
    const retaken = await waitFor(async () => {
      const lock = await lockOf(newer.id);
      return lock?.locked_by && lock.locked_by !== deadId ? lock : null;
    }, 'the live worker to take the newer job');
    expect(retaken.attempts).toBe(2);
    expect(retaken.last_error).toMatch(
      /^Its worker stopped answering .* during attempt 1; freed to run again$/,
    );
    expect(await lockOf(lastTry.id)).toMatchObject({
      locked_by: null,
      attempts: 3,
      max_attempts: 3,
      last_error: expect.stringMatching(
        /^Its worker stopped answering .* during the last attempt \(3 of 3\); left failed for an operator to retry$/,
      ),
    });

    // What an operator sees.
    const token = await platformAdminToken(api);
    const answer = await api.gql<
      {
        jobs: {
          edges: { node: { jobId: string; state: string; key: string | null; lastError: string | null } }[];
        };
      },
      Record<string, never>
    >(
      '{ jobs(taskIdentifier: "noop", first: 10) { edges { node { jobId state key lastError } } } }',
      {},
      { token },
    );
    const byId = new Map(answer.data?.jobs.edges.map((e) => [e.node.jobId, e.node]));
    expect(byId.get(replaced.id), JSON.stringify(answer.body)).toEqual({
      jobId: replaced.id,
      state: 'SUPERSEDED',
      key: null,
      lastError: expect.stringMatching(
        /^Replaced by a newer job with the same key while it ran, and its worker stopped answering .*; removed, the newer job does the work$/,
      ),
    });
    expect(byId.get(newer.id)).toMatchObject({ state: 'RUNNING', key });
    expect(byId.get(lastTry.id)).toMatchObject({ state: 'FAILED' });
    const metrics = await recovering.metrics();
    expect(metric(metrics, 'jobs_recovered_total{task="noop",outcome="SUPERSEDED"}')).toBe(1);
    expect(metric(metrics, 'jobs_recovered_total{task="noop",outcome="RELEASED"}')).toBe(1);
    expect(metric(metrics, 'jobs_recovered_total{task="noop",outcome="FAILED"}')).toBe(1);
  }, 60_000);
});

describe('a worker killed while jobs wait in its local queue', () => {
  it('frees the jobs it had taken but not started with the one it ran, and a live worker runs them all', async () => {
    // One slot: while the long job runs, the jobs added next wait in the worker's local queue
    // (away from a minute's schedules, whose jobs would take the queue first).
    await clearOfMinuteTick(20_000);
    const { child } = await spawnWorker({ WORKER_CONCURRENCY: '1', WORKER_LOCAL_QUEUE_SIZE: '50' });
    const running = await enqueue(api.services.db, noopTask, { holdMs: 20_000 });
    const deadId = (await waitFor(
      async () => (await lockOf(running.id))?.locked_by,
      'the worker process to take the long job',
    ))!;
    const waiting = await waitingInLocalQueue(deadId, 10);
    child.kill('SIGKILL');
    await exited(child);
    for (const job of waiting) expect(await lockOf(job.id), job.id).toMatchObject({ locked_by: deadId });

    recovering = await startWorkerApp(api);
    // Every waiting job runs to completion on the live worker (completed jobs leave the queue).
    for (const job of waiting) await completed(api.services.db, job.id, 30_000);
    const { rows: recoveries } = await database.pool.query<{ job_id: string; outcome: string }>(
      'SELECT job_id::text, outcome FROM job_recoveries WHERE worker_id = $1 ORDER BY job_recoveries.job_id',
      [deadId],
    );
    expect(recoveries).toEqual(
      [running, ...waiting]
        .map((job) => ({ job_id: job.id, outcome: 'RELEASED' }))
        .sort((a, b) => Number(a.job_id) - Number(b.job_id)),
    );
    // The long job it was running is freed too, and runs again on the live worker.
    const retaken = await waitFor(async () => {
      const lock = await lockOf(running.id);
      return lock?.locked_by && lock.locked_by !== deadId ? lock : null;
    }, 'the live worker to take the long job');
    expect(retaken.attempts).toBe(2);
    const metrics = await recovering.metrics();
    expect(metric(metrics, 'jobs_recovered_total{task="noop",outcome="RELEASED"}')).toBe(waiting.length + 1);
  }, 60_000);
});

describe('a worker sent SIGTERM', () => {
  it('lets the running job finish, then exits cleanly', async () => {
    const { child, output } = await spawnWorker();
    const registered = (await heartbeats()).at(-1)?.worker_id;
    expect(registered).toMatch(/^pool-/);
    const job = await enqueue(api.services.db, noopTask, { holdMs: 1_500 });
    await waitFor(
      async () => (await jobRow(api.services.db, job.id))?.state === 'RUNNING',
      'the job to start',
    );

    const signalled = Date.now();
    child.kill('SIGTERM');
    expect(await exited(child), output()).toBe(0);
    // It waited for the job (most of its 1.5 s hold was still ahead) and recorded it as done.
    expect(Date.now() - signalled).toBeGreaterThan(1_000);
    expect(await jobRow(api.services.db, job.id)).toBeUndefined();
    expect(output()).toContain('"msg":"stopped"');
    // It deregistered: no one waits for it as a dead worker.
    expect((await heartbeats()).map((h) => h.worker_id)).not.toContain(registered);
  });
  it('gives back the jobs waiting in its local queue, not counted as attempts, and exits cleanly', async () => {
    // The crontab's schedules tick on the minute; a scheduled job taken into the local queue
    // while the one slot is busy would make the queue ignore the jobs added below until it ran.
    await clearOfMinuteTick(20_000);
    // A long hold (and a shutdown deadline past it), so the job still runs when the others are
    // added however slow the machine, and SIGTERM lets it finish.
    const { child, output } = await spawnWorker({
      WORKER_CONCURRENCY: '1',
      WORKER_LOCAL_QUEUE_SIZE: '50',
      SHUTDOWN_TIMEOUT_MS: '30000',
    });
    const job = await enqueue(api.services.db, noopTask, { holdMs: 8_000 });
    const workerId = await waitFor(async () => (await lockOf(job.id))?.locked_by, 'the job to start');
    const waiting = await waitingInLocalQueue(workerId, 5);

    child.kill('SIGTERM');
    expect(await exited(child), output()).toBe(0);
    expect(await jobRow(api.services.db, job.id)).toBeUndefined();
    for (const waiter of waiting) {
      expect(await lockOf(waiter.id), waiter.id).toMatchObject({ locked_by: null, attempts: 0 });
    }
    expect(output()).toContain('"msg":"stopped"');
  }, 60_000);
});
