import { completeBookingTask } from '../../domain/bookings/jobs.ts';
import { completeSeatedBooking } from '../../domain/bookings/scheduled.ts';
import { defineHandler } from '../task.ts';

export default defineHandler(completeBookingTask, async ({ bookingId }, { services }) => {
  await completeSeatedBooking(services.bookings, bookingId);
});
