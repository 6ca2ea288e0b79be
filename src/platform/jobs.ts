/**
 * The job contract: a task is declared once (name, zod payload schema, attempt limit) and both the
 * code that enqueues it and the worker task that runs it import that declaration.
 *
 * Jobs are added with `graphile_worker.add_job` on the Prisma client or transaction the caller
 * passes, so a job commits or rolls back with the write that caused it: a rolled-back booking
 * sends no reminder, and a committed one never loses its reminder.
 *
 * Retries: a job whose task throws runs again after `exp(min(attempts, 10))` seconds
 * (graphile-worker's own backoff: 2.7 s, 7.4 s, 20 s, 55 s, 2.5 min, 6.7 min, 18 min, 50 min,
 * 2.3 h, then 6.1 h between each of the remaining attempts), until the declaration's
 * `maxAttempts` is spent; the job then stays in the queue as failed, with its last error, for
 * operators to retry or cancel. With the default of 25 attempts a job keeps trying for about
 * four days.
 */
import { type Logger as GraphileLogger, Logger as GraphileLoggerClass, runMigrations } from 'graphile-worker';
import { version as graphileWorkerVersion } from 'graphile-worker/dist/version.js';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client.ts';
import type { Database, DbOrTx } from './db.ts';
import { type GroupCommit, isGroupCommit, type Statement } from './group-commit.ts';
import type { Logger } from './logger.ts';
import { currentTraceparent } from './tracing.ts';

/** graphile-worker's own default, kept unless a declaration says otherwise. */
export const DEFAULT_MAX_ATTEMPTS = 25;

/**
 * Task identifiers are kebab-case (`booking-expire`): the worker's task file is named by it
 * (src/worker/tasks/<name>.ts) and the crontab refers to it, whose syntax allows no dots.
 */
const TASK_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** What producers and the worker share about one task. Build it with `defineTask`. */
export interface TaskDeclaration<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly name: Name;
  /**
   * Validates the payload on enqueue and again when the job runs (jobs enqueued by older code may
   * still be in the queue). Payloads travel as JSON, so describe them in JSON terms: ISO strings
   * for instants (`z.iso.datetime()`), not `z.date()`.
   */
  readonly schema: Schema;
  /** Attempts before the job is left failed (the first run counts as one). */
  readonly maxAttempts: number;
}

/** The payload a producer passes to `enqueue` for this task. */
export type PayloadInput<T extends TaskDeclaration> = z.input<T['schema']>;
/** The payload the task receives, parsed. */
export type Payload<T extends TaskDeclaration> = z.output<T['schema']>;

/**
 * Declares a task. `queueName` is refused on purpose: graphile-worker runs each named queue
 * serially and warns against many of them, so ordering (per chat, per booking) is kept by the
 * domain, with job keys and state checks, not by queues.
 */
export function defineTask<const Name extends string, Schema extends z.ZodType>(spec: {
  name: Name;
  schema: Schema;
  maxAttempts?: number;
  queueName?: never;
}): TaskDeclaration<Name, Schema> {
  if (!TASK_NAME.test(spec.name)) {
    throw new Error(`Task name "${spec.name}" must be kebab-case (a-z, 0-9, single dashes)`);
  }
  const maxAttempts = spec.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  // add_job stores max_attempts as a smallint.
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 32767) {
    throw new Error(`Task "${spec.name}": maxAttempts must be an integer from 1 to 32767`);
  }
  return Object.freeze({ name: spec.name, schema: spec.schema, maxAttempts });
}

/**
 * SQL that holds when no job keyed `key` (an SQL expression) is coming: none, or only one that
 * failed for good (a job a worker holds, or one with attempts left, is coming). What a sweep asks
 * before it schedules or gives up on work whose job went missing.
 */
export function noJobComing(key: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`NOT EXISTS (
    SELECT FROM graphile_worker.jobs
    WHERE jobs.key = ${key} AND (jobs.locked_at IS NOT NULL OR jobs.attempts < jobs.max_attempts))`;
}

export interface EnqueueOptions {
  /** When the job becomes due (default: now). */
  runAt?: Date;
  /**
   * At most one pending job per key. With `replace` (the default) a second enqueue replaces the
   * pending job's payload and run time and resets its attempts (debounce); `preserve_run_at`
   * keeps the first run time (throttle); `unsafe_dedupe` keeps the existing job untouched, even
   * one already running. A key whose job is running gets a new job, since the running one may
   * have read the world before this change.
   */
  jobKey?: string;
  jobKeyMode?: 'replace' | 'preserve_run_at' | 'unsafe_dedupe';
  /** Lower runs first (default 0); from -32768 to 32767. */
  priority?: number;
}

export interface EnqueuedJob {
  /** graphile-worker's job id (a bigint, as text): `job.id` in the worker's logs. */
  id: string;
  runAt: Date;
  key: string | null;
}

/** A job to add later, as `enqueue` takes it: build it with `jobToAdd`, which types its payload. */
export interface JobToAdd {
  task: TaskDeclaration;
  payload: unknown;
  options: EnqueueOptions;
}

export function jobToAdd<T extends TaskDeclaration>(
  task: T,
  payload: PayloadInput<T>,
  options: EnqueueOptions = {},
): JobToAdd {
  return { task, payload, options };
}

/** A payload that does not match its task's schema: a bug in the producer, never enqueued. */
export class InvalidJobPayloadError extends Error {
  override name = 'InvalidJobPayloadError';
}

/**
 * Adds a job inside the caller's transaction (or on its own, given the plain client). The
 * payload is checked in the form the worker will see it, after a JSON round trip, so what passes
 * here also passes in the task.
 */
export async function enqueue<T extends TaskDeclaration>(
  tx: DbOrTx,
  task: T,
  payload: PayloadInput<T>,
  options: EnqueueOptions = {},
): Promise<EnqueuedJob> {
  const json = withTrace(jobPayload(task, payload));
  const add = async () =>
    (
      await tx.$queryRaw<{ id: string | null; run_at: Date; key: string | null }[]>`
        SELECT id::text AS id, run_at, key
        FROM graphile_worker.add_job(
          identifier => ${task.name}::text,
          payload => ${json}::json,
          run_at => ${options.runAt ?? null}::timestamptz,
          max_attempts => ${task.maxAttempts}::int,
          job_key => ${options.jobKey ?? null}::text,
          priority => ${options.priority ?? null}::int,
          job_key_mode => ${options.jobKeyMode ?? 'replace'}::text
        )`
    )[0];
  // graphile-worker 0.17's add_job adds nothing (an empty row) when a worker takes the keyed job
  // while it runs; by then the job is locked as running, so a second call adds one behind it
  // (see recordInbound in src/domain/channels/inbound.ts, where this was found).
  const row = (await add()) ?? null;
  const added = row?.id ? row : options.jobKey ? await add() : row;
  if (!added?.id) throw new Error(`graphile_worker.add_job returned no job for task "${task.name}"`);
  return { id: added.id, runAt: added.run_at, key: added.key };
}

/**
 * Adds several jobs as `enqueue` adds each, in one statement (none for no jobs), inside the
 * caller's transaction or on their own. Each payload is checked first (InvalidJobPayloadError),
 * so a bad one adds none of them.
 */
export async function enqueueAll(tx: DbOrTx, jobs: readonly JobToAdd[]): Promise<void> {
  if (jobs.length === 0) return;
  const values: unknown[] = [];
  await tx.$queryRawUnsafe(`SELECT ${addJobColumns(jobs, values).join(', ')}`, ...values);
}

/**
 * The select list that adds `jobs` (`job0`, `job1`, …; `addJobExpression` each) in a statement of
 * the caller's, their parameters appended to `values` (the statement's, numbered after those in
 * it). In a statement whose row source is an insert, the jobs are added once, after the row.
 */
export function addJobColumns(jobs: readonly JobToAdd[], values: unknown[]): string[] {
  return jobs.map((job, i) => {
    const expression = addJobExpression(values.length + 1);
    values.push(...jobToAddValues(job));
    return `${expression} AS job${i}`;
  });
}

/**
 * A job's payload as JSON, checked in the form the worker will see it (after a JSON round trip),
 * so what passes here also passes in the task. Throws InvalidJobPayloadError otherwise.
 */
export function jobPayload<T extends TaskDeclaration>(task: T, payload: PayloadInput<T>): string {
  const json = JSON.stringify(payload ?? {});
  const checked = task.schema.safeParse(JSON.parse(json));
  if (!checked.success) {
    throw new InvalidJobPayloadError(
      `Invalid payload for task "${task.name}":\n${z.prettifyError(checked.error)}`,
    );
  }
  return json;
}

/**
 * The payload key that carries, when tracing is on, the W3C `traceparent` of the span that
 * enqueued the job, so the job's own span links to it. The worker takes it off before the task's
 * schema sees the payload (`takeTrace`), so no schema has to allow it.
 */
const TRACE_KEY = '_trace';

/** The payload's JSON with the current span's `traceparent` added, when there is one. */
function withTrace(json: string): string {
  const traceparent = currentTraceparent();
  if (!traceparent || !json.startsWith('{')) return json;
  // A traceparent is hex and dashes: nothing in it needs escaping.
  const trace = `"${TRACE_KEY}":{"traceparent":"${traceparent}"}`;
  return json === '{}' ? `{${trace}}` : `{${trace},${json.slice(1)}`;
}

/**
 * A job's payload without its trace key, and the `traceparent` that key held; null when it has
 * no trace key (most jobs: nothing is made for them).
 */
export function takeTrace(payload: unknown): { payload: unknown; traceparent: string | undefined } | null {
  if (typeof payload !== 'object' || payload === null || !(TRACE_KEY in payload)) return null;
  const { [TRACE_KEY]: trace, ...rest } = payload as Record<string, unknown>;
  const traceparent = (trace as { traceparent?: unknown } | null)?.traceparent;
  return { payload: rest, traceparent: typeof traceparent === 'string' ? traceparent : undefined };
}

/** A row to insert: `INSERT … ON CONFLICT DO NOTHING RETURNING 1`, its parameters `$1…$n`. */
export interface InsertStatement {
  /** The prepared statement's name (PostgreSQL plans it once per connection). */
  name: string;
  text: string;
  values: readonly unknown[];
  /**
   * What the insert locks (its unique key), for a group commit's order when the job has no key
   * of its own to go by: two batches then take the rows of the same keys in the same order.
   */
  lockKey?: string;
}

export interface InsertAndEnqueueOptions extends EnqueueOptions {
  /**
   * With a `jobKey` whose job is waiting, due and identical to the one this call would leave
   * (same task, payload, attempts, priority 0, no run time given), lock that job until the
   * commit instead of calling `add_job` to rewrite it with the values it holds: most of
   * PostgreSQL's work per call when one key is hit often (a busy chat). See below.
   */
  keepWaiting?: boolean;
}

/**
 * Inserts a row and, only when it was new, adds its job: one SQL statement, so one round trip in
 * a transaction of its own, for the hot paths of webhooks (record an event once, with the job
 * that handles it). The job is the one `enqueue(db, task, payload, options)` would leave; the
 * insert is the caller's, and must return a row only when it inserted one
 * (`ON CONFLICT DO NOTHING RETURNING 1`), so a duplicate adds no job.
 *
 * Given the Database, the statement is prepared on its pool (PostgreSQL plans it once per
 * connection, which halves its CPU; not counted in `db_queries_total`, which counts Prisma's
 * statements); given a Prisma client or transaction, the same statement goes through Prisma,
 * unnamed (in that transaction).
 *
 * The guarantee, for a keyed job in `replace` mode: once the row is committed, a job with that
 * key that has not yet started exists.
 * - **Added.** `graphile_worker.add_job`, as `enqueue` calls it: a new job, or the waiting one
 *   updated (and so locked until the commit), or, when the keyed job is running, a new one
 *   behind it. But graphile-worker 0.17's `add_job` adds nothing when a worker takes the keyed
 *   job while it runs: it clears the keys of running jobs first, and its upsert then finds the
 *   job locked by the worker and leaves it (returning an empty row). Its upsert still locks that
 *   job row, though, so a second `add_job`, made only then, finds it running, unchanged, clears
 *   its key and inserts a job behind it. Should the second come back empty all the same, the
 *   statement fails: nothing is stored and the caller's request fails (the provider delivers
 *   again), rather than a row kept with no job coming.
 * - **Kept** (`keepWaiting`). When the keyed job is waiting and due, and `replace` would only
 *   rewrite it with the values it holds, the statement locks it `FOR UPDATE` instead of calling
 *   `add_job`. Workers take jobs `FOR UPDATE SKIP LOCKED`, so none can start it before the row is
 *   committed; the job then sees the row. The lock also waits for a worker taking the job at that
 *   moment and then finds it running, so it is not kept. (An exclusive lock, not `FOR SHARE`: two
 *   calls for one key that both held the job shared and then both called `add_job` to update it
 *   deadlocked.) graphile-worker has no public way to say this (its `jobs` view has no payload
 *   and cannot be locked through its outer join), so this reads its tables `_private_jobs` and
 *   `_private_tasks`, as of 0.17; test/channels/inbound-record.test.ts pins the behaviour.
 */
export async function insertAndEnqueue<T extends TaskDeclaration>(
  db: DbOrTx | Database | GroupCommit,
  insert: InsertStatement,
  task: T,
  payload: PayloadInput<T>,
  options: InsertAndEnqueueOptions = {},
): Promise<{ stored: boolean }> {
  return {
    stored: (await runInsert(db, insertAndEnqueueStatement(insert, task, payload, options))).length === 1,
  };
}

/**
 * The statement `insertAndEnqueue` runs, for callers that run several together (a group commit:
 * src/platform/group-commit.ts); its `lockKey` is the job's key, or else the insert's.
 */
export function insertAndEnqueueStatement<T extends TaskDeclaration>(
  insert: InsertStatement,
  task: T,
  payload: PayloadInput<T>,
  options: InsertAndEnqueueOptions = {},
): Statement {
  const keep = options.keepWaiting === true;
  if (
    keep &&
    (!options.jobKey || options.runAt || options.priority || (options.jobKeyMode ?? 'replace') !== 'replace')
  ) {
    throw new Error('keepWaiting needs a jobKey in replace mode, and no runAt or priority');
  }
  const n = insert.values.length;
  const [identifier, json, maxAttempts, jobKey] = [1, 2, 4, 5].map((i) => `$${n + i}`);
  const added = addJobExpression(n + 1);
  const text = keep
    ? `
    WITH stored AS (${insert.text}),
    due AS (
      SELECT 1
      FROM graphile_worker._private_jobs AS jobs
      WHERE jobs.key = ${jobKey}::text
        AND jobs.task_id = (SELECT id FROM graphile_worker._private_tasks WHERE identifier = ${identifier}::text)
        AND jobs.payload::jsonb = ${json}::text::jsonb
        AND jobs.max_attempts = ${maxAttempts}::int
        AND jobs.priority = 0 AND jobs.job_queue_id IS NULL AND jobs.flags IS NULL
        AND jobs.locked_at IS NULL AND jobs.attempts = 0 AND jobs.run_at <= now()
      FOR UPDATE OF jobs
    )
    SELECT CASE
      WHEN EXISTS (SELECT FROM due) THEN (
        -- The notification add_job would send: a worker that passed the job over while this
        -- statement held it, and found nothing else to do, looks again.
        SELECT 'kept' FROM pg_notify('jobs:insert', '{"r":' || random()::text || ',"count":1}')
      )
      ELSE ${added}
    END AS job
    FROM stored`
    : `
    WITH stored AS (${insert.text})
    SELECT ${added} AS job
    FROM stored`;
  const values = [
    ...insert.values,
    // Not with `keepWaiting`: a trace would make every payload differ from the waiting job's.
    ...addJobValues(task, keep ? jobPayload(task, payload) : withTrace(jobPayload(task, payload)), options),
  ];
  const name = `${insert.name}-and-${keep ? 'keep-or-add-job' : 'add-job'}`;
  const lockKey = options.jobKey ?? insert.lockKey;
  return { name, text, values, ...(lockKey ? { lockKey } : {}) };
}

/**
 * The SQL that adds one job as `enqueue` does, for a statement of the caller's that writes
 * something else too (so the job costs no round trip of its own): an expression whose value is
 * the job's id as text, taking its seven parameters from `$first` on (`addJobValues`). Each
 * `add_job` is a subquery PostgreSQL runs only when a row needs it: none when the statement's row
 * source is empty, the second only when the first added nothing (see `enqueue`); the last resort
 * fails the statement (random() keeps PostgreSQL from evaluating it while planning).
 */
export function addJobExpression(first: number): string {
  const [identifier, json, runAt, maxAttempts, jobKey, priority, mode] = [0, 1, 2, 3, 4, 5, 6].map(
    (i) => `$${first + i}`,
  );
  const addJob = `(
    SELECT job.id::text FROM graphile_worker.add_job(
      identifier => ${identifier}::text,
      payload => ${json}::text::json,
      run_at => ${runAt}::timestamptz,
      max_attempts => ${maxAttempts}::int,
      job_key => ${jobKey}::text,
      priority => ${priority}::int,
      job_key_mode => ${mode}::text
    ) AS job
    WHERE job.id IS NOT NULL
  )`;
  return `COALESCE(${addJob}, ${addJob},
      ('no job could be added for ' || ${identifier}::text || ' ' || COALESCE(${jobKey}::text, '')
        || ' (' || random()::text || ')')::int::text)`;
}

/** The seven parameters of `addJobExpression`, for a payload already checked (`jobPayload`). */
function addJobValues(task: TaskDeclaration, json: string, options: EnqueueOptions): unknown[] {
  return [
    task.name,
    json,
    options.runAt ?? null,
    task.maxAttempts,
    options.jobKey ?? null,
    options.priority ?? null,
    options.jobKeyMode ?? 'replace',
  ];
}

/**
 * `addJobExpression`'s parameters for a job to add, its payload checked as `enqueue` checks it
 * (InvalidJobPayloadError) and carrying the current trace as `enqueue`'s does.
 */
export function jobToAddValues(job: JobToAdd): unknown[] {
  return addJobValues(job.task, withTrace(jobPayload(job.task, job.payload as never)), job.options);
}

/**
 * Runs an insert's statement and returns its rows: prepared on the Database's pool, in a group
 * commit's next batch, or unnamed through a Prisma client.
 */
export async function runInsert(
  db: DbOrTx | Database | GroupCommit,
  statement: Statement,
): Promise<unknown[]> {
  if ('pool' in db) return (await db.pool.query({ ...statement, values: [...statement.values] })).rows;
  if (isGroupCommit(db)) return (await db.query([statement]))[0] ?? [];
  return db.$queryRawUnsafe<unknown[]>(statement.text, ...statement.values);
}

/**
 * The harmless built-in task: does nothing, optionally for a while. Benchmarks measure
 * throughput with it; operators and tests use `holdMs` to see a job running (it stops early
 * when the worker shuts down).
 */
export const noopTask = defineTask({
  name: 'noop',
  schema: z.object({ holdMs: z.number().int().min(0).max(60_000).optional() }),
  maxAttempts: 3,
});

/**
 * The payload graphile-worker's crontab adds to every scheduled job: the tick it was scheduled
 * for, and whether it was backfilled after downtime. Cron tasks extend this in their schema
 * (`cronPayload.extend({...})`) when they need the tick; plain `z.object` strips it otherwise.
 */
export const cronPayload = z.object({
  _cron: z.object({ ts: z.iso.datetime({ offset: true }), backfilled: z.boolean().optional() }),
});

/**
 * Installs or upgrades graphile-worker's schema. Every role runs it at start-up: the API enqueues
 * jobs through `graphile_worker.add_job`, which must exist before the first worker ever starts.
 * Concurrent starts are safe (graphile-worker detects a migration another process ran).
 */
export async function installJobSchema(connectionString: string, logger?: Logger): Promise<void> {
  await runMigrations({
    connectionString,
    maxPoolSize: 2,
    ...(logger ? { logger: graphileLogger(logger) } : { logger: silentLogger }),
  });
}

/** The graphile-worker release whose schema `installJobSchema` installs (test templates key on it). */
export const JOB_SCHEMA_VERSION: string = graphileWorkerVersion;

/** graphile-worker's log lines as structured pino lines: `worker.*` and `job.*` keys. */
export function graphileLogger(logger: Logger): GraphileLogger {
  // graphile-worker makes a scope for every job it runs and logs twice per job (at debug, see
  // pinoLevel): a scope costs one function, and the pino child of a scope (which serialises its
  // fields) is made only when a line of that scope is actually written.
  const children = new WeakMap<object, Logger>();
  const childFor = (scope: GraphileScope): Logger => {
    let child = children.get(scope);
    if (!child) {
      child = logger.child({
        component: 'worker',
        ...(scope.label ? { 'worker.label': scope.label } : {}),
        ...(scope.workerId ? { 'worker.id': scope.workerId } : {}),
        ...(scope.jobId ? { 'job.id': scope.jobId } : {}),
        ...(scope.taskIdentifier ? { 'job.task': scope.taskIdentifier } : {}),
      });
      children.set(scope, child);
    }
    return child;
  };
  return new GraphileLoggerClass((scope) => (level, message, meta) => {
    const to = pinoLevel(level, meta);
    if (logger.isLevelEnabled(to)) childFor(scope)[to](logFields(meta), message);
  });
}

type GraphileScope = Parameters<ConstructorParameters<typeof GraphileLoggerClass>[0]>[0];

/**
 * graphile-worker logs every completed job at info; at bench rates that is thousands of lines a
 * second for what `/metrics` already counts, so success lines go to debug.
 */
function pinoLevel(
  level: string,
  meta: Record<string, unknown> | undefined,
): 'error' | 'warn' | 'info' | 'debug' {
  if (level === 'error') return 'error';
  if (level === 'warning') return 'warn';
  return level === 'info' && !meta?.success ? 'info' : 'debug';
}

/**
 * graphile-worker passes whole job rows as log metadata; a job's payload may carry personal
 * data, so only its identity goes to the log.
 */
function logFields(meta: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!meta) return {};
  const { job, error, duration, success: _success, failure: _failure, ...rest } = meta;
  const fields: Record<string, unknown> = { ...rest };
  if (job && typeof job === 'object' && 'id' in job) {
    const row = job as { id: string; task_identifier?: string; attempts?: number };
    fields['job.id'] = row.id;
    if (row.task_identifier) fields['job.task'] = row.task_identifier;
    if (row.attempts !== undefined) fields['job.attempt'] = row.attempts;
  }
  if (typeof duration === 'number') fields['job.duration_ms'] = Math.round(duration * 100) / 100;
  if (error !== undefined) fields.err = error;
  return fields;
}

const silentLogger = new GraphileLoggerClass(() => () => {});
