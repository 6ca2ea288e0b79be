/**
 * An organisation's billing for its dashboard: its plan, subscription status and credits
 * (owners and admins only), Checkout and the Customer Portal, and platform admins' credit
 * adjustments.
 */
import type { Plan } from '../../config/billing.ts';
import {
  BillingNotConfiguredError,
  BillingUnavailableError,
  type OrganizationBilling,
} from '../../domain/billing/checkout.ts';
import type { Standing } from '../../domain/billing/standing.ts';
import { InsufficientFundsError } from '../../domain/ledger/errors.ts';
import { MANAGERS } from '../../domain/organizations/access.ts';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { describedEnum } from './enums.ts';
import { errorType } from './errors.ts';
import { mutation } from './mutation.ts';
import { Organization } from './organization.ts';

errorType(
  BillingNotConfiguredError,
  'BillingNotConfiguredError',
  'Billing is not configured on this server (no Stripe key, or no price for the plan).',
);

const BillingPlan = describedEnum('BillingPlan', {
  VENUE_STARTER: 'The venue plan starter.',
  VENUE_GROWTH: 'The venue plan growth.',
  VENUE_PRO: 'The venue plan pro.',
  DEVELOPER_FREE: 'The free developer tier (nothing to pay, no checkout).',
  DEVELOPER_PRO: 'The developer tier pro.',
} satisfies Record<Plan, string>);

const BillingStanding = describedEnum('BillingStanding', {
  NONE: 'No subscription, or it was cancelled.',
  ACTIVE: "Paid (active or trialing): the plan's features are on.",
  PAST_DUE:
    "Stripe could not collect; the plan's features stay on until `graceEndsAt`, then the organisation is restricted.",
  RESTRICTED:
    "Past due beyond grace, or unpaid, paused or incomplete: the plan's features are off until it is paid.",
} satisfies Record<Standing, string>);

interface CreditBalance {
  currency: string;
  balance: bigint;
}

const CreditBalanceRef = builder.objectRef<CreditBalance>('CreditBalance').implement({
  description: "An organisation's prepaid credits in one currency.",
  fields: (t) => ({
    currency: t.exposeString('currency', { description: 'ISO 4217 code, upper case.' }),
    balance: t.string({
      description: 'Minor units (cents), as a decimal string: it may exceed 32 bits.',
      resolve: (c) => c.balance.toString(),
    }),
  }),
});

/** Other billing files add their fields to it (`builder.objectField(OrganizationBillingRef, …)`). */
export const OrganizationBillingRef = builder
  .objectRef<OrganizationBilling>('OrganizationBilling')
  .implement({
    description: "An organisation's billing: its subscription and prepaid credits.",
    fields: (t) => ({
      plan: t.field({
        type: BillingPlan,
        nullable: true,
        description:
          'The plan subscribed to; null when there is none or it is not known yet. It stays the subscribed plan whatever the standing: whether its features are on is `standing` (a RESTRICTED organisation still shows the plan it pays for).',
        resolve: (b) => b.plan as Plan | null,
      }),
      standing: t.field({
        type: BillingStanding,
        description: "Whether the plan's features are on now.",
        resolve: (b) => b.standing,
      }),
      graceEndsAt: t.field({
        type: 'DateTime',
        nullable: true,
        description:
          "Until when a past-due subscription keeps its plan's features (for a RESTRICTED one past due: when they went off); null when it is not past due.",
        resolve: (b) => b.graceEndsAt,
      }),
      status: t.string({
        nullable: true,
        description:
          "Stripe's status of the latest subscription (active, trialing, past_due, unpaid, canceled, …); null without one.",
        resolve: (b) => b.status,
      }),
      currentPeriodEnd: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the current period of the subscription ends.',
        resolve: (b) => b.currentPeriodEnd,
      }),
      credits: t.field({
        type: [CreditBalanceRef],
        description: 'Prepaid credits, one entry per currency the organisation holds credits in.',
        resolve: (b) => b.credits,
      }),
    }),
  });

builder.prismaObjectField(Organization, 'billing', (t) =>
  t.field({
    type: OrganizationBillingRef,
    nullable: true,
    description: "The organisation's billing. Owners and admins only (null for staff and everyone else).",
    authScopes: (org) => ({ orgRole: { organizationId: org.id, roles: MANAGERS } }),
    unauthorizedResolver: () => null,
    resolve: (org, _args, ctx) => ctx.domain.billing.organizationBilling(ctx.access, org.id),
  }),
);

const UrlPayload = (name: string, description: string) =>
  builder.objectRef<{ url: string }>(name).implement({
    description,
    fields: (t) => ({ url: t.exposeString('url') }),
  });

errorType(
  BillingUnavailableError,
  'BillingUnavailableError',
  'Stripe did not answer in time: nothing was bought or changed, and asking again is safe.',
);

export const billingErrors = [
  ValidationError,
  NotFoundError,
  NotAllowedError,
  BillingNotConfiguredError,
  BillingUnavailableError,
];

mutation('startCheckout', {
  description:
    'Starts a Stripe Checkout for a plan and returns the page to send the person to. Owners and admins of the organisation, signed in (not an API key).',
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    plan: t.field({ type: BillingPlan, required: true }),
  }),
  payload: UrlPayload('StartCheckoutPayload', 'The Stripe Checkout page.'),
  errors: [...billingErrors, ConflictError],
  // A person's own act: a leaked key must not open the organisation's subscription and cards.
  authScopes: (input) => ({
    $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
  }),
  resolve: (input, ctx) =>
    ctx.domain.billing.startCheckout(ctx.access, {
      organizationId: input.organizationId.id,
      plan: input.plan,
    }),
});

mutation('changePlan', {
  description:
    "Moves the organisation's subscription of the plan's kind (venue or developer) to another plan, with the meters the plan bills, at once: Stripe prorates the price on the next invoice. Answers the organisation's billing as it is now; asking for the plan it is on changes nothing. A ConflictError when there is no paid plan of that kind to change (startCheckout) or it is not paid (mend it in the billing portal first); a free plan is a ValidationError (cancel in the billing portal). Owners and admins of the organisation, signed in (not an API key).",
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    plan: t.field({ type: BillingPlan, required: true }),
  }),
  payload: builder.objectRef<{ billing: OrganizationBilling }>('ChangePlanPayload').implement({
    description: "The organisation's billing after the change.",
    fields: (t) => ({ billing: t.field({ type: OrganizationBillingRef, resolve: (p) => p.billing }) }),
  }),
  errors: [...billingErrors, ConflictError],
  // A person's own act: a leaked key must not change what the organisation pays.
  authScopes: (input) => ({
    $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
  }),
  resolve: async (input, ctx) => ({
    billing: await ctx.domain.billing.changePlan(ctx.access, {
      organizationId: input.organizationId.id,
      plan: input.plan,
    }),
  }),
});

mutation('openBillingPortal', {
  description:
    "Opens Stripe's Customer Portal for the organisation and returns its page. Owners and admins of the organisation, signed in (not an API key).",
  input: (t) => ({ organizationId: t.globalID({ for: Organization }) }),
  payload: UrlPayload('OpenBillingPortalPayload', "The Stripe Customer Portal's page."),
  errors: billingErrors,
  // A person's own act: a leaked key must not open the organisation's subscription and cards.
  authScopes: (input) => ({
    $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
  }),
  resolve: (input, ctx) =>
    ctx.domain.billing.openBillingPortal(ctx.access, { organizationId: input.organizationId.id }),
});

errorType(
  InsufficientFundsError,
  'InsufficientFundsError',
  'The account holds less than the amount taken from it; nothing changed.',
);

mutation('adjustCredits', {
  description:
    "Gives (a positive amount) or takes back (a negative one) an organisation's credits, with a reason; recorded in the ledger with who did it. Platform admins.",
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    amount: t.int({ description: 'Minor units (cents); negative takes credits back.' }),
    currency: t.string({
      description: 'ISO 4217 code: the one credits are kept in (API_CALL_CURRENCY, USD unless set).',
    }),
    reason: t.string(),
    clientKey: t.string({
      required: false,
      description:
        'Your idempotency key: sending the same key again makes no second adjustment (the same key for another adjustment is a ConflictError).',
    }),
  }),
  payload: builder.objectRef<CreditBalance>('AdjustCreditsPayload').implement({
    description: "The organisation's credits in that currency after the adjustment.",
    fields: (t) => ({
      currency: t.exposeString('currency'),
      balance: t.string({
        description: 'Minor units, as a decimal string.',
        resolve: (c) => c.balance.toString(),
      }),
    }),
  }),
  errors: [ValidationError, NotFoundError, NotAllowedError, InsufficientFundsError, ConflictError],
  authScopes: { platformAdmin: true },
  resolve: (input, ctx) =>
    ctx.domain.billing.adjustCredits(ctx.access, {
      organizationId: input.organizationId.id,
      amount: input.amount,
      currency: input.currency,
      reason: input.reason,
      ...(input.clientKey != null ? { clientKey: input.clientKey } : {}),
    }),
});
