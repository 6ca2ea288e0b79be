/**
 * How a task file (src/worker/tasks/<task identifier>.ts) turns a declaration (src/platform/jobs.ts)
 * into a handler the worker runs:
 *
 * ```ts
 * // src/worker/tasks/booking-expire.ts
 * export default defineHandler(
 *   expireBookingTask,
 *   async ({ bookingId }, { services, logger }: TaskContext<'bookings'>) => {
 *     const expired = await expireBooking(services.bookings, bookingId);
 *     if (expired) logger.info({ 'booking.id': bookingId }, 'booking expired');
 *   },
 * );
 * ```
 *
 * The context's annotation names the services (keys of `WorkerDeps`) the task reads, and the
 * handler asks for just those (and the logger) when it is bound; without one, a task gets all
 * of `WorkerDeps`.
 *
 * The wrapper takes off the payload's reserved `_trace` key (the enqueuing span, for the job's
 * span to link to; see src/platform/tracing.ts) and parses the payload before the task sees it
 * (an empty payload, for a schema that takes `{}` as it is, is handed over without a parse);
 * a payload that does not parse can never succeed, so the job fails at once, without retries,
 * with the zod error as its last error. Anything else the task throws is retried with backoff until the declaration's
 * `maxAttempts` is spent; a task that knows retrying is pointless throws `PermanentJobError`.
 * Tasks may run more than once (a worker can die after the work and before the job is marked
 * done), so they must be safe to repeat.
 */
import type { JobHelpers, Task } from 'graphile-worker';
import { z } from 'zod';
import { type Payload, type TaskDeclaration, takeTrace } from '../platform/jobs.ts';
import type { Logger } from '../platform/logger.ts';
import {
  type OperationStats,
  runOperation,
  slowOperationFields,
  startOperation,
} from '../platform/operation-stats.ts';
import { traceJob, tracingActive } from '../platform/tracing.ts';
import type { WorkerDeps } from '../wiring/deps.ts';

/** The job being run, as a task sees it. */
export interface JobInfo {
  /** graphile-worker's job id: `job.id` in logs, `jobId` in the operators' API. */
  id: string;
  task: string;
  /** 1 on the first run. */
  attempt: number;
  maxAttempts: number;
  /** The last attempt: a failure now leaves the job failed. */
  finalAttempt: boolean;
  key: string | null;
  runAt: Date;
  /** Aborts when the worker is shutting down and the job should stop early (and be retried). */
  signal: AbortSignal;
}

/** `K`: the services the task reads, of those the worker has. */
export interface TaskContext<K extends keyof WorkerDeps = keyof WorkerDeps> {
  services: Pick<WorkerDeps, K>;
  /** A child of the app's logger with `job.id`, `job.task` and `job.attempt`. */
  logger: Logger;
  job: JobInfo;
}

/** What a task file exports (default): its declaration and how to run it. */
export interface TaskHandler<K extends keyof WorkerDeps = keyof WorkerDeps> {
  readonly name: string;
  readonly declaration: TaskDeclaration;
  /**
   * The graphile-worker task function, bound to this process's services (the logger for its job
   * logs). A run longer than `slowOperationMs` (0 or unset: none) is logged with its SQL breakdown.
   */
  bind(services: Pick<WorkerDeps, K | 'logger'>, options?: { slowOperationMs?: number }): Task;
}

/**
 * Thrown by a task (or by the wrapper, for a payload that does not parse) when running the job
 * again cannot help: the job fails now, whatever attempts it had left.
 */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

export function defineHandler<T extends TaskDeclaration, K extends keyof WorkerDeps = keyof WorkerDeps>(
  declaration: T,
  run: (payload: Payload<T>, context: TaskContext<K>) => Promise<void>,
): TaskHandler<K> {
  const { schema } = declaration;
  // Every job goes through here, thousands a second on a busy worker: what does not depend on
  // the job is settled once, and a job allocates only what it uses.
  const emptyPasses = takesEmptyAsIs(schema);
  return {
    name: declaration.name,
    declaration,
    bind(services, { slowOperationMs = 0 } = {}) {
      const attempt = async (
        payload: unknown,
        helpers: JobHelpers,
        stats: OperationStats | null,
      ): Promise<void> => {
        const context = new JobContext<K>(services, helpers);
        try {
          // An empty payload, for a schema that takes `{}` as it is, needs no parse.
          let data: unknown = payload;
          if (!(emptyPasses && isEmptyObject(payload))) {
            const parsed = schema.safeParse(payload);
            if (!parsed.success) {
              throw new PermanentJobError(
                `Invalid payload for task "${declaration.name}":\n${z.prettifyError(parsed.error)}`,
              );
            }
            data = parsed.data;
          }
          await run(data as Payload<T>, context);
        } catch (error) {
          if (error instanceof PermanentJobError) await spendAttempts(helpers);
          // graphile-worker logs the failure (with job.id and the error) and records it.
          throw error;
        } finally {
          // Inside the job's span, so the slow-job line carries its trace id.
          const slow = stats && slowOperationFields(stats, slowOperationMs);
          if (slow) context.logger.warn(slow, 'slow job');
        }
      };
      // Measured (statements counted through AsyncLocalStorage) only when the slow-job log is on.
      const measured = (payload: unknown, helpers: JobHelpers): Promise<void> => {
        if (!slowOperationMs) return attempt(payload, helpers, null);
        const stats = startOperation();
        return runOperation(stats, attempt, payload, helpers, stats);
      };
      return (payload, helpers) => {
        const trace = takeTrace(payload);
        const body = trace ? trace.payload : payload;
        if (!tracingActive()) return measured(body, helpers);
        const { job } = helpers;
        return traceJob(
          { task: job.task_identifier, id: job.id, attempt: job.attempts, traceparent: trace?.traceparent },
          () => measured(body, helpers),
        );
      };
    },
  };
}

/**
 * What a task is handed with its payload. The job's logger (a pino child, which serialises its
 * fields) and its description are made when the task first reads them: most jobs never log.
 */
class JobContext<K extends keyof WorkerDeps> implements TaskContext<K> {
  readonly services: Pick<WorkerDeps, K | 'logger'>;
  readonly #helpers: JobHelpers;
  #logger: Logger | undefined;
  #job: JobInfo | undefined;

  constructor(services: Pick<WorkerDeps, K | 'logger'>, helpers: JobHelpers) {
    this.services = services;
    this.#helpers = helpers;
  }

  get logger(): Logger {
    if (!this.#logger) {
      const { job } = this.#helpers;
      this.#logger = this.services.logger.child({
        'job.id': job.id,
        'job.task': job.task_identifier,
        'job.attempt': job.attempts,
      });
    }
    return this.#logger;
  }

  get job(): JobInfo {
    if (!this.#job) {
      const { job, abortSignal } = this.#helpers;
      this.#job = {
        id: job.id,
        task: job.task_identifier,
        attempt: job.attempts,
        maxAttempts: job.max_attempts,
        finalAttempt: job.attempts >= job.max_attempts,
        key: job.key,
        runAt: job.run_at,
        signal: abortSignal,
      };
    }
    return this.#job;
  }
}

/**
 * Whether the schema takes `{}` to an empty object: then a job whose payload is an empty object
 * passes as it is, and is not parsed (schemas are pure: what passed once passes again).
 */
function takesEmptyAsIs(schema: z.ZodType): boolean {
  const parsed = schema.safeParse({});
  return parsed.success && isEmptyObject(parsed.data);
}

/** A plain object with no keys (payloads come from JSON). */
function isEmptyObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    return false;
  }
  for (const _ in value) return false;
  return true;
}

/**
 * Makes the failing attempt the last one. graphile-worker 0.17 has no call for this:
 * `permanently_fail_jobs()` skips locked jobs (and this one is locked by us until the task
 * returns), and its failure handling retries while `attempts < max_attempts`. So the job's limit
 * becomes the attempt being made, on the row this worker pool holds the lock on; the failure
 * graphile-worker records next (last error, unlock) then leaves a job that is never picked up
 * again, listed as FAILED for operators.
 */
async function spendAttempts(helpers: JobHelpers): Promise<void> {
  const { job } = helpers;
  if (job.attempts >= job.max_attempts) return;
  await helpers.query(
    'UPDATE graphile_worker._private_jobs SET max_attempts = attempts WHERE id = $1 AND locked_by = $2',
    [job.id, job.locked_by],
  );
  // The row graphile-worker holds in memory too, so its `job:failed` event and its log line
  // ("attempt 1 of 1") agree with the database.
  job.max_attempts = job.attempts;
}
