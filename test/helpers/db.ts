import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { connectDatabase, type Database, quoteIdent } from '../../src/platform/db.ts';
import { MIGRATIONS_DIR } from '../../src/platform/migrate.ts';
import { testServerUrl } from './env.ts';

export interface TestDatabase extends Database {
  name: string;
  /** Closes the pools and drops the database. */
  drop(): Promise<void>;
}

/**
 * A fresh database cloned from the migrated template, for one test file.
 * Factories make unique values, so a file never needs to wipe it.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = inject('templateDatabase');
  const name = `agnt_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)}`);
  const db = connectDatabase(`${testServerUrl()}/${name}`, 10);
  return {
    ...db,
    name,
    async drop() {
      await db.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    },
  };
}

/** An empty database (not migrated), for migration tests. */
export async function createEmptyDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `agnt_empty_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)}`);
  return {
    name,
    url: `${testServerUrl()}/${name}`,
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`),
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${testServerUrl()}/postgres` });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Waits (at most 10 s) until a statement of this database whose text contains `fragment` is
 * waiting for a lock: the moment a test holding that lock knows the other side is past its reads.
 */
export async function waitingForLock(
  db: { $queryRawUnsafe<T>(query: string, ...values: unknown[]): Promise<T> },
  fragment: string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const rows = await db.$queryRawUnsafe<unknown[]>(
      `SELECT 1 FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND position($1 in query) > 0`,
      fragment,
    );
    if (rows.length) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no statement with "${fragment}" waited for a lock within 10 s`);
}

type LockingServices = {
  database: { pool: pg.Pool };
  db: { $queryRawUnsafe<R>(query: string, ...values: unknown[]): Promise<R> };
};

/**
 * Holds a row lock (`hold`, a statement with its values) in a transaction of its own, starts
 * `act`, and once `meanwhile` has run (given the transaction's client) commits and lets `act` go
 * on; `act`'s promise as it settles.
 */
async function whileHolding<T>(
  services: LockingServices,
  hold: [string, unknown[]],
  act: () => Promise<T>,
  meanwhile: (client: pg.PoolClient) => Promise<void>,
): Promise<T> {
  const client = await services.database.pool.connect();
  let acting: Promise<T> | undefined;
  try {
    await client.query('BEGIN');
    await client.query(...hold);
    acting = act();
    // Settled later by the caller; until then a rejection is not an unhandled one.
    acting.catch(() => {});
    await meanwhile(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  return acting;
}

/**
 * Runs `act` (requests made at once) while `hold` holds a row lock their writes need (an
 * organisation's row, which a row referring to it waits for), and releases it only once `count`
 * statements of this database wait for a lock: each request has read what it reads before writing
 * (a count against a limit) before any of them writes. Returns what `act` settles with.
 */
export function allReadBeforeAnyWrites<T>(
  services: LockingServices,
  hold: [string, unknown[]],
  count: number,
  act: () => Promise<T>,
): Promise<T> {
  return whileHolding(services, hold, act, async () => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [waiting] = await services.db.$queryRawUnsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (waiting!.n >= count) return;
      if (Date.now() > deadline)
        throw new Error(`${waiting!.n} statements, not ${count}, waited for a lock within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

/**
 * What a change committed between `act`'s reads and its writes does: holds a row lock (`hold`, a
 * statement with its values), starts `act`, waits until a statement of `act` containing
 * `waiting` waits for that lock, commits `change` in the same transaction and lets `act` go on.
 * Returns `act`'s promise as it settles.
 */
export function committedWhileWaiting<T>(
  services: LockingServices,
  steps: { hold: [string, unknown[]]; waiting: string; change: [string, unknown[]] },
  act: () => Promise<T>,
): Promise<T> {
  return whileHolding(services, steps.hold, act, async (client) => {
    await waitingForLock(services.db, steps.waiting);
    await client.query(...steps.change);
  });
}

/**
 * Runs the part of migration `name` that begins at the line starting with `from` (its backfill)
 * on `database`, whose schema the migrations already made: what the migration does to rows
 * written before it.
 */
export async function runMigrationFrom(database: TestDatabase, name: string, from: string): Promise<void> {
  const sql = await readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql'), 'utf8');
  const start = sql.indexOf(from);
  if (start < 0) throw new Error(`migration ${name} has no line "${from}"`);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(sql.slice(start));
  } finally {
    await client.end();
  }
}
