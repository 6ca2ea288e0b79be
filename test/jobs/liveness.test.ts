/**
 * The heartbeat table and the recovery pass on their own, with no worker running: dead workers
 * are recovered once however many live workers look at the same moment, a worker that took jobs
 * and died before its first heartbeat is found by its locks, and a worker taken for dead that
 * beats again registers again. Jobs are locked with the SQL graphile-worker itself sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../src/platform/db.ts';
import { enqueue, noopTask } from '../../src/platform/jobs.ts';
import { heartbeat, recoverDeadWorkers } from '../../src/platform/worker-liveness.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

/** Locks the job as worker `workerId` did `agoMs` ago, its first attempt. */
async function lockAs(jobId: string, workerId: string, agoMs: number) {
  await database.pool.query(
    `UPDATE graphile_worker._private_jobs
     SET locked_by = $2, locked_at = now() - make_interval(secs => $3::float8 / 1000), attempts = attempts + 1
     WHERE id = $1`,
    [jobId, workerId, agoMs],
  );
}

const recoveries = async (workerId: string) =>
  (
    await database.pool.query(
      'SELECT job_id::text, outcome FROM job_recoveries WHERE worker_id = $1 ORDER BY job_id',
      [workerId],
    )
  ).rows;

describe('recovering dead workers', () => {
  it('frees a dead worker’s jobs once, however many workers look at the same moment', async () => {
    const job = await enqueue(database.prisma, noopTask, {});
    await heartbeat(database.pool, { id: 'pool-dead-a', role: 'worker' });
    await database.pool.query(
      `UPDATE worker_heartbeats SET seen_at = now() - interval '1 minute' WHERE worker_id = 'pool-dead-a'`,
    );
    await lockAs(job.id, 'pool-dead-a', 70_000);

    const others = [connectDatabase(database.url, 2), connectDatabase(database.url, 2)];
    try {
      const passes = await Promise.all(
        [database, ...others].map((db) => recoverDeadWorkers(db.pool, { deadAfterMs: 30_000 })),
      );
      const found = passes.flatMap((pass) => pass ?? []).filter((d) => d.workerId === 'pool-dead-a');
      expect(found).toHaveLength(1);
      expect(found[0]!.jobs).toEqual([
        { id: job.id, task: 'noop', outcome: 'RELEASED', attempts: 1, maxAttempts: 3 },
      ]);
    } finally {
      await Promise.all(others.map((db) => db.close()));
    }
    expect(await recoveries('pool-dead-a')).toEqual([{ job_id: job.id, outcome: 'RELEASED' }]);
    const { rows } = await database.pool.query(
      'SELECT locked_by, attempts FROM graphile_worker.jobs WHERE id = $1',
      [job.id],
    );
    expect(rows).toEqual([{ locked_by: null, attempts: 1 }]);
    expect(
      (await database.pool.query(`SELECT 1 FROM worker_heartbeats WHERE worker_id = 'pool-dead-a'`)).rowCount,
    ).toBe(0);
  });

  it('finds a worker that died before its first heartbeat by its locks, once they are older than the limit', async () => {
    const job = await enqueue(database.prisma, noopTask, {});
    await lockAs(job.id, 'pool-never-registered', 10_000);
    expect(
      (await recoverDeadWorkers(database.pool, { deadAfterMs: 30_000 }))?.map((d) => d.workerId),
    ).toEqual([]);
    await lockAs(job.id, 'pool-never-registered', 40_000);
    const [dead] = (await recoverDeadWorkers(database.pool, { deadAfterMs: 30_000 }))!;
    expect(dead?.workerId).toBe('pool-never-registered');
    expect(await recoveries('pool-never-registered')).toEqual([{ job_id: job.id, outcome: 'RELEASED' }]);
  });

  it('leaves a live worker’s jobs alone, and a worker taken for dead registers again at its next beat', async () => {
    const job = await enqueue(database.prisma, noopTask, {});
    expect(await heartbeat(database.pool, { id: 'pool-alive', role: 'all' })).toBe(true);
    expect(await heartbeat(database.pool, { id: 'pool-alive', role: 'all' })).toBe(false);
    await lockAs(job.id, 'pool-alive', 3_600_000);
    expect(
      (await recoverDeadWorkers(database.pool, { deadAfterMs: 30_000 }))?.map((d) => d.workerId),
    ).toEqual([]);
    expect(await recoveries('pool-alive')).toEqual([]);

    // Stalled past the limit: found dead, then it beats again.
    await database.pool.query(
      `UPDATE worker_heartbeats SET seen_at = now() - interval '1 minute' WHERE worker_id = 'pool-alive'`,
    );
    expect(
      (await recoverDeadWorkers(database.pool, { deadAfterMs: 30_000 }))?.map((d) => d.workerId),
    ).toEqual(['pool-alive']);
    expect(await heartbeat(database.pool, { id: 'pool-alive', role: 'all' })).toBe(true);
  });
});
