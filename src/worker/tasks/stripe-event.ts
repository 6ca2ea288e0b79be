import { applyRecordedStripeEvent, stripeEventTask } from '../../domain/billing/stripe-events.ts';
import { stripeDepsOf } from '../billing.ts';
import { defineHandler, PermanentJobError, type TaskContext } from '../handler.ts';

/** Applies one Stripe event the webhook recorded (domain/billing/stripe-events.ts). */
export default defineHandler(
  stripeEventTask,
  async ({ id }, { services, logger }: TaskContext<'db' | 'billing' | 'now' | 'config'>) => {
    const deps = stripeDepsOf(services);
    if (!deps) throw new PermanentJobError('Stripe is not configured in this process');
    const result = await applyRecordedStripeEvent(services.db, id, deps);
    // Credits refunded or disputed after they were spent are money paid back for calls already
    // served: the operators' to follow up (the amount is in `uncovered`, minor units).
    if (result && 'uncovered' in result && result.uncovered > 0) {
      logger.warn(
        { 'provider_event.id': id, ...result },
        'credits refunded or disputed were already spent: not taken back',
      );
    } else if (result && 'meters' in result && result.meters) {
      // Changed outside changePlan (the portal, the Dashboard): usage of a meter without its item
      // goes unbilled, and a meter of another plan bills at that plan's rate.
      logger.warn(
        { 'provider_event.id': id, ...result },
        "a subscription's metered items are not its plan's: change its plan with changePlan, or its items in Stripe",
      );
    } else {
      logger.info({ 'provider_event.id': id, ...result }, 'Stripe event applied');
    }
  },
);
