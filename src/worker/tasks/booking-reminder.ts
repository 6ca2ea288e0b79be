import { sendReminder } from '../../domain/bookings/scheduled.ts';
import { bookingReminderTask } from '../../domain/bookings/tasks.ts';
import { defineHandler } from '../handler.ts';

export default defineHandler(bookingReminderTask, async ({ bookingId, before }, { services }) => {
  await sendReminder(services.db, services.now(), bookingId, before);
});
