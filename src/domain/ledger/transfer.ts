/**
 * Transfers: the only way money moves in the ledger.
 *
 * A transfer is a set of entries, one per account, whose amounts sum to zero in each currency
 * (`amount` is added to the account's balance: positive credits it, negative debits it). It is
 * written once and never changed; its id is chosen by the caller from what it pays for, so a
 * retried call has no second effect.
 *
 * One transaction, four statements on the way through: BEGIN; lock the accounts
 * `SELECT … FOR UPDATE` in order of id (safety rule 2; one fixed order, so two transfers over the
 * same accounts queue instead of deadlocking) and read their balances; insert the transfer and
 * its entries in one statement (the database adds each entry to its account's balance, see the
 * migration 20261204170000_ledger); COMMIT, where the database checks again that the transfer is
 * balanced. An overdraft is found on the locked balances and refused before anything is written;
 * the account's CHECK would refuse it anyway.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { InsufficientFundsError, TransferConflictError } from './errors.ts';

export interface EntryInput {
  accountId: string;
  /** Minor units; positive credits the account, negative debits it. Never zero. */
  amount: bigint | number;
}

export interface TransferInput {
  /** Chosen by the caller from what the transfer is for: the same id is the same transfer. */
  id: string;
  /** What sort of movement, e.g. CREDITS_PURCHASE, CREDITS_DEBIT, CREDITS_ADJUSTMENT, REVERSAL. */
  kind: string;
  /** Why, in words a person reading the ledger understands. */
  reason: string;
  /** Who caused it: `user:<id>`, `system`, `stripe:<event id>`; `system` when not given. */
  actor?: string;
  entries: EntryInput[];
  metadata?: Record<string, unknown>;
}

export interface TransferEntry {
  accountId: string;
  currency: string;
  amount: bigint;
}

export interface Transfer {
  id: string;
  kind: string;
  reason: string;
  actor: string;
  metadata: Record<string, unknown>;
  entries: TransferEntry[];
  createdAt: Date;
  /** False when the transfer already existed and this call changed nothing. */
  created: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Long enough for a queue of writers on one hot account; a transfer itself takes milliseconds.
const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 30_000 };

/**
 * Writes the transfer, or returns the one already written with this id and the same entries.
 * Throws ValidationError (malformed), NotFoundError (an unknown account), InsufficientFundsError
 * (an account that may not overdraw would go below zero; nothing written) or
 * TransferConflictError (the id is taken by a transfer with other kind or entries).
 * Given a transaction, it runs inside it; given the client, it opens its own.
 */
export async function transfer(db: DbOrTx, input: TransferInput): Promise<Transfer> {
  const entries = validate(input);
  // A transaction's client has `$transaction` too in Prisma 7 (it nests), but not `$connect`.
  if ('$connect' in db) {
    return (db as Db).$transaction((tx) => write(tx, input, entries), TRANSACTION_OPTIONS);
  }
  return write(db, input, entries);
}

/**
 * Undoes a transfer with a new one of opposite entries (never an edit). Its id is derived from
 * the original's, so reversing twice reverses once. May refuse with InsufficientFundsError when
 * the money has been spent since.
 */
export async function reverseTransfer(
  db: DbOrTx,
  input: { transferId: string; reason: string; actor?: string },
): Promise<Transfer> {
  const original = await findTransfer(db, input.transferId);
  if (!original) throw new NotFoundError(`There is no transfer ${input.transferId}`);
  return transfer(db, {
    id: reversalId(original.id),
    kind: 'REVERSAL',
    reason: input.reason,
    actor: input.actor,
    entries: original.entries.map((entry) => ({ accountId: entry.accountId, amount: -entry.amount })),
    metadata: { reverses: original.id, reversedKind: original.kind },
  });
}

/** The id of the transfer that reverses `transferId`. */
export function reversalId(transferId: string): string {
  return derivedTransferId('reversal', transferId);
}

/**
 * A stable transfer id for `parts` (a name-based UUID, version 5 layout over SHA-1), for callers
 * whose own ids are not UUIDs: `derivedTransferId('credits-debit', requestId)`.
 */
export function derivedTransferId(...parts: string[]): string {
  const hash = createHash('sha1')
    .update(`agnt-ledger\u0000${parts.join('\u0000')}`)
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A fresh transfer id, for movements that have no id of their own to derive one from. */
export function newTransferId(): string {
  return randomUUID();
}

/** The transfer and its entries, or null. */
export async function findTransfer(db: DbOrTx, id: string): Promise<Transfer | null> {
  if (!UUID.test(id)) return null;
  const [row] = await db.$queryRaw<TransferRow[]>`
    SELECT t.id::text, t.kind, t.reason, t.actor, t.metadata, t.created_at,
           json_agg(json_build_object('accountId', e.account_id, 'currency', e.currency, 'amount', e.amount::text)
                    ORDER BY e.account_id) AS entries
    FROM ledger_transfers t JOIN ledger_entries e ON e.transfer_id = t.id
    WHERE t.id = ${id}::uuid
    GROUP BY t.id`;
  if (!row) return null;
  return {
    id: row.id,
    kind: row.kind,
    reason: row.reason,
    actor: row.actor,
    metadata: row.metadata,
    createdAt: row.created_at,
    entries: row.entries.map((entry) => ({ ...entry, amount: BigInt(entry.amount) })),
    created: false,
  };
}

interface TransferRow {
  id: string;
  kind: string;
  reason: string;
  actor: string;
  metadata: Record<string, unknown>;
  created_at: Date;
  entries: { accountId: string; currency: string; amount: string }[];
}

interface LockedAccount {
  id: string;
  currency: string;
  balance: bigint;
  may_overdraw: boolean;
}

/** Checks what can be checked without the database; returns the entries ordered by account id. */
function validate(input: TransferInput): { accountId: string; amount: bigint }[] {
  if (!UUID.test(input.id)) throw new ValidationError('A transfer id is a UUID', 'id');
  if (!input.kind.trim()) throw new ValidationError('A transfer needs a kind', 'kind');
  if (!input.reason.trim()) throw new ValidationError('A transfer needs a reason', 'reason');
  if (input.entries.length < 2) throw new ValidationError('A transfer needs at least two entries', 'entries');
  const seen = new Set<string>();
  const entries = input.entries.map((entry, index) => {
    if (!UUID.test(entry.accountId))
      throw new ValidationError('An account id is a UUID', `entries.${index}.accountId`);
    const accountId = entry.accountId.toLowerCase();
    if (seen.has(accountId)) {
      throw new ValidationError('A transfer has one entry per account', `entries.${index}.accountId`);
    }
    seen.add(accountId);
    if (typeof entry.amount === 'number' && !Number.isSafeInteger(entry.amount)) {
      throw new ValidationError('An amount is a whole number of minor units', `entries.${index}.amount`);
    }
    const amount = BigInt(entry.amount);
    if (amount === 0n)
      throw new ValidationError('An entry moves a non-zero amount', `entries.${index}.amount`);
    return { accountId, amount };
  });
  return entries.sort((a, b) => (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0));
}

async function write(
  tx: Tx | DbOrTx,
  input: TransferInput,
  entries: { accountId: string; amount: bigint }[],
): Promise<Transfer> {
  const ids = entries.map((entry) => entry.accountId);
  // Safety rule 2: the rows are held from here to commit. ORDER BY puts the lock node above the
  // sort, so the rows are locked in this order by every transfer.
  const locked = await tx.$queryRaw<LockedAccount[]>`
    SELECT id::text, currency, balance, may_overdraw FROM ledger_accounts
    WHERE id = ANY(${ids}::uuid[])
    ORDER BY id
    FOR UPDATE`;
  const byId = new Map(locked.map((account) => [account.id, account]));
  const legs: TransferEntry[] = entries.map((entry) => {
    const account = byId.get(entry.accountId);
    if (!account) throw new NotFoundError(`There is no ledger account ${entry.accountId}`);
    return { accountId: entry.accountId, currency: account.currency, amount: entry.amount };
  });
  const sums = new Map<string, bigint>();
  for (const leg of legs) sums.set(leg.currency, (sums.get(leg.currency) ?? 0n) + leg.amount);
  for (const [currency, sum] of sums) {
    if (sum !== 0n)
      throw new ValidationError(`The entries in ${currency} sum to ${sum}, not zero`, 'entries');
  }

  for (const leg of legs) {
    const account = byId.get(leg.accountId)!;
    const after = BigInt(account.balance) + leg.amount;
    if (!account.may_overdraw && after < 0n) {
      // The lock waited for any writer of these rows, but this statement's snapshot may predate a
      // duplicate of this very transfer that committed meanwhile: look again before refusing.
      const existing = await findTransfer(tx, input.id);
      if (existing) return sameOrConflict(existing, input, legs);
      throw new InsufficientFundsError(account.id, account.currency, BigInt(account.balance), -after);
    }
  }

  const actor = input.actor ?? 'system';
  const metadata = JSON.stringify(input.metadata ?? {});
  const [row] = await tx.$queryRaw<{ created_at: Date }[]>`
    WITH transfer AS (
      INSERT INTO ledger_transfers (id, kind, reason, actor, metadata)
      VALUES (${input.id}::uuid, ${input.kind}, ${input.reason}, ${actor}, ${metadata}::jsonb)
      ON CONFLICT (id) DO NOTHING
      RETURNING id, created_at),
    entries AS (
      INSERT INTO ledger_entries (transfer_id, account_id, currency, amount)
      SELECT transfer.id, leg.account_id, leg.currency, leg.amount
      FROM transfer, unnest(${ids}::uuid[], ${legs.map((leg) => leg.currency)}::text[],
                            ${legs.map((leg) => leg.amount.toString())}::bigint[]) AS leg(account_id, currency, amount)
      RETURNING 1)
    -- A data-modifying WITH runs in full whether or not it is read.
    SELECT created_at FROM transfer`;
  if (!row) {
    // The id was taken (before this transaction, or by one that committed while we waited).
    const existing = await findTransfer(tx, input.id);
    if (!existing) throw new Error(`ledger: transfer ${input.id} was neither written nor found`);
    return sameOrConflict(existing, input, legs);
  }
  return {
    id: input.id.toLowerCase(),
    kind: input.kind,
    reason: input.reason,
    actor,
    metadata: input.metadata ?? {},
    entries: legs,
    createdAt: row.created_at,
    created: true,
  };
}

/** The existing transfer if it is this one (same kind and entries), else a conflict. */
function sameOrConflict(existing: Transfer, input: TransferInput, legs: TransferEntry[]): Transfer {
  const key = (entries: TransferEntry[]) =>
    entries
      .map((entry) => `${entry.accountId}:${entry.amount}`)
      .sort()
      .join(',');
  if (existing.kind !== input.kind || key(existing.entries) !== key(legs)) {
    throw new TransferConflictError(existing.id);
  }
  return existing;
}
