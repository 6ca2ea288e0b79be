/**
 * What an organisation is on: its plan and whether it is in good standing. Fees, usage
 * allowances, API tiers and the dashboard all ask here, so "is this venue subscribed?" has one
 * answer.
 *
 * The answer comes from the latest subscription stored from Stripe (`billing_subscriptions`):
 * - ACTIVE: active or trialing; the plan's features are on.
 * - PAST_DUE: Stripe could not collect; the plan's features stay on during the grace period.
 * - RESTRICTED: past due beyond grace, unpaid, paused or incomplete; the organisation is treated
 *   as having no paid plan until it pays.
 * - NONE: no subscription, or it was cancelled.
 */
import type { Plan } from '../../config/billing.ts';
import type { DbOrTx } from '../../platform/db.ts';

export type Standing = 'NONE' | 'ACTIVE' | 'PAST_DUE' | 'RESTRICTED';

export interface PlanStanding {
  /** The plan whose features apply now: null when none does (no plan, cancelled or restricted). */
  plan: Plan | null;
  /** The plan subscribed to, whatever its standing. */
  subscribedPlan: Plan | null;
  standing: Standing;
  /** Stripe's status of the latest subscription; null without one. */
  status: string | null;
  /** Until when a past-due subscription keeps its features; null otherwise. */
  graceEndsAt: Date | null;
  stripeSubscriptionId: string | null;
  currentPeriodEnd: Date | null;
}

export interface StandingDeps {
  /** Each plan's Stripe price id (config.billing.plans). */
  plans: Readonly<Record<string, string | null | undefined>>;
  now: () => Date;
}

/** The plan whose price is `priceId`; null when none of ours is. */
export function planOfPrice(plans: StandingDeps['plans'], priceId: string | null | undefined): Plan | null {
  if (!priceId) return null;
  return (Object.entries(plans).find(([, price]) => price === priceId)?.[0] as Plan | undefined) ?? null;
}

const ACTIVE = new Set(['active', 'trialing']);
const ENDED = new Set(['canceled', 'incomplete_expired']);

/** The organisation's plan and standing now. */
export async function planStanding(
  db: DbOrTx,
  deps: StandingDeps,
  organizationId: string,
): Promise<PlanStanding> {
  const latest = await db.billingSubscription.findFirst({
    where: { organizationId },
    orderBy: [{ stateAt: 'desc' }, { createdAt: 'desc' }],
  });
  if (!latest) {
    return {
      plan: null,
      subscribedPlan: null,
      standing: 'NONE',
      status: null,
      graceEndsAt: null,
      stripeSubscriptionId: null,
      currentPeriodEnd: null,
    };
  }
  const subscribedPlan = planOfPrice(deps.plans, latest.priceId);
  const standing: Standing = ACTIVE.has(latest.status)
    ? 'ACTIVE'
    : ENDED.has(latest.status)
      ? 'NONE'
      : latest.status === 'past_due'
        ? 'PAST_DUE'
        : 'RESTRICTED';
  const featuresOn = standing === 'ACTIVE' || standing === 'PAST_DUE';
  return {
    plan: featuresOn ? subscribedPlan : null,
    subscribedPlan,
    standing,
    status: latest.status,
    graceEndsAt: null,
    stripeSubscriptionId: latest.stripeSubscriptionId,
    currentPeriodEnd: latest.currentPeriodEnd,
  };
}

/** Whether the organisation has a venue plan in good standing (fees: referral percentage). */
export function isVenueSubscriber(standing: PlanStanding): boolean {
  return standing.plan?.startsWith('VENUE_') ?? false;
}
