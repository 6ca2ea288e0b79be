/**
 * An organisation changes its plan (venue starter to growth, say) on the subscription it has:
 * the plan's item moves to the new plan's price and the meters go with it, in one Stripe update.
 * The Customer Portal can swap a plan's price but not the metered items beside it, so a plan
 * changed there would go on billing the old plan's meters: plans are changed here.
 *
 * Stripe prorates the plan's price (the difference is on the next invoice) and, on a subscription
 * in flexible billing mode (what Checkout makes; an older one is moved to it first), bills a
 * removed meter's usage so far on the next invoice too; a meter both plans bill keeps its item and
 * its usage. The change takes effect at
 * once, and the organisation's row is read back from Stripe before the answer, so the dashboard
 * shows the new plan without waiting for the webhook.
 *
 * Its key is `plan-change:{subscriptionId}:{plan}:{n}`, `n` counted on the stored subscription
 * (`billing_subscriptions.plan_changes`): a call the SDK retries is answered with the change
 * Stripe already made, while changing back and forth makes each change anew.
 */
import type Stripe from 'stripe';
import { type Plan, planFamily } from '../../config/billing.ts';
import type { StripeClient } from '../../integrations/stripe/client.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import type { Db } from '../../platform/db.ts';
import { ConflictError, ValidationError } from '../../platform/errors.ts';
import type { Access } from '../organizations/access.ts';
import {
  allowed,
  askStripe,
  BillingNotConfiguredError,
  type CheckoutDeps,
  type OrganizationBilling,
  organizationBilling,
  stripeOf,
} from './checkout.ts';
import { meteredPricesOfAnyPlan, planOfPrice, planStanding } from './standing.ts';
import { refreshSubscription } from './stripe-events.ts';

export type PlanChangeDeps = Omit<CheckoutDeps, 'db'> & { db: Db };

/**
 * Moves the organisation's subscription of the plan's kind (venue or developer) to `plan`, and
 * answers its billing as it is now. Owners and admins only. Refused, changing nothing: a free
 * plan (ValidationError: cancelling is the portal's), no subscription of that kind to change, or
 * one not paid (RESTRICTED: its payment is mended in the portal first), or another change of the
 * organisation's plan under way at that moment (ConflictError). Asking for the plan it is on
 * already answers its billing and asks nothing of Stripe.
 */
export async function changePlan(
  deps: PlanChangeDeps,
  access: Access,
  input: { organizationId: string; plan: string },
): Promise<OrganizationBilling> {
  await allowed(access, input.organizationId);
  const { organizationId, plan } = input;
  const prices = deps.plans[plan];
  if (prices === null) {
    throw new ValidationError(
      'Moving to a free plan is cancelling the paid one: do that in the billing portal (openBillingPortal)',
      'plan',
    );
  }
  const stripe = stripeOf(deps);
  const price = prices?.[0];
  if (price === undefined) {
    throw new BillingNotConfiguredError(`The plan ${plan} has no Stripe price configured`);
  }
  const current = await planStanding(deps.db, deps, organizationId, planFamily(plan as Plan));
  if (current.standing === 'NONE' || current.stripeSubscriptionId === null) {
    throw new ConflictError(
      'The organisation has no plan of this kind to change: subscribe with startCheckout',
    );
  }
  if (current.standing === 'RESTRICTED') {
    throw new ConflictError(
      "The organisation's plan is not paid: mend its payment in the billing portal (openBillingPortal), then change it",
    );
  }
  if (current.subscribedPlan !== plan) {
    const subscriptionId = current.stripeSubscriptionId;
    const changed = await withAdvisoryLock(deps.locks, `plan-change:${organizationId}`, () =>
      moveSubscription(deps, stripe, { subscriptionId, plan, price }),
    );
    if (!changed.locked) {
      throw new ConflictError("The organisation's plan is being changed right now: look again in a moment");
    }
  }
  const billing = await organizationBilling(deps, access, organizationId);
  // allowed() above admitted the caller, so their billing is theirs to see.
  if (!billing) throw new Error(`billing of ${organizationId} hidden from a manager`);
  return billing;
}

/** changePlan's Stripe part, one at a time per organisation: the update, then the row read back. */
async function moveSubscription(
  deps: PlanChangeDeps,
  stripe: StripeClient,
  { subscriptionId, plan, price }: { subscriptionId: string; plan: string; price: string },
): Promise<void> {
  // Its items as Stripe holds them now (a meter added in the Dashboard is seen too).
  const subscription = await askStripe(() => stripe.subscriptions.retrieve(subscriptionId));
  const items = subscription.items.data;
  const planItem = items.find((item) => planOfPrice(deps.plans, item.price.id) !== null);
  if (!planItem) throw new Error(`Stripe subscription ${subscriptionId} has no item of a plan's price`);
  if (planOfPrice(deps.plans, planItem.price.id) !== plan) {
    // In classic billing mode a meter removed mid-period leaves its usage so far unbilled; in
    // flexible mode it is billed. Subscriptions started before Checkout asked for flexible are
    // moved to it first (once: there is no way back, and the key is the subscription's).
    if (subscription.billing_mode?.type !== 'flexible') {
      await askStripe(() =>
        stripe.subscriptions.migrate(
          subscriptionId,
          { billing_mode: { type: 'flexible' } },
          { idempotencyKey: `billing-mode:${subscriptionId}:flexible` },
        ),
      );
    }
    const row = await deps.db.billingSubscription.update({
      where: { stripeSubscriptionId: subscriptionId },
      data: { planChanges: { increment: 1 } },
      select: { planChanges: true },
    });
    await askStripe(() =>
      stripe.subscriptions.update(
        subscriptionId,
        {
          items: itemChanges(items, planItem, {
            price,
            meteredPrices: deps.meteredPrices[plan] ?? [],
            anyPlansMetered: meteredPricesOfAnyPlan(deps.meteredPrices),
          }),
          proration_behavior: 'create_prorations',
          metadata: { plan },
        },
        { idempotencyKey: `plan-change:${subscriptionId}:${plan}:${row.planChanges}` },
      ),
    );
  }
  // Stored as Stripe holds it now (the same order-safe store as its events), owners told if its
  // standing moved.
  const stored = await deps.db.billingSubscription.findUniqueOrThrow({
    where: { stripeSubscriptionId: subscriptionId },
  });
  await refreshSubscription(deps.db, stored, { ...deps, stripe }, 'plan-change');
}

/**
 * The item changes that put a subscription on a plan: its plan item on the plan's price, the
 * meters of our plans it does not bill removed, those it bills and the subscription lacks added.
 * A meter already subscribed to is left as it is (its usage stays on its item), and so is an item
 * of a price none of our plans bills (one added in the Stripe Dashboard).
 */
function itemChanges(
  items: readonly Pick<Stripe.SubscriptionItem, 'id' | 'price'>[],
  planItem: Pick<Stripe.SubscriptionItem, 'id'>,
  to: { price: string; meteredPrices: readonly string[]; anyPlansMetered: ReadonlySet<string> },
): Stripe.SubscriptionUpdateParams.Item[] {
  const others = items.filter((item) => item.id !== planItem.id);
  return [
    { id: planItem.id, price: to.price, quantity: 1 },
    ...others
      .filter((item) => to.anyPlansMetered.has(item.price.id) && !to.meteredPrices.includes(item.price.id))
      .map((item) => ({ id: item.id, deleted: true })),
    ...to.meteredPrices
      .filter((metered) => !others.some((item) => item.price.id === metered))
      .map((metered) => ({ price: metered })),
  ];
}
