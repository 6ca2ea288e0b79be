/**
 * Billing's outbound webhook events (src/domain/outbound-webhooks): what an organisation's receivers are
 * told of its money. Each is queued once per real change, in the transaction that records it:
 *
 * - `billing.subscription.updated`: the subscription's status, plan (price) or standing moved.
 *   A subscription's state is stored from Stripe many times over (every event, every re-read, the
 *   daily reconcile) and its standing also moves with the clock (past due → restricted at the end
 *   of grace), so no single store knows a change happened. The row remembers what receivers were
 *   last told (`announced_*`), and `announceSubscription`, run wherever the owners' notices are
 *   settled (dunning.ts), moves it in one guarded UPDATE in the transaction that queues the event:
 *   whoever moves it sends; anyone who read it before sends nothing.
 * - `billing.invoice.finalized` / `billing.invoice.paid`: a booking-fee invoice (fee-collection.ts)
 *   recorded as finalised (`finalized_at` set once) or paid (its status moved to paid once).
 * - `billing.fee.accrued` / `billing.fee.waived`: a booking fee accrued or revised (each revision
 *   is a new amount), or waived (fees.ts).
 * - `billing.credits.purchased`: credits granted from a paid Checkout, when the grant is written
 *   (credits-purchase.ts); a repeated event finds the grant written and sends nothing.
 *
 * Payloads carry ids, amounts in minor units with their currency, statuses and links; never a
 * person's details.
 */
import type { BookingFee, FeeInvoice, Prisma } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { queueWebhookEvent } from '../outbound-webhooks/events.ts';
import { planOfPrice, type StandingDeps, subscriptionStanding } from './standing.ts';

/** A fee as receivers see it. */
export function feeData(fee: BookingFee): Prisma.InputJsonObject {
  return {
    feeId: fee.id,
    bookingId: fee.bookingId,
    venueId: fee.venueId,
    kind: fee.kind,
    status: fee.status,
    revision: fee.revision,
    pctBps: fee.pctBps,
    valueMinor: Number(fee.valueMinor),
    feeMinor: Number(fee.feeMinor),
    currency: fee.currency,
    collection: fee.collection,
    accruedAt: fee.accruedAt.toISOString(),
  };
}

/** Queues `type` about `fee` on `tx`. */
export function queueFeeEvent(
  tx: DbOrTx,
  type: 'billing.fee.accrued' | 'billing.fee.waived',
  fee: BookingFee,
  now: Date,
): Promise<number> {
  return queueWebhookEvent(tx, {
    organizationId: fee.organizationId,
    type,
    data: feeData(fee),
    bookingId: fee.bookingId,
    now,
  });
}

/** Queues `type` about a booking-fee invoice on `tx`. */
export function queueInvoiceEvent(
  tx: DbOrTx,
  type: 'billing.invoice.finalized' | 'billing.invoice.paid',
  invoice: FeeInvoice,
  fees: number,
  now: Date,
): Promise<number> {
  return queueWebhookEvent(tx, {
    organizationId: invoice.organizationId,
    type,
    data: {
      invoiceId: invoice.id,
      stripeInvoiceId: invoice.stripeInvoiceId,
      month: invoice.month,
      status: invoice.status,
      amountMinor: Number(invoice.amountMinor),
      currency: invoice.currency,
      fees,
      hostedInvoiceUrl: invoice.hostedUrl,
      paidAt: invoice.paidAt?.toISOString() ?? null,
    },
    now,
  });
}

/**
 * Tells receivers of the subscription's status, plan and standing now, if that is not what they
 * were last told (see the top of this file). Returns whether an event was queued.
 */
export async function announceSubscription(
  db: Db,
  stripeSubscriptionId: string,
  deps: StandingDeps,
): Promise<boolean> {
  const row = await db.billingSubscription.findUnique({ where: { stripeSubscriptionId } });
  if (!row) return false;
  const { standing, graceEndsAt } = subscriptionStanding(row, deps);
  if (
    row.announcedStatus === row.status &&
    row.announcedPriceId === row.priceId &&
    row.announcedStanding === standing
  ) {
    return false;
  }
  return db.$transaction(async (tx) => {
    // The row as read, or someone else announced it (or its state moved on and they will).
    const claimed = await tx.billingSubscription.updateMany({
      where: {
        id: row.id,
        status: row.status,
        priceId: row.priceId,
        pastDueSince: row.pastDueSince,
        announcedStatus: row.announcedStatus,
        announcedPriceId: row.announcedPriceId,
        announcedStanding: row.announcedStanding,
      },
      data: { announcedStatus: row.status, announcedPriceId: row.priceId, announcedStanding: standing },
    });
    if (claimed.count === 0) return false;
    await queueWebhookEvent(tx, {
      organizationId: row.organizationId,
      type: 'billing.subscription.updated',
      data: {
        stripeSubscriptionId,
        status: row.status,
        plan: planOfPrice(deps.plans, row.priceId),
        priceId: row.priceId,
        standing,
        graceEndsAt: graceEndsAt?.toISOString() ?? null,
        currentPeriodEnd: row.currentPeriodEnd?.toISOString() ?? null,
        previous:
          row.announcedStatus === null && row.announcedStanding === null
            ? null
            : {
                status: row.announcedStatus,
                plan: planOfPrice(deps.plans, row.announcedPriceId),
                priceId: row.announcedPriceId,
                standing: row.announcedStanding,
              },
      },
      now: deps.now(),
    });
    return true;
  });
}
