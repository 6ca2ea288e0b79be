/**
 * Knowing when a worker is dead, and freeing what it held.
 *
 * graphile-worker marks a job it runs with `locked_by` (the worker pool's id) and `locked_at`; a
 * worker killed mid-job (SIGKILL, OOM, a lost machine) leaves those set, and graphile-worker only
 * frees locks older than 4 hours. For a chat drain that means people told "received" hear nothing
 * for hours. So each worker process records its pool id in `worker_heartbeats` and refreshes
 * `seen_at` every WORKER_HEARTBEAT_MS; every worker, on the same tick, looks for rows older than
 * WORKER_DEAD_AFTER_MS and frees the jobs those workers held, with graphile-worker's own
 * `force_unlock_workers` (what its WorkerUtils' `forceUnlockWorkers` runs), in one transaction
 * under an advisory lock, so two live workers never recover the same dead one twice.
 *
 * What happens to each job the dead worker held (recorded in `job_recoveries`, logged, counted):
 * - **RELEASED**: it had attempts left; it runs again at once, its last error saying why.
 * - **SUPERSEDED**: while it ran, a newer job with the same key replaced it (graphile-worker
 *   0.17's `add_jobs` then clears the running job's key and sets its attempts to the maximum, so
 *   that it never runs again). Unlocked, it would sit FAILED with no error; it is removed
 *   instead, since the newer job does the work. Only `job_recoveries` keeps it, and the admin
 *   `jobs` query lists it from there as SUPERSEDED.
 * - **FAILED**: it was on its last attempt; it stays FAILED with the reason as its last error,
 *   for an operator to retry.
 *
 * A job locked by a worker that never registered (it died between taking jobs and its first
 * heartbeat) counts as dead once the lock is older than the limit. Finding those means reading
 * every locked job (graphile-worker has no index on the lock), so a worker looks for them when
 * it starts and then once a minute, not at every beat. A live worker that was only
 * slow (stalled longer than the limit) finds its row gone at its next heartbeat, registers again
 * and says so: its jobs may have run twice, which tasks must tolerate anyway.
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export type RecoveryOutcome = 'RELEASED' | 'SUPERSEDED' | 'FAILED';

export interface RecoveredJob {
  id: string;
  task: string;
  outcome: RecoveryOutcome;
  attempts: number;
  maxAttempts: number;
}

export interface DeadWorker {
  workerId: string;
  /** Its last heartbeat; for a worker that never registered, when it took its newest job. */
  lastSeen: Date;
  /** When its jobs were freed (the database's clock). */
  recoveredAt: Date;
  jobs: RecoveredJob[];
}

/** How often a worker looks for jobs locked by workers that never registered. */
const UNREGISTERED_SCAN_MS = 60_000;

/** One advisory lock for every worker's recovery pass: the passes never interleave. */
const RECOVERY_LOCK = 'agnt:worker-recovery';

/**
 * Records that worker `id` is alive. Returns true when its row was (re)created: the first beat,
 * or a beat after another worker took this one for dead and removed it.
 */
export async function heartbeat(pool: pg.Pool, worker: { id: string; role: string }): Promise<boolean> {
  const { rows } = await pool.query<{ inserted: boolean }>(
    `INSERT INTO worker_heartbeats (worker_id, host, pid, role)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()
     RETURNING (xmax = 0) AS inserted`,
    [worker.id, hostname(), process.pid, worker.role],
  );
  return rows[0]?.inserted ?? false;
}

/** A worker that stopped cleanly (it holds no jobs any more) is not waited for as dead. */
export async function deregister(pool: pg.Pool, workerId: string): Promise<void> {
  await pool.query('DELETE FROM worker_heartbeats WHERE worker_id = $1', [workerId]);
}

/**
 * Gives back the jobs a stopped worker still holds: those that waited in its local queue. Call it
 * once the worker's runner has stopped, when nothing of it runs any more. graphile-worker 0.17.3
 * means to return them itself, as not attempted, but fails to when its slots are all busy as it
 * stops ("Cannot background something when the queue is already released"), which would leave
 * them locked until a live worker took this one for dead. They get their attempt back, as
 * graphile-worker's own return does, and the workers waiting for work hear of them at once.
 */
export async function releaseHeldJobs(pool: pg.Pool, workerId: string): Promise<number> {
  const { rows } = await pool.query<{ released: number }>(
    `WITH released AS (
       UPDATE graphile_worker._private_jobs
       SET attempts = GREATEST(0, attempts - 1), locked_by = NULL, locked_at = NULL
       WHERE locked_by = $1
       RETURNING 1
     ), notified AS (
       SELECT pg_notify('jobs:insert', '{"count":' || count(*) || '}') FROM released HAVING count(*) > 0
     )
     SELECT (SELECT count(*)::int FROM released) AS released, (SELECT count(*) FROM notified) AS notified`,
    [workerId],
  );
  return rows[0]?.released ?? 0;
}

/**
 * Frees the jobs of every worker silent for over `deadAfterMs`. Returns the workers it found
 * dead (with what they held), or null when another worker's pass holds the lock right now.
 */
export async function recoverDeadWorkers(
  pool: pg.Pool,
  options: { deadAfterMs: number; unregistered?: boolean },
): Promise<DeadWorker[] | null> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: locks } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked',
      [RECOVERY_LOCK],
    );
    if (!locks[0]?.locked) {
      await client.query('ROLLBACK');
      return null;
    }
    // Both halves read the heartbeats as they were before the DELETE, so a worker is found once.
    const { rows: dead } = await client.query<{ worker_id: string; last_seen: Date; now: Date }>(
      `WITH stale AS (
         DELETE FROM worker_heartbeats
         WHERE seen_at < now() - make_interval(secs => $1::float8 / 1000)
         RETURNING worker_id, seen_at
       ), unregistered AS (
         SELECT jobs.locked_by AS worker_id, max(jobs.locked_at) AS seen_at
         FROM graphile_worker._private_jobs AS jobs
         WHERE $2::boolean AND jobs.locked_by IS NOT NULL
           AND jobs.locked_at < now() - make_interval(secs => $1::float8 / 1000)
           AND NOT EXISTS (SELECT FROM worker_heartbeats AS h WHERE h.worker_id = jobs.locked_by)
         GROUP BY jobs.locked_by
       )
       SELECT worker_id, seen_at AS last_seen, now() AS now FROM stale
       UNION ALL
       SELECT worker_id, seen_at, now() FROM unregistered`,
      [options.deadAfterMs, options.unregistered ?? true],
    );
    if (!dead.length) {
      await client.query('COMMIT');
      return [];
    }
    const ids = dead.map((d) => d.worker_id);
    const { rows: held } = await client.query<{
      id: string;
      task: string;
      locked_by: string;
      attempts: number;
      max_attempts: number;
      run_at: Date;
      locked_at: Date;
      created_at: Date;
      superseded: boolean;
    }>(
      // Superseded: `add_jobs` cleared the key and spent the attempts after the job was taken
      // (taking a job never touches `updated_at`; nothing else changes a locked job's row).
      `SELECT jobs.id::text AS id, tasks.identifier AS task, jobs.locked_by, jobs.attempts,
              jobs.max_attempts, jobs.run_at, jobs.locked_at, jobs.created_at,
              (jobs.key IS NULL AND jobs.attempts >= jobs.max_attempts
                AND jobs.updated_at >= jobs.locked_at) AS superseded
       FROM graphile_worker._private_jobs AS jobs
       JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
       WHERE jobs.locked_by = ANY($1::text[])
       ORDER BY jobs.id
       FOR UPDATE OF jobs`,
      [ids],
    );
    const lastSeen = new Map(dead.map((d) => [d.worker_id, d.last_seen]));
    const recovered = held.map((job) => {
      const outcome: RecoveryOutcome = job.superseded
        ? 'SUPERSEDED'
        : job.attempts >= job.max_attempts
          ? 'FAILED'
          : 'RELEASED';
      return { ...job, outcome, reason: reason(outcome, job, lastSeen.get(job.locked_by)) };
    });
    if (recovered.length) {
      await client.query(
        `UPDATE graphile_worker._private_jobs AS jobs SET last_error = x.reason
         FROM unnest($1::bigint[], $2::text[]) AS x(id, reason)
         WHERE jobs.id = x.id`,
        [recovered.map((j) => j.id), recovered.map((j) => j.reason)],
      );
    }
    await client.query('SELECT graphile_worker.force_unlock_workers($1::text[])', [ids]);
    const superseded = recovered.filter((j) => j.outcome === 'SUPERSEDED').map((j) => j.id);
    if (superseded.length) {
      await client.query('SELECT FROM graphile_worker.complete_jobs($1::bigint[])', [superseded]);
    }
    if (recovered.length) {
      await client.query(
        `INSERT INTO job_recoveries (id, job_id, task_identifier, worker_id, outcome, reason, attempts,
                                     max_attempts, run_at, locked_at, job_created_at)
         SELECT gen_random_uuid(), x.job_id, x.task, x.worker_id, x.outcome::"JobRecoveryOutcome",
                x.reason, x.attempts, x.max_attempts, x.run_at, x.locked_at, x.created_at
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
                     $8::timestamptz[], $9::timestamptz[], $10::timestamptz[])
              AS x(job_id, task, worker_id, outcome, reason, attempts, max_attempts, run_at, locked_at,
                   created_at)`,
        [
          recovered.map((j) => j.id),
          recovered.map((j) => j.task),
          recovered.map((j) => j.locked_by),
          recovered.map((j) => j.outcome),
          recovered.map((j) => j.reason),
          recovered.map((j) => j.attempts),
          recovered.map((j) => j.max_attempts),
          recovered.map((j) => j.run_at),
          recovered.map((j) => j.locked_at),
          recovered.map((j) => j.created_at),
        ],
      );
    }
    // Workers waiting for work hear of the freed jobs now, not at their next poll.
    if (recovered.some((j) => j.outcome === 'RELEASED')) {
      await client.query(`SELECT pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}')`);
    }
    await client.query('COMMIT');
    return dead.map((d) => ({
      workerId: d.worker_id,
      lastSeen: d.last_seen,
      recoveredAt: d.now,
      jobs: recovered
        .filter((j) => j.locked_by === d.worker_id)
        .map(({ id, task, outcome, attempts, max_attempts }) => ({
          id,
          task,
          outcome,
          attempts,
          maxAttempts: max_attempts,
        })),
    }));
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function reason(outcome: RecoveryOutcome, job: { attempts: number; max_attempts: number }, lastSeen?: Date) {
  const seen = lastSeen ? `last seen ${lastSeen.toISOString()}` : 'never seen';
  switch (outcome) {
    case 'RELEASED':
      return `Its worker stopped answering (${seen}) during attempt ${job.attempts}; freed to run again`;
    case 'SUPERSEDED':
      return `Replaced by a newer job with the same key while it ran, and its worker stopped answering (${seen}); removed, the newer job does the work`;
    case 'FAILED':
      return `Its worker stopped answering (${seen}) during the last attempt (${job.attempts} of ${job.max_attempts}); left failed for an operator to retry`;
  }
}

export interface Liveness {
  /** Stops the heartbeat and deregisters (call once the worker holds no jobs). */
  stop(): Promise<void>;
}

/**
 * Registers worker `workerId` (before resolving), then every `heartbeatMs` refreshes its
 * heartbeat and frees the jobs of workers silent for over `deadAfterMs`.
 */
export async function startLiveness(options: {
  pool: pg.Pool;
  workerId: string;
  role: string;
  heartbeatMs: number;
  deadAfterMs: number;
  logger: Logger;
  metrics?: Pick<Metrics, 'jobsRecovered' | 'jobRecoveryLatency'>;
}): Promise<Liveness> {
  const { pool, workerId, logger, metrics } = options;
  const log = logger.child({ component: 'worker-liveness', 'worker.pool': workerId });
  const worker = { id: workerId, role: options.role };
  await heartbeat(pool, worker);

  let lastUnregisteredScan = Number.NEGATIVE_INFINITY;
  const tick = async () => {
    try {
      if (await heartbeat(pool, worker)) {
        log.warn(
          'this worker was taken for dead (no heartbeat within WORKER_DEAD_AFTER_MS) and has registered again; jobs it was running may run twice',
        );
      }
      const unregistered = Date.now() - lastUnregisteredScan >= UNREGISTERED_SCAN_MS;
      const found = await recoverDeadWorkers(pool, { deadAfterMs: options.deadAfterMs, unregistered });
      if (found && unregistered) lastUnregisteredScan = Date.now();
      for (const dead of found ?? []) {
        const latency = (dead.recoveredAt.getTime() - dead.lastSeen.getTime()) / 1000;
        for (const job of dead.jobs) metrics?.jobsRecovered.inc({ task: job.task, outcome: job.outcome });
        metrics?.jobRecoveryLatency.observe(latency);
        log.warn(
          {
            'dead.worker': dead.workerId,
            'dead.last_seen': dead.lastSeen.toISOString(),
            'recovery.latency_s': Math.round(latency * 10) / 10,
            jobs: dead.jobs.map((j) => ({
              'job.id': j.id,
              'job.task': j.task,
              'job.attempt': j.attempts,
              outcome: j.outcome,
            })),
          },
          `worker ${dead.workerId} stopped answering; freed the ${dead.jobs.length} job(s) it held`,
        );
      }
    } catch (error) {
      log.error({ err: error }, 'worker heartbeat or recovery failed; trying again at the next beat');
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        if (!stopped) schedule(options.heartbeatMs);
      });
    }, delayMs);
    timer.unref();
  };
  // The first look for dead workers at once: a worker started after an outage frees what the
  // workers that died in it held without waiting a beat.
  schedule(0);

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await running;
      await deregister(pool, workerId).catch((error) =>
        log.warn({ err: error }, 'could not deregister; other workers will take this one for dead'),
      );
    },
  };
}
