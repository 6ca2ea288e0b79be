/**
 * What an organisation is on: its plan and whether it is in good standing. Fees, usage
 * allowances, API tiers and the dashboard all ask here, so "is this venue subscribed?" has one
 * answer.
 *
 * The answer comes from the organisation's subscriptions stored from Stripe
 * (`billing_subscriptions`), the one in the best standing, the most recently made among equals (an
 * owner who subscribed again after a plan went unpaid is on the new one, whichever of the two
 * Stripe told us of last):
 * - ACTIVE: active or trialing; the plan's features are on.
 * - PAST_DUE: Stripe could not collect; the plan's features stay on during the grace period,
 *   `BILLING_GRACE_DAYS` from when the subscription became past due (`past_due_since`, set by the
 *   same statement that stored the past_due state, stripe-events.ts).
 * - RESTRICTED: past due beyond grace, unpaid, paused or incomplete; the organisation is treated
 *   as having no paid plan until it pays.
 * - NONE: no subscription, or it was cancelled.
 *
 * Restriction needs no job to happen: it is worked out from the clock each time it is asked, so
 * features go off at the end of grace to the second. (Telling the owners is dunning.ts's work.)
 */
import { DEFAULT_GRACE_DAYS, type Plan, type PlanFamily, planFamily } from '../../config/billing.ts';
import type { DbOrTx } from '../../platform/db.ts';

export type Standing = 'NONE' | 'ACTIVE' | 'PAST_DUE' | 'RESTRICTED';

export interface PlanStanding {
  /** The plan whose features apply now: null when none does (no plan, cancelled or restricted). */
  plan: Plan | null;
  /** The plan subscribed to, whatever its standing. */
  subscribedPlan: Plan | null;
  standing: Standing;
  /** Stripe's status of the subscription that counts; null without one. */
  status: string | null;
  /**
   * Until when a past-due subscription keeps its features (a RESTRICTED one: when they went off);
   * null when the subscription is not past due.
   */
  graceEndsAt: Date | null;
  stripeSubscriptionId: string | null;
  currentPeriodEnd: Date | null;
}

export interface StandingDeps {
  /** Each plan's Stripe price ids, the one sold first (config.billing.plans). */
  plans: PlanPrices;
  now: () => Date;
  /** How long a past-due subscription keeps its features (BILLING_GRACE_DAYS). */
  graceDays: number;
}

const DAY_MS = 86_400_000;

/** What of a stored subscription its standing depends on. */
export interface SubscriptionState {
  status: string;
  pastDueSince: Date | null;
  /** When the state was learnt: grace counts from here for a past-due row without `pastDueSince`. */
  stateAt: Date;
}

/** Each plan's Stripe price ids (config.billing.plans): the one sold first, earlier ones after. */
export type PlanPrices = Readonly<Record<string, readonly string[] | null | undefined>>;

/** The plan one of whose prices is `priceId` (sold now or before); null when none of ours is. */
export function planOfPrice(plans: PlanPrices, priceId: string | null | undefined): Plan | null {
  if (!priceId) return null;
  return (
    (Object.entries(plans).find(([, prices]) => prices?.includes(priceId))?.[0] as Plan | undefined) ?? null
  );
}

/**
 * Every price that bills one of our plans' meters (config.billing.meteredPrices): a subscription's
 * items of these are its meters; an item of any other price (an add-on made in the Stripe
 * Dashboard) is not ours to count or change.
 */
export function meteredPricesOfAnyPlan(
  meteredPrices: Readonly<Record<string, readonly string[]>>,
): Set<string> {
  return new Set(Object.values(meteredPrices).flat());
}

const ACTIVE = new Set(['active', 'trialing']);
const ENDED = new Set(['canceled', 'incomplete_expired']);

/**
 * The standing of one stored subscription now, and when its grace ends (past due only). The one
 * rule for it: planStanding and the owners' notices (dunning.ts) both ask here.
 */
export function subscriptionStanding(
  state: SubscriptionState,
  deps: Pick<StandingDeps, 'now' | 'graceDays'>,
): { standing: Standing; graceEndsAt: Date | null } {
  if (ACTIVE.has(state.status)) return { standing: 'ACTIVE', graceEndsAt: null };
  if (ENDED.has(state.status)) return { standing: 'NONE', graceEndsAt: null };
  if (state.status !== 'past_due') return { standing: 'RESTRICTED', graceEndsAt: null };
  const since = state.pastDueSince ?? state.stateAt;
  const graceEndsAt = new Date(since.getTime() + (deps.graceDays ?? DEFAULT_GRACE_DAYS) * DAY_MS);
  return { standing: deps.now() < graceEndsAt ? 'PAST_DUE' : 'RESTRICTED', graceEndsAt };
}

/** Which standing counts when an organisation has several subscriptions: the first of these. */
const STANDING_RANK: Record<Standing, number> = { ACTIVE: 0, PAST_DUE: 1, RESTRICTED: 2, NONE: 3 };

/**
 * The organisation's plan and standing now. An organisation may hold a venue plan and a developer
 * plan side by side: with `family`, only subscriptions to plans of that kind count (a venue's fees
 * ask of its venue plan, an API key's tier of its developer plan); without, every one does.
 */
export async function planStanding(
  db: DbOrTx,
  deps: StandingDeps,
  organizationId: string,
  family?: PlanFamily,
): Promise<PlanStanding> {
  const subscriptions = await db.billingSubscription.findMany({
    where: { organizationId },
    orderBy: { createdAt: 'desc' },
  });
  const ofFamily = (priceId: string | null) => {
    const plan = planOfPrice(deps.plans, priceId);
    return plan !== null && planFamily(plan) === family;
  };
  const ranked = subscriptions
    .filter((row) => family === undefined || ofFamily(row.priceId))
    .map((row) => ({ row, ...subscriptionStanding(row, deps) }))
    .sort((a, b) => STANDING_RANK[a.standing] - STANDING_RANK[b.standing]);
  const best = ranked[0];
  if (!best) {
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
  const { row: latest, standing, graceEndsAt } = best;
  const subscribedPlan = planOfPrice(deps.plans, latest.priceId);
  const featuresOn = standing === 'ACTIVE' || standing === 'PAST_DUE';
  return {
    plan: featuresOn ? subscribedPlan : null,
    subscribedPlan,
    standing,
    status: latest.status,
    graceEndsAt,
    stripeSubscriptionId: latest.stripeSubscriptionId,
    currentPeriodEnd: latest.currentPeriodEnd,
  };
}

/** Whether the organisation has a venue plan in good standing (fees: referral percentage). */
export function isVenueSubscriber(standing: PlanStanding): boolean {
  return standing.plan?.startsWith('VENUE_') ?? false;
}
