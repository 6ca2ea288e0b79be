import { requestFeedback } from '../../domain/bookings/scheduled.ts';
import { feedbackRequestTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(feedbackRequestTask, async ({ bookingId }, { services }: TaskContext<'db'>) => {
  await requestFeedback(services.db, bookingId);
});
