import { expireBooking } from '../../domain/bookings/scheduled.ts';
import { expireBookingTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  expireBookingTask,
  async ({ bookingId }, { services, logger }: TaskContext<'bookings'>) => {
    const expired = await expireBooking(services.bookings, bookingId);
    if (expired) logger.info({ 'booking.id': bookingId }, 'booking expired');
  },
);
