/**
 * Real worker processes (`node src/main.ts worker`) and what happens when they go away: killed
 * mid-job, the job stays locked until the lock expires and another worker runs it again; sent
 * SIGTERM, the process lets the running job finish before it exits.
 *
 * graphile-worker frees locks older than 4 hours. The test does not wait 4 hours: it moves the
 * dead worker's `locked_at` back 5 hours, as if they had passed.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enqueue, noopTask } from '../../src/platform/jobs.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testRedisUrl, testServerUrl } from '../helpers/env.ts';
import {
  completed,
  FAST_WORKER_ENV,
  jobRow,
  metric,
  startWorkerApp,
  type WorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

type WorkerProcess = ChildProcessByStdio<null, Readable, Readable>;

let database: TestDatabase;
let api: TestApp;
const children: WorkerProcess[] = [];
let recovering: WorkerApp | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  api = await startTestApp({ database, env: FAST_WORKER_ENV });
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await recovering?.stop();
  recovering = undefined;
});
afterAll(async () => {
  await api?.close();
  await database?.drop();
});

/** Starts `node src/main.ts worker` on the test database; resolves once it serves. */
async function spawnWorker(): Promise<{ child: WorkerProcess; output: () => string }> {
  const child = spawn(process.execPath, ['src/main.ts', 'worker'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `${testServerUrl()}/${database.name}`,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: `test:jobs-recovery:${process.pid}:`,
      PORT: '0',
      HOST: '127.0.0.1',
      SEED_DEMO: 'false',
      ...FAST_WORKER_ENV,
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
  }>('SELECT locked_by, locked_at, attempts FROM graphile_worker.jobs WHERE id = $1', [id]);
  return rows[0];
}

describe('a worker that dies mid-job', () => {
  it('leaves the job locked until the lock expires; then another worker runs it again', async () => {
    const { child } = await spawnWorker();
    const job = await enqueue(api.services.db, noopTask, { holdMs: 3_000 });
    const held = await waitFor(async () => {
      const lock = await lockOf(job.id);
      return lock?.locked_by ? lock : null;
    }, 'the worker process to take the job');
    child.kill('SIGKILL');
    await exited(child);

    // Another worker is up and scanning for stale locks every 200 ms, but this lock is fresh.
    recovering = await startWorkerApp(api);
    await sleep(600);
    expect(await lockOf(job.id)).toEqual(held);

    // Four hours pass for the dead worker's lock.
    await database.pool.query(
      `UPDATE graphile_worker._private_jobs SET locked_at = locked_at - interval '5 hours' WHERE id = $1`,
      [job.id],
    );
    const retaken = await waitFor(async () => {
      const lock = await lockOf(job.id);
      return lock?.locked_by && lock.locked_by !== held.locked_by ? lock : null;
    }, 'another worker to take the job');
    expect(retaken.attempts).toBe(2);
    await completed(api.services.db, job.id);
    expect(metric(await recovering.metrics(), 'jobs_total{task="noop",outcome="success"}')).toBe(1);
  });
});

describe('a worker sent SIGTERM', () => {
  it('lets the running job finish, then exits cleanly', async () => {
    const { child, output } = await spawnWorker();
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
  });
});
