/** What the fee tasks hand the fee functions: the database, Stripe, the clock and the settings. */
import type { CollectionDeps } from '../domain/billing/fee-collection.ts';
import type { TaskContext } from './handler.ts';

export type FeeServices = TaskContext<'db' | 'billing' | 'now' | 'config'>['services'];

export function feeDepsOf(services: FeeServices): CollectionDeps {
  return {
    db: services.db,
    stripe: services.billing.stripe,
    now: services.now,
    fees: services.config.fees,
    plans: services.config.billing.plans,
    graceDays: services.config.billing.graceDays,
  };
}
