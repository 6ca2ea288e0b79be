/**
 * The graphile-worker runner: every background job and schedule runs here, in the `worker` role
 * (and in `all`). Jobs are handed out with `SKIP LOCKED`, so any number of workers share the
 * work and each job runs in one of them; the crontab's ticks are recorded per schedule id in the
 * database, so each tick is scheduled once across all of them. No leader election is needed.
 *
 * Failures and recovery, all graphile-worker's own mechanisms:
 * - a task that throws is retried with exponential backoff (see src/platform/jobs.ts) until its
 *   declared `maxAttempts` is spent;
 * - a worker that dies mid-job leaves the job locked (and the jobs waiting in its local queue,
 *   see `batching`). Each worker beats a heartbeat in PostgreSQL
 *   every WORKER_HEARTBEAT_MS; once a worker's is older than WORKER_DEAD_AFTER_MS a live worker
 *   frees its jobs (src/platform/worker-liveness.ts) and they run again, so tasks must be safe
 *   to run twice. graphile-worker's own scan (every WORKER_STALE_LOCK_SCAN_MS) still frees any
 *   lock older than 4 hours;
 * - `stop()` (SIGTERM) takes no new jobs and waits for running ones: tasks get an abort signal
 *   halfway through SHUTDOWN_TIMEOUT_MS, and jobs still running at 80 % of it are failed (to be
 *   retried after backoff) rather than left locked for 4 hours when the process exits; the jobs
 *   it had taken into its local queue but not started are given back, their attempts uncounted.
 */
import { EventEmitter } from 'node:events';
import { type Job, type Runner, run, type Worker, type WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { graphileLogger } from '../platform/jobs.ts';
import type { CountAndDuration, Metrics } from '../platform/metrics.ts';
import { type Liveness, releaseHeldJobs, startLiveness } from '../platform/worker-liveness.ts';
import type { WorkerDeps } from '../wiring/deps.ts';
import { crontab } from './crontab.ts';
import { parseSchedules } from './crontab-check.ts';
import type { TaskHandler } from './handler.ts';
import { handlers as builtIn, taskList } from './task-list.ts';

export interface WorkerHandle {
  running(): boolean;
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** Where job counts and durations go (the app's `/metrics`). */
  metrics?: Pick<Metrics, 'jobs' | 'jobsRecovered' | 'jobRecoveryLatency'>;
  /** The process role, recorded with the worker's heartbeat (default `worker`). */
  role?: string;
  /** Handlers run besides the built-in ones (tests bring their own tasks). */
  handlers?: readonly TaskHandler[];
  /** Replaces src/worker/crontab.ts (tests bring their own schedules). */
  crontab?: string;
  /**
   * Called once if the runner stops on its own with an error (graphile-worker gives up on a
   * write it cannot make and stops taking jobs); main.ts then stops the process with status 1,
   * so its supervisor starts a new one. Without it the error is only logged.
   */
  onFailure?: (error: unknown) => void;
}

export async function startWorker(deps: WorkerDeps, options: WorkerOptions = {}): Promise<WorkerHandle> {
  const { config, logger } = deps;
  const handlers = [...builtIn, ...(options.handlers ?? [])];
  const events = new EventEmitter() as WorkerEvents;
  if (options.metrics) countJobs(events, options.metrics);
  // The pool's id is what graphile-worker writes in `locked_by` of every job this process takes.
  let poolId: string | undefined;
  events.on('pool:create', ({ workerPool }) => {
    poolId = workerPool.id;
  });
  const shutdownMs = config.http.shutdownTimeoutMs;

  // The queue gets a pool of its own, one connection per concurrent job plus its listener and
  // its heartbeat, so a busy worker never waits on the connections its tasks use through Prisma.
  const pool = new pg.Pool({ connectionString: deps.database.url, max: config.worker.concurrency + 3 });
  pool.on('error', (error) => logger.error({ err: error }, 'worker pool connection error'));
  pool.on('connect', (client) => {
    client.on('error', () => {});
    retryOutcomeWrites(client, logger);
  });
  const runner: Runner = await run({
    pgPool: pool,
    concurrency: config.worker.concurrency,
    taskList: taskList(deps, handlers),
    parsedCronItems: parseSchedules(options.crontab ?? crontab, handlers),
    // main.ts handles SIGTERM/SIGINT for the whole process and calls stop().
    noHandleSignals: true,
    pollInterval: config.worker.pollIntervalMs,
    minResetLockedInterval: Math.round(config.worker.staleLockScanMs * 0.8),
    maxResetLockedInterval: config.worker.staleLockScanMs,
    gracefulShutdownAbortTimeout: Math.round(shutdownMs * 0.5),
    preset: { worker: batching(config.worker) },
    logger: graphileLogger(logger),
    events,
  });
  let liveness: Liveness;
  const workerId = poolId;
  try {
    if (!workerId) throw new Error('graphile-worker started no worker pool');
    liveness = await startLiveness({
      pool,
      workerId,
      role: options.role ?? 'worker',
      heartbeatMs: config.worker.heartbeatMs,
      deadAfterMs: config.worker.deadAfterMs,
      logger,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
  } catch (error) {
    await runner.stop().catch(() => {});
    await pool.end().catch(() => {});
    throw error;
  }
  let running = true;
  let stopping: Promise<void> | null = null;
  const failed = (error: unknown) => {
    if (!running) return;
    running = false;
    if (stopping) return;
    logger.error({ err: error }, 'worker stopped with an error');
    options.onFailure?.(error);
  };
  // graphile-worker announces a write it gave up on before its pool winds down (which waits for
  // that write, and may not end): the runner takes no more jobs from that moment.
  events.on('pool:fatalError', ({ error }) => failed(error));
  runner.promise.catch(failed);

  return {
    running: () => running,
    stop() {
      stopping ??= (async () => {
        running = false;
        const force = setTimeout(() => {
          logger.warn('jobs still running at the shutdown deadline; failing them so they are retried');
          runner.kill('shutdown deadline').catch(() => {});
        }, shutdownMs * 0.8);
        try {
          await runner.stop().catch((error) => {
            logger.warn({ err: error }, 'the job runner reported errors while stopping');
          });
          // Jobs still locked to this pool waited in its local queue and never started.
          await releaseHeldJobs(pool, workerId).then(
            (released) =>
              released && logger.info({ 'jobs.released': released }, 'gave back jobs not started'),
            (error) =>
              logger.warn(
                { err: error },
                'could not give back jobs not started; a live worker will free them',
              ),
          );
        } finally {
          clearTimeout(force);
          // After the runner stopped: this worker holds no jobs, so it is not to be waited for.
          await liveness.stop();
          await pool.end().catch(() => {});
        }
      })();
      return stopping;
    },
  };
}

/**
 * How jobs are fetched and their outcomes written (README "Operating it" → Jobs).
 *
 * The local queue takes up to `size` due jobs in one query (locked by this pool, so the
 * liveness recovery frees them with the running ones if the process dies) instead of one query
 * per job; jobs it has not started within `ttlMs` go back for any worker to take, and `stop()`
 * returns those waiting. graphile-worker counts an attempt when it takes a job, so a job waiting
 * here when the process dies has spent one.
 *
 * Completions and failures are batched: those made within the delay are written in one
 * statement. Without batching, graphile-worker 0.17 writes a job's completion or failure without
 * waiting for it, and `stop()` can resolve before the write lands: the process then closes its
 * pool and the finished job stays locked. Its batchers (even with no delay) are flushed before
 * the pool stops; a write PostgreSQL rolled back as a deadlock victim is run again
 * (`retryOutcomeWrites`), and one that still fails stops the runner (`onFailure`). A completion
 * not yet written when the process dies leaves the job locked, so the recovery frees it and it
 * runs again. (These options exist only in preset form.)
 */
export function batching(worker: WorkerDeps['config']['worker']): GraphileConfig.WorkerOptions {
  const { size, ttlMs, refetchDelayMs } = worker.localQueue;
  return {
    ...(size > 0
      ? {
          localQueue: {
            size,
            ttl: ttlMs,
            ...(refetchDelayMs > 0 ? { refetchDelay: { durationMs: refetchDelayMs } } : {}),
          },
        }
      : {}),
    completeJobBatchDelay: worker.completeBatchDelayMs,
    failJobBatchDelay: worker.failBatchDelayMs,
  };
}

/** SQLSTATEs after which a statement that ran alone changed nothing and can run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const OUTCOME_WRITE_ATTEMPTS = 5;

/**
 * Retries graphile-worker's writes of finished and failed jobs (its named statements
 * `complete_job…` and `fail_job…`, each run alone, outside a transaction) when PostgreSQL
 * rolled one back as a deadlock victim or a serialization failure. A batch of completions
 * deletes several job rows in one statement, and a webhook batch that adds a chat's drain job
 * while the chat's previous one runs updates those rows too, in another order: a deadlock is
 * possible, and graphile-worker 0.17 treats a failed outcome write as fatal (its batcher's retry
 * rethrows on the first failure) and stops taking jobs. The statement rolled back whole, so
 * running it again is what it meant. Wraps the connection's `query` once.
 */
function retryOutcomeWrites(client: pg.PoolClient, logger: WorkerDeps['logger']): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const [config] = args;
    const name =
      typeof config === 'object' && config !== null ? (config as { name?: unknown }).name : undefined;
    if (args.length !== 1 || typeof name !== 'string' || !/^(complete|fail)_job/.test(name)) {
      return query(...args);
    }
    return (async () => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await (query(config) as Promise<unknown>);
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (!code || !RETRYABLE.has(code) || attempt >= OUTCOME_WRITE_ATTEMPTS) throw error;
          logger.warn({ err: error, 'db.statement.name': name, attempt }, 'retrying a job outcome write');
          await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * (0.5 + Math.random())));
        }
      }
    })();
  };
}

/**
 * One count per attempt: success, error (graphile-worker will retry it) or permanent_failure (it
 * was the last attempt, or the task said retrying is pointless). Durations from start to end.
 */
function countJobs(events: WorkerEvents, metrics: NonNullable<WorkerOptions['metrics']>): void {
  // When each worker (slot) started its job: a slot runs one job at a time, so this holds one
  // entry per slot, overwritten, where a map keyed by job would grow and shrink with every job.
  const started = new Map<Worker, number>();
  // The series of each task and outcome, looked up once.
  const tasks = new Map<string, Record<Outcome, CountAndDuration>>();
  const seriesOf = (task: string, outcome: Outcome): CountAndDuration => {
    let one = tasks.get(task);
    if (!one) {
      const make = (outcome: Outcome) => metrics.jobs.series({ task, outcome });
      one = { success: make('success'), error: make('error'), permanent_failure: make('permanent_failure') };
      tasks.set(task, one);
    }
    return one[outcome];
  };
  const observe = (worker: Worker, job: Job, outcome: Outcome) => {
    const start = started.get(worker);
    seriesOf(job.task_identifier, outcome).add(
      start === undefined ? null : (performance.now() - start) / 1000,
    );
  };
  events.on('job:start', ({ worker }) => started.set(worker, performance.now()));
  events.on('job:success', ({ worker, job }) => observe(worker, job, 'success'));
  // `job:error` fires for every failed attempt; `attempts >= max_attempts` is graphile-worker's
  // own test for the last one (it emits `job:failed` on the same condition).
  events.on('job:error', ({ worker, job }) =>
    observe(worker, job, job.attempts >= job.max_attempts ? 'permanent_failure' : 'error'),
  );
}

type Outcome = 'success' | 'error' | 'permanent_failure';
