/**
 * The ledger under load, randomised: 50,000 debits, credits and moves from 50 concurrent clients
 * (50 connections) over a few accounts, a tenth of them repeats of an earlier transfer id sent
 * close to the original so that they race it. Afterwards, and while it runs:
 * - no balance that may not overdraw is negative (a watcher samples them throughout; the CHECK
 *   constraint makes it impossible at any instant, the watcher only shows it);
 * - every refusal was InsufficientFundsError, never another error;
 * - every transfer id was applied at most once, and those that were applied are in the ledger
 *   exactly once with their two entries;
 * - all entries sum to zero, each balance equals the sum of its entries, and equals what the
 *   clients' own record of applied transfers says it should be.
 * The generator is a seeded PRNG: a failure names its seed, and LEDGER_SEED replays it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAccount, organizationAccount, platformAccount } from '../../src/domain/ledger/accounts.ts';
import { InsufficientFundsError } from '../../src/domain/ledger/errors.ts';
import { transfer } from '../../src/domain/ledger/transfer.ts';
import { connectDatabase, type Database, quoteIdent } from '../../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const OPERATIONS = Number(process.env.LEDGER_OPERATIONS ?? 50_000);
const CLIENTS = 50;
const DUPLICATE_SHARE = 0.1;
const SEED = Number(process.env.LEDGER_SEED ?? Date.now() % 2 ** 31);

let db: TestDatabase;
let load: Database;

beforeAll(async () => {
  db = await createTestDatabase();
  // This proves concurrency, not durability: commits here do not wait for the WAL to reach the
  // disk (synchronous_commit = off changes nothing that other sessions see: locks, visibility and
  // constraints are the same), or the disk's flush time, not the ledger, would set the pace.
  await db.pool.query(`ALTER DATABASE ${quoteIdent(db.name)} SET synchronous_commit = off`);
  // One pool of 50 connections, opened after that: each client below holds its own connection
  // for each transfer.
  load = connectDatabase(db.url, CLIENTS);
});

afterAll(async () => {
  await load?.close();
  await db?.drop();
});

/** mulberry32: small, fast, good enough to shuffle a workload, and replayable from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Operation {
  id: string;
  from: string;
  to: string;
  amount: number;
}

type Outcome = 'applied' | 'repeat' | 'refused';

describe('the ledger under concurrent load', () => {
  it(`keeps every invariant through ${OPERATIONS} random transfers from ${CLIENTS} clients (seed ${SEED})`, {
    timeout: 600_000,
  }, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const owner = randomUUID();
    // Two sources that may overdraw (money arriving from outside), six accounts that may not.
    const sources = [
      await ensureAccount(db.prisma, platformAccount('STRIPE_CLEARING', 'EUR')),
      await ensureAccount(db.prisma, platformAccount('ADJUSTMENTS', 'EUR')),
    ];
    const held: string[] = [];
    for (const purpose of ['CREDITS', 'FEES_PAYABLE', 'VENUE_PAYABLE'] as const) {
      held.push(await ensureAccount(db.prisma, organizationAccount(owner, purpose, 'EUR')));
      held.push(await ensureAccount(db.prisma, organizationAccount(randomUUID(), purpose, 'EUR')));
    }

    // Credits in from a source, debits out to one, and moves between held accounts; amounts are
    // drawn so that debits often ask for more than is there.
    const operations: Operation[] = [];
    const unique: Operation[] = [];
    while (operations.length < OPERATIONS) {
      if (unique.length > 0 && random() < DUPLICATE_SHARE) {
        // A repeat of a recent transfer (same id, same entries), queued near the first so they race.
        operations.push(unique[Math.max(0, unique.length - 1 - Math.floor(random() * 60))]!);
        continue;
      }
      const roll = random();
      const account = pick(held);
      let operation: Operation;
      if (roll < 0.35) {
        operation = {
          id: randomUUID(),
          from: pick(sources),
          to: account,
          amount: 1 + Math.floor(random() * 1_000),
        };
      } else if (roll < 0.7) {
        operation = {
          id: randomUUID(),
          from: account,
          to: pick(sources),
          amount: 1 + Math.floor(random() * 1_200),
        };
      } else {
        let other = pick(held);
        while (other === account) other = pick(held);
        operation = { id: randomUUID(), from: account, to: other, amount: 1 + Math.floor(random() * 800) };
      }
      operations.push(operation);
      unique.push(operation);
    }

    const outcomes = new Map<string, Outcome[]>();
    const failures: unknown[] = [];
    let next = 0;
    let running = true;

    // Samples the smallest balance of the accounts that may not overdraw while the load runs.
    let lowest = 0n;
    let samples = 0;
    const watcher = (async () => {
      while (running) {
        const [row] = await db.prisma.$queryRaw<{ lowest: bigint }[]>`
          SELECT coalesce(min(balance), 0) AS lowest FROM ledger_accounts WHERE NOT may_overdraw`;
        if (row && BigInt(row.lowest) < lowest) lowest = BigInt(row.lowest);
        samples++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < operations.length) {
          const operation = operations[next++]!;
          let outcome: Outcome;
          try {
            const result = await transfer(load.prisma, {
              id: operation.id,
              kind: 'LOAD_TEST',
              reason: 'randomised concurrency proof',
              entries: [
                { accountId: operation.from, amount: -operation.amount },
                { accountId: operation.to, amount: operation.amount },
              ],
            });
            outcome = result.created ? 'applied' : 'repeat';
          } catch (error) {
            if (!(error instanceof InsufficientFundsError)) {
              failures.push(error);
              continue;
            }
            if (error.accountId !== operation.from)
              failures.push(new Error(`refused on ${error.accountId}, not the payer`));
            outcome = 'refused';
          }
          const seen = outcomes.get(operation.id) ?? [];
          seen.push(outcome);
          outcomes.set(operation.id, seen);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    running = false;
    await watcher;

    const counts = { applied: 0, repeat: 0, refused: 0 };
    for (const seen of outcomes.values()) for (const outcome of seen) counts[outcome]++;
    console.log(
      `ledger load (seed ${SEED}): ${OPERATIONS} transfers (${unique.length} distinct ids) by ${CLIENTS} clients in ${seconds.toFixed(1)} s, ` +
        `${Math.round(OPERATIONS / seconds)}/s; applied ${counts.applied}, repeats ${counts.repeat}, refused ${counts.refused}; ` +
        `${samples} balance samples`,
    );

    expect(failures.slice(0, 5)).toEqual([]);
    expect(counts.applied + counts.repeat + counts.refused).toBe(OPERATIONS);
    expect(counts.refused).toBeGreaterThan(0);
    expect(counts.repeat).toBeGreaterThan(0);
    expect(lowest).toBe(0n);

    // Every id applied at most once, as the clients saw it.
    const applied = new Set<string>();
    for (const [id, seen] of outcomes) {
      const times = seen.filter((outcome) => outcome === 'applied').length;
      expect(times, id).toBeLessThanOrEqual(1);
      if (times === 1) applied.add(id);
    }

    // ... and as the ledger holds it: exactly those transfers, each once, each with two entries.
    const stored = await db.prisma.$queryRaw<{ id: string; entries: bigint }[]>`
      SELECT t.id::text, count(e.*) AS entries FROM ledger_transfers t
      JOIN ledger_entries e ON e.transfer_id = t.id
      WHERE t.kind = 'LOAD_TEST' GROUP BY t.id`;
    expect(stored.length).toBe(applied.size);
    expect(stored.every((row) => applied.has(row.id) && Number(row.entries) === 2)).toBe(true);

    // Double entry: everything sums to zero, and each balance is the sum of its entries.
    const [total] = await db.prisma.$queryRaw<
      { total: bigint | null }[]
    >`SELECT sum(amount) AS total FROM ledger_entries`;
    expect(BigInt(total?.total ?? 0)).toBe(0n);
    const balances = await db.prisma.$queryRaw<
      { id: string; balance: bigint; sum: bigint; may_overdraw: boolean }[]
    >`
      SELECT a.id::text, a.balance, coalesce(sum(e.amount), 0) AS sum, a.may_overdraw
      FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
      GROUP BY a.id`;
    for (const row of balances) {
      expect(BigInt(row.balance), row.id).toBe(BigInt(row.sum));
      if (!row.may_overdraw) expect(BigInt(row.balance), row.id).toBeGreaterThanOrEqual(0n);
    }

    // The clients' own record agrees: each balance is the sum of the transfers they saw applied.
    const expected = new Map<string, bigint>();
    for (const operation of unique) {
      if (!applied.has(operation.id)) continue;
      expected.set(operation.from, (expected.get(operation.from) ?? 0n) - BigInt(operation.amount));
      expected.set(operation.to, (expected.get(operation.to) ?? 0n) + BigInt(operation.amount));
    }
    for (const account of [...sources, ...held]) {
      const row = balances.find((candidate) => candidate.id === account);
      expect(BigInt(row?.balance ?? 0), account).toBe(expected.get(account) ?? 0n);
    }
  });
});
