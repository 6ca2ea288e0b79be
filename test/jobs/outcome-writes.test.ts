/**
 * Writing a finished job's outcome when PostgreSQL refuses it: a completion rolled back as a
 * deadlock victim (a batch of completions and a webhook batch adding the same chats' drain jobs
 * lock job rows in other orders) is written again and the worker goes on; one that keeps failing
 * stops the runner and says so (`onFailure`, which stops the process in main.ts), instead of a
 * worker that silently takes no more jobs.
 *
 * The refusals are real PostgreSQL errors with the deadlock's SQLSTATE, raised by a trigger on
 * graphile-worker's job table for jobs labelled to be refused (a sequence counts the refusals:
 * it is not rolled back with the statement).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '../../src/platform/jobs.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  completed,
  createRunsTable,
  FAST_WORKER_ENV,
  jobRow,
  recordHandler,
  recordTask,
  runs,
  startWorkerApp,
  waitFor,
} from '../helpers/jobs.ts';

let database: TestDatabase;
let api: TestApp;

beforeAll(async () => {
  database = await createTestDatabase();
  await createRunsTable(database);
  await database.pool.query(`
    CREATE SEQUENCE test_refused_deletes;
    CREATE FUNCTION test_refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.payload->>'label' = 'refused-twice' AND nextval('test_refused_deletes') <= 2
         OR OLD.payload->>'label' = 'always-refused' THEN
        RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01';
      END IF;
      RETURN OLD;
    END $$;
    CREATE TRIGGER test_refuse_delete BEFORE DELETE ON graphile_worker._private_jobs
      FOR EACH ROW EXECUTE FUNCTION test_refuse_delete();`);
  api = await startTestApp({ database, env: FAST_WORKER_ENV });
});
afterAll(async () => {
  await api?.close();
  await database?.drop();
});

describe('a job outcome PostgreSQL refuses to write', () => {
  it('is written again after a deadlock, once, and the worker goes on taking jobs', async () => {
    const failures: unknown[] = [];
    const worker = await startWorkerApp(api, {
      handlers: [recordHandler('w1')],
      onFailure: (error) => failures.push(error),
    });
    try {
      const refused = await enqueue(database.prisma, recordTask, { label: 'refused-twice' });
      await completed(database.prisma, refused.id);
      const after = await enqueue(database.prisma, recordTask, { label: 'after' });
      await completed(database.prisma, after.id);

      // Two refusals, then the write: the job ran once, and its completion was not lost.
      const { rows } = await database.pool.query<{ refused: string }>(
        'SELECT last_value AS refused FROM test_refused_deletes',
      );
      expect(Number(rows[0]?.refused)).toBeGreaterThanOrEqual(3);
      expect((await runs(database, recordTask.name)).map((r) => r.label)).toEqual(['refused-twice', 'after']);
      expect(failures).toEqual([]);
      const ready = await fetch(`${worker.url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await worker.stop();
    }
  });

  it('stops the runner and reports it when the write keeps failing; the job is given back', async () => {
    const failures: unknown[] = [];
    const worker = await startWorkerApp(api, {
      handlers: [recordHandler('w2')],
      onFailure: (error) => failures.push(error),
    });
    try {
      const refused = await enqueue(database.prisma, recordTask, { label: 'always-refused' });
      await waitFor(async () => failures.length > 0, 'the runner to report its failure');
      expect(failures).toHaveLength(1);
      expect(String(failures[0])).toMatch(/completeJobs|deadlock/i);
      expect((await fetch(`${worker.url}/readyz`)).status).toBe(503);

      await worker.stop();
      // The task ran, its completion never landed: the stop gave the job back to run again.
      expect(
        (await runs(database, recordTask.name)).filter((r) => r.label === 'always-refused'),
      ).toHaveLength(1);
      expect((await jobRow(database.prisma, refused.id))?.state).toBe('QUEUED');
    } finally {
      await worker.stop();
    }
  });
});
