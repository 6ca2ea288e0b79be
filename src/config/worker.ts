/** The job worker: how many jobs at once, how often it polls, heartbeats and declares others dead. */
import { z } from 'zod';
import { positiveInt } from './parse.ts';

export const workerEnv = z.object({
  WORKER_CONCURRENCY: positiveInt.default(5),
  WORKER_POLL_INTERVAL_MS: positiveInt.default(1000),
  WORKER_STALE_LOCK_SCAN_MS: positiveInt.default(600_000),
  WORKER_HEARTBEAT_MS: positiveInt.default(5_000),
  WORKER_DEAD_AFTER_MS: positiveInt.default(30_000),
});
type WorkerEnv = z.output<typeof workerEnv>;

export function workerConfig(e: WorkerEnv) {
  return {
    concurrency: e.WORKER_CONCURRENCY,
    /** How often a worker looks for jobs that became due (new jobs arrive by LISTEN/NOTIFY at once). */
    pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
    /** How often a worker frees jobs locked for over 4 hours by a worker that died. */
    staleLockScanMs: e.WORKER_STALE_LOCK_SCAN_MS,
    /** How often a worker says it is alive and looks for workers that stopped saying so. */
    heartbeatMs: e.WORKER_HEARTBEAT_MS,
    /** A worker silent for this long is dead: another worker frees the jobs it held. */
    deadAfterMs: e.WORKER_DEAD_AFTER_MS,
  };
}

export function workerProblems(e: WorkerEnv): string[] {
  // A live worker must never look dead between two of its own heartbeats (or one late one).
  return e.WORKER_DEAD_AFTER_MS < 2 * e.WORKER_HEARTBEAT_MS
    ? ['WORKER_DEAD_AFTER_MS: must be at least twice WORKER_HEARTBEAT_MS']
    : [];
}
