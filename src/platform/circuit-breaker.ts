/**
 * A circuit breaker for one outside service. Closed, every call goes through; after `failures`
 * failures in a row it opens and refuses calls for `cooldownMs`, so a service that is down costs
 * a fast "no" instead of a timeout per call; then it lets exactly one trial call through
 * (half-open): a success closes it, a failure opens it for another cooldown.
 *
 * It lives in one process's memory. Each process learns on its own that a service is down, which
 * costs at most `failures` calls per process, and needs no shared state to be right.
 */

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerSnapshot {
  state: BreakerState;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** When an open breaker lets its trial through (null unless open). */
  retryAt: Date | null;
}

export interface CircuitBreaker {
  /**
   * Asks to make a call. True means go ahead, and the caller must then report `success()` or
   * `failure()`: in half-open the answer is true once, and the breaker waits for that report.
   */
  allow(): boolean;
  success(): void;
  failure(): void;
  snapshot(): BreakerSnapshot;
}

export function createCircuitBreaker(options: {
  /** Consecutive failures that open the circuit. */
  failures: number;
  cooldownMs: number;
  /** Milliseconds since the epoch; tests move it by hand. */
  now?: () => number;
}): CircuitBreaker {
  const now = options.now ?? Date.now;
  let state: BreakerState = 'closed';
  let consecutiveFailures = 0;
  let openedAt = 0;
  // In half-open, whether the one trial call is out and not yet reported.
  let trialOut = false;

  const open = () => {
    state = 'open';
    openedAt = now();
    trialOut = false;
  };

  return {
    allow() {
      if (state === 'closed') return true;
      if (state === 'open') {
        if (now() - openedAt < options.cooldownMs) return false;
        state = 'half_open';
        trialOut = false;
      }
      // Half-open: one trial at a time; the others are refused as if open.
      if (trialOut) return false;
      trialOut = true;
      return true;
    },
    success() {
      state = 'closed';
      consecutiveFailures = 0;
      trialOut = false;
    },
    failure() {
      consecutiveFailures += 1;
      // A failed trial reopens at once. A late failure of a call made before the circuit opened
      // leaves the open circuit's cooldown alone.
      if (state === 'half_open' || (state === 'closed' && consecutiveFailures >= options.failures)) open();
    },
    snapshot() {
      // An open breaker whose cooldown is over reports half-open: its next call is the trial.
      const cooled = state === 'open' && now() - openedAt >= options.cooldownMs;
      return {
        state: cooled ? 'half_open' : state,
        consecutiveFailures,
        retryAt: state === 'open' && !cooled ? new Date(openedAt + options.cooldownMs) : null,
      };
    },
  };
}
