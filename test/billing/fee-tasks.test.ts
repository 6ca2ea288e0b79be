/**
 * How long the monthly fee invoice keeps trying, as the worker schedules it: it must outlast a
 * Stripe outage, since nothing else finishes an organisation's invoice before next month and its
 * fees stay frozen on the draft until then. (The other fee jobs need not: `retry-pending-fees`,
 * every 30 minutes, finishes what `booking-fee` leaves, and does its own work again each run.)
 */
import { describe, expect, it } from 'vitest';
import { crontab } from '../../src/worker/crontab.ts';
import { parseSchedules } from '../../src/worker/crontab-check.ts';
import { handlers } from '../../src/worker/task-list.ts';

/**
 * Seconds from a job's first failure to its last attempt: graphile-worker runs a failed job again
 * exp(min(attempts, 10)) seconds later (its fail_job), until `maxAttempts` are spent.
 */
function retrySpanSeconds(maxAttempts: number): number {
  let seconds = 0;
  for (let attempts = 1; attempts < maxAttempts; attempts++) seconds += Math.exp(Math.min(attempts, 10));
  return seconds;
}

const DAY = 86_400;

describe('the monthly invoice job', () => {
  it('retries, as scheduled, for over a day', () => {
    const monthly = parseSchedules(crontab, handlers).find((item) => item.identifier === 'monthly-invoice');
    const attempts = monthly?.options.maxAttempts;
    expect(attempts).toBeDefined();
    // 5 attempts were spent in about 85 seconds; a Stripe outage on the 1st outlasted them.
    expect(retrySpanSeconds(5)).toBeLessThan(90);
    expect(retrySpanSeconds(attempts!)).toBeGreaterThan(DAY);
  });
});
