/**
 * Collecting booking fees through Stripe (the fees themselves: fees.ts).
 *
 * - Subscribed venues' organisations get one invoice a month per currency (`monthly-invoice`, the
 *   1st at 01:00 UTC = 09:00 WITA): their pending fees from before the month, one invoice item
 *   each, on a draft invoice made for them, then finalised so Stripe collects it (charged to the
 *   card on file, the active plan's else the customer's default, or sent with
 *   FEE_INVOICE_DAYS_UNTIL_DUE days to pay when there is none). Fees are then INVOICED; Stripe's `invoice.paid` for that
 *   invoice makes them PAID (`applyFeeInvoicePaid`).
 * - Venues without a plan pay as they go: the fee is charged at once off-session to the default
 *   card of the organisation's Stripe customer (a PaymentIntent confirmed off-session) and is then
 *   CHARGED. A declined charge leaves the fee PENDING for `retry-pending-fees` (every 30 minutes,
 *   waiting FEE_CHARGE_RETRY_MINUTES, doubling, after each decline); after FEE_CHARGE_MAX_ATTEMPTS
 *   declines, or when there is no customer or no card at all, the fee waits for the monthly
 *   invoice instead (collection INVOICE). A charge Stripe leaves `processing` (a bank debit) is
 *   kept on the fee (`stripe_payment_intent_id`) and looked at again after the wait, never
 *   charged again: CHARGED once it succeeds, a decline of that attempt if it fails.
 *
 * Idempotency (safety rule 4), with keys derived from our ids:
 * - invoice item `booking-fee:{bookingId}:v1`: one item per fee, whatever runs;
 * - invoice `monthly-invoice:{organizationId}:{yyyy-mm}:v1` (`…:{yyyy-mm}:{currency}:v1` for a
 *   currency other than FEE_DEFAULT_CURRENCY, since an invoice has one currency), and its
 *   finalisation `monthly-invoice-finalize:…` likewise;
 * - charge `booking-fee-charge:{bookingId}:{n}`, n = declines so far + 1. Not `booking-fee:…`: a
 *   fee that falls back to the invoice would reuse that key on another call, which Stripe
 *   refuses. A timeout retries with the same n (Stripe answers with what it did); only a decline,
 *   recorded here first, moves to a new key, since Stripe replays a stored decline for its key.
 *
 * Every step records what Stripe answered before the next call, and no database transaction is
 * held across a Stripe call: a job that dies between calls is run again and carries on, each call
 * it repeats answered from Stripe's store by its key. Fees are taken onto an invoice
 * (`fee_invoice_id`) before any item is made, which also freezes them: a value recorded later
 * cannot change an amount already on its way to Stripe.
 *
 * Webhook receivers hear `billing.invoice.finalized` once, when the finalisation is first recorded
 * (`finalized_at`), and `billing.invoice.paid` once, when its payment is first recorded
 * (`paid_at`: an invoice with nothing due, covered by the customer's balance, is finalised paid).
 */
import type Stripe from 'stripe';
import type { BookingFee, FeeInvoice } from '../../generated/prisma/client.ts';
import { StripeCallError, type StripeClient } from '../../integrations/stripe/client.ts';
import type { Tx } from '../../platform/db.ts';
import { ensureAccount, organizationAccount, platformAccount } from '../ledger/accounts.ts';
import { transfer } from '../ledger/transfer.ts';
import { queueNotice } from '../notices/notices.ts';
import { queueInvoiceEvent } from './billing-events.ts';
import { customerOf } from './checkout.ts';
import { RECIPIENTS } from './dunning.ts';
import {
  accrueBookingFee,
  BOOKING_FEE_SETTLEMENT,
  FEE_SOURCES,
  type FeeDeps,
  feePayerSql,
  monthOf,
  settlementTransferId,
  waiveFeeOn,
} from './fees.ts';
import { type PlanStanding, planStanding } from './standing.ts';

export interface CollectionDeps extends FeeDeps {
  /** Undefined: billing is off, nothing is collected (fees stay pending). */
  stripe: StripeClient | undefined;
}

export type ChargeOutcome =
  | { outcome: 'charged'; paymentIntentId: string }
  /** Confirmed but not settled yet (a bank debit): looked at again, never charged again. */
  | { outcome: 'processing'; paymentIntentId: string }
  | { outcome: 'declined'; attempts: number; fallsBackToInvoice: boolean; error: string }
  | { outcome: 'skipped'; reason: string };

/** Accrues the booking's fee and, for pay-as-you-go, charges it: the `booking-fee` job. */
export async function collectBookingFee(
  deps: CollectionDeps,
  bookingId: string,
): Promise<{ accrued: string; charge?: ChargeOutcome }> {
  const accrued = await accrueBookingFee(deps, bookingId);
  if (accrued.outcome === 'no_fee') return { accrued: `no_fee:${accrued.reason}` };
  if (accrued.fee.collection !== 'CHARGE') return { accrued: accrued.outcome };
  return { accrued: accrued.outcome, charge: await chargeBookingFee(deps, bookingId) };
}

/**
 * Charges a pending pay-as-you-go fee to the organisation's default card, once: see the keys
 * above. Throws on a transient failure (the job runs again with the same key).
 */
export async function chargeBookingFee(deps: CollectionDeps, bookingId: string): Promise<ChargeOutcome> {
  const { db, stripe } = deps;
  const fee = await db.bookingFee.findUnique({ where: { bookingId } });
  if (!fee) return { outcome: 'skipped', reason: 'no_fee' };
  // Waived while its charge was processing: the charge still settles (or fails), and is recorded.
  // Waivers are refused while a charge is under way (fees.ts, requireChangeable); this is for fees
  // waived before they were, and stays so nothing Stripe took goes unrecorded.
  if (fee.status === 'WAIVED' && fee.stripePaymentIntentId && !fee.settlementTransferId && stripe) {
    if (fee.nextChargeAt && fee.nextChargeAt > deps.now()) return { outcome: 'skipped', reason: 'not_due' };
    return settleInFlight(deps, fee, await stripe.paymentIntents.retrieve(fee.stripePaymentIntentId));
  }
  if (fee.status !== 'PENDING' || fee.collection !== 'CHARGE') {
    return { outcome: 'skipped', reason: `${fee.status.toLowerCase()}_${fee.collection.toLowerCase()}` };
  }
  if (fee.nextChargeAt && fee.nextChargeAt > deps.now()) return { outcome: 'skipped', reason: 'not_due' };
  if (!stripe) return { outcome: 'skipped', reason: 'billing_off' };
  // A charge already on its way (processing when last seen): its outcome, never a second charge.
  if (fee.stripePaymentIntentId) {
    return settleInFlight(deps, fee, await stripe.paymentIntents.retrieve(fee.stripePaymentIntentId));
  }
  const known = await db.billingCustomer.findUnique({ where: { organizationId: fee.organizationId } });
  if (!known) return toInvoice(deps, fee, 'no_customer');
  const attempt = fee.chargeAttempts + 1;
  // The card this attempt is made to, chosen once: run again under the same key (a timeout), the
  // request must be the same, or Stripe refuses it (and the charge it may have made goes unseen).
  let card = fee.chargePaymentMethod;
  if (!card) {
    const customer = await stripe.customers.retrieve(known.stripeCustomerId);
    card =
      'deleted' in customer && customer.deleted ? null : defaultPaymentMethod(customer as Stripe.Customer);
    if (!card) return toInvoice(deps, fee, 'no_card');
    // Conditional on the fee as read (its revision too): from this write on the fee can neither be
    // revalued nor waived (fees.ts, requireChangeable) until Stripe's answer is recorded, so the
    // amount charged is the amount read here. Revalued or waived just before, it is read again.
    const chosen = await db.bookingFee.updateMany({
      where: {
        id: fee.id,
        status: 'PENDING',
        revision: fee.revision,
        chargeAttempts: fee.chargeAttempts,
        chargePaymentMethod: null,
      },
      data: { chargePaymentMethod: card, updatedAt: deps.now() },
    });
    // Another run chose first (its card is this attempt's), or the fee changed: read it again.
    if (chosen.count === 0) return chargeBookingFee(deps, bookingId);
  }

  let intent: Stripe.PaymentIntent;
  try {
    intent = await stripe.paymentIntents.create(
      {
        amount: Number(fee.feeMinor),
        currency: fee.currency.toLowerCase(),
        customer: known.stripeCustomerId,
        payment_method: card,
        off_session: true,
        confirm: true,
        description: `AGNT booking fee, booking ${fee.bookingId}`,
        metadata: { kind: 'booking-fee', bookingId: fee.bookingId, organizationId: fee.organizationId },
      },
      { idempotencyKey: `booking-fee-charge:${fee.bookingId}:${attempt}` },
    );
  } catch (error) {
    if (error instanceof StripeCallError && (error.kind === 'card' || error.kind === 'invalid')) {
      return recordDecline(deps, fee, attempt, `${error.code ?? error.kind}: ${error.message}`);
    }
    throw error;
  }
  if (intent.status === 'processing') {
    // Confirmed, settling later (a bank debit): kept on the fee, which is not charged again, and
    // looked at again after the usual wait.
    const later = new Date(deps.now().getTime() + deps.fees.chargeRetryMinutes * 60_000);
    const kept = await db.bookingFee.updateMany({
      where: { id: fee.id, status: 'PENDING', chargeAttempts: attempt - 1 },
      data: {
        chargeAttempts: attempt,
        stripePaymentIntentId: intent.id,
        lastChargeError: null,
        nextChargeAt: later,
        updatedAt: deps.now(),
      },
    });
    // Waived while the charge was on its way: the payment is kept on the waived fee, and looked at
    // again like any other, so money that comes in is recorded (owed back) all the same.
    if (kept.count === 0) {
      await db.bookingFee.updateMany({
        where: { id: fee.id, status: 'WAIVED', stripePaymentIntentId: null },
        data: { stripePaymentIntentId: intent.id, nextChargeAt: later, updatedAt: deps.now() },
      });
    }
    return { outcome: 'processing', paymentIntentId: intent.id };
  }
  if (intent.status !== 'succeeded')
    return recordDecline(deps, fee, attempt, `payment intent ${intent.status}`);
  return recordCharged(deps, fee, intent);
}

/**
 * A charge left processing, as Stripe has it now: settled (the fee CHARGED), still processing
 * (looked at again after the wait), or failed (a decline of the attempt it was, the next attempt
 * with a new key after its wait, or the monthly invoice after the last).
 */
async function settleInFlight(
  deps: CollectionDeps,
  fee: BookingFee,
  intent: Stripe.PaymentIntent,
): Promise<ChargeOutcome> {
  if (intent.status === 'succeeded') return recordCharged(deps, fee, intent);
  if (intent.status === 'processing') {
    await deps.db.bookingFee.updateMany({
      where: { id: fee.id, status: { in: ['PENDING', 'WAIVED'] }, stripePaymentIntentId: intent.id },
      data: {
        nextChargeAt: new Date(deps.now().getTime() + deps.fees.chargeRetryMinutes * 60_000),
        updatedAt: deps.now(),
      },
    });
    return { outcome: 'processing', paymentIntentId: intent.id };
  }
  const error = intent.last_payment_error?.message ?? `payment intent ${intent.status}`;
  if (fee.status === 'WAIVED') {
    // The waived fee's charge failed after all: nothing came in, nothing to record or give back.
    await deps.db.bookingFee.updateMany({
      where: { id: fee.id, status: 'WAIVED', stripePaymentIntentId: intent.id },
      data: {
        stripePaymentIntentId: null,
        nextChargeAt: null,
        lastChargeError: error.slice(0, 500),
        updatedAt: deps.now(),
      },
    });
    return { outcome: 'skipped', reason: 'waived' };
  }
  return recordDecline(deps, fee, fee.chargeAttempts, error, intent.id);
}

/** Stripe took the fee's money (`intent` succeeded): the fee CHARGED and settled in the ledger. */
async function recordCharged(
  deps: CollectionDeps,
  fee: BookingFee,
  intent: Stripe.PaymentIntent,
): Promise<ChargeOutcome> {
  const { db } = deps;
  return db.$transaction(async (tx): Promise<ChargeOutcome> => {
    const rows = await tx.bookingFee.updateMany({
      where: { id: fee.id, status: 'PENDING' },
      data: {
        status: 'CHARGED',
        stripePaymentIntentId: intent.id,
        settledAt: deps.now(),
        updatedAt: deps.now(),
      },
    });
    if (rows.count) {
      await settle(tx, fee, `stripe:${intent.id}`);
      return { outcome: 'charged', paymentIntentId: intent.id };
    }
    // Waived while the charge was on its way: Stripe took the money all the same. The ledger
    // says so (the settlement leaves the organisation in credit on FEES_PAYABLE, what we owe it
    // back) and the payment is kept on the fee for a refund; the fee stays WAIVED.
    const now = await tx.bookingFee.findUniqueOrThrow({ where: { id: fee.id } });
    if (now.status === 'WAIVED' && (now.stripePaymentIntentId ?? intent.id) === intent.id) {
      await tx.bookingFee.update({ where: { id: fee.id }, data: { stripePaymentIntentId: intent.id } });
      await settle(tx, fee, `stripe:${intent.id}`);
      return { outcome: 'skipped', reason: 'charged_after_waiver' };
    }
    return { outcome: 'skipped', reason: 'settled_meanwhile' };
  });
}

/**
 * The card a monthly fee invoice is charged to: the active plan's (Checkout saves it on the
 * subscription), else the customer's default; null when there is none, for an organisation
 * without a plan, whose plan ended or is failing, or one on a plan paid otherwise.
 */
async function invoiceCard(stripe: StripeClient, standing: PlanStanding, customerId: string) {
  if (standing.standing === 'ACTIVE' && standing.stripeSubscriptionId) {
    const subscription = await stripe.subscriptions.retrieve(standing.stripeSubscriptionId);
    const method = subscription.default_payment_method;
    if (method) return typeof method === 'string' ? method : method.id;
  }
  const customer = await stripe.customers.retrieve(customerId);
  return 'deleted' in customer && customer.deleted ? null : defaultPaymentMethod(customer as Stripe.Customer);
}

function defaultPaymentMethod(customer: Stripe.Customer): string | null {
  const method = customer.invoice_settings?.default_payment_method;
  if (!method) return null;
  return typeof method === 'string' ? method : method.id;
}

/** The fee cannot be charged at once; it waits for the monthly invoice. */
async function toInvoice(deps: CollectionDeps, fee: BookingFee, reason: string): Promise<ChargeOutcome> {
  await deps.db.bookingFee.updateMany({
    where: { id: fee.id, status: 'PENDING', collection: 'CHARGE' },
    data: { collection: 'INVOICE', nextChargeAt: null, lastChargeError: reason, updatedAt: deps.now() },
  });
  return { outcome: 'skipped', reason };
}

/**
 * Records the decline of attempt `attempt`: the next after a wait, or the monthly invoice after the
 * last. `inFlight`: the attempt was a charge left processing that failed later (counted when it
 * was made), whose payment intent the fee lets go of.
 */
async function recordDecline(
  deps: CollectionDeps,
  fee: BookingFee,
  attempt: number,
  error: string,
  inFlight?: string,
): Promise<ChargeOutcome> {
  const last = attempt >= deps.fees.chargeMaxAttempts;
  const waitMs = deps.fees.chargeRetryMinutes * 60_000 * 2 ** (attempt - 1);
  // Conditional on the attempt, so a decline seen twice (a job run twice) counts once.
  await deps.db.bookingFee.updateMany({
    where: inFlight
      ? { id: fee.id, status: 'PENDING', stripePaymentIntentId: inFlight }
      : { id: fee.id, status: 'PENDING', chargeAttempts: attempt - 1 },
    data: {
      chargeAttempts: attempt,
      stripePaymentIntentId: null,
      chargePaymentMethod: null,
      lastChargeError: error.slice(0, 500),
      nextChargeAt: last ? null : new Date(deps.now().getTime() + waitMs),
      ...(last ? { collection: 'INVOICE' as const } : {}),
      updatedAt: deps.now(),
    },
  });
  return { outcome: 'declined', attempts: attempt, fallsBackToInvoice: last, error };
}

/** The fee's money came in through Stripe: platform STRIPE_CLEARING → organisation FEES_PAYABLE. */
async function settle(tx: Tx, fee: BookingFee, actor: string): Promise<void> {
  const clearing = await ensureAccount(tx, platformAccount('STRIPE_CLEARING', fee.currency));
  const payable = await ensureAccount(
    tx,
    organizationAccount(fee.organizationId, 'FEES_PAYABLE', fee.currency),
    {
      mayOverdraw: true,
    },
  );
  const id = settlementTransferId(fee.bookingId);
  await transfer(tx, {
    id,
    kind: BOOKING_FEE_SETTLEMENT,
    reason: `Booking fee for booking ${fee.bookingId} paid`,
    actor,
    metadata: { bookingId: fee.bookingId, organizationId: fee.organizationId },
    entries: [
      { accountId: clearing, amount: -fee.feeMinor },
      { accountId: payable, amount: fee.feeMinor },
    ],
  });
  await tx.bookingFee.update({ where: { id: fee.id }, data: { settlementTransferId: id } });
}

/** Bookings this old without a fee are past help (their fee job is long gone and so is the month). */
const LOST_ACCRUAL_DAYS = 40;
/** A completed booking's own job gets this long before the sweep steps in. */
const LOST_ACCRUAL_GRACE_MS = 10 * 60_000;
const BATCH = 200;
/**
 * Bookings the lost-fee sweep looks at in one run, at most: those whose fee is refused without a
 * row (no fee at this venue now, a fee of zero) are looked at again every run, and are passed
 * over rather than kept in the way of the ones that owe.
 */
const LOST_SCAN_LIMIT = 25 * BATCH;

/**
 * `retry-pending-fees`: accrues the fees of completed bookings whose job was lost, and charges
 * the pay-as-you-go fees that are due. One fee's failure does not stop the others; the counts
 * say what happened.
 */
export async function retryPendingFees(
  deps: CollectionDeps,
): Promise<{ accrued: number; charged: number; declined: number; failed: number }> {
  const { db } = deps;
  const now = deps.now();
  const counts = { accrued: 0, charged: 0, declined: 0, failed: 0 };
  // Oldest first, a page at a time past the last one looked at, until a batch of fees is
  // accrued (or failed): bookings whose fee is refused (no row written) do not hold the rest up.
  let after: { updatedAt: Date; id: string } | null = null;
  for (let scanned = 0; scanned < LOST_SCAN_LIMIT && counts.accrued + counts.failed < BATCH; ) {
    const lost: { id: string; updatedAt: Date }[] = await db.$queryRaw`
      SELECT b.id::text, b.updated_at AS "updatedAt" FROM bookings b
      WHERE b.status = 'COMPLETED' AND b.source::text = ANY(${[...FEE_SOURCES]}::text[])
        AND b.updated_at BETWEEN ${new Date(now.getTime() - LOST_ACCRUAL_DAYS * 86_400_000)}
                             AND ${new Date(now.getTime() - LOST_ACCRUAL_GRACE_MS)}
        AND (${after?.updatedAt ?? null}::timestamptz IS NULL
             OR (b.updated_at, b.id) > (${after?.updatedAt ?? null}::timestamptz, ${after?.id ?? null}::uuid))
        AND NOT EXISTS (SELECT 1 FROM booking_fees f WHERE f.booking_id = b.id)
        AND ${feePayerSql('b')} IS NOT NULL
      ORDER BY b.updated_at, b.id LIMIT ${BATCH}`;
    for (const booking of lost) {
      after = booking;
      scanned++;
      try {
        if ((await accrueBookingFee(deps, booking.id)).outcome === 'accrued') counts.accrued++;
      } catch {
        counts.failed++;
      }
      if (counts.accrued + counts.failed >= BATCH) break;
    }
    if (lost.length < BATCH) break;
  }
  const due = await db.bookingFee.findMany({
    where: {
      OR: [
        {
          status: 'PENDING',
          collection: 'CHARGE',
          OR: [{ nextChargeAt: null }, { nextChargeAt: { lte: now } }],
        },
        // Waived while a charge was processing: its outcome is still to be recorded.
        {
          status: 'WAIVED',
          stripePaymentIntentId: { not: null },
          settlementTransferId: null,
          nextChargeAt: { lte: now },
        },
      ],
    },
    select: { bookingId: true },
    orderBy: { accruedAt: 'asc' },
    take: BATCH,
  });
  for (const { bookingId } of due) {
    try {
      const result = await chargeBookingFee(deps, bookingId);
      if (result.outcome === 'charged') counts.charged++;
      if (result.outcome === 'declined') counts.declined++;
    } catch {
      counts.failed++;
    }
  }
  return counts;
}

/** The invoice's idempotency key (and its finalisation's, with `what` = `monthly-invoice-finalize`). */
function invoiceKey(
  deps: CollectionDeps,
  what: string,
  organizationId: string,
  month: string,
  currency: string,
) {
  const suffix = currency === deps.fees.defaultCurrency ? '' : `:${currency}`;
  return `${what}:${organizationId}:${month}${suffix}:v1`;
}

/** The first instant of `tick`'s month (UTC), and the month before it as `yyyy-mm`. */
export function invoicePeriod(tick: Date): { before: Date; month: string } {
  const before = new Date(Date.UTC(tick.getUTCFullYear(), tick.getUTCMonth(), 1));
  return { before, month: monthOf(new Date(before.getTime() - 1)) };
}

/**
 * `monthly-invoice`: every organisation with pending fees from before `tick`'s month (and every
 * invoice of that month left unfinished by an earlier run) gets its invoice. One organisation's
 * failure does not stop the others; the job fails at the end so it runs again (safe: see above).
 */
export async function sendMonthlyInvoices(
  deps: CollectionDeps,
  tick: Date,
): Promise<{ invoiced: number; failed: number; errors: unknown[] }> {
  if (!deps.stripe) return { invoiced: 0, failed: 0, errors: [] };
  const { before, month } = invoicePeriod(tick);
  const pending = await deps.db.bookingFee.findMany({
    where: { status: 'PENDING', collection: 'INVOICE', feeInvoiceId: null, accruedAt: { lt: before } },
    distinct: ['organizationId', 'currency'],
    select: { organizationId: true, currency: true },
  });
  // Drafts an earlier run left behind (Stripe failed midway), of this month or any before:
  // finished with the fees already taken onto them, none added. And invoices Stripe finalised
  // whose finalisation was never recorded (the run died, or its recording was aborted, and Stripe's
  // events moved the row on meanwhile): recorded.
  const unfinished = await deps.db.feeInvoice.findMany({
    where: { OR: [{ status: 'draft' }, { finalizedAt: null, stripeInvoiceId: { not: null } }] },
    select: { organizationId: true, currency: true, month: true },
  });
  const targets = new Map<string, { organizationId: string; currency: string; month: string }>();
  for (const t of [...unfinished, ...pending.map((p) => ({ ...p, month }))]) {
    targets.set(`${t.organizationId}/${t.currency}/${t.month}`, t);
  }
  let invoiced = 0;
  const errors: unknown[] = [];
  for (const target of targets.values()) {
    try {
      const claim = target.month === month ? before : null;
      if (await invoiceOrganizationFees(deps, { ...target, before: claim })) invoiced++;
    } catch (error) {
      errors.push(error);
    }
  }
  return { invoiced, failed: errors.length, errors };
}

/**
 * One organisation's invoice of its pending fees in `currency` accrued before `before`, labelled
 * `month`: returns the invoice once finalised, null when there was nothing to invoice. With
 * `before` null no fee is added: an earlier run's draft is finished with the fees it holds.
 */
export async function invoiceOrganizationFees(
  deps: CollectionDeps,
  input: { organizationId: string; currency: string; month: string; before: Date | null },
): Promise<FeeInvoice | null> {
  const { db } = deps;
  const stripe = deps.stripe;
  if (!stripe) return null;
  const { organizationId, currency, month } = input;
  let invoice = await db.feeInvoice.upsert({
    where: { organizationId_month_currency: { organizationId, month, currency } },
    create: { organizationId, month, currency },
    update: {},
  });
  if (invoice.status !== 'draft') {
    // Finalised in Stripe and moved on by its events (paid, void, uncollectible) before the run
    // that finalised it recorded that (it died, or its recording was aborted): recorded now, with
    // nothing added, since Stripe's invoice is past draft.
    if (invoice.finalizedAt || !invoice.stripeInvoiceId) return invoice;
    return recordUnrecordedFinalization(deps, stripe, invoice);
  }
  // Taken onto this invoice, and so frozen, before Stripe hears of them.
  if (input.before) {
    await db.bookingFee.updateMany({
      where: {
        organizationId,
        currency,
        status: 'PENDING',
        collection: 'INVOICE',
        feeInvoiceId: null,
        accruedAt: { lt: input.before },
      },
      data: { feeInvoiceId: invoice.id, updatedAt: deps.now() },
    });
  }
  const fees = await db.bookingFee.findMany({
    where: { feeInvoiceId: invoice.id, status: { not: 'WAIVED' } },
    orderBy: { accruedAt: 'asc' },
  });
  if (fees.length === 0) return null;
  const customer = await customerOf(db, stripe, organizationId);

  // A draft made by an earlier run may hold items that run made and died before recording.
  const resumed = invoice.stripeInvoiceId !== null;
  if (!invoice.stripeInvoiceId) {
    // Charged to a card the organisation has on file; without one Stripe emails the invoice to be
    // paid. Chosen once and kept on the row: a retry under the same key is the same request.
    if (!invoice.collectionChosenAt) {
      const card = await invoiceCard(stripe, await planStanding(db, deps, organizationId, 'VENUE'), customer);
      await db.feeInvoice.updateMany({
        where: { id: invoice.id, collectionChosenAt: null },
        data: { chargePaymentMethod: card, collectionChosenAt: deps.now(), updatedAt: deps.now() },
      });
      invoice = await db.feeInvoice.findUniqueOrThrow({ where: { id: invoice.id } });
    }
    const card = invoice.chargePaymentMethod;
    const created = await stripe.invoices.create(
      {
        customer,
        currency: currency.toLowerCase(),
        auto_advance: false,
        pending_invoice_items_behavior: 'exclude',
        ...(card
          ? { collection_method: 'charge_automatically', default_payment_method: card }
          : { collection_method: 'send_invoice', days_until_due: deps.fees.invoiceDaysUntilDue }),
        description: `AGNT booking fees, ${month}`,
        metadata: { kind: 'booking-fees', organizationId, month },
      },
      { idempotencyKey: invoiceKey(deps, 'monthly-invoice', organizationId, month, currency) },
    );
    invoice = await db.feeInvoice.update({
      where: { id: invoice.id },
      data: { stripeInvoiceId: created.id, status: 'draft', updatedAt: deps.now() },
    });
  }
  const stripeInvoiceId = invoice.stripeInvoiceId!;

  // An item made for a fee by an earlier run that died before recording it is on the draft
  // already. Its key finds it again for 24 hours only (Stripe's), and a draft can be finished a
  // month later: the invoice itself is asked which fees it holds, and those are recorded.
  if (resumed && fees.some((fee) => !fee.stripeInvoiceItemId)) {
    const onInvoice = new Map<string, string>();
    for (const item of await stripe.invoiceItems.listOnInvoice(stripeInvoiceId)) {
      if (item.metadata?.kind === 'booking-fee' && item.metadata.bookingId) {
        onInvoice.set(item.metadata.bookingId, item.id);
      }
    }
    for (const fee of fees) {
      const itemId = onInvoice.get(fee.bookingId);
      if (fee.stripeInvoiceItemId || !itemId) continue;
      await db.bookingFee.update({
        where: { id: fee.id },
        data: { stripeInvoiceItemId: itemId, updatedAt: deps.now() },
      });
      fee.stripeInvoiceItemId = itemId;
    }
  }

  for (const fee of fees) {
    if (fee.stripeInvoiceItemId) continue;
    const item = await stripe.invoiceItems.create(
      {
        customer,
        invoice: stripeInvoiceId,
        amount: Number(fee.feeMinor),
        currency: currency.toLowerCase(),
        description: feeDescription(fee),
        metadata: { kind: 'booking-fee', bookingId: fee.bookingId, organizationId },
      },
      { idempotencyKey: `booking-fee:${fee.bookingId}:v1` },
    );
    await db.bookingFee.update({
      where: { id: fee.id },
      data: { stripeInvoiceItemId: item.id, updatedAt: deps.now() },
    });
  }

  const finalized = await stripe.invoices.finalize(
    stripeInvoiceId,
    { idempotencyKey: invoiceKey(deps, 'monthly-invoice-finalize', organizationId, month, currency) },
    { auto_advance: true },
  );
  return recordFinalization(deps, invoice.id, finalizationOf(finalized), fees.length);
}

/** What a finalisation says of the invoice, as recorded on its row. */
interface Finalization {
  /** Stripe's status for it; null when unknown (then `open`, what a finalisation makes). */
  status: string | null;
  amountMinor: bigint;
  /** Null when unknown: the row keeps the one it has. */
  hostedUrl: string | null;
}

function finalizationOf(invoice: Stripe.Invoice): Finalization {
  return {
    status: invoice.status ?? null,
    amountMinor: BigInt(invoice.amount_due ?? 0),
    hostedUrl: invoice.hosted_invoice_url ?? null,
  };
}

/**
 * Records that the invoice was finalised: its fees on it INVOICED, those claimed for it too late to
 * be put on it sent back to wait, and the row's amount, page and `finalizedAt`, announced once.
 */
function recordFinalization(
  deps: CollectionDeps,
  invoiceId: string,
  finalized: Finalization,
  feeCount: number,
): Promise<FeeInvoice> {
  return deps.db.$transaction(async (tx) => {
    // The invoice's row before its fees, the order Stripe's events take (underInvoiceLock, then
    // itemisedUnpaidFees): an invoice.paid handled meanwhile waits for this or this for it, where
    // the opposite order could deadlock and have PostgreSQL abort one. Of two runs finishing at
    // once, likewise, only the first announces the finalisation.
    await tx.$queryRaw`SELECT 1 FROM fee_invoices WHERE id = ${invoiceId}::uuid FOR UPDATE`;
    const current = await tx.feeInvoice.findUniqueOrThrow({ where: { id: invoiceId } });
    // Only what is on Stripe's invoice is invoiced; a fee claimed for it too late to be put on it
    // (another run's claim, after this one itemised) goes back to wait for the next invoice. Fees
    // an invoice.paid or invoice.voided got to first are PAID or WAIVED, and stay so.
    await tx.bookingFee.updateMany({
      where: { feeInvoiceId: invoiceId, status: 'PENDING', stripeInvoiceItemId: { not: null } },
      data: { status: 'INVOICED', updatedAt: deps.now() },
    });
    await tx.bookingFee.updateMany({
      where: { feeInvoiceId: invoiceId, status: 'PENDING', stripeInvoiceItemId: null },
      data: { feeInvoiceId: null, updatedAt: deps.now() },
    });
    const recorded = await tx.feeInvoice.update({
      where: { id: invoiceId },
      data: {
        // A status past draft is what Stripe's events said (paid, void, uncollectible, a failed
        // payment), after the finalisation: the finalisation's answer does not undo it.
        status: current.status === 'draft' ? (finalized.status ?? 'open') : current.status,
        amountMinor: finalized.amountMinor,
        hostedUrl: finalized.hostedUrl ?? current.hostedUrl,
        finalizedAt: current.finalizedAt ?? deps.now(),
        updatedAt: deps.now(),
      },
    });
    if (!current.finalizedAt) {
      await queueInvoiceEvent(tx, 'billing.invoice.finalized', recorded, feeCount, deps.now());
    }
    return recorded;
  });
}

/**
 * An invoice Stripe finalised, and whose events moved our row past draft, before its finalisation
 * was recorded: recorded now. The finalisation is asked again as it was made (same key, same
 * request), which Stripe answers from its store for 24 hours. After that Stripe refuses to finalise
 * an invoice past draft; the row's status proves it was finalised, so it is recorded from our side:
 * the amount of the fees put on it as items, the page left unknown.
 */
async function recordUnrecordedFinalization(
  deps: CollectionDeps,
  stripe: StripeClient,
  invoice: FeeInvoice,
): Promise<FeeInvoice> {
  const itemised = await deps.db.bookingFee.findMany({
    where: { feeInvoiceId: invoice.id, stripeInvoiceItemId: { not: null } },
    select: { feeMinor: true },
  });
  let finalized: Finalization;
  try {
    const answer = await stripe.invoices.finalize(
      invoice.stripeInvoiceId!,
      {
        idempotencyKey: invoiceKey(
          deps,
          'monthly-invoice-finalize',
          invoice.organizationId,
          invoice.month,
          invoice.currency,
        ),
      },
      { auto_advance: true },
    );
    finalized = finalizationOf(answer);
  } catch (error) {
    if (!(error instanceof StripeCallError && error.kind === 'invalid')) throw error;
    finalized = {
      status: null,
      amountMinor: itemised.reduce((sum, fee) => sum + fee.feeMinor, 0n),
      hostedUrl: null,
    };
  }
  return recordFinalization(deps, invoice.id, finalized, itemised.length);
}

/** What the venue's organisation reads on its invoice for one fee. Fixed per fee (the key's body). */
function feeDescription(fee: BookingFee): string {
  const value = `${(Number(fee.valueMinor) / 100).toFixed(2)} ${fee.currency}`;
  return fee.kind === 'REFERRAL_PCT'
    ? `Booking ${fee.bookingId}: ${fee.pctBps / 100}% of ${value}`
    : `Booking ${fee.bookingId}: flat booking fee`;
}

/**
 * Stripe could not collect a fee invoice (`invoice.payment_failed`: the card on file declined): the
 * invoice is marked so (the dashboard shows it) and the organisation's owners are told once, with
 * the invoice's page to pay it on (Stripe retries the card meanwhile; `invoice.paid` settles it
 * whichever way it is paid). Null when the invoice is not one of ours (a subscription's).
 */
export async function applyFeeInvoicePaymentFailed(
  db: FeeDeps['db'],
  input: { stripeInvoiceId: string; hostedUrl: string | null; publicUrl: string; now: Date },
): Promise<{ feeInvoiceId: string; told: number } | null> {
  return underInvoiceLock(db, input.stripeInvoiceId, async (tx, invoice, status) => {
    // Under the row's lock, as a payment is recorded: paid or voided meanwhile, nothing to tell. A
    // row still draft here (its finalisation not recorded yet) keeps its status, so the job that
    // finishes drafts still finds it.
    if (status === 'paid' || status === 'void') return { feeInvoiceId: invoice.id, told: 0 };
    if (status !== 'draft') {
      await tx.feeInvoice.update({
        where: { id: invoice.id },
        data: { status: 'payment_failed', updatedAt: input.now },
      });
    }
    const owners = await tx.membership.findMany({
      where: { organizationId: invoice.organizationId, role: { in: [...RECIPIENTS] } },
      select: { userId: true },
      orderBy: { createdAt: 'asc' },
    });
    const payUrl = input.hostedUrl ?? invoice.hostedUrl ?? `${input.publicUrl.replace(/\/$/, '')}/billing`;
    let told = 0;
    for (const { userId } of owners) {
      const queued = await queueNotice(tx, {
        userId,
        kind: 'billing.fee_invoice_failed',
        params: {
          organization: invoice.organization.name,
          month: invoice.month,
          amountMinor: invoice.amountMinor,
          currency: invoice.currency,
          payUrl,
        },
        dedupeKey: `fee-invoice-failed:${invoice.id}:${userId}`,
        data: { organizationId: invoice.organizationId, feeInvoiceId: invoice.id },
      });
      if (queued.queued) told++;
    }
    return { feeInvoiceId: invoice.id, told };
  });
}

/**
 * Runs `run` on the fee invoice that Stripe's `stripeInvoiceId` is, in a transaction holding its
 * row's lock, with its status as it is under that lock (events come in any order). Null when the
 * invoice is not one of ours (a subscription's).
 */
async function underInvoiceLock<T>(
  db: FeeDeps['db'],
  stripeInvoiceId: string,
  run: (
    tx: Tx,
    invoice: FeeInvoice & { organization: { name: string } },
    status: string,
    paidAt: Date | null,
  ) => Promise<T>,
): Promise<T | null> {
  const invoice = await db.feeInvoice.findUnique({
    where: { stripeInvoiceId },
    include: { organization: { select: { name: true } } },
  });
  if (!invoice) return null;
  return db.$transaction(async (tx) => {
    const [locked] = await tx.$queryRaw<{ status: string; paidAt: Date | null }[]>`
      SELECT status, paid_at AS "paidAt" FROM fee_invoices WHERE id = ${invoice.id}::uuid FOR UPDATE`;
    return run(tx, invoice, locked?.status ?? invoice.status, locked ? locked.paidAt : invoice.paidAt);
  });
}

/** The invoice's fees that are on it (itemised) and not settled, locked, in id order. */
function itemisedUnpaidFees(tx: Tx, feeInvoiceId: string) {
  return tx.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM booking_fees
    WHERE fee_invoice_id = ${feeInvoiceId}::uuid AND status IN ('PENDING', 'INVOICED')
      AND stripe_invoice_item_id IS NOT NULL
    ORDER BY id FOR UPDATE`;
}

/**
 * A fee invoice Stripe will not collect as it stands. Voided (`invoice.voided`: an operator
 * cancelled it in Stripe; it can never be paid): its fees not yet paid are waived, their accruals
 * reversed, so the organisation owes nothing for them and the dashboard no longer shows the
 * invoice as open. Marked uncollectible (`invoice.marked_uncollectible`: written off): the invoice
 * says so and its fees stay owed (Stripe may still be paid it, and `invoice.paid` settles them).
 * Null when the invoice is not one of ours (a subscription's). Safe to apply twice.
 */
export async function applyFeeInvoiceClosed(
  db: FeeDeps['db'],
  input: { stripeInvoiceId: string; status: 'void' | 'uncollectible'; eventId: string; now: Date },
): Promise<{ feeInvoiceId: string; waived: number } | null> {
  return underInvoiceLock(db, input.stripeInvoiceId, async (tx, invoice, status) => {
    // Paid is final (a void comes only before payment; an uncollectible one paid later is paid).
    if (status === 'paid') return { feeInvoiceId: invoice.id, waived: 0 };
    await tx.feeInvoice.update({
      where: { id: invoice.id },
      data: { status: input.status, updatedAt: input.now },
    });
    if (input.status !== 'void') return { feeInvoiceId: invoice.id, waived: 0 };
    // A fee claimed for it but never put on it (no item) was not billed: it waits for the next.
    await tx.bookingFee.updateMany({
      where: { feeInvoiceId: invoice.id, status: 'PENDING', stripeInvoiceItemId: null },
      data: { feeInvoiceId: null, updatedAt: input.now },
    });
    const fees = await itemisedUnpaidFees(tx, invoice.id);
    for (const { id } of fees) {
      const fee = await tx.bookingFee.findUniqueOrThrow({ where: { id } });
      await waiveFeeOn(tx, fee, {
        reason: `its invoice ${input.stripeInvoiceId} was voided in Stripe`,
        actor: `stripe:${input.eventId}`,
        now: input.now,
      });
    }
    return { feeInvoiceId: invoice.id, waived: fees.length };
  });
}

/**
 * Stripe says a fee invoice is paid (`invoice.paid`): the invoice and its fees are PAID, each fee
 * settled in the ledger. Null when the invoice is not one of ours (a subscription's). Paid is
 * final for an invoice, so acting on the event is safe in any order; doing it twice settles once
 * (the fees' status and the settlement transfers' derived ids).
 */
export async function applyFeeInvoicePaid(
  db: FeeDeps['db'],
  input: { stripeInvoiceId: string; eventId: string; paidAt: Date },
): Promise<{ feeInvoiceId: string; settled: number } | null> {
  return underInvoiceLock(db, input.stripeInvoiceId, async (tx, invoice, _status, paidBefore) => {
    // Paid once: only the first payment recorded tells receivers (a repeated event finds it
    // recorded). By `paid_at`, which only this sets, not by the status: an invoice of nothing
    // due (the organisation's credit balance covered it) is finalised as paid already.
    const paid = await tx.feeInvoice.update({
      where: { id: invoice.id },
      data: { status: 'paid', paidAt: paidBefore ?? input.paidAt, updatedAt: input.paidAt },
    });
    const fees = await itemisedUnpaidFees(tx, invoice.id);
    for (const { id } of fees) {
      const fee = await tx.bookingFee.update({
        where: { id },
        data: { status: 'PAID', settledAt: input.paidAt, updatedAt: input.paidAt },
      });
      await settle(tx, fee, `stripe:${input.eventId}`);
    }
    if (!paidBefore) {
      const count = await tx.bookingFee.count({ where: { feeInvoiceId: invoice.id, status: 'PAID' } });
      await queueInvoiceEvent(tx, 'billing.invoice.paid', paid, count, input.paidAt);
    }
    return { feeInvoiceId: invoice.id, settled: fees.length };
  });
}
