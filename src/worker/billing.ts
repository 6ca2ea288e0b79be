/**
 * What the billing tasks (stripe-event, reconcile-subscriptions, subscription-grace-end) hand the
 * billing functions: Stripe, the clock, and the settings dunning reads (plans, grace, PUBLIC_URL).
 */
import type { DunningDeps } from '../domain/billing/dunning.ts';
import type { StripeEventDeps } from '../domain/billing/stripe-events.ts';
import type { TaskContext } from './handler.ts';

export type BillingServices = TaskContext<'config' | 'billing' | 'now'>['services'];

export function dunningDepsOf(services: BillingServices): DunningDeps {
  return {
    now: services.now,
    plans: services.config.billing.plans,
    graceDays: services.config.billing.graceDays,
    publicUrl: services.config.http.publicUrl,
  };
}

/** Undefined while billing is off (no Stripe key). */
export function stripeDepsOf(services: BillingServices): StripeEventDeps | undefined {
  const stripe = services.billing.stripe;
  return stripe
    ? { ...dunningDepsOf(services), stripe, meteredPrices: services.config.billing.meteredPrices }
    : undefined;
}
