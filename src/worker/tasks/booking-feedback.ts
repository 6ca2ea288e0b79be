import { feedbackRequestTask } from '../../domain/bookings/jobs.ts';
import { requestFeedback } from '../../domain/bookings/scheduled.ts';
import { defineHandler } from '../task.ts';

export default defineHandler(feedbackRequestTask, async ({ bookingId }, { services }) => {
  await requestFeedback(services.db, bookingId);
});
