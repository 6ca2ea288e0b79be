/**
 * Transfers: the only way money moves in the ledger.
 *
 * A transfer is a set of entries, one per account, whose amounts sum to zero in each currency
 * (`amount` is added to the account's balance: positive credits it, negative debits it). It is
 * written once and never changed; its id is chosen by the caller from what it pays for, so a
 * retried call has no second effect.
 *
 * One statement, `ledger_post_transfer` (migration 20261204170000_ledger), does the locking and
 * writing, in the caller's transaction or, called alone, in its own: it locks the accounts
 * `SELECT … FOR UPDATE` in order of id (safety rule 2; one fixed order, so two transfers over the
 * same accounts queue instead of deadlocking), finds a transfer already written with this id,
 * refuses an overdraft on the locked balances before writing anything, and writes the transfer
 * and its entries (the database adds each entry to its account's balance). At commit the database
 * checks again that the transfer is balanced; the account's CHECK would refuse an overdraft
 * anyway. Doing this server-side in one round trip matters for a hot account: its row is locked
 * for the microseconds the server needs, not for the client's round trips (see bench/README.md,
 * `ledger-transfer`). Everything that needs no database (shape, amounts, one entry per account)
 * is checked here first.
 */
import { randomUUID } from 'node:crypto';
import type { DbOrTx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { nameBasedUuid } from '../../platform/ids.ts';
import { isUuid } from '../../platform/uuid.ts';
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

/**
 * Writes the transfer, or returns the one already written with this id and the same entries.
 * Throws ValidationError (malformed), NotFoundError (an unknown account), InsufficientFundsError
 * (an account that may not overdraw would go below zero; nothing written) or
 * TransferConflictError (the id is taken by a transfer with other kind or entries).
 * Given a transaction, it runs inside it (and its locks last until that commits); given the
 * client, it is one statement in a transaction of its own.
 */
export async function transfer(db: DbOrTx, input: TransferInput): Promise<Transfer> {
  return post(db, input, validate(input));
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
  return nameBasedUuid(`agnt-ledger\u0000${parts.join('\u0000')}`);
}

/** A fresh transfer id, for movements that have no id of their own to derive one from. */
export function newTransferId(): string {
  return randomUUID();
}

/** The transfer and its entries, or null. */
export async function findTransfer(db: DbOrTx, id: string): Promise<Transfer | null> {
  if (!isUuid(id)) return null;
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

/** Checks what can be checked without the database; returns the entries ordered by account id. */
function validate(input: TransferInput): { accountId: string; amount: bigint }[] {
  if (!isUuid(input.id)) throw new ValidationError('A transfer id is a UUID', 'id');
  if (!input.kind.trim()) throw new ValidationError('A transfer needs a kind', 'kind');
  if (!input.reason.trim()) throw new ValidationError('A transfer needs a reason', 'reason');
  if (input.entries.length < 2) throw new ValidationError('A transfer needs at least two entries', 'entries');
  const seen = new Set<string>();
  const entries = input.entries.map((entry, index) => {
    if (!isUuid(entry.accountId))
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

async function post(
  db: DbOrTx,
  input: TransferInput,
  entries: { accountId: string; amount: bigint }[],
): Promise<Transfer> {
  const actor = input.actor ?? 'system';
  const metadata = JSON.stringify(input.metadata ?? {});
  const rows = await db.$queryRaw<PostRow[]>`
    SELECT outcome, account_id::text, currency, balance, shortfall, created_at
    FROM ledger_post_transfer(${input.id}::uuid, ${input.kind}, ${input.reason}, ${actor}, ${metadata}::jsonb,
                              ${entries.map((entry) => entry.accountId)}::uuid[],
                              ${entries.map((entry) => entry.amount.toString())}::bigint[])`;
  const result = rows[0];
  if (!result) throw new Error(`ledger: posting transfer ${input.id} answered nothing`);
  switch (result.outcome) {
    case 'created':
      return {
        id: input.id.toLowerCase(),
        kind: input.kind,
        reason: input.reason,
        actor,
        metadata: input.metadata ?? {},
        entries: entries.map((entry) => ({
          ...entry,
          currency: rows.find((row) => row.account_id === entry.accountId)?.currency ?? '',
        })),
        createdAt: result.created_at!,
        created: true,
      };
    case 'exists': {
      const existing = await findTransfer(db, input.id);
      if (!existing) throw new Error(`ledger: transfer ${input.id} was taken but cannot be read`);
      return sameOrConflict(existing, input, entries);
    }
    case 'missing':
      throw new NotFoundError(`There is no ledger account ${result.account_id}`);
    case 'unbalanced':
      throw new ValidationError(`The entries in ${result.currency} do not sum to zero`, 'entries');
    case 'insufficient':
      throw new InsufficientFundsError(
        result.account_id!,
        result.currency!,
        BigInt(result.balance!),
        BigInt(result.shortfall!),
      );
    default:
      throw new Error(`ledger: unknown outcome ${result.outcome}`);
  }
}

interface PostRow {
  outcome: 'created' | 'exists' | 'missing' | 'unbalanced' | 'insufficient';
  account_id: string | null;
  currency: string | null;
  balance: bigint | null;
  shortfall: bigint | null;
  created_at: Date | null;
}

/** The existing transfer if it is this one (same kind and entries), else a conflict. */
function sameOrConflict(
  existing: Transfer,
  input: TransferInput,
  legs: { accountId: string; amount: bigint }[],
): Transfer {
  const key = (entries: { accountId: string; amount: bigint }[]) =>
    entries
      .map((entry) => `${entry.accountId}:${entry.amount}`)
      .sort()
      .join(',');
  if (existing.kind !== input.kind || key(existing.entries) !== key(legs)) {
    throw new TransferConflictError(existing.id);
  }
  return existing;
}
