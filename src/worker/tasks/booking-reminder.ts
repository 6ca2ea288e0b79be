import { bookingReminderTask } from '../../domain/bookings/jobs.ts';
import { sendReminder } from '../../domain/bookings/scheduled.ts';
import { defineHandler } from '../task.ts';

export default defineHandler(bookingReminderTask, async ({ bookingId, before }, { services }) => {
  await sendReminder(services.db, services.now(), bookingId, before);
});
