/**
 * Two worker processes on one database (each app with a pool of its own): every job runs exactly
 * once between them, and every cron tick is scheduled once across both, live or backfilled after
 * downtime. No leader election: PostgreSQL's row locks decide.
 *
 * The cron test moves the clock, not the calendar: `Date` is faked (timers are not) and set a few
 * seconds before a minute boundary in the recent past, so a tick is due seconds later and its
 * jobs are due at once by the database's clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cronPayload, defineTask, enqueue } from '../../src/platform/jobs.ts';
import { defineHandler, type TaskHandler } from '../../src/worker/handler.ts';
import type { TestApp } from '../helpers/app.ts';
import type { TestDatabase } from '../helpers/db.ts';
import {
  type AppPair,
  createRunsTable,
  metric,
  recordHandler,
  recordTask,
  runs,
  startAppPair,
  startWorkerApp,
  type WorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

const tickTask = defineTask({ name: 'test-tick', schema: cronPayload, maxAttempts: 3 });

function tickHandler(worker: string): TaskHandler {
  return defineHandler(tickTask, async ({ _cron }, { services, job }) => {
    await services.db.$executeRaw`
      INSERT INTO test_job_runs (job_id, task, worker, attempt, tick, backfilled)
      VALUES (${job.id}::bigint, ${job.task}, ${worker}, ${job.attempt}, ${_cron.ts}::timestamptz, ${_cron.backfilled ?? false})`;
  });
}

const CRONTAB = `
# Every minute, for this test only: records which worker ran which tick. Backfills 10 minutes.
* * * * * test-tick ?id=test-tick&fill=10m
`;

let pair: AppPair;
let database: TestDatabase;
let apiA: TestApp;
let apiB: TestApp;
let workers: WorkerApp[] = [];

beforeAll(async () => {
  pair = await startAppPair();
  ({ database, a: apiA, b: apiB } = pair);
  await createRunsTable(database);
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(workers.map((w) => w.stop()));
  workers = [];
});
afterAll(() => pair?.close());

/** Starts worker A on app A's pool and worker B on app B's, at the same moment. */
async function startPair(options: (name: 'A' | 'B') => Parameters<typeof startWorkerApp>[1]) {
  const pair = await Promise.all([startWorkerApp(apiA, options('A')), startWorkerApp(apiB, options('B'))]);
  workers.push(...pair);
  return pair;
}

async function queued(task: string): Promise<number> {
  const { rows } = await database.pool.query(
    'SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier = $1',
    [task],
  );
  return rows[0].n;
}

describe('two workers', () => {
  it('share the jobs, and each job runs exactly once', async () => {
    const [a, b] = await startPair((name) => ({ handlers: [recordHandler(name)] }));
    const jobs = await database.prisma.$transaction(async (tx) => {
      const added = [];
      for (let n = 0; n < 60; n++)
        added.push(await enqueue(tx, recordTask, { label: `job ${n}`, holdMs: 10 }));
      return added;
    });

    await waitFor(async () => (await queued('test-record')) === 0, 'the queue to drain', 20_000);
    const done = await runs(database, 'test-record');
    expect(done.map((r) => r.job_id).sort()).toEqual(jobs.map((j) => j.id).sort());
    expect(new Set(done.map((r) => r.job_id)).size).toBe(60);
    expect(done.every((r) => r.attempt === 1)).toBe(true);
    // Both took part.
    expect(new Set(done.map((r) => r.worker))).toEqual(new Set(['A', 'B']));
    // Each counts only what it ran.
    const series = 'jobs_total{task="test-record",outcome="success"}';
    const [countA, countB] = [metric(await a!.metrics(), series), metric(await b!.metrics(), series)];
    expect(countA + countB).toBe(60);
    expect(countA).toBe(done.filter((r) => r.worker === 'A').length);
  });

  it('run each cron tick once across both, live and backfilled after downtime', async () => {
    const minute = 60_000;
    // A minute boundary nine minutes ago: everything scheduled for it is due by the database's clock.
    const first = Math.floor(Date.now() / minute) * minute - 9 * minute;
    const ticksRun = async () => (await runs(database, 'test-tick')).map((r) => r.tick!.getTime());
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });

    // Both start 4 s before `first`; the schedule is new to them, so nothing is backfilled.
    vi.setSystemTime(first - 4_000);
    await startPair((name) => ({ handlers: [tickHandler(name)], crontab: CRONTAB }));
    await waitFor(async () => (await ticksRun()).includes(first), 'the first live tick', 15_000);
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];

    // Down for six minutes; both come back 4 s before the seventh tick.
    const last = first + 6 * minute;
    vi.setSystemTime(last - 4_000);
    await startPair((name) => ({ handlers: [tickHandler(name)], crontab: CRONTAB }));
    await waitFor(async () => (await ticksRun()).includes(last), 'the live tick after the restart', 15_000);
    await waitFor(async () => (await queued('test-tick')) === 0, 'every tick to run');

    const ticks = (await runs(database, 'test-tick'))
      .map((r) => ({ at: r.tick!.getTime(), backfilled: r.backfilled }))
      .sort((x, y) => x.at - y.at);
    expect(ticks).toEqual([
      { at: first, backfilled: false },
      ...[1, 2, 3, 4, 5].map((n) => ({ at: first + n * minute, backfilled: true })),
      { at: last, backfilled: false },
    ]);
  });
});
