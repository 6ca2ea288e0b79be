/**
 * Booking fees: what a booking made through AGNT costs its venue's organisation, kept in the
 * ledger.
 *
 * The rules, in one place:
 * - A fee arises when a booking whose source is CHAT, MCP or A2A (made through AGNT) reaches
 *   COMPLETED. A DASHBOARD booking is the venue's own and costs nothing, and so is one whose guest
 *   is a member of the venue's organisation (its people booking through AGNT: a key of theirs,
 *   their own chat). A booking that ends any other way (cancelled by either side, declined,
 *   expired, no-show) costs nothing either: the venue got no guest from us. A venue no
 *   organisation held when the booking completed is not charged (nobody to bill); after a
 *   takeover, the organisation that held it then owes it. The fee is worked out when it is
 *   accrued, from the organisation's plan at that moment.
 * - Subscribed venues (an organisation with a venue plan in good standing, `isVenueSubscriber`)
 *   pay a referral percentage of the booking's value (FEE_REFERRAL_BPS, or the venue's own
 *   `referral_fee_bps`), rounded half up to a minor unit, never less than FEE_MIN_REFERRAL_MINOR;
 *   others pay FEE_FLAT_MINOR. The reference system's constant is named "MIN_REFERRAL_FEE", so the
 *   floor is read as a minimum for every value, not only for a value of zero.
 * - The value is what the venue's team recorded (`recordBookingValue`, minor units of the venue's
 *   currency), clamped to 0..FEE_MAX_BOOKING_VALUE_MINOR; no value counts as 0, which means the
 *   minimum for a subscriber and the flat fee for the others.
 * - The booking_fees row records gross (the value counted), the platform's share (the fee) and
 *   the venue's share (value − fee; below zero when the minimum or flat fee exceeds the value).
 *   The guest pays the venue, not us, so only the fee moves in the ledger.
 *
 * Ledger: accrual moves the fee from the organisation's FEES_PAYABLE to the platform's REVENUE.
 * FEES_PAYABLE is what the organisation owes, so it runs below zero (opened with mayOverdraw: a
 * debt, not a balance held): −250 means 2.50 owed. Collection (an invoice paid, a charge that
 * succeeded) moves the fee from the platform's STRIPE_CLEARING back to FEES_PAYABLE, bringing the
 * debt to zero. Nothing is edited: a value changed before the fee is collected reverses the
 * accrual and accrues anew (revision 2, 3, …), and a waived fee's accrual is reversed. Transfer
 * ids are derived from the booking (`booking-fee/<id>/accrual/<revision>`), so a job that runs
 * twice accrues once. Receivers of the organisation's webhooks hear `billing.fee.accrued` for each
 * accrual and revision and `billing.fee.waived`, queued in the same transaction (billing-events.ts).
 */

import type { FeesConfig } from '../../config/fees.ts';
import { type Booking, type BookingFee, Prisma, type Venue } from '../../generated/prisma/client.ts';
import type { BookingFeeKind } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/uuid.ts';
import {
  ensureAccount,
  normalizeCurrency,
  organizationAccount,
  platformAccount,
} from '../ledger/accounts.ts';
import { derivedTransferId, reverseTransfer, transfer } from '../ledger/transfer.ts';
import { type Access, ANY_ROLE, MANAGERS } from '../organizations/access.ts';
import { queueFeeEvent } from './billing-events.ts';
import { isVenueSubscriber, planStanding, type StandingDeps } from './standing.ts';

export const BOOKING_FEE_ACCRUAL = 'BOOKING_FEE_ACCRUAL';
export const BOOKING_FEE_SETTLEMENT = 'BOOKING_FEE_SETTLEMENT';

/** Bookings made through AGNT (all but the venue's team's own, DASHBOARD): the ones that earn a fee. */
export const FEE_SOURCES = ['CHAT', 'MCP', 'A2A', 'API'] as const;

/** A value nobody means (above this is a typing mistake): 100 million major units. */
const MAX_RECORDED_VALUE = 10_000_000_000;

export interface FeeDeps extends StandingDeps {
  db: Db;
  fees: FeesConfig;
}

export interface FeeCalculation {
  kind: BookingFeeKind;
  /** Basis points applied; 0 for a flat fee. */
  pctBps: number;
  /** The value counted, after clamping. */
  valueMinor: bigint;
  feeMinor: bigint;
  venueShareMinor: bigint;
  /** The terms applied: the flat fee or the referral minimum, and the cap on the value counted. */
  floorMinor: bigint;
  maxValueMinor: bigint;
}

/** The fee of one booking, from the plan, the venue's override and the recorded value. */
export function calculateBookingFee(
  config: FeesConfig,
  input: { subscriber: boolean; venueReferralBps: number | null; valueMinor: bigint | number | null },
): FeeCalculation {
  const raw = BigInt(input.valueMinor ?? 0);
  const max = BigInt(config.maxBookingValueMinor);
  const valueMinor = raw < 0n ? 0n : raw > max ? max : raw;
  if (!input.subscriber) {
    const feeMinor = BigInt(config.flatMinor);
    return {
      kind: 'FLAT',
      pctBps: 0,
      valueMinor,
      feeMinor,
      venueShareMinor: valueMinor - feeMinor,
      floorMinor: feeMinor,
      maxValueMinor: max,
    };
  }
  const pctBps = venueReferralBps(config, { referralFeeBps: input.venueReferralBps });
  // Half up, in integers: (value × bps + 5000) / 10000.
  const share = (valueMinor * BigInt(pctBps) + 5_000n) / 10_000n;
  const floor = BigInt(config.minReferralMinor);
  const feeMinor = share > floor ? share : floor;
  return {
    kind: 'REFERRAL_PCT',
    pctBps,
    valueMinor,
    feeMinor,
    venueShareMinor: valueMinor - feeMinor,
    floorMinor: floor,
    maxValueMinor: max,
  };
}

/**
 * The settings a fee was priced on: its own kept terms over today's (a fee from before they were
 * kept has none, and takes today's). Revaluing it changes the value, never the terms.
 */
function termsOf(config: FeesConfig, fee: Pick<BookingFee, 'floorMinor' | 'maxValueMinor'>): FeesConfig {
  return {
    ...config,
    ...(fee.floorMinor === null
      ? {}
      : { flatMinor: Number(fee.floorMinor), minReferralMinor: Number(fee.floorMinor) }),
    ...(fee.maxValueMinor === null ? {} : { maxBookingValueMinor: Number(fee.maxValueMinor) }),
  };
}

/** What the venue charges in. */
export function venueCurrency(config: FeesConfig, venue: Pick<Venue, 'currency'>): string {
  return normalizeCurrency(venue.currency ?? config.defaultCurrency);
}

/** ISO 4217 codes the runtime knows, less the units no one pays a bill in (drawing rights, SUCRE). */
const KNOWN_CURRENCIES = new Set(
  Intl.supportedValuesOf('currency').filter((code) => !['XDR', 'XSU'].includes(code)),
);

/**
 * Why `code` cannot be a venue's currency, or null when it can: an ISO 4217 code the runtime
 * knows, counted in hundredths, as the fee amounts are (FEE_FLAT_MINOR 250 is 2.50 of it). A
 * currency without cents (JPY) or with thousandths (KWD) would need amounts of its own.
 */
export function venueCurrencyProblem(code: string): string | null {
  if (!KNOWN_CURRENCIES.has(code)) return `"${code}" is not a currency code: use one such as EUR or GBP`;
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions()
    .maximumFractionDigits;
  return digits === 2 ? null : `Bookings cannot be charged in ${code} yet: choose a currency with cents`;
}

/**
 * Sets what the venue charges in (ISO 4217, with cents; `venueCurrencyProblem`), or with null goes
 * back to FEE_DEFAULT_CURRENCY: platform admins, as the venue's other commercial terms (the fee
 * amounts are hundredths of whatever the currency is, so the venue's own team does not choose it).
 * Fees that arise from then on are in it; one already accrued keeps its currency, and a value
 * recorded for its booking later is read in that currency.
 */
export async function setVenueCurrency(
  db: Db,
  access: Access,
  input: { venueId: string; currency: string | null },
): Promise<Venue> {
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins set a venue’s currency');
  const currency = input.currency === null ? null : input.currency.trim().toUpperCase();
  const problem = currency === null ? null : venueCurrencyProblem(currency);
  if (problem) throw new ValidationError(problem, 'currency');
  return setVenueTerms(db, input.venueId, { currency });
}

/** Writes a venue's commercial terms; NotFoundError for a venue that is not there. */
async function setVenueTerms(
  db: Db,
  venueId: string,
  terms: Pick<Prisma.VenueUpdateManyMutationInput, 'currency' | 'referralFeeBps'>,
): Promise<Venue> {
  const notFound = () => new NotFoundError('Venue not found');
  if (!isUuid(venueId)) throw notFound();
  const { count } = await db.venue.updateMany({ where: { id: venueId }, data: terms });
  if (count === 0) throw notFound();
  return db.venue.findUniqueOrThrow({ where: { id: venueId } });
}

/** The venue's referral percentage in basis points: its own, else FEE_REFERRAL_BPS. */
export function venueReferralBps(config: FeesConfig, venue: Pick<Venue, 'referralFeeBps'>): number {
  return venue.referralFeeBps ?? config.referralBps;
}

/**
 * Sets the venue's own referral percentage (basis points, 0–10000: 700 is 7 %), or with null goes
 * back to FEE_REFERRAL_BPS: platform admins, for a rate agreed with the venue. Fees that arise
 * from then on use it; one already accrued keeps the terms it arose on, revalued or not.
 */
export async function setVenueReferralFee(
  db: Db,
  access: Access,
  input: { venueId: string; bps: number | null },
): Promise<Venue> {
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins set a venue’s referral rate');
  const { bps } = input;
  if (bps !== null && !(Number.isSafeInteger(bps) && bps >= 0 && bps <= 10_000)) {
    throw new ValidationError(
      'A referral rate is a whole number of basis points from 0 to 10000 (700 is 7 %)',
      'bps',
    );
  }
  return setVenueTerms(db, input.venueId, { referralFeeBps: bps });
}

/** The id of a fee's accrual transfer at `revision`. */
export function accrualTransferId(bookingId: string, revision: number): string {
  return derivedTransferId('booking-fee', bookingId, 'accrual', String(revision));
}

/** The id of a fee's settlement transfer (paid invoice or successful charge). */
export function settlementTransferId(bookingId: string): string {
  return derivedTransferId('booking-fee', bookingId, 'settlement');
}

export type AccrueOutcome =
  | { outcome: 'accrued' | 'exists'; fee: BookingFee }
  | { outcome: 'no_fee'; reason: string };

/**
 * Accrues the booking's fee if it has earned one (see the rules above) and has none yet. Safe to
 * run twice or concurrently: the row is unique per booking and the transfer's id is derived from
 * it, so a second run finds what the first wrote.
 */
export async function accrueBookingFee(deps: FeeDeps, bookingId: string): Promise<AccrueOutcome> {
  const { db } = deps;
  const existing = await db.bookingFee.findUnique({ where: { bookingId } });
  if (existing) return { outcome: 'exists', fee: existing };
  const booking = await db.booking.findUnique({ where: { id: bookingId }, include: { venue: true } });
  if (!booking) return { outcome: 'no_fee', reason: 'no_booking' };
  const reason = noFeeReason(booking);
  if (reason) return { outcome: 'no_fee', reason };
  // The organisation that held the venue when the booking was completed owes it; none did (or it
  // is gone): no fee. One of its own people booking through AGNT (a key of theirs, their own
  // chat) is the venue's own booking, as one made on the dashboard: nobody was referred.
  const due = await feePayer(db, booking);
  if (due.payer === null) return { outcome: 'no_fee', reason: due.reason };
  const organizationId = due.payer;
  const standing = await planStanding(db, deps, organizationId, 'VENUE');
  const subscriber = isVenueSubscriber(standing);
  const currency = venueCurrency(deps.fees, booking.venue);
  const fee = await db.$transaction(async (tx) => {
    // The value as it is under the booking's lock, which recordBookingValue takes first too: a
    // value recorded while this ran is counted here, or finds this fee and revises it.
    const [locked] = await tx.$queryRaw<{ value_minor: bigint | null }[]>`
      SELECT value_minor FROM bookings WHERE id = ${bookingId}::uuid FOR UPDATE`;
    const calc = calculateBookingFee(deps.fees, {
      subscriber,
      venueReferralBps: booking.venue.referralFeeBps,
      valueMinor: locked?.value_minor ?? null,
    });
    if (calc.feeMinor <= 0n) return 'zero_fee' as const;
    const transferId = accrualTransferId(bookingId, 1);
    await postAccrual(tx, { bookingId, organizationId, currency, calc, transferId, revision: 1 });
    const rows = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO booking_fees (id, booking_id, organization_id, venue_id, kind, pct_bps, value_minor,
                                fee_minor, venue_share_minor, floor_minor, max_value_minor, currency,
                                collection, accrual_transfer_id, accrued_at, updated_at)
      VALUES (gen_random_uuid(), ${bookingId}::uuid, ${organizationId}::uuid, ${booking.venueId}::uuid,
              ${calc.kind}::"BookingFeeKind", ${calc.pctBps}, ${calc.valueMinor}, ${calc.feeMinor},
              ${calc.venueShareMinor}, ${calc.floorMinor}, ${calc.maxValueMinor}, ${currency},
              ${subscriber ? 'INVOICE' : 'CHARGE'}::"BookingFeeCollection", ${transferId}::uuid,
              ${deps.now()}, ${deps.now()})
      ON CONFLICT (booking_id) DO NOTHING
      RETURNING id::text`;
    if (!rows[0]) return null;
    const accrued = await tx.bookingFee.findUniqueOrThrow({ where: { id: rows[0].id } });
    await queueFeeEvent(tx, 'billing.fee.accrued', accrued, deps.now());
    return accrued;
  });
  if (fee === 'zero_fee') return { outcome: 'no_fee', reason: 'zero_fee' };
  if (!fee)
    return { outcome: 'exists', fee: await db.bookingFee.findUniqueOrThrow({ where: { bookingId } }) };
  return { outcome: 'accrued', fee };
}

/**
 * SQL: the organisation that held the venue of the booking `b` (an alias with id, venue_id,
 * updated_at) when the booking was completed (when its transition to COMPLETED was written; a
 * booking without one, when it last changed), or NULL when nobody did. A venue changes hands only
 * by an approved claim, which keeps whom it took the venue from (`taken_over_from`): the first
 * approved after the completion says who held it then; none since, its organisation now. The fee
 * is that organisation's: a booking at a venue nobody owned earns none, and a new owner does not
 * pay for what came before them. The accrual and the lost-fee sweep both ask it.
 */
export function ownerAtCompletionSql(b: string): Prisma.Sql {
  const alias = Prisma.raw(b);
  return Prisma.sql`(
    SELECT CASE WHEN first.decided_at IS NULL THEN v.organization_id ELSE first.taken_over_from END
    FROM venues v
    LEFT JOIN LATERAL (
      SELECT c.decided_at, c.taken_over_from FROM venue_claims c
      WHERE c.venue_id = v.id AND c.status = 'APPROVED'
        AND c.decided_at > coalesce(
          (SELECT max(t.created_at) FROM booking_transitions t
           WHERE t.booking_id = ${alias}.id AND t.to_status = 'COMPLETED'),
          ${alias}.updated_at)
      ORDER BY c.decided_at LIMIT 1) first ON true
    WHERE v.id = ${alias}.venue_id)`;
}

/**
 * SQL: the organisation that owes the fee of the booking `b` (an alias with id, venue_id,
 * guest_id, updated_at), or NULL when none does: the one that held the venue when it completed
 * (ownerAtCompletionSql), still there, the guest not one of its members (its own people booking
 * through AGNT is the venue's own booking). The accrual and the lost-fee sweep both ask it, so the
 * sweep never picks a booking the accrual would refuse.
 */
export function feePayerSql(b: string): Prisma.Sql {
  const alias = Prisma.raw(b);
  return Prisma.sql`(
    SELECT o.id FROM organizations o
    WHERE o.id = ${ownerAtCompletionSql(b)}
      AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.organization_id = o.id AND m.user_id = ${alias}.guest_id))`;
}

/** Who owes the booking's fee (feePayerSql), and why none does: no holder then, or its own people. */
async function feePayer(
  db: Db,
  booking: Booking,
): Promise<{ payer: string } | { payer: null; reason: 'unclaimed_venue' | 'venue_own_booking' }> {
  const [row] = await db.$queryRaw<{ payer: string | null; held: boolean }[]>`
    SELECT ${feePayerSql('b')}::text AS payer,
           EXISTS (SELECT 1 FROM organizations o WHERE o.id = ${ownerAtCompletionSql('b')}) AS held
    FROM bookings b WHERE b.id = ${booking.id}::uuid`;
  if (row?.payer) return { payer: row.payer };
  return { payer: null, reason: row?.held ? 'venue_own_booking' : 'unclaimed_venue' };
}

/** Why this booking earns no fee; null when it does. */
function noFeeReason(booking: Booking & { venue: Venue }): string | null {
  if (booking.status !== 'COMPLETED') return `status_${booking.status.toLowerCase()}`;
  if (!(FEE_SOURCES as readonly string[]).includes(booking.source)) return 'venue_own_booking';
  if (!booking.venue.organizationId) return 'unclaimed_venue';
  return null;
}

async function postAccrual(
  tx: Tx,
  input: {
    bookingId: string;
    organizationId: string;
    currency: string;
    calc: FeeCalculation;
    transferId: string;
    revision: number;
  },
): Promise<void> {
  const payable = await ensureAccount(
    tx,
    organizationAccount(input.organizationId, 'FEES_PAYABLE', input.currency),
    {
      mayOverdraw: true,
    },
  );
  const revenue = await ensureAccount(tx, platformAccount('REVENUE', input.currency));
  await transfer(tx, {
    id: input.transferId,
    kind: BOOKING_FEE_ACCRUAL,
    reason: `Booking fee for booking ${input.bookingId}`,
    metadata: {
      bookingId: input.bookingId,
      organizationId: input.organizationId,
      revision: input.revision,
      kind: input.calc.kind,
      pctBps: input.calc.pctBps,
      grossMinor: input.calc.valueMinor.toString(),
      platformMinor: input.calc.feeMinor.toString(),
      venueMinor: input.calc.venueShareMinor.toString(),
    },
    entries: [
      { accountId: payable, amount: -input.calc.feeMinor },
      { accountId: revenue, amount: input.calc.feeMinor },
    ],
  });
}

/** The fee row locked for change, or null. */
async function lockFee(tx: Tx, bookingId: string): Promise<BookingFee | null> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM booking_fees WHERE booking_id = ${bookingId}::uuid FOR UPDATE`;
  return rows[0] ? tx.bookingFee.findUniqueOrThrow({ where: { id: rows[0].id } }) : null;
}

/**
 * Refuses (ConflictError) a change to a fee that may no longer change: one that is not pending
 * (invoiced, charged, paid, waived), one taken onto a monthly invoice (its amount is on its way to
 * Stripe), and one whose charge is under way. A charge is under way from the moment the charge job
 * chooses the card (`chargePaymentMethod`, written before Stripe is called) until Stripe's answer is
 * recorded: a payment intent kept while it settles (`stripePaymentIntentId`), or a decline, which
 * clears the card for the next attempt (fee-collection.ts, recordDecline). In between, Stripe may
 * have charged the card though its answer was lost to a timeout; the job's retry sends the same
 * request under the same key, so the fee must still be the one it was sent for (a waived fee is
 * skipped, its payment never recorded; a revalued one no longer matches the request).
 */
function requireChangeable(fee: BookingFee, what: string): void {
  if (fee.status !== 'PENDING') {
    throw new ConflictError(`The fee of this booking is already ${fee.status.toLowerCase()}; ${what}`);
  }
  if (fee.feeInvoiceId !== null) {
    throw new ConflictError(`The fee of this booking is on its way to a monthly invoice; ${what}`);
  }
  if (fee.stripePaymentIntentId !== null || fee.chargePaymentMethod !== null) {
    throw new ConflictError(
      `The fee of this booking is being charged and the charge has not settled yet; ${what} until it has (try again later)`,
    );
  }
}

/**
 * The venue's team (owners, admins, staff of its organisation) records what a booking was worth,
 * in minor units of the venue's currency. Before the fee is accrued this is simply stored; after,
 * and while the fee is still pending, the accrual is reversed and a new one written for the new
 * amount (never an edit). Once the fee is on an invoice, charged or being charged it can no longer
 * change: ConflictError, and the value is left as it was.
 *
 * Whose team: the organisation the value sets a fee for (valueTeam): the one billed once there is
 * a fee, the holder at completion before it is accrued; a venue that changed hands since does not
 * hand its new holder the old holder's fees. Anyone else is answered NotFoundError, and nothing
 * changes.
 */
export async function recordBookingValue(
  deps: FeeDeps,
  access: Access,
  input: { bookingId: string; value: number },
): Promise<Booking> {
  access.requireWrite();
  if (!Number.isSafeInteger(input.value) || input.value < 0 || input.value > MAX_RECORDED_VALUE) {
    throw new ValidationError('A booking value is a whole number of minor units, zero or more', 'value');
  }
  const notFound = () => new NotFoundError('Booking not found');
  if (!isUuid(input.bookingId)) throw notFound();
  const booking = await deps.db.booking.findUnique({ where: { id: input.bookingId }, select: { id: true } });
  if (!booking) throw notFound();
  // Asked first without locks, so a stranger takes no row lock; asked again below under the locks,
  // where it counts (a fee accrued in between names the organisation to ask). `access` remembers
  // each answer, so the second asking costs nothing when the organisation is the same.
  const before = await deps.db.bookingFee.findUnique({
    where: { bookingId: booking.id },
    select: { organizationId: true },
  });
  if (!(await answersForValue(access, await valueTeam(deps.db, booking.id, before)))) {
    throw notFound();
  }
  const actor = access.actor.kind === 'anonymous' ? 'system' : `user:${access.actor.userId}`;
  return deps.db.$transaction(async (tx) => {
    // The venue's row (shared) before the booking's, as every lock of both is taken: its holder
    // stays who it is until this commits (a takeover waits), so the team asked below is the team.
    await tx.$queryRaw`
      SELECT v.id FROM venues v JOIN bookings b ON b.venue_id = v.id
      WHERE b.id = ${booking.id}::uuid FOR SHARE OF v`;
    // Then the booking, as accrueBookingFee locks it: the two take turns (see there).
    await tx.$queryRaw`SELECT id FROM bookings WHERE id = ${booking.id}::uuid FOR UPDATE`;
    const fee = await lockFee(tx, booking.id);
    if (!(await answersForValue(access, await valueTeam(tx, booking.id, fee)))) throw notFound();
    if (fee) requireChangeable(fee, 'its value cannot change');
    const updated = await tx.booking.update({
      where: { id: booking.id },
      data: { valueMinor: BigInt(input.value), valueRecordedAt: deps.now() },
    });
    if (fee) await reviseFee(tx, deps, fee, BigInt(input.value), actor);
    return updated;
  });
}

/**
 * The organisation whose team records the booking's value: the one its fee bills once it has one;
 * before that, for a completed booking, the one that held the venue when it completed (whom its
 * fee will bill: a takeover between the completion and the accrual does not hand the new holder
 * the former's fee), or the venue's when nobody held it then; for any other booking, the venue's.
 */
async function valueTeam(
  db: DbOrTx,
  bookingId: string,
  fee: Pick<BookingFee, 'organizationId'> | null,
): Promise<string | null> {
  if (fee) return fee.organizationId;
  const [row] = await db.$queryRaw<{ team: string | null }[]>`
    SELECT (CASE WHEN b.status = 'COMPLETED'
                 THEN coalesce(${ownerAtCompletionSql('b')}, v.organization_id)
                 ELSE v.organization_id END)::text AS team
    FROM bookings b JOIN venues v ON v.id = b.venue_id
    WHERE b.id = ${bookingId}::uuid`;
  return row?.team ?? null;
}

/** Whether the caller is of the team of `organizationId` (none: nobody's, so nobody's team). */
async function answersForValue(access: Access, organizationId: string | null): Promise<boolean> {
  return organizationId !== null && access.has(organizationId, ANY_ROLE);
}

/** Why a fee revalued to nothing is waived (reviseFee). */
export const VALUED_AT_NOTHING = 'its booking was valued at nothing owed';

/**
 * Replaces a pending fee's accrual after its value changed: a reversal and a new accrual, or,
 * when the new value owes nothing, the reversal alone and the fee waived.
 */
async function reviseFee(
  tx: Tx,
  deps: FeeDeps,
  fee: BookingFee,
  value: bigint,
  actor: string,
): Promise<void> {
  const venue = await tx.venue.findUniqueOrThrow({ where: { id: fee.venueId } });
  // The plan and the terms that applied when the fee arose still apply; only the value changed.
  const calc = calculateBookingFee(termsOf(deps.fees, fee), {
    subscriber: fee.kind === 'REFERRAL_PCT',
    venueReferralBps: fee.kind === 'REFERRAL_PCT' ? fee.pctBps : venue.referralFeeBps,
    valueMinor: value,
  });
  if (calc.feeMinor === fee.feeMinor && calc.valueMinor === fee.valueMinor) return;
  if (calc.feeMinor <= 0n) {
    // Nothing is owed on it now (a zero minimum, a booking given away): as for a fee that would
    // have arisen at nothing, there is none to collect. The fee is waived, showing what it was;
    // the booking's value is the new one.
    await waiveFeeOn(tx, fee, { reason: VALUED_AT_NOTHING, actor, now: deps.now() });
    return;
  }
  await reverseTransfer(tx, {
    transferId: fee.accrualTransferId,
    reason: `Booking ${fee.bookingId} revalued: its fee is accrued again`,
    actor,
  });
  const revision = fee.revision + 1;
  const transferId = accrualTransferId(fee.bookingId, revision);
  await postAccrual(tx, {
    bookingId: fee.bookingId,
    organizationId: fee.organizationId,
    currency: fee.currency,
    calc,
    transferId,
    revision,
  });
  const revised = await tx.bookingFee.update({
    where: { id: fee.id },
    data: {
      revision,
      accrualTransferId: transferId,
      valueMinor: calc.valueMinor,
      feeMinor: calc.feeMinor,
      venueShareMinor: calc.venueShareMinor,
      updatedAt: deps.now(),
    },
  });
  // A revision is an accrual of a new amount: receivers hear of it as such (its `revision` says which).
  await queueFeeEvent(tx, 'billing.fee.accrued', revised, deps.now());
}

/**
 * Waives `fee` (locked by the caller, not settled) on the caller's transaction: its accrual is
 * reversed (the transfer records who and why), the fee is WAIVED, and receivers are told.
 */
export async function waiveFeeOn(
  tx: Tx,
  fee: BookingFee,
  input: { reason: string; actor: string; now: Date },
): Promise<BookingFee> {
  const reversal = await reverseTransfer(tx, {
    transferId: fee.accrualTransferId,
    reason: `Booking fee waived: ${input.reason}`,
    actor: input.actor,
  });
  const waived = await tx.bookingFee.update({
    where: { id: fee.id },
    data: {
      status: 'WAIVED',
      waiverTransferId: reversal.id,
      waivedReason: input.reason,
      waivedBy: input.actor,
      updatedAt: input.now,
    },
  });
  await queueFeeEvent(tx, 'billing.fee.waived', waived, input.now);
  return waived;
}

/**
 * A platform admin waives a booking's fee, with a reason: its accrual is reversed (the transfer
 * records who and why) and the fee is WAIVED. Only a pending fee not yet on an invoice or being
 * charged can be waived (ConflictError otherwise); a booking without a fee is NotFoundError.
 */
export async function waiveBookingFee(
  deps: Pick<FeeDeps, 'db' | 'now'>,
  access: Access,
  input: { bookingId: string; reason: string },
): Promise<BookingFee> {
  if (!access.isPlatformAdmin || access.actor.kind !== 'user') {
    throw new NotAllowedError('Only platform admins waive booking fees');
  }
  const reason = input.reason.trim();
  if (!reason) throw new ValidationError('Say why the fee is waived', 'reason');
  const actor = `user:${access.actor.userId}`;
  return deps.db.$transaction(async (tx) => {
    const fee = await lockFee(tx, input.bookingId);
    if (!fee) throw new NotFoundError('This booking has no fee');
    requireChangeable(fee, 'it cannot be waived');
    return waiveFeeOn(tx, fee, { reason, actor, now: deps.now() });
  });
}

export interface BookingFeeMonth {
  /** `yyyy-mm`, the month (UTC) the fees were accrued in. */
  month: string;
  currency: string;
  /** The fees' sum in minor units, waived ones left out. */
  totalMinor: bigint;
  /** How many fees, waived ones left out. */
  count: number;
  /** The month's newest fees (at most FEES_LISTED_PER_MONTH), waived ones too, newest first. */
  fees: BookingFee[];
}

/** `yyyy-mm` of `date` in UTC. */
export function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

/** The most fees a month lists (its newest); its total and count are of all of them. */
export const FEES_LISTED_PER_MONTH = 1_000;

/**
 * The organisation's booking fees by month (UTC) and currency, newest month first (currencies
 * in order within one): the last `months` months that had any, each month's total and count
 * summed over all its fees by PostgreSQL, and its newest FEES_LISTED_PER_MONTH fees. Owners,
 * admins and platform admins; null for anyone else (STAFF too).
 */
export async function organizationFees(
  db: DbOrTx,
  access: Access,
  organizationId: string,
  options: { months?: number } = {},
): Promise<BookingFeeMonth[] | null> {
  if (!(await access.has(organizationId, MANAGERS))) return null;
  const months = Math.min(Math.max(options.months ?? 12, 1), 36);
  const month = Prisma.sql`to_char(f.accrued_at AT TIME ZONE 'UTC', 'YYYY-MM')`;
  const groups = await db.$queryRaw<{ month: string; currency: string; total: bigint; count: number }[]>`
    WITH months AS (
      SELECT DISTINCT ${month} AS month FROM booking_fees f
      WHERE f.organization_id = ${organizationId}::uuid
      ORDER BY month DESC LIMIT ${months})
    SELECT ${month} AS month, f.currency,
           coalesce(sum(f.fee_minor) FILTER (WHERE f.status <> 'WAIVED'), 0)::bigint AS total,
           (count(*) FILTER (WHERE f.status <> 'WAIVED'))::int AS count
    FROM booking_fees f
    WHERE f.organization_id = ${organizationId}::uuid AND ${month} IN (SELECT month FROM months)
    GROUP BY 1, 2
    ORDER BY 1 DESC, 2`;
  if (!groups.length) return [];
  const oldest = groups[groups.length - 1]!.month;
  const listed = await db.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM (
      SELECT f.id, row_number() OVER (PARTITION BY ${month}, f.currency
                                      ORDER BY f.accrued_at DESC, f.id DESC) AS n
      FROM booking_fees f
      WHERE f.organization_id = ${organizationId}::uuid
        AND f.accrued_at >= ${new Date(`${oldest}-01T00:00:00Z`)}) ranked
    WHERE n <= ${FEES_LISTED_PER_MONTH}`;
  const fees = await db.bookingFee.findMany({
    where: { id: { in: listed.map((row) => row.id) } },
    orderBy: [{ accruedAt: 'desc' }, { id: 'desc' }],
  });
  const byGroup = new Map<string, BookingFeeMonth>(
    groups.map((group) => [
      `${group.month}/${group.currency}`,
      { month: group.month, currency: group.currency, totalMinor: group.total, count: group.count, fees: [] },
    ]),
  );
  for (const fee of fees) byGroup.get(`${monthOf(fee.accruedAt)}/${fee.currency}`)?.fees.push(fee);
  return [...byGroup.values()];
}

/** The organisation's fee invoices, newest first. Owners, admins and platform admins; else null. */
export async function organizationFeeInvoices(db: DbOrTx, access: Access, organizationId: string) {
  if (!(await access.has(organizationId, MANAGERS))) return null;
  return db.feeInvoice.findMany({
    where: { organizationId, stripeInvoiceId: { not: null } },
    orderBy: [{ month: 'desc' }, { currency: 'asc' }],
    take: 36,
  });
}
