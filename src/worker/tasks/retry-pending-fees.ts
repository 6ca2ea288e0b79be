import { retryPendingFees } from '../../domain/billing/fee-collection.ts';
import { retryPendingFeesTask } from '../../domain/billing/fee-tasks.ts';
import { feeDepsOf } from '../fees.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Charges pay-as-you-go fees whose retry is due, and accrues fees whose job was lost. */
export default defineHandler(
  retryPendingFeesTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>) => {
    const counts = await retryPendingFees(feeDepsOf(services));
    if (counts.accrued || counts.charged || counts.declined || counts.failed) {
      logger.info(
        {
          'fees.accrued': counts.accrued,
          'fees.charged': counts.charged,
          'fees.declined': counts.declined,
          'fees.failed': counts.failed,
        },
        'pending booking fees retried',
      );
    }
  },
);
