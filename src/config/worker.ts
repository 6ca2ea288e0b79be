/** The job worker: how many jobs at once, how it fetches and completes them, heartbeats and declaring others dead. */
import { z } from 'zod';
import { optional, positiveInt } from './parse.ts';

const nonNegativeInt = z.coerce.number().int().min(0);

export const workerEnv = z.object({
  WORKER_CONCURRENCY: positiveInt.default(5),
  WORKER_POLL_INTERVAL_MS: positiveInt.default(1000),
  WORKER_LOCAL_QUEUE_SIZE: optional(nonNegativeInt),
  WORKER_LOCAL_QUEUE_TTL_MS: positiveInt.default(10_000),
  WORKER_LOCAL_QUEUE_REFETCH_DELAY_MS: nonNegativeInt.default(0),
  WORKER_COMPLETE_BATCH_DELAY_MS: nonNegativeInt.default(0),
  WORKER_FAIL_BATCH_DELAY_MS: nonNegativeInt.default(0),
  WORKER_STALE_LOCK_SCAN_MS: positiveInt.default(600_000),
  WORKER_HEARTBEAT_MS: positiveInt.default(5_000),
  WORKER_DEAD_AFTER_MS: positiveInt.default(30_000),
});
type WorkerEnv = z.output<typeof workerEnv>;

/**
 * The local queue's size when WORKER_LOCAL_QUEUE_SIZE is unset: one job waiting behind each
 * slot, so a burst of jobs is still spread over every worker process.
 */
export const defaultLocalQueueSize = (concurrency: number) => 2 * concurrency;

export function workerConfig(e: WorkerEnv) {
  return {
    concurrency: e.WORKER_CONCURRENCY,
    /** How often a worker looks for jobs that became due (new jobs arrive by LISTEN/NOTIFY at once). */
    pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
    /**
     * graphile-worker's local queue: a worker takes (locks) up to this many due jobs in one query
     * and hands them to its slots as they free up. 0 turns it off (one query per job).
     */
    localQueue: {
      size: e.WORKER_LOCAL_QUEUE_SIZE ?? defaultLocalQueueSize(e.WORKER_CONCURRENCY),
      /** Jobs not started within this long go back to the database for any worker to take. */
      ttlMs: e.WORKER_LOCAL_QUEUE_TTL_MS,
      /** After a fetch found nothing, the next waits this long on average (0: at once). */
      refetchDelayMs: e.WORKER_LOCAL_QUEUE_REFETCH_DELAY_MS,
    },
    /** Completions (and failures) within this many milliseconds are written in one statement. */
    completeBatchDelayMs: e.WORKER_COMPLETE_BATCH_DELAY_MS,
    failBatchDelayMs: e.WORKER_FAIL_BATCH_DELAY_MS,
    /** How often a worker frees jobs locked for over 4 hours by a worker that died. */
    staleLockScanMs: e.WORKER_STALE_LOCK_SCAN_MS,
    /** How often a worker says it is alive and looks for workers that stopped saying so. */
    heartbeatMs: e.WORKER_HEARTBEAT_MS,
    /** A worker silent for this long is dead: another worker frees the jobs it held. */
    deadAfterMs: e.WORKER_DEAD_AFTER_MS,
  };
}

export function workerProblems(e: WorkerEnv): string[] {
  const problems: string[] = [];
  // A live worker must never look dead between two of its own heartbeats (or one late one).
  if (e.WORKER_DEAD_AFTER_MS < 2 * e.WORKER_HEARTBEAT_MS) {
    problems.push('WORKER_DEAD_AFTER_MS: must be at least twice WORKER_HEARTBEAT_MS');
  }
  // graphile-worker refuses a refetch delay longer than its poll interval.
  if (e.WORKER_LOCAL_QUEUE_REFETCH_DELAY_MS > e.WORKER_POLL_INTERVAL_MS) {
    problems.push('WORKER_LOCAL_QUEUE_REFETCH_DELAY_MS: must not be more than WORKER_POLL_INTERVAL_MS');
  }
  return problems;
}
