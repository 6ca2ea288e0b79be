import { completeSeatedBooking } from '../../domain/bookings/scheduled.ts';
import { completeBookingTask } from '../../domain/bookings/tasks.ts';
import { defineHandler } from '../handler.ts';

export default defineHandler(completeBookingTask, async ({ bookingId }, { services }) => {
  await completeSeatedBooking(services.bookings, bookingId);
});
