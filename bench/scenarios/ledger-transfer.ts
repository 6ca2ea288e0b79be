/**
 * Ledger transfers per second: `transfer()` from src/domain/ledger, called by 50 clients in a
 * closed loop (each on its own connection of one pool of 50), each transfer moving 1 minor unit
 * between two accounts. No server: the ledger is a domain function, so the load runs in the bench
 * process against a fresh migrated database.
 *
 * - **hot account**: every transfer pays from the platform's STRIPE_CLEARING account (may
 *   overdraw) into one of 1,000 organisations' CREDITS accounts: one row that every transfer locks
 *   `FOR UPDATE`, so transfers queue on it. This is the ceiling for one busy account.
 * - **spread over 1,000 accounts**: transfers between two random accounts of the 1,000 (funded
 *   first, never overdrawn, so the overdraft check runs and never refuses).
 *
 * Each is measured with the database's default durability (`synchronous_commit = on`: every
 * commit waits for the WAL to reach the disk) and again with `synchronous_commit = off` (a commit
 * returns before its flush, as on a server whose disk flush is fast or which accepts losing the
 * last few hundred milliseconds on a crash): on a hot account the row is held until the commit's
 * flush, so the disk sets that ceiling. Latency is per call (p50/p99); SQL statements per
 * transfer are Prisma's statements during the measurement divided by the transfers.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureAccount, organizationAccount, platformAccount } from '../../src/domain/ledger/accounts.ts';
import { transfer } from '../../src/domain/ledger/transfer.ts';
import { connectDatabase, quoteIdent } from '../../src/platform/db.ts';
import { createMigratedDatabase } from '../lib/database.ts';
import { describeMachine } from '../lib/machine.ts';
import { defineCustomScenario } from '../lib/scenario.ts';
import { fmt, summarize } from '../lib/stats.ts';

const CLIENTS = 50;
const ACCOUNTS = 1_000;
const FUNDING = 1_000_000;

interface Phase {
  name: string;
  synchronousCommit: 'on' | 'off';
  transfers: number;
  failures: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  statementsPerTransfer: number;
}

export default defineCustomScenario<Record<string, never>>(import.meta.url, {
  name: 'ledger-transfer',
  description:
    'ledger transfers by 50 clients: one hot account, and spread over 1,000 accounts; p50/p99, SQL per transfer',
  serve: async () => {
    throw new Error('ledger-transfer starts no server');
  },
  async measure(run) {
    const { durationSeconds, warmupSeconds } = run.options;
    const phases: Phase[] = [];
    for (const synchronousCommit of ['on', 'off'] as const) {
      const database = await createMigratedDatabase();
      try {
        const admin = connectDatabase(database.url, 2);
        await admin.pool.query(
          `ALTER DATABASE ${quoteIdent(database.name)} SET synchronous_commit = ${synchronousCommit}`,
        );
        await admin.close();
        // Opened after the setting, so every connection has it.
        const db = connectDatabase(database.url, CLIENTS);
        try {
          const clearing = await ensureAccount(db.prisma, platformAccount('STRIPE_CLEARING', 'EUR'));
          const accounts: string[] = [];
          for (let i = 0; i < ACCOUNTS; i++) {
            const account = await ensureAccount(
              db.prisma,
              organizationAccount(randomUUID(), 'CREDITS', 'EUR'),
            );
            accounts.push(account);
            await transfer(db.prisma, {
              id: randomUUID(),
              kind: 'BENCH_FUNDING',
              reason: 'bench funding',
              entries: [
                { accountId: clearing, amount: -FUNDING },
                { accountId: account, amount: FUNDING },
              ],
            });
          }
          await db.pool.query('ANALYZE');
          const pick = () => accounts[Math.floor(Math.random() * accounts.length)]!;
          const shapes: Record<string, () => [string, string]> = {
            'hot account': () => [clearing, pick()],
            'spread over 1,000 accounts': () => {
              const from = pick();
              let to = pick();
              while (to === from) to = pick();
              return [from, to];
            },
          };
          for (const [name, shape] of Object.entries(shapes)) {
            if (run.signal.aborted) break;
            run.progress(`${name}, synchronous_commit ${synchronousCommit}`);
            await load(db, shape, warmupSeconds, run.signal);
            let statements = 0;
            const stopCounting = db.onQuery(() => statements++);
            const result = await load(db, shape, durationSeconds, run.signal);
            stopCounting();
            const latency = summarize(result.latenciesMs);
            phases.push({
              name,
              synchronousCommit,
              transfers: result.transfers,
              failures: result.failures,
              seconds: result.seconds,
              perSecond: result.transfers / result.seconds,
              p50Ms: latency.p50,
              p99Ms: latency.p99,
              statementsPerTransfer: statements / Math.max(1, result.transfers + result.failures),
            });
          }
          // Every transfer is balanced, so the ledger still sums to zero.
          const { rows } = await db.pool.query<{ total: string | null }>(
            'SELECT sum(amount) AS total FROM ledger_entries',
          );
          if (BigInt(rows[0]?.total ?? 0) !== 0n)
            throw new Error('ledger-transfer: the entries do not sum to zero');
        } finally {
          await db.close();
        }
      } finally {
        await database.drop();
      }
    }
    const failures = phases.reduce((sum, phase) => sum + phase.failures, 0);
    return {
      header: [
        'ledger-transfer',
        'synchronous_commit',
        'transfers/s',
        'p50 ms',
        'p99 ms',
        'SQL/transfer',
        'transfers',
      ],
      rows: phases.map((phase) => [
        phase.name,
        phase.synchronousCommit,
        fmt(phase.perSecond, 0),
        fmt(phase.p50Ms, 2),
        fmt(phase.p99Ms, 2),
        fmt(phase.statementsPerTransfer, 2),
        fmt(phase.transfers, 0),
      ]),
      notes: [
        `${CLIENTS} clients in a closed loop, ${durationSeconds} s each after ${warmupSeconds} s of warm-up; 1 minor unit per transfer.`,
        'hot account: every transfer locks the platform STRIPE_CLEARING row; spread: two random accounts of 1,000.',
        `machine: ${describeMachine()}`,
      ],
      failures,
      data: { clients: CLIENTS, accounts: ACCOUNTS, phases },
    };
  },
});

/** `CLIENTS` callers in a closed loop for `seconds`; each call's latency kept. */
async function load(
  db: ReturnType<typeof connectDatabase>,
  shape: () => [string, string],
  seconds: number,
  signal: AbortSignal,
): Promise<{ transfers: number; failures: number; seconds: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  let transfers = 0;
  let failures = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until && !signal.aborted) {
        const [from, to] = shape();
        const begun = performance.now();
        try {
          await transfer(db.prisma, {
            id: randomUUID(),
            kind: 'BENCH',
            reason: 'bench transfer',
            entries: [
              { accountId: from, amount: -1 },
              { accountId: to, amount: 1 },
            ],
          });
          transfers++;
          latenciesMs.push(performance.now() - begun);
        } catch {
          failures++;
          await sleep(1);
        }
      }
    }),
  );
  return { transfers, failures, seconds: (performance.now() - started) / 1000, latenciesMs };
}
