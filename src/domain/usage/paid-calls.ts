/**
 * Paid API calls (the public pricing: `booking.confirm` at $0.25). An organisation pays for each
 * with its prepaid credits, through the ledger; when its credits do not cover the call and it is
 * on a paid developer plan in good standing, the call is metered instead (API_CALL usage, billed
 * on its subscription); otherwise the call is refused with PaymentRequiredError and nothing
 * changes.
 *
 * Each call is named by a request id that a retry of the same request repeats (for a booking made
 * through the API, the booking's id, which a retried request with the same client key finds
 * again): the debit's transfer id and the usage key are derived from it, so a retried request
 * pays once, whichever way it paid.
 */
import type { Booking } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { DomainError } from '../../platform/errors.ts';
import { planStanding, type StandingDeps } from '../billing/standing.ts';
import { debitCredits } from '../ledger/credits.ts';
import { InsufficientFundsError } from '../ledger/errors.ts';
import { derivedTransferId } from '../ledger/transfer.ts';
import type { Access } from '../organizations/access.ts';
import { recordUsage, usageKeys } from './events.ts';

/**
 * The organisation's credits do not cover a paid call and it has no paid developer plan to meter
 * it on. Nothing changed.
 */
export class PaymentRequiredError extends DomainError {
  override name = 'PaymentRequiredError';
  readonly code = 'PAYMENT_REQUIRED';
  /** What the call costs, in minor units of `currency`. */
  readonly price: number;
  readonly currency: string;
  constructor(price: number, currency: string) {
    super(
      `This call costs ${price} ${currency} (minor units) and the organisation's credits do not cover it: buy credits or subscribe to a developer plan`,
    );
    this.price = price;
    this.currency = currency;
  }
}

export interface PaidCallDeps extends StandingDeps {
  /** Minor units of `currency` per call. */
  price: number;
  currency: string;
}

export type PaidCall =
  | { paidWith: 'credits'; transferId: string; created: boolean }
  | { paidWith: 'usage'; recorded: boolean };

/** The plans on which a call the credits do not cover is metered instead of refused. */
const METERED_PLANS = new Set(['DEVELOPER_PRO']);

/**
 * Pays for one call: credits first, else metered usage on a paid developer plan, else
 * PaymentRequiredError. Given a transaction it runs inside it (a refusal then rolls back the
 * caller's work too); given the client it runs in a transaction of its own.
 */
export async function payForCall(
  db: DbOrTx,
  deps: PaidCallDeps,
  input: { organizationId: string; call: string; requestId: string; actor?: string },
): Promise<PaidCall> {
  const client = db as Db;
  // A transaction's client lacks `$connect` (its `$transaction` is there, so that cannot tell).
  if (typeof client.$connect === 'function') {
    return client.$transaction((tx) => payForCall(tx, deps, input));
  }
  const usageKey = usageKeys.apiCall(input.requestId);
  // Paid before by metering: a retry must not now spend credits bought since.
  if (await db.usageEvent.findUnique({ where: { usageKey }, select: { id: true } })) {
    return { paidWith: 'usage', recorded: false };
  }
  const transferId = derivedTransferId('paid-call', input.requestId);
  try {
    const debit = await debitCredits(db, {
      transferId,
      organizationId: input.organizationId,
      amount: deps.price,
      currency: deps.currency,
      reason: `Paid API call ${input.call}`,
      actor: input.actor,
      metadata: { call: input.call, requestId: input.requestId },
    });
    return { paidWith: 'credits', transferId, created: debit.created };
  } catch (error) {
    if (!(error instanceof InsufficientFundsError)) throw error;
  }
  const { plan } = await planStanding(db, deps, input.organizationId, 'DEVELOPER');
  if (!plan || !METERED_PLANS.has(plan)) throw new PaymentRequiredError(deps.price, deps.currency);
  const recorded = await recordUsage(db, {
    organizationId: input.organizationId,
    meter: 'API_CALL',
    quantity: 1,
    occurredAt: deps.now(),
    key: usageKey,
  });
  return { paidWith: 'usage', recorded };
}

/**
 * What a booking made through the API pays, in the booking's transaction (a refusal rolls the
 * booking back): a call with an organisation's API key pays; a person signed in does not.
 */
export function payForApiBooking(deps: PaidCallDeps) {
  return async (tx: Tx, access: Access, booking: Booking): Promise<void> => {
    const actor = access.actor;
    if (actor.kind !== 'apiKey') return;
    await payForCall(tx, deps, {
      organizationId: actor.organizationId,
      call: 'booking.create',
      requestId: `booking.create:${booking.id}`,
      actor: `apiKey:${actor.apiKeyId}`,
    });
  };
}
