import { settleStandingNotices, subscriptionGraceEndTask } from '../../domain/billing/dunning.ts';
import { dunningDepsOf } from '../billing.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** A past-due subscription's grace ends: its owners are told it is restricted, if it still is unpaid. */
export default defineHandler(
  subscriptionGraceEndTask,
  async (
    { stripeSubscriptionId },
    { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>,
  ) => {
    const told = await settleStandingNotices(services.db, stripeSubscriptionId, dunningDepsOf(services));
    if (told) logger.info({ 'stripe.subscription': stripeSubscriptionId, notice: told }, 'owners told');
  },
);
