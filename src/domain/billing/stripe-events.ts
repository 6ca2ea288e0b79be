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
 *   which is true now, is stored instead: a late event never moves a subscription backwards.
 * - `checkout.session.completed`, `invoice.paid` and `invoice.payment_failed` name a
 *   subscription but do not hold its state (an invoice paid says nothing of whether a later one
 *   failed): the subscription is re-read from Stripe and stored.
 *
 * The organisation comes from `metadata.organizationId` on the subscription (or the Checkout
 * Session, which also sets `client_reference_id`), and otherwise from the customer's stored row.
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
import { applyFeeInvoicePaid } from './fee-collection.ts';

/** The job that applies one recorded Stripe event. */
export const stripeEventTask = defineTask({ name: 'stripe-event', schema: providerEventPayload });

/** The event types that move a subscription. Others are recorded and ignored. */
export const SUBSCRIPTION_EVENTS = [
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
] as const;

export interface StripeEventDeps {
  /** The read this needs of Stripe. */
  stripe: Pick<StripeClient, 'subscriptions'>;
  now: () => Date;
}

export type StripeEventOutcome =
  | { outcome: 'applied'; subscriptionId: string; status: string; from: 'event' | 'stripe' }
  | { outcome: 'applied'; feeInvoiceId: string; settled: number; from: 'event' }
  | { outcome: 'ignored'; reason: string };

const idOf = z
  .union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)])
  .nullish()
  .catch(undefined);
const metadata = z.record(z.string(), z.string()).nullish().catch(undefined);
const epoch = z.number().int().nullish().catch(undefined);

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
  created: z.number().int(),
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

/** Applies one verified Stripe event (as Stripe sent it). */
export async function applyStripeEvent(
  db: Db,
  payload: unknown,
  deps: StripeEventDeps,
): Promise<StripeEventOutcome> {
  const parsed = eventSchema.safeParse(payload);
  if (!parsed.success) return { outcome: 'ignored', reason: 'unreadable' };
  const event = parsed.data;
  const object = event.data.object;

  // Booking fees' own invoices (fee-collection.ts); a subscription's invoice falls through.
  if (event.type === 'invoice.paid' && typeof object.id === 'string') {
    const fees = await applyFeeInvoicePaid(db, {
      stripeInvoiceId: object.id,
      eventId: event.id,
      paidAt: deps.now(),
    });
    if (fees) return { outcome: 'applied', ...fees, from: 'event' };
  }

  switch (event.type) {
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const subscription = subscriptionSchema.safeParse(object);
      if (!subscription.success) return { outcome: 'ignored', reason: 'unreadable' };
      const stored = await store(db, subscription.data, {
        stateAt: new Date(event.created * 1000),
        source: event.id,
      });
      if (stored.outcome !== 'older') return stored;
      return reread(db, subscription.data.id, deps, subscription.data.metadata?.organizationId);
    }
    case 'checkout.session.completed': {
      const session = sessionSchema.safeParse(object);
      const subscriptionId = session.success ? session.data.subscription : undefined;
      if (!subscriptionId) return { outcome: 'ignored', reason: 'no_subscription' };
      const organizationId =
        session.data?.metadata?.organizationId ?? session.data?.client_reference_id ?? undefined;
      return reread(db, subscriptionId, deps, organizationId);
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

/** Stripe's current state of the subscription, stored as true now. */
async function reread(
  db: Db,
  subscriptionId: string,
  deps: StripeEventDeps,
  organizationHint?: string,
): Promise<StripeEventOutcome> {
  let remote: unknown;
  try {
    remote = await deps.stripe.subscriptions.retrieve(subscriptionId);
  } catch (error) {
    if (error instanceof StripeCallError && error.status === 404) {
      return { outcome: 'ignored', reason: 'unknown_subscription' };
    }
    throw error;
  }
  const subscription = subscriptionSchema.safeParse(remote);
  if (!subscription.success) return { outcome: 'ignored', reason: 'unreadable_subscription' };
  const stored = await store(db, subscription.data, {
    stateAt: deps.now(),
    source: 'retrieve',
    organizationHint,
  });
  // A state stored meanwhile from a read even newer than ours is as good.
  if (stored.outcome === 'older') {
    const row = await db.billingSubscription.findUnique({ where: { stripeSubscriptionId: subscriptionId } });
    return row
      ? { outcome: 'applied', subscriptionId, status: row.status, from: 'stripe' }
      : { outcome: 'ignored', reason: 'unknown_subscription' };
  }
  return stored.outcome === 'applied' ? { ...stored, from: 'stripe' } : stored;
}

const UPSERT = `
  INSERT INTO billing_subscriptions
    (id, organization_id, stripe_customer_id, stripe_subscription_id, status, current_period_end, state_at, source, price_id)
  VALUES (gen_random_uuid(), $1::uuid, $2::text, $3::text, $4::text, $5::timestamptz, $6::timestamptz, $7::text, $8::text)
  ON CONFLICT (stripe_subscription_id) DO UPDATE SET
    stripe_customer_id = EXCLUDED.stripe_customer_id,
    status = EXCLUDED.status,
    current_period_end = EXCLUDED.current_period_end,
    price_id = EXCLUDED.price_id,
    state_at = EXCLUDED.state_at,
    source = EXCLUDED.source,
    updated_at = now()
  WHERE billing_subscriptions.state_at < EXCLUDED.state_at
  RETURNING status`;

/**
 * Stores `subscription` as it was at `stateAt` unless the stored state is as new or newer
 * (`older`), in one statement, so two jobs about one subscription cannot interleave.
 */
async function store(
  db: Db,
  subscription: SubscriptionObject,
  options: { stateAt: Date; source: string; organizationHint?: string },
): Promise<
  | { outcome: 'applied'; subscriptionId: string; status: string; from: 'event' }
  | { outcome: 'older' }
  | { outcome: 'ignored'; reason: string }
> {
  const customerId = subscription.customer;
  if (!customerId) return { outcome: 'ignored', reason: 'no_customer' };
  const organizationId = await organizationOf(db, subscription, customerId, options.organizationHint);
  if (!organizationId) return { outcome: 'ignored', reason: 'unknown_organization' };
  const periodEnd = subscription.items?.data[0]?.current_period_end ?? subscription.current_period_end;
  const rows = await db.$queryRawUnsafe<{ status: string }[]>(
    UPSERT,
    organizationId,
    customerId,
    subscription.id,
    subscription.status,
    periodEnd ? new Date(periodEnd * 1000) : null,
    options.stateAt,
    options.source,
    subscription.items?.data[0]?.price?.id ?? null,
  );
  return rows.length
    ? { outcome: 'applied', subscriptionId: subscription.id, status: subscription.status, from: 'event' }
    : { outcome: 'older' };
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
  return existing?.organizationId ?? null;
}
