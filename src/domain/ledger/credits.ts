/**
 * Organisations' prepaid credits, kept in the ledger: one CREDITS account per organisation and
 * currency, which may never go below zero. Bought credits come from the platform's Stripe
 * clearing account, spent credits go to the platform's revenue, and credits given or taken back
 * by a platform admin go to or come from the platform's adjustments account; each is one
 * transfer, so every change of a balance is a ledger entry with its reason and actor.
 */
import type { DbOrTx } from '../../platform/db.ts';
import { NotAllowedError, ValidationError } from '../../platform/errors.ts';
import type { Access } from '../organizations/access.ts';
import {
  type AccountKey,
  balanceOf,
  ensureAccount,
  findAccount,
  organizationAccount,
  platformAccount,
} from './accounts.ts';
import { InsufficientFundsError } from './errors.ts';
import { newTransferId, type Transfer, transfer } from './transfer.ts';

export const CREDITS_PURCHASE = 'CREDITS_PURCHASE';
export const CREDITS_DEBIT = 'CREDITS_DEBIT';
export const CREDITS_ADJUSTMENT = 'CREDITS_ADJUSTMENT';
export const CREDITS_REFUND = 'CREDITS_REFUND';
export const CREDITS_DISPUTE = 'CREDITS_DISPUTE';

/** The key of an organisation's credits account in `currency`. */
export function creditsAccount(organizationId: string, currency: string): AccountKey {
  return organizationAccount(organizationId, 'CREDITS', currency);
}

/** The organisation's credits in minor units of `currency` (0 when it never had any). */
export function creditBalance(db: DbOrTx, organizationId: string, currency: string): Promise<bigint> {
  return balanceOf(db, creditsAccount(organizationId, currency));
}

interface CreditsMovement {
  /** Derived from what is paid for (a request, a Checkout Session): the same id moves once. */
  transferId: string;
  organizationId: string;
  /** Minor units, more than zero. */
  amount: bigint | number;
  currency: string;
  reason: string;
  actor?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Spends credits on a paid call: organisation CREDITS → platform REVENUE. Throws
 * InsufficientFundsError (nothing changes) when the organisation has fewer credits than `amount`.
 */
export function debitCredits(db: DbOrTx, input: CreditsMovement): Promise<Transfer> {
  return takeCredits(db, input, CREDITS_DEBIT, 'REVENUE');
}

/**
 * Takes back bought credits whose payment was refunded (or disputed: `kind` CREDITS_DISPUTE):
 * organisation CREDITS → platform STRIPE_CLEARING, the purchase undone. InsufficientFundsError
 * (nothing changes) when the organisation has fewer credits than `amount`.
 */
export function refundCredits(
  db: DbOrTx,
  input: CreditsMovement & { kind?: typeof CREDITS_REFUND | typeof CREDITS_DISPUTE },
): Promise<Transfer> {
  return takeCredits(db, input, input.kind ?? CREDITS_REFUND, 'STRIPE_CLEARING');
}

/** Moves credits out of the organisation's account to the platform's `to` account, as `kind`. */
async function takeCredits(
  db: DbOrTx,
  input: CreditsMovement,
  kind: string,
  to: 'REVENUE' | 'STRIPE_CLEARING',
): Promise<Transfer> {
  const amount = positive(input.amount);
  const key = creditsAccount(input.organizationId, input.currency);
  // A refused move changes nothing, not even by opening an empty account.
  const credits = (await findAccount(db, key))?.id;
  if (!credits) throw new InsufficientFundsError(null, key.currency, 0n, amount);
  const platform = await ensureAccount(db, platformAccount(to, input.currency));
  return transfer(db, {
    id: input.transferId,
    kind,
    reason: input.reason,
    actor: input.actor,
    metadata: { organizationId: input.organizationId, ...input.metadata },
    entries: [
      { accountId: credits, amount: -amount },
      { accountId: platform, amount },
    ],
  });
}

/** Adds bought credits once their payment is in: platform STRIPE_CLEARING → organisation CREDITS. */
export async function grantCredits(db: DbOrTx, input: CreditsMovement): Promise<Transfer> {
  const amount = positive(input.amount);
  const clearing = await ensureAccount(db, platformAccount('STRIPE_CLEARING', input.currency));
  const credits = await ensureAccount(db, creditsAccount(input.organizationId, input.currency));
  return transfer(db, {
    id: input.transferId,
    kind: CREDITS_PURCHASE,
    reason: input.reason,
    actor: input.actor,
    metadata: { organizationId: input.organizationId, ...input.metadata },
    entries: [
      { accountId: clearing, amount: -amount },
      { accountId: credits, amount },
    ],
  });
}

/**
 * A platform admin gives (`amount` > 0) or takes back (`amount` < 0) credits, with a reason; the
 * transfer records who and why. Anyone else gets NotAllowedError. Taking back more than the
 * organisation holds is refused with InsufficientFundsError. Pass `transferId` to make a retried
 * request safe; without one each call is a new adjustment.
 */
export async function adjustCredits(
  db: DbOrTx,
  access: Access,
  input: {
    organizationId: string;
    amount: bigint | number;
    currency: string;
    reason: string;
    transferId?: string;
  },
): Promise<Transfer> {
  if (!access.isPlatformAdmin || access.actor.kind !== 'user') {
    throw new NotAllowedError('Only platform admins adjust credits');
  }
  const reason = input.reason.trim();
  if (!reason) throw new ValidationError('Say why the credits change', 'reason');
  if (typeof input.amount === 'number' && !Number.isSafeInteger(input.amount)) {
    throw new ValidationError('An amount is a whole number of minor units', 'amount');
  }
  const amount = BigInt(input.amount);
  if (amount === 0n) throw new ValidationError('An adjustment moves a non-zero amount', 'amount');
  const key = creditsAccount(input.organizationId, input.currency);
  // A refused take-back changes nothing, not even by opening an empty account (as takeCredits).
  const held = amount < 0n ? (await findAccount(db, key))?.id : undefined;
  if (amount < 0n && !held) throw new InsufficientFundsError(null, key.currency, 0n, -amount);
  const adjustments = await ensureAccount(db, platformAccount('ADJUSTMENTS', input.currency));
  const credits = held ?? (await ensureAccount(db, key));
  return transfer(db, {
    id: input.transferId ?? newTransferId(),
    kind: CREDITS_ADJUSTMENT,
    reason,
    actor: `user:${access.actor.userId}`,
    metadata: { organizationId: input.organizationId },
    entries: [
      { accountId: adjustments, amount: -amount },
      { accountId: credits, amount },
    ],
  });
}

function positive(value: bigint | number): bigint {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new ValidationError('An amount is a whole number of minor units', 'amount');
  }
  const amount = BigInt(value);
  if (amount <= 0n) throw new ValidationError('The amount must be more than zero', 'amount');
  return amount;
}
