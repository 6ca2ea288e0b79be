import { sendReminder } from '../../domain/bookings/scheduled.ts';
import { bookingReminderTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  bookingReminderTask,
  async ({ bookingId, before }, { services }: TaskContext<'db' | 'now'>) => {
    await sendReminder(services.db, services.now(), bookingId, before);
  },
);
