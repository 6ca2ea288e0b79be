/**
 * The jobs booking fees need. Each declaration is shared by the code that enqueues it and the task
 * that runs it (src/worker/tasks/<name>.ts).
 */
import { z } from 'zod';
import { cronPayload, defineTask } from '../../platform/jobs.ts';

/**
 * A booking made through AGNT was completed: its fee is accrued (once, whatever runs) and, for a
 * venue without a plan whose organisation has a card on file, charged at once. Enqueued in the
 * transaction of the COMPLETED transition (src/domain/bookings/effects.ts).
 *
 * 10 attempts span about 3.6 hours (graphile-worker waits exp(min(attempts, 10)) seconds after
 * each failure). That is enough: what this job leaves undone is `retry-pending-fees`'s to finish
 * (a fee never accrued, a charge whose answer is still to come), every 30 minutes for 40 days.
 */
export const bookingFeeTask = defineTask({
  name: 'booking-fee',
  schema: z.object({ bookingId: z.uuid() }),
  maxAttempts: 10,
});

/**
 * Every 30 minutes: fees whose charge was declined are tried again when due (with a growing wait
 * and a cap), and completed bookings whose fee job was lost get their fee. Few attempts: one fee's
 * failure is counted, not thrown, and the next run half an hour later looks at everything again.
 */
export const retryPendingFeesTask = defineTask({
  name: 'retry-pending-fees',
  schema: cronPayload.partial(),
  maxAttempts: 3,
});

/**
 * The 1st of each month: every organisation's pending fees from before the month go on one Stripe
 * invoice per currency, finalised so Stripe collects it. The tick's time decides the month.
 *
 * The job fails while any organisation's invoice fails, and nothing else finishes it before next
 * month's run: until then that organisation's fees stay claimed by the draft (frozen: no value
 * recorded, no waiver). So its retries must outlast a Stripe outage. graphile-worker waits
 * exp(min(attempts, 10)) seconds after each failure: 5 attempts were spent in about 85 seconds;
 * 15 wait e¹ + … + e⁹ + 5 × e¹⁰ ≈ 123,000 s, about 34 hours, so an outage of up to a day on the 1st
 * still gets its invoices that month. Each retry redoes only what is unfinished (see
 * sendMonthlyInvoices).
 */
export const monthlyInvoiceTask = defineTask({
  name: 'monthly-invoice',
  schema: cronPayload.partial(),
  maxAttempts: 15,
});
