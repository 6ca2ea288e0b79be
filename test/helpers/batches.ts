/**
 * Driving the webhooks' group commit (src/platform/group-commit.ts) from outside, through the
 * database only: hold one batch at its commit so that what arrives meanwhile gathers into the
 * next, or make a batch fail. For `provider_events` (Stripe, Lalamove), by event id.
 */
import { randomInt } from 'node:crypto';
import pg from 'pg';
import type { TestDatabase } from './db.ts';
import { waitFor } from './jobs.ts';

export interface HeldBatch {
  /** Resolves once the batch holding the event is waiting at its commit. */
  held(): Promise<void>;
  /** Lets it commit, and removes the trigger that held it (once; a second call does nothing). */
  release(): Promise<void>;
}

/**
 * Holds the batch that records the event `eventId` at its commit (a deferred trigger waits for
 * an advisory lock held here) until `release`. While it is held the group commit is busy, so the
 * deliveries that arrive meanwhile wait for it, at most the window, or until a batch is full.
 */
export function holdBatchOf(database: TestDatabase, eventId: string): Promise<HeldBatch> {
  return holdCommitOf(database, 'provider_events', `NEW.event_id = ${pg.escapeLiteral(eventId)}`);
}

/**
 * Holds the transaction that inserts a row of `table` matching `when` (SQL over `NEW`) at its
 * commit, after everything else it did, until `release`: a deferred trigger waits for an
 * advisory lock held here.
 */
export async function holdCommitOf(database: TestDatabase, table: string, when: string): Promise<HeldBatch> {
  const lock = randomInt(1, 2 ** 31 - 1);
  const name = `test_hold_${lock}`;
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  await holder.query(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(${lock}); RETURN NULL; END $$`);
  await holder.query(
    `CREATE CONSTRAINT TRIGGER ${name} AFTER INSERT ON ${table}
     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
     WHEN (${when}) EXECUTE FUNCTION ${name}()`,
  );
  await holder.query('SELECT pg_advisory_lock($1)', [lock]);
  let released = false;
  return {
    held: () =>
      waitFor(async () => {
        const { rows } = await database.pool.query(
          `SELECT 1 FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND objid = $1::bigint
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [lock],
        );
        return rows.length > 0;
      }, `the transaction inserting into ${table} to wait at its commit`).then(() => undefined),
    async release() {
      if (released) return;
      released = true;
      try {
        await holder.query('SELECT pg_advisory_unlock($1)', [lock]);
        await holder.query(`DROP TRIGGER ${name} ON ${table}`);
        await holder.query(`DROP FUNCTION ${name}()`);
      } finally {
        await holder.end();
      }
    },
  };
}

/**
 * Makes the insert of the event `eventId` fail (a trigger raises), and with it its whole batch,
 * until the returned function is called.
 */
export async function failInsertOf(database: TestDatabase, eventId: string): Promise<() => Promise<void>> {
  const name = `test_fail_${randomInt(1, 2 ** 31 - 1)}`;
  await database.pool.query(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'refused for the test: %', NEW.event_id; END $$`);
  await database.pool.query(
    `CREATE TRIGGER ${name} BEFORE INSERT ON provider_events FOR EACH ROW
     WHEN (NEW.event_id = ${pg.escapeLiteral(eventId)}) EXECUTE FUNCTION ${name}()`,
  );
  return async () => {
    await database.pool.query(`DROP TRIGGER ${name} ON provider_events`);
    await database.pool.query(`DROP FUNCTION ${name}()`);
  };
}

/** The transaction (xmin) that wrote each of these events, by event id. */
export async function eventTransactions(
  database: TestDatabase,
  provider: string,
  eventIds: readonly string[],
): Promise<Map<string, string>> {
  const { rows } = await database.pool.query<{ id: string; xid: string }>(
    `SELECT event_id AS id, xmin::text AS xid FROM provider_events
      WHERE provider = $1 AND event_id = ANY($2::text[])`,
    [provider, eventIds],
  );
  return new Map(rows.map((r) => [r.id, r.xid]));
}
