/**
 * Workers under test: the real app in the `worker` role with the test's own tasks and crontab,
 * helpers to read the queue, and a table where test tasks record each run they make.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runOnce } from 'graphile-worker';
import { z } from 'zod';
import { type JobRecord, jobsById } from '../../src/domain/operations/job-queue.ts';
import { connectDatabase, type DbOrTx } from '../../src/platform/db.ts';
import { defineTask, graphileLogger } from '../../src/platform/jobs.ts';
import { type App, type AppOptions, buildApp } from '../../src/wiring/app.ts';
import { defineHandler, type TaskHandler } from '../../src/worker/handler.ts';
import { handlers, taskList } from '../../src/worker/task-list.ts';
import { startTestApp, type TestApp, uniqueEmail } from './app.ts';
import { accessToken } from './authz.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

/** Workers that notice due jobs and dead workers' locks within a fraction of a second. */
export const FAST_WORKER_ENV = { WORKER_POLL_INTERVAL_MS: '50', WORKER_STALE_LOCK_SCAN_MS: '200' };

export interface WorkerApp {
  url: string;
  app: App;
  /** The worker's `/metrics` text. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A worker process under test, on the services (database, logger, clock) of `base`. Its
 * `/metrics` and `/readyz` are its own, like a separate process's.
 */
export async function startWorkerApp(base: TestApp, worker: AppOptions['worker'] = {}): Promise<WorkerApp> {
  const app = buildApp(base.services, 'worker', { worker });
  const port = await app.start();
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    url,
    app,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
    },
  };
}

/** A second pool on the same database, so two apps do not share connections (as two processes would not). */
export function secondConnection(database: TestDatabase): TestDatabase {
  const db = connectDatabase(database.url, 10);
  return { ...db, name: database.name, drop: () => db.close() };
}

/**
 * Runs, in this process and to the end, every due job of the named tasks (the built-in handlers),
 * as a worker would, then returns: for tests of an `api` app, whose jobs nobody else runs. Jobs
 * of other tasks stay in the queue. `services` (the app's by default) are what the tasks run on:
 * a test may give the app's with one of them changed, such as its pub/sub.
 */
export async function runDueJobs(
  app: TestApp,
  tasks: readonly string[],
  services: TestApp['services'] = app.services,
): Promise<void> {
  const chosen = handlers.filter((handler) => tasks.includes(handler.name));
  if (chosen.length !== tasks.length) throw new Error(`No built-in task among ${tasks.join(', ')}`);
  await runOnce({
    pgPool: app.services.database.pool,
    taskList: taskList(services, chosen),
    logger: graphileLogger(app.services.logger),
  });
  // graphile-worker writes a failed attempt without awaiting it, so runOnce can return while the
  // job is still locked (a reschedule then skips it, and its backoff is set after): wait, briefly,
  // until none of these tasks' jobs is locked.
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const { rows } = await app.services.database.pool.query(
      'SELECT 1 FROM graphile_worker.jobs WHERE task_identifier = ANY($1) AND locked_at IS NOT NULL LIMIT 1',
      [tasks],
    );
    if (rows.length === 0) return;
    await sleep(10);
  }
}

export interface AppPair {
  /** The shared database (its own pool is app A's). */
  database: TestDatabase;
  a: TestApp;
  /** On a second pool of the same database. */
  b: TestApp;
  close(): Promise<void>;
}

/**
 * Two apps on one new database, each with a pool of its own (as two processes would have), for
 * workers started side by side.
 */
export async function startAppPair(env: Record<string, string> = FAST_WORKER_ENV): Promise<AppPair> {
  const database = await createTestDatabase();
  const other = secondConnection(database);
  const [a, b] = await Promise.all([startTestApp({ database, env }), startTestApp({ database: other, env })]);
  return {
    database,
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await other.drop();
      await database.drop();
    },
  };
}

/** Polls `probe` until it returns something truthy. For work happening elsewhere (a worker), not for time. */
export async function waitFor<T>(
  probe: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The job as the queue holds it now, or undefined once it completed (completed jobs are deleted). */
export async function jobRow(db: DbOrTx, id: string): Promise<JobRecord | undefined> {
  return (await jobsById(db, [id]))[0];
}

/** Resolves once the job left the queue (it succeeded). */
export function completed(db: DbOrTx, id: string, timeoutMs?: number): Promise<true> {
  return waitFor(async () => !(await jobRow(db, id)), `job ${id} to complete`, timeoutMs);
}

/** Where test tasks record each run: which job, which worker, which attempt, which cron tick. */
export async function createRunsTable(database: TestDatabase): Promise<void> {
  await database.pool.query(`
    CREATE TABLE IF NOT EXISTS test_job_runs (
      job_id bigint NOT NULL,
      task text NOT NULL,
      worker text NOT NULL,
      attempt int NOT NULL,
      label text,
      tick timestamptz,
      backfilled boolean,
      at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`);
}

export interface Run {
  job_id: string;
  task: string;
  worker: string;
  attempt: number;
  label: string | null;
  tick: Date | null;
  backfilled: boolean | null;
}

export async function runs(database: TestDatabase, task?: string): Promise<Run[]> {
  const { rows } = await database.pool.query<Run>(
    `SELECT job_id::text, task, worker, attempt, label, tick, backfilled FROM test_job_runs
     WHERE $1::text IS NULL OR task = $1 ORDER BY at`,
    [task ?? null],
  );
  return rows;
}

/** A test task that records its run; `failUntilAttempt` makes earlier attempts throw. */
export const recordTask = defineTask({
  name: 'test-record',
  schema: z.object({
    label: z.string().optional(),
    holdMs: z.number().int().min(0).optional(),
    failUntilAttempt: z.number().int().optional(),
  }),
  maxAttempts: 5,
});

/** The handler of `recordTask` in a worker named `worker`. */
export function recordHandler(worker: string): TaskHandler {
  return defineHandler(recordTask, async (payload, { services, job }) => {
    if (payload.holdMs) await sleep(payload.holdMs);
    await services.db.$executeRaw`
      INSERT INTO test_job_runs (job_id, task, worker, attempt, label)
      VALUES (${job.id}::bigint, ${job.task}, ${worker}, ${job.attempt}, ${payload.label ?? null})`;
    if (payload.failUntilAttempt && job.attempt < payload.failUntilAttempt) {
      throw new Error(`failing attempt ${job.attempt} on purpose`);
    }
  });
}

/** A platform admin's access token, for the operators' API. */
export async function platformAdminToken(app: TestApp): Promise<string> {
  const user = await app.services.db.user.create({
    data: { email: uniqueEmail('platform-admin'), isPlatformAdmin: true },
  });
  return accessToken(app, user.id);
}

/** One sample of a Prometheus text exposition (0 when the series was never written). */
export function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
