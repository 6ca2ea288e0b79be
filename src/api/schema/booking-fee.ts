/**
 * Booking fees on the dashboard: an organisation's fees by month and its fee invoices (owners and
 * admins, through `Organization.billing`), the value a venue's team records for a booking, and
 * platform admins' waiver of a fee. The rules are in src/domain/billing/fees.ts.
 */
import {
  FEES_LISTED_PER_MONTH,
  type BookingFeeMonth as FeeMonthShape,
  venueCurrency,
  venueReferralBps,
} from '../../domain/billing/fees.ts';
import { MANAGERS } from '../../domain/organizations/access.ts';
import type { FeeInvoice } from '../../generated/prisma/client.ts';
import { builder } from '../builder.ts';
import { teamOf } from '../scopes.ts';
import { OrganizationBillingRef } from './billing.ts';
import { Booking, type BookingRow, readOnlyKey, readsBooking } from './booking.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';
import { Venue } from './venue.ts';

const BookingFeeKind = describedEnum('BookingFeeKind', {
  REFERRAL_PCT: "A percentage of the booking's value (a venue with a plan), never below the minimum.",
  FLAT: 'A flat fee per booking (a venue without a plan).',
});

const BookingFeeStatus = describedEnum('BookingFeeStatus', {
  PENDING: 'Owed; not yet on an invoice nor charged.',
  INVOICED: 'On a monthly invoice that is not paid yet.',
  CHARGED: 'Charged to the card on file; settled.',
  PAID: 'Its monthly invoice was paid; settled.',
  WAIVED:
    'Waived by the platform, or its booking revalued to nothing owed (`waivedReason` says which); nothing is owed.',
});

const minor = (description: string) => ({
  description: `${description} Minor units (cents), as a decimal string.`,
});

export const BookingFee = builder.prismaObject('BookingFee', {
  description: "One booking's fee: what the booking was worth, the platform's share and the venue's.",
  fields: (t) => ({
    booking: t.field({
      type: Booking,
      nullable: true,
      description:
        "The booking; null once it is no longer yours to read (its venue has changed hands since: the fee stays the organisation's that held it).",
      select: (_args, _ctx, nestedSelection) => ({ booking: nestedSelection(true) }),
      resolve: async (fee, _args, ctx) => {
        const { booking } = fee as unknown as { booking: BookingRow };
        return (await readsBooking(booking, ctx)) ? booking : null;
      },
    }),
    kind: t.expose('kind', { type: BookingFeeKind }),
    percent: t.float({
      nullable: true,
      description: 'The percentage applied (7 for 7 %); null for a flat fee.',
      resolve: (f) => (f.kind === 'REFERRAL_PCT' ? f.pctBps / 100 : null),
    }),
    value: t.string({
      ...minor('The booking value counted (at most the configured maximum).'),
      resolve: (f) => f.valueMinor.toString(),
    }),
    fee: t.string({ ...minor("The platform's share: the fee."), resolve: (f) => f.feeMinor.toString() }),
    venueShare: t.string({
      ...minor("The venue's share: value − fee (below zero when the minimum or flat fee exceeds the value)."),
      resolve: (f) => f.venueShareMinor.toString(),
    }),
    currency: t.exposeString('currency', { description: 'ISO 4217 code, upper case.' }),
    status: t.expose('status', { type: BookingFeeStatus }),
    accruedAt: t.expose('accruedAt', { type: 'DateTime' }),
    settledAt: t.expose('settledAt', { type: 'DateTime', nullable: true }),
    waivedReason: t.exposeString('waivedReason', { nullable: true }),
  }),
});

const BookingFeeMonth = builder.objectRef<FeeMonthShape>('BookingFeeMonth').implement({
  description: "An organisation's booking fees accrued in one month (UTC) and currency.",
  fields: (t) => ({
    month: t.exposeString('month', { description: '`yyyy-mm`.' }),
    currency: t.exposeString('currency'),
    total: t.string({
      ...minor("The sum of all the month's fees in this currency, waived ones left out."),
      resolve: (m) => m.totalMinor.toString(),
    }),
    count: t.exposeInt('count', { description: 'How many fees the month has, waived ones left out.' }),
    fees: t.field({
      type: [BookingFee],
      description: `The month's fees, newest first, waived ones too: at most the newest ${FEES_LISTED_PER_MONTH.toLocaleString('en')} (\`total\` and \`count\` are of them all).`,
      resolve: (m) => m.fees,
    }),
  }),
});

const FeeInvoiceRef = builder.objectRef<FeeInvoice>('FeeInvoice').implement({
  description: 'A monthly Stripe invoice of booking fees.',
  fields: (t) => ({
    stripeInvoiceId: t.string({ resolve: (i) => i.stripeInvoiceId ?? '' }),
    month: t.exposeString('month', { description: 'The month whose fees it collects, `yyyy-mm`.' }),
    currency: t.exposeString('currency'),
    amount: t.string({ ...minor('What is due.'), resolve: (i) => i.amountMinor.toString() }),
    status: t.exposeString('status', {
      description:
        "Stripe's status (draft, open, paid, void, uncollectible), or payment_failed: Stripe could not collect it and the owners were told.",
    }),
    hostedUrl: t.exposeString('hostedUrl', {
      nullable: true,
      description: "Stripe's page where the invoice is seen and paid; null while it is a draft.",
    }),
    paidAt: t.expose('paidAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.objectField(OrganizationBillingRef, 'fees', (t) =>
  t.field({
    type: [BookingFeeMonth],
    description:
      'Booking fees by month (UTC) and currency, newest month first, currencies in order within a month.',
    args: {
      months: t.arg.int({ required: false, description: 'How many months (default 12, at most 36).' }),
    },
    resolve: async (b, args, ctx) =>
      (await ctx.domain.billing.organizationFees(ctx.access, b.organizationId, {
        months: args.months ?? undefined,
      })) ?? [],
  }),
);

builder.objectField(OrganizationBillingRef, 'invoices', (t) =>
  t.field({
    type: [FeeInvoiceRef],
    description: 'Monthly invoices of booking fees, newest first.',
    resolve: async (b, _args, ctx) =>
      (await ctx.domain.billing.organizationFeeInvoices(ctx.access, b.organizationId)) ?? [],
  }),
);

builder.prismaObjectField(Booking, 'value', (t) =>
  t.string({
    nullable: true,
    description:
      "What the booking was worth, as the venue's team recorded it: minor units of its fee's currency once it has a fee, else of the venue's, as a decimal string. Its team only.",
    select: { valueMinor: true, venue: { select: { organizationId: true } } },
    authScopes: (b) => teamOf(b.venue.organizationId),
    unauthorizedResolver: () => null,
    resolve: (b) => b.valueMinor?.toString() ?? null,
  }),
);

builder.prismaObjectField(Venue, 'currency', (t) =>
  t.string({
    description:
      "What the venue charges in (ISO 4217): its bookings' values and its booking fees. The configured default (FEE_DEFAULT_CURRENCY) unless the venue has its own.",
    select: { currency: true },
    resolve: (v, _args, ctx) => venueCurrency(ctx.services.config.fees, v),
  }),
);

builder.prismaObjectField(Venue, 'referralFeeBps', (t) =>
  t.int({
    nullable: true,
    description:
      "The referral percentage a subscribed venue's bookings are charged, in basis points (700 is 7 %): the venue's own rate, else the configured one. Its organisation's owners and admins (who see its billing) and platform admins.",
    select: { referralFeeBps: true, organizationId: true },
    authScopes: (v) =>
      v.organizationId
        ? { orgRole: { organizationId: v.organizationId, roles: MANAGERS } }
        : { platformAdmin: true as const },
    unauthorizedResolver: () => null,
    resolve: (v, _args, ctx) => venueReferralBps(ctx.services.config.fees, v),
  }),
);

mutation('setVenueCurrency', {
  description:
    'Platform admins: what a venue charges in (ISO 4217, with cents: EUR, GBP, USD…), or null for the configured default. Fees that arise from then on are in it; one already accrued keeps its own.',
  input: (t) => ({ venueId: t.globalID({ for: Venue }), currency: t.string({ required: false }) }),
  payload: payloadType('SetVenueCurrencyPayload', 'venue', Venue),
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    venue: await ctx.domain.billing.setVenueCurrency(ctx.access, {
      venueId: input.venueId.id,
      currency: input.currency ?? null,
    }),
  }),
});

mutation('setVenueReferralFee', {
  description:
    "Platform admins: a venue's own referral rate (basis points, 0–10000), or null for the configured one. Fees that arise from then on use it; one already accrued keeps its terms.",
  input: (t) => ({ venueId: t.globalID({ for: Venue }), bps: t.int({ required: false }) }),
  payload: payloadType('SetVenueReferralFeePayload', 'venue', Venue),
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    venue: await ctx.domain.billing.setVenueReferralFee(ctx.access, {
      venueId: input.venueId.id,
      bps: input.bps ?? null,
    }),
  }),
});

mutation('recordBookingValue', {
  description:
    "Records what a booking was worth (its booking fee is worked out from it). Before the fee is invoiced or charged it is accrued again for the new value. The venue's team.",
  input: (t) => ({
    bookingId: t.globalID({ for: Booking }),
    value: t.int({
      description:
        "Minor units (cents) of the booking fee's currency once it has one, else of the venue's; zero or more.",
    }),
  }),
  payload: builder
    .objectRef<{ booking: BookingRow | null; value: bigint }>('RecordBookingValuePayload')
    .implement({
      fields: (t) => ({
        booking: t.field({
          type: Booking,
          nullable: true,
          description:
            'The booking; null when you may no longer see it: a former holder of its venue recording the value of a fee it owes.',
          resolve: (p) => p.booking,
        }),
        value: t.string({
          ...minor('The value recorded.'),
          resolve: (p) => p.value.toString(),
        }),
      }),
    }),
  // Whose team records the value is the domain's rule (recordBookingValue): the organisation billed
  // for the booking's fee once there is one, which after a takeover is no longer the venue's, so
  // the venue's role cannot be asked here. Anyone else is answered NotFoundError from there.
  authScopes: (_input, ctx) => !readOnlyKey(ctx) && { authenticated: true },
  resolve: async (input, ctx) => {
    const recorded = await ctx.domain.billing.recordBookingValue(ctx.access, {
      bookingId: input.bookingId.id,
      value: input.value,
    });
    // The value's team is the fee's organisation, which after a takeover no longer sees the
    // booking (its venue's team does): it is answered with what it recorded, not an error.
    const booking = await ctx.domain.bookings.findBookingWithOwnerOrThrow(recorded.id);
    const sees = await ctx.domain.bookings.canSeeBooking(ctx.access, booking);
    return { booking: sees ? booking : null, value: recorded.valueMinor ?? BigInt(input.value) };
  },
});

mutation('waiveBookingFee', {
  description:
    "Waives a booking's fee with a reason: its accrual is reversed in the ledger, recording who and why. Only a fee not yet invoiced or charged. Platform admins.",
  input: (t) => ({ bookingId: t.globalID({ for: Booking }), reason: t.string() }),
  payload: payloadType('WaiveBookingFeePayload', 'fee', BookingFee),
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    fee: await ctx.domain.billing.waiveBookingFee(ctx.access, {
      bookingId: input.bookingId.id,
      reason: input.reason,
    }),
  }),
});
