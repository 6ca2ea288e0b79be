import { sendMonthlyInvoices } from '../../domain/billing/fee-collection.ts';
import { monthlyInvoiceTask } from '../../domain/billing/fee-tasks.ts';
import { feeDepsOf } from '../fees.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Invoices every organisation's pending booking fees of the months before the tick's. */
export default defineHandler(
  monthlyInvoiceTask,
  async ({ _cron }, { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>) => {
    const tick = _cron ? new Date(_cron.ts) : services.now();
    const result = await sendMonthlyInvoices(feeDepsOf(services), tick);
    logger.info(
      { 'invoices.sent': result.invoiced, 'invoices.failed': result.failed },
      'monthly fee invoices',
    );
    // Each organisation's invoice is safe to redo: run again for those that failed.
    if (result.failed) throw new AggregateError(result.errors, `${result.failed} monthly invoice(s) failed`);
  },
);
