/**
 * The job queue as operators see it: jobs by task and state, and the two things an operator may
 * do to one (run it again, or stop it). Everything goes through graphile-worker's public
 * surface: the `graphile_worker.jobs` view and its administrative functions (`reschedule_jobs`,
 * `permanently_fail_jobs`, what its WorkerUtils call), never its private tables.
 *
 * A job's state follows from its row, at the database's clock (the one workers use):
 * - RUNNING: locked by a worker (a dead worker's jobs are freed once its heartbeat is old, see
 *   src/platform/worker-liveness.ts);
 * - FAILED: no attempts left, kept with its last error until an operator acts;
 * - SCHEDULED: due later: enqueued for the future, or waiting out the backoff after a failure;
 * - QUEUED: due now, waiting for a free worker;
 * - SUPERSEDED: no longer in the queue: its worker died while it ran, and a newer job with the
 *   same key had replaced it, so recovery removed it (src/platform/worker-liveness.ts). It is
 *   listed from `job_recoveries`, with the reason as its last error.
 */
import { Prisma } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../platform/errors.ts';

export const JOB_STATES = ['QUEUED', 'RUNNING', 'SCHEDULED', 'FAILED', 'SUPERSEDED'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface JobRecord {
  /** graphile-worker's id (a bigint, as text). */
  id: string;
  taskIdentifier: string;
  state: JobState;
  attempts: number;
  maxAttempts: number;
  runAt: Date;
  lockedAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  key: string | null;
}

export interface JobFilter {
  taskIdentifier?: string | null;
  state?: JobState | null;
}

/** A page of jobs, newest first; `after`/`before` are job ids. `inverted` reads from the other end. */
export interface JobPage {
  after?: string;
  before?: string;
  limit: number;
  inverted?: boolean;
}

const STATE = Prisma.sql`CASE
    WHEN locked_at IS NOT NULL THEN 'RUNNING'
    WHEN attempts >= max_attempts THEN 'FAILED'
    WHEN run_at > now() THEN 'SCHEDULED'
    ELSE 'QUEUED'
  END`;

/**
 * The queue, and the jobs recovery removed, as one list: a job's id is graphile-worker's in both,
 * so paging by id runs over the two alike.
 */
const JOBS = Prisma.sql`(
  SELECT id, task_identifier, ${STATE} AS state, attempts::int AS attempts,
         max_attempts::int AS max_attempts, run_at, locked_at, last_error, created_at, key
  FROM graphile_worker.jobs
  UNION ALL
  SELECT job_id, task_identifier, 'SUPERSEDED', attempts, max_attempts, run_at, NULL::timestamptz,
         reason, job_created_at, NULL::text
  FROM job_recoveries
  WHERE outcome = 'SUPERSEDED'
) AS jobs`;

const COLUMNS = Prisma.sql`
  id::text AS id, task_identifier, state, attempts, max_attempts, run_at, locked_at, last_error,
  created_at, key`;

interface JobRow {
  id: string;
  task_identifier: string;
  state: JobState;
  attempts: number;
  max_attempts: number;
  run_at: Date;
  locked_at: Date | null;
  last_error: string | null;
  created_at: Date;
  key: string | null;
}

export async function listJobs(db: DbOrTx, filter: JobFilter, page: JobPage): Promise<JobRecord[]> {
  const conditions: Prisma.Sql[] = [];
  if (filter.taskIdentifier) conditions.push(Prisma.sql`task_identifier = ${filter.taskIdentifier}`);
  if (filter.state) conditions.push(Prisma.sql`state = ${filter.state}`);
  if (page.after) conditions.push(Prisma.sql`id < ${jobId(page.after, 'after')}::bigint`);
  if (page.before) conditions.push(Prisma.sql`id > ${jobId(page.before, 'before')}::bigint`);
  const where = conditions.length ? Prisma.sql`WHERE ${Prisma.join(conditions, ' AND ')}` : Prisma.empty;
  const order = page.inverted ? Prisma.sql`id ASC` : Prisma.sql`id DESC`;
  const rows = await db.$queryRaw<JobRow[]>`
    SELECT ${COLUMNS} FROM ${JOBS} ${where} ORDER BY ${order} LIMIT ${page.limit}`;
  return rows.map(toRecord);
}

/** The jobs with these ids that still exist (a completed job is deleted), in no order. */
export async function jobsById(db: DbOrTx, ids: readonly string[]): Promise<JobRecord[]> {
  const valid = ids.filter(isJobId);
  if (!valid.length) return [];
  const rows = await db.$queryRaw<JobRow[]>`
    SELECT ${COLUMNS} FROM ${JOBS} WHERE id = ANY(${valid}::bigint[])`;
  return rows.map(toRecord);
}

/**
 * Runs the job again now, with its attempts counted from zero (its attempt limit stays). For a
 * failed job that is a fresh start; for a queued or scheduled one it skips the wait. A running
 * job cannot be retried: it is still being tried.
 */
export async function retryJob(db: DbOrTx, input: { jobId: string }): Promise<JobRecord> {
  await assertNotRunning(db, input.jobId, 'retried');
  const [row] = await db.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id
    FROM graphile_worker.reschedule_jobs(ARRAY[${input.jobId}::bigint], run_at => now(), attempts => 0)`;
  if (!row) throw runningError(input.jobId, 'retried');
  return reload(db, input.jobId);
}

/**
 * Stops a job from running again: graphile-worker's `permanently_fail_jobs`, with a reason, so
 * the job stays listed as FAILED ("Cancelled by an operator") and a mistaken cancel can be
 * undone with `retryJob`. (Deleting it with `complete_jobs` would leave no trace.) A later
 * enqueue with the same job key is not blocked: graphile-worker adds a new job beside a failed
 * one. A running job cannot be cancelled: graphile-worker cannot stop a task in flight.
 */
export async function cancelJob(db: DbOrTx, input: { jobId: string }): Promise<JobRecord> {
  await assertNotRunning(db, input.jobId, 'cancelled');
  const [row] = await db.$queryRaw<{ id: string }[]>`
    SELECT id::text AS id
    FROM graphile_worker.permanently_fail_jobs(ARRAY[${input.jobId}::bigint], ${CANCELLED})`;
  if (!row) throw runningError(input.jobId, 'cancelled');
  return reload(db, input.jobId);
}

/** The last error of a job an operator cancelled. */
export const CANCELLED = 'Cancelled by an operator';

async function assertNotRunning(db: DbOrTx, id: string, verb: string): Promise<void> {
  const [job] = await jobsById(db, [jobId(id, 'jobId')]);
  if (!job) throw new NotFoundError(`No job ${id}: it finished, or never existed`);
  if (job.state === 'RUNNING') throw runningError(id, verb);
  if (job.state === 'SUPERSEDED') {
    throw new ConflictError(
      `Job ${id} was replaced by a newer job with the same key and removed; that job does the work`,
    );
  }
}

/** The functions skip locked jobs; a job locked between our read and the call lands here. */
function runningError(id: string, verb: string): ConflictError {
  return new ConflictError(`Job ${id} is running; it can be ${verb} once this attempt ends`);
}

async function reload(db: DbOrTx, id: string): Promise<JobRecord> {
  const [job] = await jobsById(db, [id]);
  if (!job) throw new NotFoundError(`No job ${id}: it finished, or never existed`);
  return job;
}

function jobId(value: string, field: string): string {
  if (!isJobId(value)) throw new ValidationError('This is not a job id', field);
  return value;
}

/** A job's id is a PostgreSQL bigint: digits, at most 2^63 − 1. */
function isJobId(value: string): boolean {
  return /^\d{1,19}$/.test(value) && BigInt(value) <= 9_223_372_036_854_775_807n;
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    taskIdentifier: row.task_identifier,
    state: row.state,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    lockedAt: row.locked_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    key: row.key,
  };
}
