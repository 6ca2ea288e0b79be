/**
 * Stripe's webhook events applied to organisations' subscriptions (`billing_subscriptions`).
 *
 * The webhook (src/webhooks/stripe.ts) verifies a delivery, records the event once by its id in
 * `provider_events` together with a `stripe-event` job, and answers; the job applies it here.
 * Stripe neither promises order nor delivers once, and a job may run twice, so applying must be
 * idempotent and order-independent. It is, because we store Stripe's *state*, never a change:
 *
 * - `customer.subscription.created|updated|deleted` carry the subscription itself. Its state is
 *   stored with `state_at` = the event's `created`, in one statement that only overwrites a row
 *   whose state is strictly older. When the stored state is as new or newer (a late or repeated
 *   event), the subscription is re-read from Stripe (`subscriptions.retrieve`) and that answer,
 *   which is true now, is stored instead (only over the row as it was when Stripe was asked, else
 *   Stripe is asked again): a late event never moves a subscription backwards.
 * - `checkout.session.completed`, `invoice.paid` and `invoice.payment_failed` name a
 *   subscription but do not hold its state (an invoice paid says nothing of whether a later one
 *   failed): the subscription is re-read from Stripe and stored.
 *
 * The organisation comes from `metadata.organizationId` on the subscription (or the Checkout
 * Session, which also sets `client_reference_id`), and otherwise from the customer's stored row.
 *
 * The same statement keeps `past_due_since`, when the subscription became past due (the time of
 * the first past_due state stored; kept while it stays past due, cleared when it leaves), which
 * its grace period counts from (standing.ts). After a state is stored, the owners are told of a
 * change of standing (dunning.ts), and the organisation's webhooks of a change of status, plan or
 * standing (billing-events.ts), each once however often the state arrives.
 *
 * The daily reconcile (reconcile.ts) re-reads subscriptions through `refreshSubscription`, the
 * same re-read and store.
 */
import { z } from 'zod';
import { StripeCallError, type StripeClient } from '../../integrations/stripe/client.ts';
import type { Db } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import {
  finishProviderEvent,
  providerEventPayload,
  readProviderEvent,
} from '../../platform/provider-events.ts';
import {
  applyCreditsDispute,
  applyCreditsEvent,
  applyCreditsRefund,
  type CreditsEventOutcome,
  isCreditsSession,
} from './credits-purchase.ts';
import { type DunningDeps, settleStandingNotices } from './dunning.ts';
import {
  applyFeeInvoiceClosed,
  applyFeeInvoicePaid,
  applyFeeInvoicePaymentFailed,
} from './fee-collection.ts';
import { meteredPricesOfAnyPlan, planOfPrice, type StandingDeps } from './standing.ts';

/** The job that applies one recorded Stripe event. */
export const stripeEventTask = defineTask({ name: 'stripe-event', schema: providerEventPayload });

export interface StripeEventDeps extends DunningDeps {
  /** The reads this needs of Stripe. */
  stripe: Pick<StripeClient, 'subscriptions' | 'customers' | 'paymentIntents' | 'checkout'>;
  /** Each plan's metered prices (config.billing.meteredPrices): what its subscription should bill. */
  meteredPrices: Readonly<Record<string, readonly string[]>>;
}

export type StripeEventOutcome =
  | {
      outcome: 'applied';
      subscriptionId: string;
      status: string;
      from: 'event' | 'stripe';
      /** Stripe no longer knows it: stored as canceled (refreshSubscription). */
      missing?: true;
      /** Its items bill other meters than its plan does (changed outside changePlan). */
      meters?: MeterMismatch;
    }
  | { outcome: 'fees_settled'; feeInvoiceId: string; settled: number; from: 'event' }
  | { outcome: 'fee_invoice_failed'; feeInvoiceId: string; told: number; from: 'event' }
  | { outcome: 'fee_invoice_closed'; feeInvoiceId: string; waived: number; from: 'event' }
  | { outcome: 'ignored'; reason: string }
  | CreditsEventOutcome;

const idOf = z
  .union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)])
  .nullish()
  .catch(undefined);
const metadata = z.record(z.string(), z.string()).nullish().catch(undefined);
/**
 * A time as Stripe writes it (seconds), within the years a date can be stored in: one out of them
 * (signed, but no time Stripe keeps) failed the event's writes on every retry.
 */
const seconds = z.number().int().min(946_684_800).max(253_402_300_799);
const epoch = seconds.nullish().catch(undefined);

const subscriptionSchema = z.object({
  id: z.string(),
  object: z.literal('subscription'),
  customer: idOf,
  status: z.string(),
  metadata,
  current_period_end: epoch,
  items: z
    .object({
      data: z.array(
        z
          .object({
            current_period_end: epoch,
            price: z.object({ id: z.string() }).nullish().catch(undefined),
          })
          .loose(),
      ),
    })
    .nullish()
    .catch(undefined),
});
type SubscriptionObject = z.output<typeof subscriptionSchema>;

const eventSchema = z.object({
  id: z.string(),
  type: z.string(),
  created: seconds,
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

const sessionSchema = z.object({
  customer: idOf,
  subscription: idOf,
  client_reference_id: z.string().nullish().catch(undefined),
  metadata,
});

const invoiceSchema = z.object({
  customer: idOf,
  /** Before API 2025-03-31 the invoice named its subscription here… */
  subscription: idOf,
  /** …since then, here. */
  parent: z
    .object({ subscription_details: z.object({ subscription: idOf }).nullish().catch(undefined) })
    .nullish()
    .catch(undefined),
});

/**
 * Applies the recorded event `id` and notes the outcome on it. Null when no such event was
 * recorded. Throws while Stripe cannot be asked (the job runs again).
 */
export async function applyRecordedStripeEvent(
  db: Db,
  id: string,
  deps: StripeEventDeps,
): Promise<StripeEventOutcome | null> {
  const event = await readProviderEvent(db, id);
  if (!event) return null;
  const result = await applyStripeEvent(db, event.payload, deps);
  await finishProviderEvent(
    db,
    id,
    result.outcome === 'ignored' ? `ignored:${result.reason}` : `applied:${result.from}`,
  );
  return result;
}

/**
 * Applies one verified Stripe event (as Stripe sent it), then tells the owners if the
 * subscription's standing changed.
 */
export async function applyStripeEvent(
  db: Db,
  payload: unknown,
  deps: StripeEventDeps,
): Promise<StripeEventOutcome> {
  const result = await storeStripeEvent(db, payload, deps);
  if (result.outcome === 'applied') await settleStandingNotices(db, result.subscriptionId, deps);
  return result;
}

async function storeStripeEvent(
  db: Db,
  payload: unknown,
  deps: StripeEventDeps,
): Promise<StripeEventOutcome> {
  const parsed = eventSchema.safeParse(payload);
  if (!parsed.success) return { outcome: 'ignored', reason: 'unreadable' };
  const event = parsed.data;
  const object = event.data.object;

  // A Checkout in payment mode bought credits (credits-purchase.ts); subscriptions are below.
  if (
    (event.type === 'checkout.session.completed' ||
      event.type === 'checkout.session.async_payment_succeeded') &&
    isCreditsSession(object)
  ) {
    return applyCreditsEvent(db, event, object, deps.now);
  }
  // A credits purchase refunded (credits-purchase.ts); any other charge's refund is not ours to undo.
  if (event.type === 'charge.refunded') return applyCreditsRefund(db, event, object, deps);
  if (event.type === 'charge.dispute.created' || event.type === 'charge.dispute.closed') {
    return applyCreditsDispute(db, event, object, deps);
  }
  // Booking fees' own invoices (fee-collection.ts); a subscription's invoice falls through.
  if (event.type === 'invoice.paid' && typeof object.id === 'string') {
    const fees = await applyFeeInvoicePaid(db, {
      stripeInvoiceId: object.id,
      eventId: event.id,
      paidAt: deps.now(),
    });
    if (fees) return { outcome: 'fees_settled', ...fees, from: 'event' };
  }
  if (event.type === 'invoice.payment_failed' && typeof object.id === 'string') {
    const hosted = (object as { hosted_invoice_url?: unknown }).hosted_invoice_url;
    const failed = await applyFeeInvoicePaymentFailed(db, {
      stripeInvoiceId: object.id,
      hostedUrl: typeof hosted === 'string' ? hosted : null,
      publicUrl: deps.publicUrl,
      now: deps.now(),
    });
    if (failed) return { outcome: 'fee_invoice_failed', ...failed, from: 'event' };
  }
  if (
    (event.type === 'invoice.voided' || event.type === 'invoice.marked_uncollectible') &&
    typeof object.id === 'string'
  ) {
    const closed = await applyFeeInvoiceClosed(db, {
      stripeInvoiceId: object.id,
      status: event.type === 'invoice.voided' ? 'void' : 'uncollectible',
      eventId: event.id,
      now: deps.now(),
    });
    if (closed) return { outcome: 'fee_invoice_closed', ...closed, from: 'event' };
  }

  switch (event.type) {
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const subscription = subscriptionSchema.safeParse(object);
      if (!subscription.success) return { outcome: 'ignored', reason: 'unreadable' };
      const stored = await store(db, subscription.data, {
        plans: deps.plans,
        meteredPrices: deps.meteredPrices,
        stateAt: new Date(event.created * 1000),
        source: event.id,
      });
      if (stored.outcome !== 'older') return stored;
      return reread(db, subscription.data.id, deps, {
        organizationHint: subscription.data.metadata?.organizationId,
      });
    }
    case 'checkout.session.completed': {
      const session = sessionSchema.safeParse(object);
      const subscriptionId = session.success ? session.data.subscription : undefined;
      if (!subscriptionId) return { outcome: 'ignored', reason: 'no_subscription' };
      const organizationId =
        session.data?.metadata?.organizationId ?? session.data?.client_reference_id ?? undefined;
      return reread(db, subscriptionId, deps, { organizationHint: organizationId });
    }
    case 'invoice.paid':
    case 'invoice.payment_failed': {
      const invoice = invoiceSchema.safeParse(object);
      const subscriptionId = invoice.success
        ? (invoice.data.parent?.subscription_details?.subscription ?? invoice.data.subscription)
        : undefined;
      if (!subscriptionId) return { outcome: 'ignored', reason: 'no_subscription' };
      return reread(db, subscriptionId, deps);
    }
    default:
      return { outcome: 'ignored', reason: `unhandled:${event.type}` };
  }
}

/** A stored subscription, as `refreshSubscription` needs it. */
export interface StoredSubscription {
  organizationId: string;
  stripeCustomerId: string;
  stripeSubscriptionId: string;
  priceId: string | null;
  currentPeriodEnd: Date | null;
}

/**
 * Re-reads a stored subscription from Stripe and stores Stripe's answer as true now (the same
 * order-safe store as events), then tells the owners if its standing changed. One Stripe no
 * longer knows (404) is stored as canceled. Throws while Stripe cannot be asked.
 */
export async function refreshSubscription(
  db: Db,
  row: StoredSubscription,
  deps: StripeEventDeps,
  source = 'reconcile',
): Promise<StripeEventOutcome> {
  const result = await reread(db, row.stripeSubscriptionId, deps, {
    organizationHint: row.organizationId,
    source,
    missing: {
      id: row.stripeSubscriptionId,
      object: 'subscription',
      customer: row.stripeCustomerId,
      status: 'canceled',
      metadata: { organizationId: row.organizationId },
      current_period_end: undefined,
      items: {
        data: [
          {
            current_period_end: row.currentPeriodEnd
              ? Math.floor(row.currentPeriodEnd.getTime() / 1000)
              : undefined,
            price: row.priceId ? { id: row.priceId } : undefined,
          },
        ],
      },
    },
  });
  if (result.outcome === 'applied') await settleStandingNotices(db, result.subscriptionId, deps);
  return result;
}

/**
 * Throws unless Stripe knows the customer of a subscription it answered 404 for. Stripe keeps a
 * deleted customer (answered with `deleted: true`), so one it cannot find at all means the key
 * sees another account or mode than the one that made them (a wrong `STRIPE_SECRET_KEY`), under
 * which every subscription reads as gone: nothing is then stored as canceled.
 */
async function requireCustomerKnown(deps: StripeEventDeps, subscriptionId: string, customer: unknown) {
  if (typeof customer !== 'string') return;
  try {
    await deps.stripe.customers.retrieve(customer);
  } catch (error) {
    if (error instanceof StripeCallError && error.status === 404) {
      throw new Error(
        `Stripe knows neither subscription ${subscriptionId} nor its customer ${customer}: is STRIPE_SECRET_KEY the key of the account and mode that made them? Nothing was changed`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Stripe's current state of the subscription, stored as true now. A subscription Stripe does not
 * know is ignored, or stored as `missing` says (a canceled one) when given, once Stripe is seen to
 * know its customer (`requireCustomerKnown`).
 */
async function reread(
  db: Db,
  subscriptionId: string,
  deps: StripeEventDeps,
  options: { organizationHint?: string; source?: string; missing?: SubscriptionObject } = {},
): Promise<StripeEventOutcome> {
  const source = options.source ?? 'retrieve';
  let stored: Awaited<ReturnType<typeof store>>;
  let missing = false;
  for (let read = 1; ; read++) {
    // Stripe's answer may predate an event stored while the call was out (a cancellation, say,
    // whose event time is whole seconds): it is stored only if the row is as it was when we asked,
    // and otherwise Stripe is asked again, now that it knows that change too.
    const seen = await db.billingSubscription.findUnique({
      where: { stripeSubscriptionId: subscriptionId },
      select: { stateAt: true },
    });
    let remote: unknown;
    try {
      remote = await deps.stripe.subscriptions.retrieve(subscriptionId);
    } catch (error) {
      if (error instanceof StripeCallError && error.status === 404) {
        if (!options.missing) return { outcome: 'ignored', reason: 'unknown_subscription' };
        await requireCustomerKnown(deps, subscriptionId, options.missing.customer);
        remote = options.missing;
      } else {
        throw error;
      }
    }
    missing = remote === options.missing;
    const subscription = subscriptionSchema.safeParse(remote);
    if (!subscription.success) return { outcome: 'ignored', reason: 'unreadable_subscription' };
    stored = await store(db, subscription.data, {
      plans: deps.plans,
      meteredPrices: deps.meteredPrices,
      stateAt: deps.now(),
      source: missing ? `${source}:missing` : source,
      organizationHint: options.organizationHint,
      unchangedSince: seen?.stateAt ?? null,
    });
    if (stored.outcome !== 'older' || read >= REREADS) break;
  }
  // A state stored meanwhile (read again, and again) is as good as ours.
  if (stored.outcome === 'older') {
    const row = await db.billingSubscription.findUnique({ where: { stripeSubscriptionId: subscriptionId } });
    return row
      ? { outcome: 'applied', subscriptionId, status: row.status, from: 'stripe' }
      : { outcome: 'ignored', reason: 'unknown_subscription' };
  }
  if (stored.outcome !== 'applied') return stored;
  return missing ? { ...stored, from: 'stripe', missing: true } : { ...stored, from: 'stripe' };
}

// `past_due_since`: the state's time when it is past due, unless it already was (the stored
// row's time stands); null otherwise. Decided inside the statement, so it agrees with the row
// it overwrites even when two stores race.
/** Times a re-read asks Stripe again when the row changed while the answer was on its way. */
const REREADS = 3;

const UPSERT = `
  INSERT INTO billing_subscriptions
    (id, organization_id, stripe_customer_id, stripe_subscription_id, status, current_period_end, state_at, source, price_id, past_due_since)
  VALUES (gen_random_uuid(), $1::uuid, $2::text, $3::text, $4::text, $5::timestamptz, $6::timestamptz, $7::text, $8::text,
          CASE WHEN $4::text = 'past_due' THEN $6::timestamptz END)
  ON CONFLICT (stripe_subscription_id) DO UPDATE SET
    stripe_customer_id = EXCLUDED.stripe_customer_id,
    status = EXCLUDED.status,
    past_due_since = CASE
      WHEN EXCLUDED.status = 'past_due' AND billing_subscriptions.status = 'past_due'
        THEN COALESCE(billing_subscriptions.past_due_since, EXCLUDED.past_due_since)
      ELSE EXCLUDED.past_due_since
    END,
    current_period_end = EXCLUDED.current_period_end,
    price_id = EXCLUDED.price_id,
    state_at = EXCLUDED.state_at,
    source = EXCLUDED.source,
    updated_at = now()
  WHERE billing_subscriptions.state_at < EXCLUDED.state_at
    -- A re-read: only over the row as it was when Stripe was asked ($10: its state_at then, or null
    -- for no row), so an event stored meanwhile is not overwritten by an answer that predates it.
    AND ($9::boolean IS NOT TRUE OR billing_subscriptions.state_at IS NOT DISTINCT FROM $10::timestamptz)
  RETURNING status`;

/**
 * Stores `subscription` as it was at `stateAt` unless the stored state is as new or newer
 * (`older`), in one statement, so two jobs about one subscription cannot interleave.
 */
async function store(
  db: Db,
  subscription: SubscriptionObject,
  options: {
    stateAt: Date;
    source: string;
    plans: StandingDeps['plans'];
    meteredPrices: StripeEventDeps['meteredPrices'];
    organizationHint?: string;
    /** A re-read's: the row's `state_at` when Stripe was asked (null: there was none). */
    unchangedSince?: Date | null;
  },
): Promise<
  | { outcome: 'applied'; subscriptionId: string; status: string; from: 'event' }
  | { outcome: 'older' }
  | { outcome: 'ignored'; reason: string }
> {
  const customerId = subscription.customer;
  if (!customerId) return { outcome: 'ignored', reason: 'no_customer' };
  const organizationId = await organizationOf(db, subscription, customerId, options.organizationHint);
  if (!organizationId) return { outcome: 'ignored', reason: 'unknown_organization' };
  // The plan's item: the one whose price is a plan's (the others bill its meters).
  const items = subscription.items?.data ?? [];
  const planItem = items.find((item) => planOfPrice(options.plans, item.price?.id)) ?? items[0];
  const periodEnd = planItem?.current_period_end ?? subscription.current_period_end;
  const rows = await db.$queryRawUnsafe<{ status: string }[]>(
    UPSERT,
    organizationId,
    customerId,
    subscription.id,
    subscription.status,
    periodEnd ? new Date(periodEnd * 1000) : null,
    options.stateAt,
    options.source,
    planItem?.price?.id ?? null,
    options.unchangedSince !== undefined,
    options.unchangedSince ?? null,
  );
  if (!rows.length) return { outcome: 'older' };
  const meters = meterMismatch(items, planItem?.price?.id, options);
  return {
    outcome: 'applied',
    subscriptionId: subscription.id,
    status: subscription.status,
    from: 'event',
    ...(meters ? { meters } : {}),
  };
}

/** The meters a subscription should bill and does not, and those it bills that its plan does not. */
export interface MeterMismatch {
  plan: string;
  missing: string[];
  extra: string[];
}

/**
 * How a subscription's metered items differ from its plan's (`config.billing.meteredPrices`), or
 * undefined when they agree (or it is no plan of ours). Items of prices none of our plans bills
 * are not counted: an add-on from the Stripe Dashboard is not a meter out of place.
 */
function meterMismatch(
  items: readonly { price?: { id: string } | null }[],
  planPrice: string | undefined,
  billing: { plans: StandingDeps['plans']; meteredPrices: StripeEventDeps['meteredPrices'] },
): MeterMismatch | undefined {
  const plan = planOfPrice(billing.plans, planPrice);
  if (!plan) return undefined;
  const anyPlans = meteredPricesOfAnyPlan(billing.meteredPrices);
  const wanted = billing.meteredPrices[plan] ?? [];
  const billed = items.flatMap((item) => (item.price && anyPlans.has(item.price.id) ? [item.price.id] : []));
  const missing = wanted.filter((price) => !billed.includes(price));
  const extra = billed.filter((price) => !wanted.includes(price));
  return missing.length || extra.length ? { plan, missing, extra } : undefined;
}

const uuid = z.uuid();

/** The organisation a subscription belongs to: its metadata, a hint, or the customer's row. */
async function organizationOf(
  db: Db,
  subscription: SubscriptionObject,
  customerId: string,
  hint: string | undefined,
): Promise<string | null> {
  for (const candidate of [subscription.metadata?.organizationId, hint]) {
    if (candidate && uuid.safeParse(candidate).success) {
      const known = await db.organization.count({ where: { id: candidate } });
      if (known) return candidate;
    }
  }
  const existing = await db.billingSubscription.findFirst({
    where: { OR: [{ stripeSubscriptionId: subscription.id }, { stripeCustomerId: customerId }] },
    select: { organizationId: true },
  });
  if (existing) return existing.organizationId;
  // The organisation's first subscription made without our metadata (in the Stripe Dashboard):
  // its customer is the organisation's.
  const customer = await db.billingCustomer.findUnique({
    where: { stripeCustomerId: customerId },
    select: { organizationId: true },
  });
  return customer?.organizationId ?? null;
}
