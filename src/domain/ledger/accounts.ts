/**
 * Ledger accounts: who holds them, opening them, reading balances and entries.
 *
 * An account is named by its key (owner, purpose, currency) and opened on first use. Its balance
 * is kept by the database from the entries (see the migration 20261204170000_ledger), so reading
 * it needs no sum; nothing here writes it.
 */
import type { LedgerAccountPurpose, LedgerOwnerKind } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ValidationError } from '../../platform/errors.ts';

export type { LedgerAccountPurpose, LedgerOwnerKind };

export interface AccountKey {
  ownerKind: LedgerOwnerKind;
  /** The organisation's or venue's id; null for the platform. */
  ownerId: string | null;
  purpose: LedgerAccountPurpose;
  /** ISO 4217, upper case. */
  currency: string;
}

export interface LedgerAccountView extends AccountKey {
  id: string;
  balance: bigint;
  mayOverdraw: boolean;
}

export interface LedgerEntryView {
  transferId: string;
  kind: string;
  reason: string;
  actor: string;
  amount: bigint;
  currency: string;
  createdAt: Date;
}

const CURRENCY = /^[A-Z]{3}$/;

/**
 * Which purposes may go below zero unless said otherwise: the platform's side of money coming in
 * from outside (Stripe) and of credits given by hand. Everything held for someone may not.
 */
const OVERDRAWN_BY_DEFAULT: ReadonlySet<LedgerAccountPurpose> = new Set(['STRIPE_CLEARING', 'ADJUSTMENTS']);

export function organizationAccount(
  organizationId: string,
  purpose: LedgerAccountPurpose,
  currency: string,
): AccountKey {
  return {
    ownerKind: 'ORGANIZATION',
    ownerId: organizationId,
    purpose,
    currency: normalizeCurrency(currency),
  };
}

export function venueAccount(venueId: string, purpose: LedgerAccountPurpose, currency: string): AccountKey {
  return { ownerKind: 'VENUE', ownerId: venueId, purpose, currency: normalizeCurrency(currency) };
}

export function platformAccount(purpose: LedgerAccountPurpose, currency: string): AccountKey {
  return { ownerKind: 'PLATFORM', ownerId: null, purpose, currency: normalizeCurrency(currency) };
}

export function normalizeCurrency(currency: string): string {
  const upper = currency.toUpperCase();
  if (!CURRENCY.test(upper)) throw new ValidationError(`"${currency}" is not a currency code`, 'currency');
  return upper;
}

/**
 * The account's id, opening it (balance 0) if it does not exist. `mayOverdraw` applies only when
 * it is opened here; an existing account keeps its own. Safe to call concurrently.
 */
export async function ensureAccount(
  db: DbOrTx,
  key: AccountKey,
  options: { mayOverdraw?: boolean } = {},
): Promise<string> {
  if ((key.ownerKind === 'PLATFORM') !== (key.ownerId === null)) {
    throw new ValidationError('Only the platform holds accounts without an owner', 'ownerId');
  }
  const currency = normalizeCurrency(key.currency);
  const mayOverdraw = options.mayOverdraw ?? OVERDRAWN_BY_DEFAULT.has(key.purpose);
  // ON CONFLICT DO NOTHING waits for a concurrent opener and then returns nothing, and this
  // statement's snapshot may predate that opener's commit: the second round (a new statement,
  // a new snapshot under READ COMMITTED) finds the row.
  for (let attempt = 0; attempt < 3; attempt++) {
    const rows = await db.$queryRaw<{ id: string }[]>`
      WITH opened AS (
        INSERT INTO ledger_accounts (id, owner_kind, owner_id, purpose, currency, may_overdraw)
        VALUES (gen_random_uuid(), ${key.ownerKind}::"LedgerOwnerKind", ${key.ownerId}::uuid,
                ${key.purpose}::"LedgerAccountPurpose", ${currency}, ${mayOverdraw})
        ON CONFLICT (owner_kind, owner_id, purpose, currency) DO NOTHING
        RETURNING id)
      SELECT id::text FROM opened
      UNION ALL
      SELECT id::text FROM ledger_accounts
      WHERE owner_kind = ${key.ownerKind}::"LedgerOwnerKind" AND owner_id IS NOT DISTINCT FROM ${key.ownerId}::uuid
        AND purpose = ${key.purpose}::"LedgerAccountPurpose" AND currency = ${currency}
      LIMIT 1`;
    if (rows[0]) return rows[0].id;
  }
  throw new Error(`ledger: could not open or find the account ${describe(key)}`);
}

/** The account named by `key`, or null if it was never opened. */
export async function findAccount(db: DbOrTx, key: AccountKey): Promise<LedgerAccountView | null> {
  const currency = normalizeCurrency(key.currency);
  const [row] = await db.$queryRaw<AccountRow[]>`
    SELECT id::text, owner_kind, owner_id::text, purpose, currency, balance, may_overdraw
    FROM ledger_accounts
    WHERE owner_kind = ${key.ownerKind}::"LedgerOwnerKind" AND owner_id IS NOT DISTINCT FROM ${key.ownerId}::uuid
      AND purpose = ${key.purpose}::"LedgerAccountPurpose" AND currency = ${currency}`;
  return row ? accountView(row) : null;
}

/** The balance in minor units: 0 for an account never opened. */
export async function balanceOf(db: DbOrTx, account: AccountKey | string): Promise<bigint> {
  if (typeof account === 'string') {
    const [row] = await db.$queryRaw<{ balance: bigint }[]>`
      SELECT balance FROM ledger_accounts WHERE id = ${account}::uuid`;
    return row ? BigInt(row.balance) : 0n;
  }
  return (await findAccount(db, account))?.balance ?? 0n;
}

/** The account's entries, newest first, with their transfers' kind, reason and actor. */
export async function entriesOf(
  db: DbOrTx,
  account: AccountKey | string,
  options: { limit?: number } = {},
): Promise<LedgerEntryView[]> {
  const accountId = typeof account === 'string' ? account : (await findAccount(db, account))?.id;
  if (!accountId) return [];
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 500);
  const rows = await db.$queryRaw<
    {
      transfer_id: string;
      kind: string;
      reason: string;
      actor: string;
      amount: bigint;
      currency: string;
      created_at: Date;
    }[]
  >`
    SELECT e.transfer_id::text, t.kind, t.reason, t.actor, e.amount, e.currency, t.created_at
    FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id
    WHERE e.account_id = ${accountId}::uuid
    ORDER BY t.created_at DESC, e.transfer_id DESC
    LIMIT ${limit}`;
  return rows.map((row) => ({
    transferId: row.transfer_id,
    kind: row.kind,
    reason: row.reason,
    actor: row.actor,
    amount: BigInt(row.amount),
    currency: row.currency,
    createdAt: row.created_at,
  }));
}

interface AccountRow {
  id: string;
  owner_kind: LedgerOwnerKind;
  owner_id: string | null;
  purpose: LedgerAccountPurpose;
  currency: string;
  balance: bigint;
  may_overdraw: boolean;
}

function accountView(row: AccountRow): LedgerAccountView {
  return {
    id: row.id,
    ownerKind: row.owner_kind,
    ownerId: row.owner_id,
    purpose: row.purpose,
    currency: row.currency,
    balance: BigInt(row.balance),
    mayOverdraw: row.may_overdraw,
  };
}

function describe(key: AccountKey): string {
  return `${key.ownerKind}:${key.ownerId ?? '-'}:${key.purpose}:${key.currency}`;
}
