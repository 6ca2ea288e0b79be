import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { type Prisma, PrismaClient } from '../generated/prisma/client.ts';

export type Db = PrismaClient;
/** The client inside `db.$transaction(async (tx) => …)`. Domain functions accept either. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

/** `params`: the statement's values as JSON text. */
export type QueryListener = (event: { query: string; params: string; durationMs: number }) => void;

export interface Database {
  prisma: Db;
  /** Hears every statement Prisma sends (for metrics, and tests that count statements). */
  onQuery(listener: QueryListener): () => void;
  /** The raw pool, for graphile-worker and for SQL Prisma cannot say. */
  pool: pg.Pool;
  /**
   * A small pool whose connections pipeline: a client's queries are all written at once, without
   * waiting for each one's answer, and answered in order. For statements that go together (the
   * webhooks' group commit sends a batch's BEGIN, statements and COMMIT in one write), so a busy
   * event loop is not waited on between them. No cursors on it (pg refuses them in this mode).
   * Opens its connections only when first used.
   */
  pipelined: pg.Pool;
  /**
   * Connections that hold a session's advisory lock while the work it guards runs on `pool`
   * (`withAdvisoryLock`: a chat's drain, a send queue). Apart from `pool`, so lock holders can
   * never take every connection their own work needs: with them in one pool, as many jobs at
   * once as it has connections would each hold one and wait for another forever. As many as
   * `pool`; opened only when a lock is taken (a worker's jobs).
   */
  locks: pg.Pool;
  url: string;
  close(): Promise<void>;
}

export function connectDatabase(
  url: string,
  poolSize = 10,
  {
    preparedStatements = DEFAULT_PREPARED_STATEMENTS,
    pipelinedSize = DEFAULT_PIPELINED_CONNECTIONS,
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
  }: {
    /** Distinct statements each connection prepares once and reuses (see `statementNames`); 0: none. */
    preparedStatements?: number;
    /** Connections of the pipelined pool (`Database.pipelined`). */
    pipelinedSize?: number;
    /**
     * How long a query or a lock waits for a connection of its pool (a free one, or a new one
     * opened) before it fails: a database out of reach, or a pool held by stuck work, is an error
     * the caller sees (a job's retry, a request's answer), not a wait without end.
     */
    connectTimeoutMs?: number;
  } = {},
): Database {
  const options = { connectionString: url, connectionTimeoutMillis: connectTimeoutMs };
  const pool = quietPool(new pg.Pool({ ...options, max: poolSize }));
  const pipelined = quietPool(new pg.Pool({ ...options, max: pipelinedSize, pipeline: true }));
  const locks = quietPool(new pg.Pool({ ...options, max: poolSize }));
  // One naming for Prisma's statements and the direct reads': a name stands for one text on
  // every connection of the pool they share.
  const names = preparedStatements > 0 ? statementNames(preparedStatements) : undefined;
  const adapter = new PrismaPg(
    pool,
    // Unnamed (undefined) is what the adapter sends when it has no generator.
    names ? { statementNameGenerator: names as (query: { sql: string }) => string } : {},
  );
  const prisma = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  const listeners = new Set<QueryListener>();
  const heard = (query: string, params: () => string, durationMs: number) => {
    for (const listener of listeners)
      listener({
        query,
        get params() {
          return params();
        },
        durationMs,
      });
  };
  prisma.$on('query', (event) => heard(event.query, () => event.params, event.duration));
  directReaders.set(prisma, {
    async query(text, values) {
      const started = performance.now();
      const result = await pool.query({ text, values, name: names?.({ sql: text }) });
      heard(text, () => JSON.stringify(values), performance.now() - started);
      return result.rows;
    },
  });
  return {
    prisma,
    onQuery(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    pool,
    pipelined,
    locks,
    url,
    async close() {
      await prisma.$disconnect();
      await Promise.all([pool.end(), pipelined.end(), locks.end()]);
    },
  };
}

/**
 * Statements run on the pool Prisma uses without Prisma's client, for the hottest reads, where
 * the client's handling of the answer costs more CPU than the statement: heard by `onQuery` (the
 * statement counts and the slow-operation log) and traced like any other pg query. The values
 * are as pg parses them (a bigint or a numeric is a string), not as Prisma's client would.
 */
export interface DirectReads {
  query(text: string, values: unknown[]): Promise<Record<string, unknown>[]>;
}

const directReaders = new WeakMap<object, DirectReads>();

/**
 * The direct reads of `db` when it is a client `connectDatabase` made; undefined inside a
 * transaction (its statements must run on the transaction's connection) and for any other client.
 */
export function directReads(db: DbOrTx): DirectReads | undefined {
  return directReaders.get(db);
}

/**
 * The rows of a raw read: directly when `db` allows it, else through Prisma (in a transaction).
 * The values differ between the two (Prisma's client makes a bigint a BigInt, pg a string), so a
 * caller converts what it reads (`Number(row.total)`).
 */
export async function readRows(db: DbOrTx, query: Prisma.Sql): Promise<Record<string, unknown>[]> {
  const direct = directReads(db);
  return direct ? direct.query(query.text, query.values) : db.$queryRaw<Record<string, unknown>[]>(query);
}

const DEFAULT_PIPELINED_CONNECTIONS = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** An idle client that errors (the server restarted) must not crash the process. */
function quietPool(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

const DEFAULT_PREPARED_STATEMENTS = 500;

/**
 * Holds an advisory lock on each of `keys` until the transaction ends: a limit counted across
 * rows no one row stands for (an address's invitations from every organisation, an
 * organisation's keys) is counted and written by one transaction at a time. Each key once, in
 * the order of their hashes, so transactions taking several wait for each other in one order.
 */
export async function holdKeys(tx: Tx, ...keys: string[]): Promise<void> {
  await tx.$executeRaw`
    SELECT pg_advisory_xact_lock(hash)
    FROM (SELECT DISTINCT hashtextextended(key, 0) AS hash FROM unnest(${keys}::text[]) AS key) AS keys
    ORDER BY hash`;
}

/**
 * Begins a statement that is never prepared, so PostgreSQL plans it for the values of each run.
 * A prepared statement gets a generic plan after five runs when that plan looks no dearer than
 * the ones made for the values, and for a statement whose best plan depends on them (how many
 * venues a search's words and box match) that guess can be far off: the venue search's generic
 * plan walked the whole box through the (latitude, longitude) index, parsing the words again on
 * every row, at two to three times the time of the plan made for the values.
 */
export const PLANNED_EACH_RUN = '/* planned each run */';

/**
 * Names for Prisma's statements, so each connection parses and plans a statement once and then
 * only binds and runs it (PostgreSQL keeps the parsed statement, and after a few runs may keep a
 * generic plan too). Prisma's SQL carries values as parameters, so the texts are few: the first
 * `limit` distinct texts get a name, any beyond run unnamed as before, which bounds what each
 * connection holds. A statement's name stands for its text alone, so the same text has the same
 * name on every connection. A connection pooler in front of PostgreSQL must support prepared
 * statements in its pooling mode (PgBouncer 1.21+ with `max_prepared_statements`), or set 0.
 * A text that begins with PLANNED_EACH_RUN is never named.
 */
export function statementNames(limit: number): (query: { sql: string }) => string | undefined {
  const names = new Map<string, string>();
  return ({ sql }) => {
    if (sql.startsWith(PLANNED_EACH_RUN)) return undefined;
    let name = names.get(sql);
    if (name === undefined && names.size < limit) {
      name = `agnt_${names.size.toString(36)}`;
      names.set(sql, name);
    }
    // pg prepares a query with a name once per connection; without one it parses it every time.
    return name;
  };
}

/** Creates the database named in `url` if it does not exist (connecting to `postgres`). */
export async function ensureDatabaseExists(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
      } catch (error) {
        // Another process created it first (42P04, or 23505 when both got past the check at once).
        const code = (error as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw error;
      }
    }
  } finally {
    await client.end();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** True when a PostgreSQL server answers at `url` (any database error other than connection counts as an answer). */
export async function postgresAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Prisma's own codes for a database that could not be reached, timed out or had to be retried. */
const PASSING_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2034']);
/** How the pg driver adapter names such faults (`meta.driverAdapterError.cause.kind`). */
const PASSING_ADAPTER_KINDS = new Set([
  'TransactionWriteConflict',
  'DatabaseNotReachable',
  'SocketTimeout',
  'TooManyConnections',
  'ConnectionClosed',
]);
/** PostgreSQL's SQLSTATEs for the same: serialisation, deadlock, shutdown, connections. */
const PASSING_SQLSTATES = new Set([
  '40001',
  '40P01',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
]);
/** Node's socket errors. */
const PASSING_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE']);

/**
 * Whether `error` is a database fault that passes (unreachable, a dropped connection, a timeout
 * waiting for one, a serialisation failure or deadlock): the same work done again a little later
 * should succeed. A refusal of the data (a constraint, a bad value) is not one.
 */
export function isPassingDatabaseFault(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, meta, cause, message } = e as {
      code?: unknown;
      meta?: { driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown } } };
      cause?: unknown;
      message?: unknown;
    };
    if (typeof code === 'string' && (PASSING_PRISMA_CODES.has(code) || PASSING_SQLSTATES.has(code)))
      return true;
    if (typeof code === 'string' && PASSING_SOCKET_CODES.has(code)) return true;
    const adapter = meta?.driverAdapterError?.cause;
    if (typeof adapter?.kind === 'string' && PASSING_ADAPTER_KINDS.has(adapter.kind)) return true;
    if (typeof adapter?.originalCode === 'string' && PASSING_SQLSTATES.has(adapter.originalCode)) return true;
    // pg's pool, out of connections for longer than its timeout.
    if (typeof message === 'string' && message.includes('timeout exceeded when trying to connect'))
      return true;
    e = cause;
  }
  return false;
}
