/**
 * Billing through Stripe: the secret key our calls use, the webhook secrets Stripe signs its
 * events with, and where the API is (Stripe itself, or a loopback fake in tests).
 *
 * Without STRIPE_SECRET_KEY outside production, billing is off: nothing calls Stripe, the
 * webhook answers 404, and `/readyz` says so. Production refuses to start without the key and a
 * webhook secret.
 */
import { z } from 'zod';
import { type Context, optional, positiveInt, trimSlash, url } from './parse.ts';

/** Days a past-due subscription keeps its features unless BILLING_GRACE_DAYS says otherwise. */
export const DEFAULT_GRACE_DAYS = 7;

const stripePrice = z.string().regex(/^price_[A-Za-z0-9_]{4,}$/, 'a Stripe price id (price_…)');

/**
 * What an organisation can subscribe to: venue plans (starter, growth, pro) and developer tiers
 * (free, pro). Free has no price and needs no checkout; every other plan is a Stripe price.
 */
export const PLANS = [
  'VENUE_STARTER',
  'VENUE_GROWTH',
  'VENUE_PRO',
  'DEVELOPER_FREE',
  'DEVELOPER_PRO',
] as const;
export type Plan = (typeof PLANS)[number];

/** The two kinds of plan, held side by side: a venue plan and a developer one. */
export type PlanFamily = 'VENUE' | 'DEVELOPER';

/** Which kind of plan `plan` is. */
export function planFamily(plan: Plan): PlanFamily {
  return plan.startsWith('VENUE_') ? 'VENUE' : 'DEVELOPER';
}

/**
 * The env var naming each paid plan's Stripe prices: the first is the one sold; any after it are
 * prices the plan was sold at before, whose subscriptions are still that plan (a plan moved to a
 * new price keeps its subscribers).
 */
const PRICE_VARS = {
  VENUE_STARTER: 'STRIPE_PRICE_VENUE_STARTER',
  VENUE_GROWTH: 'STRIPE_PRICE_VENUE_GROWTH',
  VENUE_PRO: 'STRIPE_PRICE_VENUE_PRO',
  DEVELOPER_PRO: 'STRIPE_PRICE_DEVELOPER_PRO',
} as const satisfies Partial<Record<Plan, string>>;

/**
 * The env var naming each paid plan's metered prices: the prices of the Stripe meters the plan
 * bills (usage reported by `report-usage`), added to its subscriptions at checkout.
 */
const METERED_VARS = {
  VENUE_STARTER: 'STRIPE_METERED_PRICES_VENUE_STARTER',
  VENUE_GROWTH: 'STRIPE_METERED_PRICES_VENUE_GROWTH',
  VENUE_PRO: 'STRIPE_METERED_PRICES_VENUE_PRO',
  DEVELOPER_PRO: 'STRIPE_METERED_PRICES_DEVELOPER_PRO',
} as const satisfies Partial<Record<Plan, string>>;

/** Comma-separated values, trimmed, empty ones left out. */
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Comma-separated price ids. */
const priceList = commaList.pipe(z.array(stripePrice));

/** A plan's prices: comma-separated, the one sold first. */
const planPrices = commaList.refine(
  (prices) => prices.length > 0 && prices.every((price) => stripePrice.safeParse(price).success),
  'Stripe price ids (price_…), comma-separated, the one sold first',
);

export const billingEnv = z.object({
  STRIPE_SECRET_KEY: optional(
    z.string().regex(/^(sk|rk)_[A-Za-z0-9_]{8,}$/, 'a Stripe secret key (sk_… or rk_…)'),
  ),
  /** Comma-separated; the first is the current one, every one verifies (rotation). */
  STRIPE_WEBHOOK_SECRETS: optional(commaList.pipe(z.array(z.string().min(8)).min(1))),
  STRIPE_WEBHOOK_SECRET: optional(z.string().min(8)),
  STRIPE_API_BASE: url.default('https://api.stripe.com'),
  STRIPE_TIMEOUT_MS: positiveInt.default(30_000),
  STRIPE_PRICE_VENUE_STARTER: optional(planPrices),
  STRIPE_PRICE_VENUE_GROWTH: optional(planPrices),
  STRIPE_PRICE_VENUE_PRO: optional(planPrices),
  STRIPE_PRICE_DEVELOPER_PRO: optional(planPrices),
  STRIPE_METERED_PRICES_VENUE_STARTER: optional(priceList),
  STRIPE_METERED_PRICES_VENUE_GROWTH: optional(priceList),
  STRIPE_METERED_PRICES_VENUE_PRO: optional(priceList),
  STRIPE_METERED_PRICES_DEVELOPER_PRO: optional(priceList),
  /** A per-unit price: one unit is one minor unit of credits (`buyCredits`). */
  STRIPE_PRICE_CREDITS: optional(stripePrice),
  /** Days a past-due subscription keeps its plan's features before it is restricted. */
  BILLING_GRACE_DAYS: z.coerce.number().int().min(0).max(90).default(DEFAULT_GRACE_DAYS),
});
type BillingEnv = z.output<typeof billingEnv>;

function webhookSecrets(e: BillingEnv): string[] {
  const secrets = [...(e.STRIPE_WEBHOOK_SECRETS ?? [])];
  if (e.STRIPE_WEBHOOK_SECRET && !secrets.includes(e.STRIPE_WEBHOOK_SECRET)) {
    secrets.push(e.STRIPE_WEBHOOK_SECRET);
  }
  return secrets;
}

export function billingConfig(e: BillingEnv) {
  return {
    /** Stripe's settings; undefined: billing is off (development and tests without a key). */
    stripe: e.STRIPE_SECRET_KEY
      ? {
          secretKey: e.STRIPE_SECRET_KEY,
          /** Every secret a webhook signature may verify with; the first is the current one. */
          webhookSecrets: webhookSecrets(e),
          /** Stripe's API (host, port and protocol come from it). */
          apiBase: trimSlash(e.STRIPE_API_BASE),
          /** Deadline of each attempt of a call; the SDK retries with the same idempotency key. */
          timeoutMs: e.STRIPE_TIMEOUT_MS,
        }
      : undefined,
    /**
     * Each plan's Stripe price ids, the one sold at checkout first and any it was sold at before
     * after it; null: free (no checkout); undefined: not configured.
     */
    plans: {
      VENUE_STARTER: e.STRIPE_PRICE_VENUE_STARTER,
      VENUE_GROWTH: e.STRIPE_PRICE_VENUE_GROWTH,
      VENUE_PRO: e.STRIPE_PRICE_VENUE_PRO,
      DEVELOPER_FREE: null,
      DEVELOPER_PRO: e.STRIPE_PRICE_DEVELOPER_PRO,
    } satisfies Record<Plan, readonly string[] | null | undefined>,
    /**
     * Each plan's metered prices (the Stripe meters it bills), subscribed to beside its price at
     * checkout: usage reported to a meter is billed only through a subscription item of its price.
     */
    meteredPrices: {
      VENUE_STARTER: e.STRIPE_METERED_PRICES_VENUE_STARTER ?? [],
      VENUE_GROWTH: e.STRIPE_METERED_PRICES_VENUE_GROWTH ?? [],
      VENUE_PRO: e.STRIPE_METERED_PRICES_VENUE_PRO ?? [],
      DEVELOPER_FREE: [],
      DEVELOPER_PRO: e.STRIPE_METERED_PRICES_DEVELOPER_PRO ?? [],
    } satisfies Record<Plan, string[]>,
    /** The per-unit price credits are bought at (one unit = one minor unit of credits). */
    creditsPrice: e.STRIPE_PRICE_CREDITS,
    /**
     * Days a subscription Stripe could not collect for (past_due) keeps its plan's features,
     * counted from when it became past due; then it is restricted until paid.
     */
    graceDays: e.BILLING_GRACE_DAYS,
    /** Why billing is off, for `/readyz` and the logs; undefined when it is on. */
    offReason: e.STRIPE_SECRET_KEY ? undefined : 'STRIPE_SECRET_KEY not set',
  };
}

export function billingProblems(e: BillingEnv, { production }: Context): string[] {
  const found: string[] = [];
  if (production && !e.STRIPE_SECRET_KEY) found.push('STRIPE_SECRET_KEY: required in production');
  if (production && webhookSecrets(e).length === 0) {
    found.push('STRIPE_WEBHOOK_SECRETS (or STRIPE_WEBHOOK_SECRET): required in production');
  }
  if (production) {
    for (const name of Object.values(PRICE_VARS)) {
      if (!e[name]) found.push(`${name}: required in production`);
    }
  }
  // A plan is known by its prices among a subscription's items: one price is one plan's, and a
  // metered price is no plan's.
  const planOf = new Map<string, string>();
  for (const name of Object.values(PRICE_VARS)) {
    for (const price of e[name] ?? []) {
      const other = planOf.get(price);
      if (other) found.push(`${name}: ${price} is ${other}'s price too`);
      else planOf.set(price, name);
    }
  }
  for (const name of Object.values(METERED_VARS)) {
    for (const price of e[name] ?? []) {
      if (planOf.has(price)) found.push(`${name}: ${price} is a plan's own price, not a metered one`);
    }
  }
  return found;
}
