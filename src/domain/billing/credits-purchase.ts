/**
 * Buying prepaid credits: a Stripe Checkout in payment mode, and the credits granted once Stripe
 * says the payment is in.
 *
 * `buyCredits` starts the Checkout (owners and admins only). Each purchase started is a numbered
 * attempt in `billing_customers` (`credits:{organizationId}:{attempt}`), so a call the SDK retries
 * after a timeout is answered with the session Stripe already made. The amount is what the session
 * charges: one line, `price_data` of exactly that amount, or, with STRIPE_PRICE_CREDITS set, that
 * per-unit price (one unit is one minor unit of credit) times the amount. Credits are sold in the
 * currency paid calls are priced in (API_CALL_CURRENCY), the only one they are spent in.
 *
 * The webhook's `checkout.session.completed` (mode payment, `payment_status: paid`) or, for a
 * payment that settles later (bank debits), `checkout.session.async_payment_succeeded` grants the
 * credits: one ledger transfer whose id is derived from the session's id, so Stripe delivering
 * both events, or either twice, grants once. A session completed but not yet paid grants nothing.
 * The grant that writes the transfer also queues `billing.credits.purchased` for the organisation's
 * webhooks, in its transaction.
 *
 * A purchase refunded in Stripe (`charge.refunded`, in full or in part) takes back the credits the
 * refund paid for, as far as they are left: its charge's PaymentIntent carries the purchase's
 * metadata; the credits taken are the purchase's share of the amount refunded so far, less what
 * earlier refunds of the charge reached (`credits_refunds`, kept even when nothing was left to take). Credits
 * already spent cannot be taken back: the transfer records what was left uncovered. A dispute
 * (`charge.dispute.created`) takes back its share the same way, once (`credits_disputes`); one
 * closed as won (`charge.dispute.closed`, status `won`) gives back what it took, and one known as
 * won before its opening was applied takes nothing. Refunds and a dispute of one purchase together
 * never take more than it bought. An inquiry (`warning_*`) withdraws no money and takes nothing.
 *
 * Stripe does not promise order: a refund or dispute applied before the purchase's own completion
 * grants the purchase first, from its session as Stripe holds it now, so the later completion
 * finds it granted instead of adding back what was taken.
 */
import { z } from 'zod';
import { StripeCallError, type StripeClient } from '../../integrations/stripe/client.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { ValidationError } from '../../platform/errors.ts';
import { normalizeCurrency } from '../ledger/accounts.ts';
import { CREDITS_DISPUTE, creditBalance, grantCredits, refundCredits } from '../ledger/credits.ts';
import { derivedTransferId, reverseTransfer } from '../ledger/transfer.ts';
import type { Access } from '../organizations/access.ts';
import { queueWebhookEvent } from '../outbound-webhooks/events.ts';
import { allowed, askStripe, type CheckoutDeps, customerOf, nextAttempt, stripeOf } from './checkout.ts';

/** What a Checkout Session for credits carries in its metadata, to know it again. */
export const CREDITS_PURPOSE = 'credits';

export interface CreditsPurchaseDeps extends CheckoutDeps {
  /** A per-unit Stripe price (one unit = one minor unit); undefined: `price_data` per session. */
  creditsPrice: string | undefined;
  /** The currency credits are sold and spent in. */
  currency: string;
  /** The least and most one purchase may buy, in minor units. */
  min: number;
  max: number;
}

/**
 * Starts a Checkout for `amount` minor units of credit and returns its URL. ValidationError for an
 * amount out of bounds or another currency; BillingNotConfiguredError while billing is off.
 */
export async function buyCredits(
  deps: CreditsPurchaseDeps,
  access: Access,
  input: { organizationId: string; amount: number; currency: string },
): Promise<{ url: string }> {
  await allowed(access, input.organizationId);
  const { amount, organizationId } = input;
  if (!Number.isSafeInteger(amount)) {
    throw new ValidationError('An amount is a whole number of minor units (cents)', 'amount');
  }
  if (amount < deps.min || amount > deps.max) {
    throw new ValidationError(
      `Buy from ${money(deps.min, deps.currency)} to ${money(deps.max, deps.currency)} of credit at a time`,
      'amount',
    );
  }
  const currency = normalizeCurrency(input.currency);
  if (currency !== deps.currency) {
    throw new ValidationError(`Credits are sold in ${deps.currency}`, 'currency');
  }
  const stripe = stripeOf(deps);
  const customer = await askStripe(() => customerOf(deps.db, stripe, organizationId));
  const attempt = await nextAttempt(deps.db, organizationId, 'creditAttempts');
  const base = deps.publicUrl.replace(/\/$/, '');
  const metadata = { organizationId, purpose: CREDITS_PURPOSE, credits: String(amount), currency };
  const session = await askStripe(() =>
    stripe.checkout.sessions.create(
      {
        mode: 'payment',
        customer,
        client_reference_id: organizationId,
        line_items: [
          deps.creditsPrice
            ? { price: deps.creditsPrice, quantity: amount }
            : {
                price_data: {
                  currency: currency.toLowerCase(),
                  unit_amount: amount,
                  product_data: { name: 'AGNT credits' },
                },
                quantity: 1,
              },
        ],
        metadata,
        payment_intent_data: { metadata },
        success_url: `${base}/billing?credits=success&session_id={CHECKOUT_SESSION_ID}`,
        cancel_url: `${base}/billing?credits=cancelled`,
      },
      { idempotencyKey: `credits:${organizationId}:${attempt}` },
    ),
  );
  if (!session.url) throw new Error(`Stripe returned checkout session ${session.id} without a URL`);
  return { url: session.url };
}

/** `minor` units of `currency` as a person reads them: 500 USD cents are "$5.00". */
function money(minor: number, currency: string): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(minor / 10 ** digits);
}

/** The events that may grant bought credits. */
export const CREDITS_EVENTS = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
] as const;

const uuid = z.uuid();
const creditsSession = z.object({
  id: z.string(),
  mode: z.literal('payment'),
  payment_status: z.string(),
  metadata: z.object({
    organizationId: uuid,
    purpose: z.literal(CREDITS_PURPOSE),
    credits: z.coerce.number().int().positive(),
    currency: z.string(),
  }),
});

export type CreditsEventOutcome =
  | { outcome: 'credited'; transferId: string; created: boolean; from: 'event' }
  | { outcome: 'credits_refunded'; taken: number; uncovered: number; from: 'event' }
  | { outcome: 'credits_disputed'; taken: number; uncovered: number; given: number; from: 'event' }
  | { outcome: 'ignored'; reason: string };

/** Whether a Checkout Session object is one of ours for credits (mode payment). */
export function isCreditsSession(object: Record<string, unknown>): boolean {
  return object.mode === 'payment';
}

/**
 * Grants the credits a paid Checkout Session bought: `type` is the event's, `session` its object.
 * A session not paid yet (`payment_status` unpaid) is ignored; its async_payment_succeeded grants.
 */
export async function applyCreditsEvent(
  db: Db,
  event: { id: string; type: string },
  session: Record<string, unknown>,
  now: () => Date,
): Promise<CreditsEventOutcome> {
  const parsed = creditsSession.safeParse(session);
  if (!parsed.success) return { outcome: 'ignored', reason: 'not_credits' };
  const { id, payment_status: paymentStatus, metadata } = parsed.data;
  // completed says paid when the card paid at once; async_payment_succeeded is the later payment.
  const paid = event.type === 'checkout.session.async_payment_succeeded' || paymentStatus === 'paid';
  if (!paid) return { outcome: 'ignored', reason: `payment_${paymentStatus}` };
  if (!(await db.organization.count({ where: { id: metadata.organizationId } }))) {
    return { outcome: 'ignored', reason: 'unknown_organization' };
  }
  const transferId = derivedTransferId('credits-purchase', id);
  const granted = await db.$transaction(async (tx) => {
    const grant = await grantCredits(tx, {
      transferId,
      organizationId: metadata.organizationId,
      amount: metadata.credits,
      currency: metadata.currency,
      reason: `Credits bought through Stripe Checkout ${id}`,
      actor: `stripe:${event.id}`,
      metadata: { checkoutSessionId: id },
    });
    // Only the grant that wrote the transfer tells receivers; a repeated event finds it written.
    if (grant.created) {
      await queueWebhookEvent(tx, {
        organizationId: metadata.organizationId,
        type: 'billing.credits.purchased',
        data: {
          transferId,
          checkoutSessionId: id,
          amountMinor: metadata.credits,
          currency: normalizeCurrency(metadata.currency),
        },
        now: now(),
      });
    }
    return grant;
  });
  return { outcome: 'credited', transferId, created: granted.created, from: 'event' };
}

/** What taking credits back reads of Stripe. */
export interface CreditsTakeBackDeps {
  stripe: Pick<StripeClient, 'paymentIntents' | 'checkout'>;
  now: () => Date;
}

/**
 * The PaymentIntent `paymentIntentId` (read from Stripe), and the credits purchase it paid for, from
 * the metadata the Checkout gave it; null when it paid for something else. A purchase whose
 * completion was not applied yet is granted now, from its session as Stripe holds it (the grant is
 * the one its completion would make, so that event, when it comes, finds it made).
 */
async function purchaseOf(db: Db, deps: CreditsTakeBackDeps, paymentIntentId: string, event: { id: string }) {
  let intent: Awaited<ReturnType<typeof deps.stripe.paymentIntents.retrieve>>;
  try {
    intent = await deps.stripe.paymentIntents.retrieve(paymentIntentId);
  } catch (error) {
    // A PaymentIntent Stripe does not know paid for nothing of ours (asking again never changes
    // that; the event was retried for days); one it cannot answer for now is asked again.
    if (error instanceof StripeCallError && error.status === 404) return { intent: null, purchase: null };
    throw error;
  }
  const purchase = creditsSession.shape.metadata.safeParse(intent.metadata);
  if (!purchase.success) return { intent, purchase: null };
  for (const session of await deps.stripe.checkout.sessions.ofPaymentIntent(intent.id)) {
    await applyCreditsEvent(
      db,
      { id: event.id, type: 'checkout.session.completed' },
      session as unknown as Record<string, unknown>,
      deps.now,
    );
  }
  return { intent, purchase: purchase.data };
}

/** A PaymentIntent named by id, or expanded. */
const paymentIntentId = z.union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)]);

const refundedCharge = z.object({
  id: z.string(),
  payment_intent: paymentIntentId,
  amount: z.number().int().positive(),
  amount_refunded: z.number().int().nonnegative(),
});

/**
 * Takes back the credits a refund of their purchase paid for (see the top): `charge` is the
 * `charge.refunded` event's object. Not a credits purchase (a subscription's invoice, a fee's
 * charge): ignored.
 */
export async function applyCreditsRefund(
  db: Db,
  event: { id: string },
  charge: Record<string, unknown>,
  deps: CreditsTakeBackDeps,
): Promise<CreditsEventOutcome> {
  const parsed = refundedCharge.safeParse(charge);
  if (!parsed.success) return { outcome: 'ignored', reason: 'unreadable_charge' };
  const { id: chargeId, amount, amount_refunded: refunded } = parsed.data;
  const { intent, purchase } = await purchaseOf(db, deps, parsed.data.payment_intent, event);
  if (!intent || !purchase) return { outcome: 'ignored', reason: 'not_credits' };
  const { organizationId, credits, currency } = purchase;
  // The purchase's share of what is refunded so far, in credits (rounded down).
  const through = (BigInt(credits) * BigInt(refunded)) / BigInt(amount);
  return db.$transaction(async (tx) => {
    // One take-back of a purchase at a time: each reads how far the others went.
    await lockPurchase(tx, intent.id);
    const [earlier] = await tx.$queryRaw<{ through: bigint }[]>`
      SELECT refunded_through AS through FROM credits_refunds WHERE charge_id = ${chargeId} FOR UPDATE`;
    const before = earlier?.through ?? 0n;
    if (through <= before)
      return { outcome: 'credits_refunded', taken: 0, uncovered: 0, from: 'event' } as const;
    // Never past the purchase, with what a dispute of it holds.
    const owed = least(through - before, BigInt(credits) - before - (await disputeHolds(tx, intent.id)));
    const taken = least(owed, await creditBalance(tx, organizationId, currency));
    // How far the charge's refunds went, recorded even when nothing was left to take back.
    await tx.$executeRaw`
      INSERT INTO credits_refunds (charge_id, organization_id, refunded_through, uncovered, updated_at)
      VALUES (${chargeId}, ${organizationId}::uuid, ${through}, ${owed - taken}, now())
      ON CONFLICT (charge_id) DO UPDATE SET
        refunded_through = EXCLUDED.refunded_through,
        uncovered = credits_refunds.uncovered + EXCLUDED.uncovered,
        updated_at = now()`;
    if (taken > 0n) {
      await refundCredits(tx, {
        transferId: derivedTransferId('credits-refund', chargeId, through.toString()),
        organizationId,
        amount: taken,
        currency,
        reason: `Credits bought through Stripe refunded (charge ${chargeId})`,
        actor: `stripe:${event.id}`,
        metadata: {
          chargeId,
          paymentIntentId: intent.id,
          refundedThrough: through.toString(),
          uncovered: (owed - taken).toString(),
        },
      });
    }
    return {
      outcome: 'credits_refunded',
      taken: Number(taken),
      uncovered: Number(owed - taken),
      from: 'event',
    } as const;
  });
}

/** Takes back of one purchase wait for each other (refunds and its dispute). */
async function lockPurchase(tx: Tx, paymentIntentId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`credits-take-back:${paymentIntentId}`}, 0))`;
}

/** The credits a dispute of the purchase holds now (taken and not given back). */
async function disputeHolds(tx: Tx, paymentIntentId: string): Promise<bigint> {
  const [held] = await tx.$queryRaw<{ taken: bigint }[]>`
    SELECT coalesce(sum(taken), 0)::bigint AS taken FROM credits_disputes
    WHERE payment_intent_id = ${paymentIntentId}`;
  return held?.taken ?? 0n;
}

/** The smaller of two amounts, never below zero. */
function least(a: bigint, b: bigint): bigint {
  const smaller = a < b ? a : b;
  return smaller > 0n ? smaller : 0n;
}

const dispute = z.object({
  id: z.string(),
  payment_intent: paymentIntentId,
  amount: z.number().int().positive(),
  status: z.string(),
});

/**
 * A dispute of a credits purchase (see the top): opened, its share of the credits is taken back as
 * far as they are left, once; closed as won, what it took is given back, once, and an opening
 * applied after that takes nothing. `object` is the `charge.dispute.created` or
 * `charge.dispute.closed` event's dispute.
 */
export async function applyCreditsDispute(
  db: Db,
  event: { id: string; type: string },
  object: Record<string, unknown>,
  deps: CreditsTakeBackDeps,
): Promise<CreditsEventOutcome> {
  const parsed = dispute.safeParse(object);
  if (!parsed.success) return { outcome: 'ignored', reason: 'unreadable_dispute' };
  const { id: disputeId, amount, status } = parsed.data;
  // An inquiry (`warning_*`) withdraws no money: nothing to take back, nor to give.
  if (status.startsWith('warning_')) return { outcome: 'ignored', reason: `dispute_${status}` };
  const opened = event.type === 'charge.dispute.created';
  if (!opened && !(event.type === 'charge.dispute.closed' && status === 'won')) {
    return { outcome: 'ignored', reason: `dispute_${status}` };
  }
  const { intent, purchase } = await purchaseOf(db, deps, parsed.data.payment_intent, event);
  if (!intent || !purchase || !intent.amount) return { outcome: 'ignored', reason: 'not_credits' };
  const { organizationId, credits, currency } = purchase;
  const takenId = derivedTransferId('credits-dispute', disputeId);
  const nothing = { outcome: 'credits_disputed', taken: 0, uncovered: 0, given: 0, from: 'event' } as const;
  return db.$transaction(async (tx) => {
    await lockPurchase(tx, intent.id);
    const [known] = await tx.$queryRaw<{ taken: bigint; won: boolean }[]>`
      SELECT taken, won FROM credits_disputes WHERE dispute_id = ${disputeId}`;
    if (!opened) {
      if (known?.won) return nothing;
      // Won: what the dispute took comes back, its transfer reversed; won before its opening was
      // applied, it is remembered so that the opening takes nothing.
      if (known && known.taken > 0n) {
        await reverseTransfer(tx, {
          transferId: takenId,
          reason: `Credits given back: the dispute ${disputeId} was won`,
          actor: `stripe:${event.id}`,
        });
      }
      await tx.$executeRaw`
        INSERT INTO credits_disputes (dispute_id, payment_intent_id, organization_id, taken, won)
        VALUES (${disputeId}, ${intent.id}, ${organizationId}::uuid, 0, true)
        ON CONFLICT (dispute_id) DO UPDATE SET taken = 0, won = true, updated_at = now()`;
      return { ...nothing, given: Number(known?.taken ?? 0n) };
    }
    if (known) return nothing;
    // Never more than the purchase, with what its refunds took back already.
    const [refunds] = await tx.$queryRaw<{ through: bigint | null }[]>`
      SELECT refunded_through AS through FROM credits_refunds
      WHERE charge_id = ${typeof intent.latest_charge === 'string' ? intent.latest_charge : (intent.latest_charge?.id ?? '')}`;
    const share = least(
      (BigInt(credits) * BigInt(amount)) / BigInt(intent.amount),
      BigInt(credits) - (refunds?.through ?? 0n),
    );
    const take = least(share, await creditBalance(tx, organizationId, currency));
    await tx.$executeRaw`
      INSERT INTO credits_disputes (dispute_id, payment_intent_id, organization_id, taken, uncovered)
      VALUES (${disputeId}, ${intent.id}, ${organizationId}::uuid, ${take}, ${share - take})`;
    if (take > 0n) {
      await refundCredits(tx, {
        kind: CREDITS_DISPUTE,
        transferId: takenId,
        organizationId,
        amount: take,
        currency,
        reason: `Credits bought through Stripe disputed (dispute ${disputeId})`,
        actor: `stripe:${event.id}`,
        metadata: { disputeId, paymentIntentId: intent.id, uncovered: (share - take).toString() },
      });
    }
    return { ...nothing, taken: Number(take), uncovered: Number(share - take) };
  });
}
