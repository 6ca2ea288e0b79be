/**
 * What one operation (a GraphQL operation, a job run) spent on SQL, counted through
 * AsyncLocalStorage: every Prisma statement sent while the operation runs adds to its stats,
 * whichever code sent it. The slow-operation log (SLOW_OPERATION_MS) reports them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

export interface OperationStats {
  readonly startedAt: number;
  /** Prisma statements sent within the operation. */
  statements: number;
  /** Their time as Prisma reports it (from send to answer), in milliseconds. */
  sqlMs: number;
}

const current = new AsyncLocalStorage<OperationStats>();

/** Runs `fn` as one operation; the statements it sends are counted in the stats returned. */
export function measureOperation<T>(fn: () => T): { stats: OperationStats; result: T } {
  const stats = startOperation();
  return { stats, result: current.run(stats, fn) };
}

/** The stats of an operation starting now, for `runOperation`. */
export function startOperation(): OperationStats {
  return { startedAt: performance.now(), statements: 0, sqlMs: 0 };
}

/**
 * `fn(...args)` as the operation of `stats`: the statements it sends are counted there. For a
 * hot path (every job), where `measureOperation`'s closure and result object are per call.
 */
export function runOperation<A extends unknown[], T>(
  stats: OperationStats,
  fn: (...args: A) => T,
  ...args: A
): T {
  return current.run(stats, fn, ...args);
}

/** Counts one statement in the operation running now, if any (a Prisma query listener). */
export function countStatement(durationMs: number): void {
  const stats = current.getStore();
  if (!stats) return;
  stats.statements += 1;
  stats.sqlMs += durationMs;
}

/**
 * The slow-log fields of a finished operation, or null when it took less than `thresholdMs`
 * (or the log is off, at 0). `other_ms` is the time not spent waiting for SQL: the application's
 * own work, outside calls, and waiting for a connection.
 */
export function slowOperationFields(
  stats: OperationStats,
  thresholdMs: number,
): { duration_ms: number; 'sql.statements': number; 'sql.ms': number; other_ms: number } | null {
  if (thresholdMs === 0) return null;
  const duration = performance.now() - stats.startedAt;
  if (duration < thresholdMs) return null;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    duration_ms: round(duration),
    'sql.statements': stats.statements,
    'sql.ms': round(stats.sqlMs),
    other_ms: round(Math.max(0, duration - stats.sqlMs)),
  };
}
