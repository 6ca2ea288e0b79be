import { describe, expect, it } from 'vitest';
import { createCircuitBreaker } from '../../src/platform/circuit-breaker.ts';

/** A breaker of 3 failures and a 10 s cooldown on a clock the test moves. */
function breakerAt(start = 1_000_000) {
  let now = start;
  const breaker = createCircuitBreaker({ failures: 3, cooldownMs: 10_000, now: () => now });
  return {
    breaker,
    advance(ms: number) {
      now += ms;
    },
  };
}

function fail(breaker: ReturnType<typeof createCircuitBreaker>, times: number) {
  for (let i = 0; i < times; i++) {
    expect(breaker.allow()).toBe(true);
    breaker.failure();
  }
}

describe('circuit breaker', () => {
  it('stays closed below the failure threshold, and a success resets the count', () => {
    const { breaker } = breakerAt();
    fail(breaker, 2);
    expect(breaker.snapshot()).toEqual({ state: 'closed', consecutiveFailures: 2, retryAt: null });
    expect(breaker.allow()).toBe(true);
    breaker.success();
    fail(breaker, 2);
    expect(breaker.snapshot().state).toBe('closed');
    expect(breaker.snapshot().consecutiveFailures).toBe(2);
  });

  it('opens after N consecutive failures and refuses calls until the cooldown is over', () => {
    const { breaker, advance } = breakerAt(1_000_000);
    fail(breaker, 3);
    expect(breaker.snapshot()).toEqual({
      state: 'open',
      consecutiveFailures: 3,
      retryAt: new Date(1_010_000),
    });
    expect(breaker.allow()).toBe(false);
    advance(9_999);
    expect(breaker.allow()).toBe(false);
    expect(breaker.snapshot().state).toBe('open');
  });

  it('lets exactly one trial through after the cooldown; a success closes it', () => {
    const { breaker, advance } = breakerAt();
    fail(breaker, 3);
    advance(10_000);
    expect(breaker.snapshot().state).toBe('half_open');
    expect(breaker.allow()).toBe(true);
    // The trial is out: others are refused until it reports.
    expect(breaker.allow()).toBe(false);
    expect(breaker.allow()).toBe(false);
    breaker.success();
    expect(breaker.snapshot()).toEqual({ state: 'closed', consecutiveFailures: 0, retryAt: null });
    expect(breaker.allow()).toBe(true);
    expect(breaker.allow()).toBe(true);
  });

  it('reopens for a whole cooldown when the trial fails', () => {
    const { breaker, advance } = breakerAt(2_000_000);
    fail(breaker, 3);
    advance(15_000);
    expect(breaker.allow()).toBe(true);
    breaker.failure();
    expect(breaker.snapshot()).toEqual({
      state: 'open',
      consecutiveFailures: 4,
      retryAt: new Date(2_015_000 + 10_000),
    });
    expect(breaker.allow()).toBe(false);
    advance(10_000);
    expect(breaker.allow()).toBe(true);
  });

  it('does not extend the cooldown for late failures of calls made before it opened', () => {
    const { breaker, advance } = breakerAt(3_000_000);
    // Five calls go out together while closed; all fail.
    for (let i = 0; i < 5; i++) expect(breaker.allow()).toBe(true);
    breaker.failure();
    breaker.failure();
    breaker.failure();
    advance(4_000);
    breaker.failure();
    breaker.failure();
    expect(breaker.snapshot().retryAt).toEqual(new Date(3_010_000));
    advance(6_000);
    expect(breaker.allow()).toBe(true);
  });
});
