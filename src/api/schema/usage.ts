/**
 * Metered usage and prepaid credits on an organisation's billing: this month's usage by meter
 * (`OrganizationBilling.usage`), buying credits through Stripe Checkout, and the error a paid
 * call answers when credits do not cover it. Owners and admins only; STAFF see none of it.
 */
import { MANAGERS } from '../../domain/organizations/access.ts';
import type { MeterUsage, UsageMeter } from '../../domain/usage/events.ts';
import { PaymentRequiredError } from '../../domain/usage/paid-calls.ts';
import { builder } from '../builder.ts';
import { billingErrors, OrganizationBillingRef } from './billing.ts';
import { describedEnum } from './enums.ts';
import { errorType } from './errors.ts';
import { mutation } from './mutation.ts';
import { Organization } from './organization.ts';

errorType(
  PaymentRequiredError,
  'PaymentRequiredError',
  "A paid call that the organisation's credits do not cover, without a paid developer plan to meter it on. Nothing changed: buy credits (buyCredits) or subscribe.",
  (t) => ({
    price: t.exposeInt('price', { description: 'What the call costs, in minor units (cents).' }),
    currency: t.exposeString('currency', { description: 'ISO 4217 code.' }),
  }),
);

const UsageMeterEnum = describedEnum('UsageMeter', {
  A2A_BOOKING: 'Bookings confirmed that came through the agent network.',
  CONVERSATION: "Agent conversations beyond the venue plan's monthly allowance.",
  LLM_TOKENS: 'Language-model tokens used for the organisation.',
  API_CALL: 'Paid API calls that credits did not cover, metered on a developer plan.',
  API_REQUEST: "API keys' requests, recorded per key once each UTC day is over.",
} satisfies Record<UsageMeter, string>);

const MeterUsageRef = builder.objectRef<MeterUsage>('MeterUsage').implement({
  description:
    "One meter's usage this calendar month (UTC): everything recorded, reported to Stripe or not yet.",
  fields: (t) => ({
    meter: t.field({ type: UsageMeterEnum, resolve: (u) => u.meter }),
    quantity: t.string({
      description: 'Everything recorded this month, as a decimal string (tokens may exceed 32 bits).',
      resolve: (u) => u.quantity.toString(),
    }),
    reported: t.string({
      description: 'Of which reported to Stripe.',
      resolve: (u) => u.reported.toString(),
    }),
    pending: t.string({
      description:
        'Of which still to be reported (within 15 minutes, or once the organisation has a Stripe customer).',
      resolve: (u) => u.pending.toString(),
    }),
  }),
});

builder.objectField(OrganizationBillingRef, 'usage', (t) =>
  t.field({
    type: [MeterUsageRef],
    nullable: true,
    description: "This calendar month's usage (UTC), one entry per meter. Owners and admins only.",
    resolve: (billing, _args, ctx) => ctx.domain.billing.usage(ctx.access, billing.organizationId),
  }),
);

mutation('buyCredits', {
  description:
    'Starts a Stripe Checkout to buy prepaid credits and returns the page to send the person to; the credits are granted once Stripe says the payment is in. Owners and admins of the organisation.',
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    amount: t.int({ description: 'Minor units (cents) of credit to buy.' }),
    currency: t.string({
      description: 'ISO 4217 code; credits are sold in the currency paid calls are priced in.',
    }),
  }),
  payload: builder.objectRef<{ url: string }>('BuyCreditsPayload').implement({
    description: 'The Stripe Checkout page.',
    fields: (t) => ({ url: t.exposeString('url') }),
  }),
  errors: billingErrors,
  authScopes: (input) => ({ orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } }),
  resolve: (input, ctx) =>
    ctx.domain.billing.buyCredits(ctx.access, {
      organizationId: input.organizationId.id,
      amount: input.amount,
      currency: input.currency,
    }),
});
