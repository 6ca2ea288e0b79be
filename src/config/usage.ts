/**
 * Metered usage and prepaid credits: the Stripe meter each kind of usage is reported to, how many
 * agent conversations each venue plan includes each month, what a paid API call costs, how much
 * credit may be bought at once, and how the reporter works through its queue.
 *
 * Every value has a default that serves a deployment as the public pricing describes it
 * (booking.confirm at $0.25; starter and growth include 200 conversations a month).
 */
import { z } from 'zod';
import { positiveInt } from './parse.ts';

/** A Stripe meter's event name: letters, digits, `_`, `-`, `.`; at most 100 characters. */
const meterName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'a Stripe meter event name');
const count = z.coerce.number().int().min(0);
const currency = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'an ISO 4217 currency code')
  .transform((v) => v.toUpperCase());

export const usageEnv = z.object({
  STRIPE_METER_A2A_BOOKING: meterName.default('agnt_a2a_booking'),
  STRIPE_METER_CONVERSATION: meterName.default('agnt_conversation'),
  STRIPE_METER_LLM_TOKENS: meterName.default('agnt_llm_tokens'),
  STRIPE_METER_API_CALL: meterName.default('agnt_api_call'),
  STRIPE_METER_API_REQUEST: meterName.default('agnt_api_request'),
  USAGE_CONVERSATIONS_VENUE_STARTER: count.default(200),
  USAGE_CONVERSATIONS_VENUE_GROWTH: count.default(200),
  USAGE_CONVERSATIONS_VENUE_PRO: count.default(2000),
  USAGE_REPORT_BATCH_SIZE: positiveInt.max(1000).default(100),
  API_CALL_PRICE_MINOR: positiveInt.default(25),
  API_CALL_CURRENCY: currency.default('USD'),
  CREDITS_MIN_PURCHASE_MINOR: positiveInt.default(500),
  CREDITS_MAX_PURCHASE_MINOR: positiveInt.default(100_000),
});
type UsageEnv = z.output<typeof usageEnv>;

export function usageConfig(e: UsageEnv) {
  return {
    /** The Stripe meter (its `event_name`) each kind of usage is reported to. */
    meters: {
      A2A_BOOKING: e.STRIPE_METER_A2A_BOOKING,
      CONVERSATION: e.STRIPE_METER_CONVERSATION,
      LLM_TOKENS: e.STRIPE_METER_LLM_TOKENS,
      API_CALL: e.STRIPE_METER_API_CALL,
      API_REQUEST: e.STRIPE_METER_API_REQUEST,
    },
    /**
     * Agent conversations each venue plan includes per calendar month (UTC); only those beyond are
     * metered. An organisation without a venue plan in good standing is not metered for them.
     */
    conversationsIncluded: {
      VENUE_STARTER: e.USAGE_CONVERSATIONS_VENUE_STARTER,
      VENUE_GROWTH: e.USAGE_CONVERSATIONS_VENUE_GROWTH,
      VENUE_PRO: e.USAGE_CONVERSATIONS_VENUE_PRO,
    },
    /** Usage events sent to Stripe per batch of `report-usage`. */
    reportBatchSize: e.USAGE_REPORT_BATCH_SIZE,
    /** What one paid API call costs, in minor units of `apiCallCurrency`. */
    apiCallPrice: e.API_CALL_PRICE_MINOR,
    apiCallCurrency: e.API_CALL_CURRENCY,
    /** The least and most credit (minor units) one purchase may buy. */
    creditsMinPurchase: e.CREDITS_MIN_PURCHASE_MINOR,
    creditsMaxPurchase: e.CREDITS_MAX_PURCHASE_MINOR,
  };
}

export function usageProblems(e: UsageEnv): string[] {
  return e.CREDITS_MIN_PURCHASE_MINOR > e.CREDITS_MAX_PURCHASE_MINOR
    ? ['CREDITS_MIN_PURCHASE_MINOR: more than CREDITS_MAX_PURCHASE_MINOR']
    : [];
}
