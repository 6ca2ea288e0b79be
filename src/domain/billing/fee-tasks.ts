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
 */
export const bookingFeeTask = defineTask({
  name: 'booking-fee',
  schema: z.object({ bookingId: z.uuid() }),
  maxAttempts: 10,
});

/**
 * Every 30 minutes: fees whose charge was declined are tried again when due (with a growing wait
 * and a cap), and completed bookings whose fee job was lost get their fee.
 */
export const retryPendingFeesTask = defineTask({
  name: 'retry-pending-fees',
  schema: cronPayload.partial(),
  maxAttempts: 3,
});

/**
 * The 1st of each month: every organisation's pending fees from before the month go on one Stripe
 * invoice per currency, finalised so Stripe collects it. The tick's time decides the month.
 */
export const monthlyInvoiceTask = defineTask({
  name: 'monthly-invoice',
  schema: cronPayload.partial(),
  maxAttempts: 5,
});
