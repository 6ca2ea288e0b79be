/**
 * The background jobs bookings cause. Each declaration (name and payload schema) is shared by the
 * code that enqueues it (effects.ts) and the task that runs it (src/worker/tasks/<name>.ts).
 */
import { z } from 'zod';
import { cronPayload, defineTask } from '../../platform/jobs.ts';

const bookingPayload = z.object({ bookingId: z.uuid() });

/** A job about one booking, retried like the others. */
function bookingTask<const Name extends string>(name: Name) {
  return defineTask({ name, schema: bookingPayload, maxAttempts: 10 });
}

/** A REQUESTED or HELD booking nobody confirmed in time becomes EXPIRED. */
export const expireBookingTask = bookingTask('booking-expire');

/** Reminds the guest of a confirmed booking, 24 or 2 hours before. */
export const bookingReminderTask = defineTask({
  name: 'booking-reminder',
  schema: z.object({ bookingId: z.uuid(), before: z.enum(['24h', '2h']) }),
  maxAttempts: 10,
});

/** A confirmed booking whose party has not been seated by the end of the grace period is a NO_SHOW. */
export const noShowTask = bookingTask('booking-no-show');

/** A seated party whose turn is long over is COMPLETED. */
export const completeBookingTask = bookingTask('booking-complete');

/**
 * Every 15 minutes (src/worker/crontab.ts): bookings whose own expiry, no-show or completion job
 * was lost are moved on as that job would have (scheduled.ts, `sweepOverdueBookings`).
 */
export const sweepBookingsTask = defineTask({ name: 'booking-sweep', schema: z.object({}), maxAttempts: 1 });

/** Asks the guest how it went, a while after a completed booking. */
export const feedbackRequestTask = bookingTask('booking-feedback');

/**
 * Sends each venue team the day's bookings in the morning of their own time zone. Run hourly by
 * the crontab; the tick's time (`_cron.ts`) decides which venues are due, so a tick run late
 * after downtime still serves the right hour.
 */
export const dailySummaryTask = defineTask({
  name: 'venue-daily-summary',
  schema: cronPayload.partial(),
  maxAttempts: 3,
});
