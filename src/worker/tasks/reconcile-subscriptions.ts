import { reconcileSubscriptions, reconcileSubscriptionsTask } from '../../domain/billing/reconcile.ts';
import { stripeDepsOf } from '../billing.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Daily: every subscription that can still change, re-read from Stripe (domain/billing/reconcile.ts). */
export default defineHandler(
  reconcileSubscriptionsTask,
  async ({ batchSize }, { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>) => {
    const deps = stripeDepsOf(services);
    if (!deps) {
      logger.info(
        { 'billing.off': services.config.billing.offReason },
        'billing is off: nothing to reconcile',
      );
      return;
    }
    const result = await reconcileSubscriptions(services.db, { ...deps, logger }, { batchSize });
    logger.info(
      {
        'subscriptions.checked': result.checked,
        'subscriptions.changed': result.changed,
        'subscriptions.missing': result.missing,
        'subscriptions.failed': result.failed,
      },
      'subscriptions reconciled with Stripe',
    );
    // Stripe answered none of them: try again later rather than wait a day.
    if (result.failed > 0 && result.checked === 0) {
      throw new Error(`Stripe could not be asked about any of ${result.failed} subscriptions`);
    }
  },
);
