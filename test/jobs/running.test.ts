/**
 * One worker running jobs: success and failure counted on `/metrics` by task and outcome, a
 * payload that does not parse failing at once with its error shown to operators, retries backing
 * off exponentially up to the declared limit, a logger per job, and a stop that lets the running
 * job finish.
 *
 * Retry delays are asserted, not waited for: after each failure the test checks `run_at`, then
 * makes the next attempt due at once with graphile-worker's `reschedule_jobs`.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, enqueue } from '../../src/platform/jobs.ts';
import { defineHandler, PermanentJobError } from '../../src/worker/handler.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  completed,
  createRunsTable,
  FAST_WORKER_ENV,
  jobRow,
  metric,
  platformAdminToken,
  recordHandler,
  recordTask,
  runs,
  startWorkerApp,
  type WorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

const alwaysFails = defineTask({ name: 'test-always-fails', schema: z.object({}), maxAttempts: 2 });
const givesUp = defineTask({ name: 'test-gives-up', schema: z.object({ reason: z.string() }) });

let database: TestDatabase;
let api: TestApp;
let worker: WorkerApp;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await createRunsTable(database);
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  api = await startTestApp({ database, env: FAST_WORKER_ENV, logger: pino({ level: 'info' }, sink) });
  worker = await startWorkerApp(api, {
    handlers: [
      recordHandler('w1'),
      defineHandler(alwaysFails, async (_payload, { logger }) => {
        logger.info('about to fail');
        throw new Error('always fails');
      }),
      defineHandler(givesUp, async ({ reason }) => {
        throw new PermanentJobError(reason);
      }),
    ],
  });
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await database?.drop();
});

/** Waits for the job's attempt `attempt` to have failed, and returns its row and the database's clock. */
async function failedAttempt(id: string, attempt: number) {
  return waitFor(async () => {
    const {
      rows: [row],
    } = await database.pool.query<{ attempts: number; locked_at: Date | null; run_at: Date; now: Date }>(
      'SELECT attempts, locked_at, run_at, now() AS now FROM graphile_worker.jobs WHERE id = $1',
      [id],
    );
    return row && row.attempts === attempt && row.locked_at === null ? row : null;
  }, `attempt ${attempt} of job ${id} to fail`);
}

/** Makes a job waiting out its backoff due now, keeping its attempts. */
async function dueNow(id: string) {
  await database.pool.query('SELECT graphile_worker.reschedule_jobs(ARRAY[$1::bigint], run_at => now())', [
    id,
  ]);
}

const FailedJobs = graphql(`
  query RunningFailedJobs($task: String!) {
    jobs(taskIdentifier: $task, state: FAILED, first: 10) {
      edges { node { jobId taskIdentifier state attempts maxAttempts lastError } }
    }
  }
`);

describe('a worker running jobs', () => {
  it('runs a job once and counts it by task and outcome on /metrics', async () => {
    const job = await enqueue(database.prisma, recordTask, { label: 'plain' });
    await completed(database.prisma, job.id);
    expect((await runs(database)).filter((r) => r.job_id === job.id)).toMatchObject([
      { worker: 'w1', attempt: 1, label: 'plain' },
    ]);
    const text = await worker.metrics();
    expect(metric(text, 'jobs_total{task="test-record",outcome="success"}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/job_duration_seconds_count\{task="test-record",outcome="success"\} \d+/);
  });

  it('fails a job whose payload does not parse at once, without retries, the error shown to operators', async () => {
    const before = await worker.metrics();
    // Enqueued around the contract (as an old or foreign producer might), with 5 attempts to spend.
    const { rows } = await database.pool.query<{ id: string }>(
      `SELECT id::text FROM graphile_worker.add_job('test-record', '{"label": 42}'::json, max_attempts => 5)`,
    );
    const id = rows[0]!.id;
    const failed = await waitFor(async () => {
      const row = await jobRow(database.prisma, id);
      return row?.state === 'FAILED' ? row : null;
    }, 'the job to fail');
    expect(failed).toMatchObject({ attempts: 1, maxAttempts: 1 });
    expect((await runs(database)).filter((r) => r.job_id === id)).toEqual([]);

    const response = await api.gql(
      FailedJobs,
      { task: 'test-record' },
      { token: await platformAdminToken(api) },
    );
    expect(response.body).toMatchObject({
      data: {
        jobs: {
          edges: [
            {
              node: {
                jobId: id,
                taskIdentifier: 'test-record',
                state: 'FAILED',
                attempts: 1,
                maxAttempts: 1,
                lastError: expect.stringMatching(/^Invalid payload for task "test-record":[\s\S]*label/),
              },
            },
          ],
        },
      },
    });
    const after = await worker.metrics();
    const series = 'jobs_total{task="test-record",outcome="permanent_failure"}';
    expect(metric(after, series) - metric(before, series)).toBe(1);
  });

  it('retries a failing job with exponential backoff until an attempt succeeds', async () => {
    const before = await worker.metrics();
    const job = await enqueue(database.prisma, recordTask, { label: 'flaky', failUntilAttempt: 3 });

    // graphile-worker waits exp(attempts) seconds after each failure: e¹ ≈ 2.7 s, then e² ≈ 7.4 s.
    for (const attempt of [1, 2]) {
      const row = await failedAttempt(job.id, attempt);
      const delay = (row.run_at.getTime() - row.now.getTime()) / 1000;
      expect(delay).toBeLessThanOrEqual(Math.exp(attempt));
      expect(delay).toBeGreaterThan(Math.exp(attempt) - 1);
      expect((await jobRow(database.prisma, job.id))?.lastError).toBe(
        `failing attempt ${attempt} on purpose`,
      );
      expect((await jobRow(database.prisma, job.id))?.state).toBe('SCHEDULED');
      await dueNow(job.id);
    }
    await completed(database.prisma, job.id);
    expect((await runs(database)).filter((r) => r.job_id === job.id).map((r) => r.attempt)).toEqual([
      1, 2, 3,
    ]);

    const after = await worker.metrics();
    const count = (outcome: string) =>
      metric(after, `jobs_total{task="test-record",outcome="${outcome}"}`) -
      metric(before, `jobs_total{task="test-record",outcome="${outcome}"}`);
    expect({ error: count('error'), success: count('success') }).toEqual({ error: 2, success: 1 });
  });

  it('stops at the declaration’s attempt limit and leaves the job failed with its last error', async () => {
    const job = await enqueue(database.prisma, alwaysFails, {});
    await failedAttempt(job.id, 1);
    await dueNow(job.id);
    const failed = await waitFor(async () => {
      const row = await jobRow(database.prisma, job.id);
      return row?.state === 'FAILED' ? row : null;
    }, 'the job to fail for good');
    expect(failed).toMatchObject({ attempts: 2, maxAttempts: 2, lastError: 'always fails' });

    const text = await worker.metrics();
    expect(metric(text, 'jobs_total{task="test-always-fails",outcome="error"}')).toBe(1);
    expect(metric(text, 'jobs_total{task="test-always-fails",outcome="permanent_failure"}')).toBe(1);
  });

  it('fails the job at once when the task throws PermanentJobError', async () => {
    const job = await enqueue(database.prisma, givesUp, { reason: 'the booking is gone' });
    const failed = await waitFor(async () => {
      const row = await jobRow(database.prisma, job.id);
      return row?.state === 'FAILED' ? row : null;
    }, 'the job to fail');
    expect(failed).toMatchObject({ attempts: 1, maxAttempts: 1, lastError: 'the booking is gone' });
  });

  it('gives each job a child logger with job.id, job.task and job.attempt, and logs no payloads', async () => {
    const job = await enqueue(database.prisma, alwaysFails, {});
    await failedAttempt(job.id, 1);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'about to fail',
        'job.id': job.id,
        'job.task': 'test-always-fails',
        'job.attempt': 1,
      }),
    );
    // graphile-worker's own line about the failure carries the job's identity and the error.
    const failure = lines.find((l) => l['job.id'] === job.id && String(l.msg).startsWith('Failed task'));
    expect(failure).toMatchObject({
      level: 50,
      'job.task': 'test-always-fails',
      err: { message: 'always fails' },
    });
    expect(JSON.stringify(lines)).not.toContain('"payload"');
  });
});

describe('stopping a worker (SIGTERM)', () => {
  it('takes no new jobs and lets the running one finish before it resolves', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let began!: () => void;
    const begun = new Promise<void>((resolve) => {
      began = resolve;
    });
    const blocking = defineTask({ name: 'test-blocking', schema: z.object({}) });
    const stopping = await startWorkerApp(api, {
      handlers: [
        defineHandler(blocking, async (_payload, { services, job }) => {
          began();
          await released;
          await services.db.$executeRaw`
            INSERT INTO test_job_runs (job_id, task, worker, attempt) VALUES (${job.id}::bigint, ${job.task}, 'stopping', ${job.attempt})`;
        }),
      ],
    });
    const running = await enqueue(database.prisma, blocking, {});
    // The handler itself has begun: a job only taken into the worker's local queue also shows
    // as RUNNING (it is locked), and a stop gives such a job back instead of waiting for it.
    await begun;
    expect((await jobRow(database.prisma, running.id))?.state).toBe('RUNNING');

    let stopped = false;
    const stop = stopping.stop().then(() => {
      stopped = true;
    });
    // A look for jobs already in flight when the stop began may still return one; after that, none.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const waiting = await enqueue(database.prisma, blocking, {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stopped).toBe(false);
    expect((await jobRow(database.prisma, running.id))?.state).toBe('RUNNING');

    release();
    await stop;
    expect(await jobRow(database.prisma, running.id)).toBeUndefined();
    expect((await runs(database, 'test-blocking')).map((r) => r.job_id)).toEqual([running.id]);
    // The job enqueued during the shutdown was left for the next worker.
    expect((await jobRow(database.prisma, waiting.id))?.state).toBe('QUEUED');
  });
});
