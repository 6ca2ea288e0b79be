import { reportUsageTask, runUsageReport } from '../../domain/usage/report.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Collects the swept usage and reports unreported usage to Stripe Billing Meters
 * (domain/usage/report.ts). With billing off there is nowhere to report: usage stays recorded.
 */
export default defineHandler(
  reportUsageTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>) => {
    const stripe = services.billing.stripe;
    if (!stripe) {
      logger.debug('billing is off: usage is not reported');
      return;
    }
    const { usage, billing } = services.config;
    const result = await runUsageReport({
      db: services.db,
      stripe,
      meters: usage.meters,
      batchSize: usage.reportBatchSize,
      now: services.now,
      logger,
      conversations: {
        plans: billing.plans,
        graceDays: billing.graceDays,
        now: services.now,
        included: usage.conversationsIncluded,
      },
    });
    if (result.collected || result.reported || result.failed || result.abandoned) {
      logger.info({ 'usage.report': result }, 'usage reported');
    }
  },
);
