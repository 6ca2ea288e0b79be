import { requestFeedback } from '../../domain/bookings/scheduled.ts';
import { feedbackRequestTask } from '../../domain/bookings/tasks.ts';
import { defineHandler } from '../handler.ts';

export default defineHandler(feedbackRequestTask, async ({ bookingId }, { services }) => {
  await requestFeedback(services.db, bookingId);
});
