/**
 * Booking fees: what a booking made through AGNT costs the venue, and how hard we try to collect
 * it at once. The defaults are the reference system's (referral 7 % with a minimum of 1.50 for
 * subscribed venues, a flat 2.50 for the others, the booking value counted up to 1000); they must
 * agree with the pricing page and with what Stripe shows on the invoice.
 *
 * Amounts are integer minor units and apply in whatever currency the venue charges in (a venue's
 * `currency`, by default FEE_DEFAULT_CURRENCY): 150 is 1.50 USD or 1.50 EUR. A venue in a
 * currency without minor units (JPY) would need amounts of its own; none is configured today.
 */
import { z } from 'zod';
import { positiveInt } from './parse.ts';

const minor = z.coerce.number().int().min(0).max(100_000_000);

export const feesEnv = z.object({
  /** The referral percentage in basis points (700 = 7 %); a venue's own override wins. */
  FEE_REFERRAL_BPS: z.coerce.number().int().min(0).max(10_000).default(700),
  FEE_MIN_REFERRAL_MINOR: minor.default(150),
  FEE_FLAT_MINOR: minor.default(250),
  FEE_MAX_BOOKING_VALUE_MINOR: minor.default(100_000),
  FEE_DEFAULT_CURRENCY: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'an ISO 4217 currency code')
    .transform((v) => v.toUpperCase())
    .default('USD'),
  FEE_CHARGE_MAX_ATTEMPTS: positiveInt.default(6),
  FEE_CHARGE_RETRY_MINUTES: positiveInt.default(30),
  FEE_INVOICE_DAYS_UNTIL_DUE: positiveInt.default(14),
});

export function feesConfig(e: z.output<typeof feesEnv>) {
  return {
    referralBps: e.FEE_REFERRAL_BPS,
    /** The least a subscribed venue pays per booking, whatever the value (also for no value). */
    minReferralMinor: e.FEE_MIN_REFERRAL_MINOR,
    /** What a venue without a plan pays per booking. */
    flatMinor: e.FEE_FLAT_MINOR,
    /** A booking value above this counts as this much; below zero counts as zero. */
    maxBookingValueMinor: e.FEE_MAX_BOOKING_VALUE_MINOR,
    /** A venue's currency unless its team sets another. */
    defaultCurrency: e.FEE_DEFAULT_CURRENCY,
    /**
     * Pay-as-you-go: how many declined charges of one fee before it waits for the monthly
     * invoice instead, and the first wait between tries (doubling each time).
     */
    chargeMaxAttempts: e.FEE_CHARGE_MAX_ATTEMPTS,
    chargeRetryMinutes: e.FEE_CHARGE_RETRY_MINUTES,
    /** Days an organisation without a card on file has to pay its monthly fee invoice. */
    invoiceDaysUntilDue: e.FEE_INVOICE_DAYS_UNTIL_DUE,
  };
}

export type FeesConfig = ReturnType<typeof feesConfig>;
