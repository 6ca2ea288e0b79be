import { collectBookingFee } from '../../domain/billing/fee-collection.ts';
import { bookingFeeTask } from '../../domain/billing/fee-tasks.ts';
import { feeDepsOf } from '../fees.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Accrues a completed booking's fee and charges it at once for pay-as-you-go venues. */
export default defineHandler(
  bookingFeeTask,
  async ({ bookingId }, { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>) => {
    const result = await collectBookingFee(feeDepsOf(services), bookingId);
    logger.info(
      { 'booking.id': bookingId, 'fee.accrued': result.accrued, 'fee.charge': result.charge },
      'booking fee',
    );
  },
);
