/**
 * An organisation's way into Stripe: a Checkout Session for a plan, the Customer Portal to manage
 * what it pays, and what its billing looks like for its dashboard. Only its owners and admins (and
 * platform admins) may do or see any of it; STAFF may not.
 *
 * Every Stripe write carries a key derived from our own ids (safety rule 4): the organisation's
 * customer is created once (`customer:{organizationId}:v2`, named, with an owner's address); each checkout or portal session
 * started is a numbered attempt kept in `billing_customers` (`checkout:{organizationId}:{plan}:
 * {attempt}`, `portal:{organizationId}:{attempt}`), so a call the SDK retries after a timeout is
 * answered with the session Stripe already made, while a person who starts again gets a new one.
 */

import type pg from 'pg';
import { type Plan, planFamily } from '../../config/billing.ts';
import { StripeCallError, type StripeClient } from '../../integrations/stripe/client.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { normalizeCurrency } from '../ledger/accounts.ts';
import { adjustCredits, creditBalance } from '../ledger/credits.ts';
import { TransferConflictError } from '../ledger/errors.ts';
import { derivedTransferId } from '../ledger/transfer.ts';
import { type Access, MANAGERS } from '../organizations/access.ts';
import { clientKeySchema, parseInput } from '../validation.ts';
import { type PlanPrices, planStanding, type Standing, type StandingDeps } from './standing.ts';

/** Billing is off here (no Stripe key): nothing can be bought or managed. */
export class BillingNotConfiguredError extends DomainError {
  override name = 'BillingNotConfiguredError';
  constructor(message = 'Billing is not configured on this server') {
    super(message);
  }
}

/**
 * Stripe did not answer in time (after the SDK's own retries with the same key): nothing was
 * bought or changed, and asking again is safe. Refusals that retrying cannot mend (a price Stripe
 * does not know, a wrong secret key) are not this: they are our bugs, logged as errors.
 */
export class BillingUnavailableError extends DomainError {
  override name = 'BillingUnavailableError';
  constructor(message = 'Stripe did not answer, so nothing was bought or changed. Try again in a minute.') {
    super(message);
  }
}

/** Runs a person's request to Stripe, answering BillingUnavailableError when Stripe is away. */
export async function askStripe<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StripeCallError && error.kind === 'transient') {
      throw new BillingUnavailableError();
    }
    throw error;
  }
}

export interface CheckoutDeps extends StandingDeps {
  db: DbOrTx;
  /** Advisory locks (`Database.locks`): one Checkout start per organisation at a time. */
  locks: pg.Pool;
  /** Undefined: billing is off. */
  stripe: StripeClient | undefined;
  /** Where Stripe sends the person back (PUBLIC_URL). */
  publicUrl: string;
  /**
   * Each plan's Stripe price ids (the first is sold, earlier ones follow); null for a free plan,
   * undefined for one not configured.
   */
  plans: PlanPrices;
  /** Each plan's metered prices (config.billing.meteredPrices), subscribed to with it. */
  meteredPrices: Readonly<Record<string, readonly string[]>>;
}

/** Checks the caller may manage the organisation's billing. */
export async function allowed(access: Access, organizationId: string): Promise<void> {
  await access.require(organizationId, MANAGERS);
  access.requireWrite();
}

/** The Stripe client, or BillingNotConfiguredError when billing is off. */
export function stripeOf(deps: Pick<CheckoutDeps, 'stripe'>): StripeClient {
  if (!deps.stripe) throw new BillingNotConfiguredError();
  return deps.stripe;
}

/**
 * The organisation's Stripe customer id, created (once, by its key) the first time. Checkout, the
 * portal and booking fees' invoices all bill this one customer.
 */
export async function customerOf(db: DbOrTx, stripe: StripeClient, organizationId: string): Promise<string> {
  const known = await db.billingCustomer.findUnique({ where: { organizationId } });
  if (known) return known.stripeCustomerId;
  // Named, and with an owner's address: an invoice Stripe sends to be paid goes there (a customer
  // made for a monthly fee invoice has been through no Checkout that would have asked for one).
  const organization = await db.organization.findUnique({
    where: { id: organizationId },
    select: {
      name: true,
      memberships: {
        where: { role: 'OWNER', user: { email: { not: null } } },
        orderBy: { createdAt: 'asc' },
        take: 1,
        select: { user: { select: { email: true } } },
      },
    },
  });
  const email = organization?.memberships[0]?.user.email;
  const customer = await stripe.customers.create(
    {
      metadata: { organizationId },
      ...(organization ? { name: organization.name } : {}),
      ...(email ? { email } : {}),
    },
    { idempotencyKey: `customer:${organizationId}:v2` },
  );
  // Two starts at once get the same customer from Stripe (same key); one row is kept.
  await db.billingCustomer.upsert({
    where: { organizationId },
    create: { organizationId, stripeCustomerId: customer.id },
    update: {},
  });
  return customer.id;
}

/** The next attempt number of `counter`, counted in the database so two starts never share one. */
export async function nextAttempt(
  db: DbOrTx,
  organizationId: string,
  counter: 'checkoutAttempts' | 'portalAttempts' | 'creditAttempts',
): Promise<number> {
  const row = await db.billingCustomer.update({
    where: { organizationId },
    data: { [counter]: { increment: 1 }, updatedAt: new Date() },
  });
  return row[counter];
}

/**
 * Starts a Stripe Checkout for `plan` (subscription mode) and returns the session's URL. Owners
 * and admins only; a free plan is a ValidationError, an organisation with a plan of the same
 * kind already (venue or developer, in any standing) a ConflictError, a plan without a configured price (or billing off) a
 * BillingNotConfiguredError, Stripe not answering a BillingUnavailableError.
 */
export async function startCheckout(
  deps: CheckoutDeps,
  access: Access,
  input: { organizationId: string; plan: string },
): Promise<{ url: string }> {
  await allowed(access, input.organizationId);
  const prices = deps.plans[input.plan];
  if (prices === null) throw new ValidationError('A free plan needs no checkout', 'plan');
  const stripe = stripeOf(deps);
  // The plan's price sold now; those after it only keep earlier subscribers on the plan.
  const price = prices?.[0];
  if (price === undefined) {
    throw new BillingNotConfiguredError(`The plan ${input.plan} has no Stripe price configured`);
  }
  const { organizationId, plan } = input;
  // A second Checkout for a venue plan (or a developer one) would start a second subscription
  // beside the first, both billed: a plan is changed, or its payment mended, in the Customer Portal.
  // (A priced plan is one of PLANS: `deps.plans` is keyed by them.)
  const current = await planStanding(deps.db, deps, organizationId, planFamily(plan as Plan));
  if (current.standing !== 'NONE') {
    throw new ConflictError(
      'The organisation already has this kind of plan: change it with changePlan, or its payment in the billing portal (openBillingPortal)',
    );
  }
  // Two starts at the same instant (two tabs, two colleagues) would each find no Checkout open and
  // make one, and both could be paid: two subscriptions, both billed. They take turns; the second
  // is told to try again (and then ends the first's Checkout, as any later start does).
  const started = await withAdvisoryLock(deps.locks, `checkout:${organizationId}`, () =>
    openCheckout(deps, stripe, { organizationId, plan, price }),
  );
  if (!started.locked) {
    throw new ConflictError(
      'A Checkout for this organisation is being started right now: try again in a moment',
    );
  }
  return started.value;
}

/** startCheckout's Stripe part, one at a time per organisation: ends the open Checkouts of the kind, makes one. */
async function openCheckout(
  deps: CheckoutDeps,
  stripe: StripeClient,
  { organizationId, plan, price }: { organizationId: string; plan: string; price: string },
): Promise<{ url: string }> {
  const customer = await askStripe(() => customerOf(deps.db, stripe, organizationId));
  // A Checkout started before for a plan of this kind and still open (another tab, a colleague) is
  // ended first: paid too, it would start a second subscription beside this one, both billed.
  const family = planFamily(plan as Plan);
  const open = await askStripe(() => stripe.checkout.sessions.listOpen(customer));
  for (const earlier of open) {
    const earlierPlan = earlier.metadata?.plan;
    if (earlier.mode !== 'subscription' || !earlierPlan || !(earlierPlan in deps.plans)) continue;
    if (planFamily(earlierPlan as Plan) !== family) continue;
    await askStripe(() =>
      stripe.checkout.sessions.expire(earlier.id, { idempotencyKey: `checkout-expire:${earlier.id}` }),
    ).catch((error: unknown) => {
      // No longer open: most likely paid a moment ago, its plan on its way. Not a second one.
      if (error instanceof StripeCallError && error.status === 400) {
        throw new ConflictError(
          'A Checkout for this kind of plan was completed a moment ago: its plan shows shortly (try again in a minute if it does not)',
        );
      }
      throw error;
    });
  }
  const attempt = await nextAttempt(deps.db, organizationId, 'checkoutAttempts');
  const base = deps.publicUrl.replace(/\/$/, '');
  const session = await askStripe(() =>
    stripe.checkout.sessions.create(
      {
        mode: 'subscription',
        customer,
        client_reference_id: organizationId,
        // The plan, and the meters it bills (a metered price takes no quantity).
        line_items: [
          { price, quantity: 1 },
          ...(deps.meteredPrices[plan] ?? []).map((metered) => ({ price: metered })),
        ],
        metadata: { organizationId, plan },
        // Flexible billing: a meter removed by a later plan change has its usage so far billed
        // (in classic mode it would be dropped).
        subscription_data: { metadata: { organizationId, plan }, billing_mode: { type: 'flexible' } },
        success_url: `${base}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${base}/billing?checkout=cancelled`,
      },
      { idempotencyKey: `checkout:${organizationId}:${plan}:${attempt}` },
    ),
  );
  if (!session.url) throw new Error(`Stripe returned checkout session ${session.id} without a URL`);
  return { url: session.url };
}

/** A Customer Portal session for the organisation: its URL. Owners and admins only. */
export async function openBillingPortal(
  deps: CheckoutDeps,
  access: Access,
  input: { organizationId: string },
): Promise<{ url: string }> {
  await allowed(access, input.organizationId);
  const stripe = stripeOf(deps);
  const { organizationId } = input;
  const customer = await askStripe(() => customerOf(deps.db, stripe, organizationId));
  const attempt = await nextAttempt(deps.db, organizationId, 'portalAttempts');
  const session = await askStripe(() =>
    stripe.billingPortal.sessions.create(
      { customer, return_url: `${deps.publicUrl.replace(/\/$/, '')}/billing` },
      { idempotencyKey: `portal:${organizationId}:${attempt}` },
    ),
  );
  return { url: session.url };
}

export interface OrganizationBilling {
  organizationId: string;
  /**
   * The plan of the latest subscription, when its price is one of ours; null without one. The plan
   * subscribed to, whatever its standing: a restricted organisation still sees what it pays for
   * (planStanding's `subscribedPlan`; its `plan` is the one whose features apply).
   */
  plan: string | null;
  /** Stripe's status of the latest subscription; null without one. */
  status: string | null;
  /** Whether the plan's features are on: ACTIVE, PAST_DUE (in grace), RESTRICTED or NONE. */
  standing: Standing;
  /** Until when a past-due subscription keeps its features (or when they went off); else null. */
  graceEndsAt: Date | null;
  currentPeriodEnd: Date | null;
  /** Prepaid credits in minor units, per currency the organisation ever held credits in. */
  credits: { currency: string; balance: bigint }[];
}

/**
 * The organisation's billing for its dashboard, or null for anyone but its owners and admins
 * (and platform admins): STAFF see nothing of it.
 */
export async function organizationBilling(
  { db, ...standingDeps }: Pick<CheckoutDeps, 'db'> & StandingDeps,
  access: Access,
  organizationId: string,
): Promise<OrganizationBilling | null> {
  if (!(await access.has(organizationId, MANAGERS))) return null;
  const standing = await planStanding(db, standingDeps, organizationId);
  const accounts = await db.ledgerAccount.findMany({
    where: { ownerKind: 'ORGANIZATION', ownerId: organizationId, purpose: 'CREDITS' },
    select: { currency: true },
    orderBy: { currency: 'asc' },
  });
  const credits = await Promise.all(
    accounts.map(async ({ currency }) => ({
      currency,
      balance: await creditBalance(db, organizationId, currency),
    })),
  );
  return {
    organizationId,
    plan: standing.subscribedPlan,
    status: standing.status,
    standing: standing.standing,
    graceEndsAt: standing.graceEndsAt,
    currentPeriodEnd: standing.currentPeriodEnd,
    credits,
  };
}

/**
 * A platform admin's adjustment of an organisation's credits (the ledger's `adjustCredits`, which
 * checks who may), in the currency credits are kept in (API_CALL_CURRENCY; ValidationError for
 * any other), answered with the balance it left. With a `clientKey` a retried request (a
 * second click, a timeout and a resend) makes no second adjustment: the same admin's same key is
 * the same transfer, and the same key for another adjustment is a ConflictError.
 */
export async function adjustOrganizationCredits(
  deps: { db: DbOrTx; currency: string },
  access: Access,
  input: { organizationId: string; amount: number; currency: string; reason: string; clientKey?: string },
): Promise<{ currency: string; balance: bigint }> {
  const { db } = deps;
  if (access.isPlatformAdmin) {
    // Credits are spent on paid calls alone, in their currency: any other would never be spent.
    if (normalizeCurrency(input.currency) !== deps.currency) {
      throw new ValidationError(
        `Credits are kept in ${deps.currency}, the currency paid calls are priced in`,
        'currency',
      );
    }
    const exists = await db.organization.findUnique({
      where: { id: input.organizationId },
      select: { id: true },
    });
    if (!exists) throw new NotFoundError('No such organisation');
  }
  const { clientKey, ...adjustment } = input;
  const key = clientKey === undefined ? undefined : parseInput(clientKeySchema, clientKey, 'clientKey');
  try {
    await adjustCredits(db, access, {
      ...adjustment,
      ...(key && access.actor.kind === 'user'
        ? { transferId: derivedTransferId('credits-adjustment', access.actor.userId, key) }
        : {}),
    });
  } catch (error) {
    if (error instanceof TransferConflictError) {
      throw new ConflictError('This clientKey was already used for another adjustment');
    }
    throw error;
  }
  const currency = normalizeCurrency(input.currency);
  return { currency, balance: await creditBalance(db, input.organizationId, currency) };
}
