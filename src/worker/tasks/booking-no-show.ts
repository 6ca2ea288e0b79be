import { markNoShow } from '../../domain/bookings/scheduled.ts';
import { noShowTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  noShowTask,
  async ({ bookingId }, { services, logger }: TaskContext<'bookings' | 'config'>) => {
    const marked = await markNoShow(
      services.bookings,
      bookingId,
      services.config.bookings.noShowGraceMinutes,
    );
    if (marked) logger.info({ 'booking.id': bookingId }, 'booking marked no-show');
  },
);
