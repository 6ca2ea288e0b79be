/**
 * The daily comparison with Stripe (`reconcile-subscriptions`, the reference's
 * reconcile_subscription_state). Webhooks can be lost: an endpoint down for longer than Stripe
 * retries, a secret rolled wrongly, an event type switched off in the dashboard. So once a day
 * every stored subscription that can still change is re-read from Stripe and Stripe's answer is
 * stored with the same order-safe store the events use (stripe-events.ts `refreshSubscription`);
 * one Stripe no longer knows is stored as canceled, while Stripe still knows its customer (a wrong
 * key knows neither, and would cancel everything). Each one read is also settled for dunning
 * (dunning.ts), which is how a restriction whose grace-end job was lost still gets its notice.
 *
 * Final states (canceled, incomplete_expired) are not read again: Stripe never moves a
 * subscription out of them.
 *
 * Safe to run twice: each subscription's store is one statement that never moves it backwards,
 * and its notices go once. No transaction is held across Stripe calls: subscriptions are read in
 * pages by id, and each one is stored on its own, so a run that stops half way has kept what it
 * did and the next run simply reads everything again.
 */
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import { cronPayload, defineTask } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import { settleStandingNotices } from './dunning.ts';
import { refreshSubscription, type StripeEventDeps } from './stripe-events.ts';

export const reconcileSubscriptionsTask = defineTask({
  name: 'reconcile-subscriptions',
  schema: cronPayload.partial().extend({ batchSize: z.number().int().min(1).max(1000).optional() }),
  maxAttempts: 3,
});

/** Stripe's states a subscription never leaves. */
export const FINAL_STATUSES = ['canceled', 'incomplete_expired'] as const;

export interface ReconcileResult {
  /** Subscriptions re-read from Stripe. */
  checked: number;
  /** Those whose stored status Stripe's answer changed. */
  changed: number;
  /** Those Stripe no longer knows, now stored as canceled. */
  missing: number;
  /** Those Stripe could not be asked about (they are read again next time). */
  failed: number;
}

/** Re-reads every subscription not in a final state from Stripe and stores its answer. */
export async function reconcileSubscriptions(
  db: Db,
  deps: StripeEventDeps & { logger: Logger },
  options: { batchSize?: number } = {},
): Promise<ReconcileResult> {
  const batchSize = options.batchSize ?? 100;
  const result: ReconcileResult = { checked: 0, changed: 0, missing: 0, failed: 0 };
  let after: string | undefined;
  for (;;) {
    const page = await db.billingSubscription.findMany({
      where: { status: { notIn: [...FINAL_STATUSES] }, ...(after ? { id: { gt: after } } : {}) },
      orderBy: { id: 'asc' },
      take: batchSize,
    });
    for (const row of page) {
      try {
        const outcome = await refreshSubscription(db, row, deps);
        result.checked += 1;
        if (outcome.outcome === 'applied' && outcome.status !== row.status) {
          result.changed += 1;
          deps.logger.info(
            {
              'stripe.subscription': row.stripeSubscriptionId,
              'organization.id': row.organizationId,
              from: row.status,
              to: outcome.status,
            },
            'subscription state repaired from Stripe',
          );
        }
        if (outcome.outcome === 'applied' && outcome.missing) result.missing += 1;
      } catch (error) {
        result.failed += 1;
        deps.logger.warn(
          { err: error, 'stripe.subscription': row.stripeSubscriptionId },
          'could not re-read a subscription from Stripe',
        );
        // What is stored still decides when grace ends: its owners are told even while Stripe is away.
        await settleStandingNotices(db, row.stripeSubscriptionId, deps);
      }
    }
    if (page.length < batchSize) break;
    after = page[page.length - 1]!.id;
  }
  return result;
}
