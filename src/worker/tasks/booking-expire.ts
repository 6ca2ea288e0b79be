import { expireBooking } from '../../domain/bookings/scheduled.ts';
import { expireBookingTask } from '../../domain/bookings/tasks.ts';
import { defineHandler } from '../handler.ts';

export default defineHandler(expireBookingTask, async ({ bookingId }, { services, logger }) => {
  const expired = await expireBooking(services.bookings, bookingId);
  if (expired) logger.info({ 'booking.id': bookingId }, 'booking expired');
});
