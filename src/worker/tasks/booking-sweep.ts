import { sweepOverdueBookings } from '../../domain/bookings/scheduled.ts';
import { sweepBookingsTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Moves on bookings whose own job was lost (src/domain/bookings/scheduled.ts); safe to run twice. */
export default defineHandler(
  sweepBookingsTask,
  async (_payload, { services, logger }: TaskContext<'bookings' | 'config'>) => {
    const swept = await sweepOverdueBookings(services.bookings, services.config.bookings);
    if (swept.expired + swept.noShows + swept.completed > 0) {
      logger.info({ 'bookings.swept': swept }, 'moved on bookings whose job was lost');
    }
  },
);
