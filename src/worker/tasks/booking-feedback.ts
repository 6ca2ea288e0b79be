import { feedbackRequestTask } from '../../domain/bookings/tasks.ts';
import { requestFeedback } from '../../domain/bookings/scheduled.ts';
import { defineHandler } from '../handler.ts';

export default defineHandler(feedbackRequestTask, async ({ bookingId }, { services }) => {
  await requestFeedback(services.db, bookingId);
});
