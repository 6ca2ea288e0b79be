import { endOfGrace, subscriptionGraceEndTask } from '../../domain/billing/dunning.ts';
import { dunningDepsOf } from '../billing.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** A past-due subscription's grace ends: its owners are told it is restricted, if it is still unpaid. */
export default defineHandler(
  subscriptionGraceEndTask,
  async (
    { stripeSubscriptionId },
    { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>,
  ) => {
    const outcome = await endOfGrace(services.db, stripeSubscriptionId, dunningDepsOf(services));
    if (outcome) logger.info({ 'stripe.subscription': stripeSubscriptionId, outcome }, 'grace end settled');
  },
);
