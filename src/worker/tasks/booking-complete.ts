import { completeSeatedBooking } from '../../domain/bookings/scheduled.ts';
import { completeBookingTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  completeBookingTask,
  async ({ bookingId }, { services }: TaskContext<'bookings'>) => {
    await completeSeatedBooking(services.bookings, bookingId);
  },
);
