/**
 * Group commit: many small writes, each a statement of its own, committed together in one
 * transaction, so PostgreSQL flushes its WAL (an fsync) once for all of them instead of once each.
 *
 * The inbound webhooks (the chat platforms', Stripe's and Lalamove's) record every event with one
 * statement (`insertAndEnqueue`), all through one group commit per process. Alone, each is
 * a transaction, a WAL flush and (since it enqueues a job) a commit serialised behind every other
 * commit that sends a notification; at a few thousand a second those flushes and that queue are
 * what a webhook waits on. Here the statements that arrive while another batch commits, for
 * at most `windowMs` (or until `maxStatements`), run in one transaction on one connection and
 * commit once; with nothing committing, a batch goes as soon as the event loop has handed over
 * what it read, so an idle process adds no wait. The connection pipelines (`Database.pipelined`):
 * a batch's BEGIN, statements and COMMIT are written in one go and run back to back, so a batch
 * costs one round trip however many statements it holds, and a busy event loop is not waited on
 * between them. Its values are converted for the wire before any of it is sent, so a statement
 * `pg` cannot send fails the batch before it starts rather than going missing from it. Only after the commit does each caller's promise resolve, so a caller that
 * answers its provider after it (200) answers for a committed write. A failed batch rejects every
 * caller in it (the webhook answers 500 and the provider delivers again); a process killed
 * mid-batch committed nothing of it and acknowledged nothing of it.
 *
 * - A submission (`query` with several statements: one delivery's events) is never split over two
 *   batches, and keeps its order.
 * - Batches run concurrently, each on its own pooled connection, except where they share a
 *   `lockKey` (a chat, a provider's event id): a batch first takes a transaction lock on each of
 *   its keys (advisory, in one statement, in a fixed order), so of two batches holding events of
 *   one chat the second inserts nothing until the first has committed. A chat's events are then
 *   numbered (`sequence`) in the order they become visible, and its drain, which takes the
 *   oldest pending event, never handles one before an older one that was still committing.
 *   Inside a batch the statements run in the order of their `lockKey` (stable: one key's
 *   statements keep their order).
 * - `windowMs` 0 runs each submission at once, on its own (one transaction per submission).
 * - `observe` hears of each batch's size and outcome (the `webhook_batch_events` histogram).
 */
import pg from 'pg';
import { prepareValue } from 'pg/lib/utils.js';
import { storableText } from './storable.ts';

const { escapeLiteral } = pg;

/** A named (prepared) statement, as `pg` takes it. */
export interface Statement {
  name: string;
  text: string;
  values: readonly unknown[];
  /** What the statement locks (a chat's job key): batches take keys in this order. */
  lockKey?: string;
}

export interface GroupCommitOptions {
  /**
   * How long the first statement of a batch waits, at most, for a batch committing to finish
   * (and others to join it). 0: no batching, each submission commits on its own.
   */
  windowMs: number;
  /** A batch this large runs at once, without waiting out the window. */
  maxStatements: number;
  /** Told of every batch once it has committed (`ok`) or failed: how many statements it held. */
  observe?(batch: { statements: number; ok: boolean }): void;
}

export interface GroupCommit {
  readonly kind: 'group-commit';
  /** Runs the statements in one committed transaction with others; resolves to each one's rows. */
  query(statements: readonly Statement[]): Promise<unknown[][]>;
  /** Runs what is waiting now and waits for every batch in flight. */
  flush(): Promise<void>;
}

interface Waiting {
  statements: readonly Statement[];
  resolve(rows: unknown[][]): void;
  reject(error: unknown): void;
}

/** `pool` must pipeline (`Database.pipelined`): a batch is written to it in one go. */
export function groupCommit(pool: pg.Pool, options: GroupCommitOptions): GroupCommit {
  if (!pool.options.pipeline)
    throw new TypeError('a group commit needs a pipelined pool (Database.pipelined)');
  let waiting: Waiting[] = [];
  let count = 0;
  /** Cancels the pending start of the waiting batch, when one is set. */
  let timer: (() => void) | undefined;
  const inFlight = new Set<Promise<void>>();
  /** The text of each statement name this group commit has sent. */
  const texts = new Map<string, string>();

  const start = () => {
    timer?.();
    timer = undefined;
    const batch = waiting;
    waiting = [];
    count = 0;
    if (!batch.length) return;
    const run = commit(pool, batch, options.observe, texts).finally(() => {
      inFlight.delete(run);
      // What gathered while this batch committed goes now, rather than at the end of its window.
      if (waiting.length && !inFlight.size) start();
    });
    inFlight.add(run);
  };

  return {
    kind: 'group-commit',
    query(statements) {
      if (!statements.length) return Promise.resolve([]);
      return new Promise<unknown[][]>((resolve, reject) => {
        waiting.push({ statements, resolve, reject });
        count += statements.length;
        if (options.windowMs <= 0 || count >= options.maxStatements) start();
        else if (timer) return;
        else if (!inFlight.size) {
          // Nothing committing: go once this turn of the event loop has handed over what it read.
          const immediate = setImmediate(start);
          timer = () => clearImmediate(immediate);
        } else {
          const timeout = setTimeout(start, options.windowMs);
          timer = () => clearTimeout(timeout);
        }
      });
    },
    async flush() {
      start();
      await Promise.all([...inFlight]);
    },
  };
}

/** Whether `db` is a group commit (rather than a Database or a Prisma client). */
export function isGroupCommit(db: object): db is GroupCommit {
  return (db as { kind?: unknown }).kind === 'group-commit';
}

/** Runs one batch in a transaction; settles every caller's promise, never rejects itself. */
async function commit(
  pool: pg.Pool,
  batch: readonly Waiting[],
  observe: GroupCommitOptions['observe'],
  texts: Map<string, string>,
): Promise<void> {
  const rows = batch.map((w) => w.statements.map((): unknown[] => []));
  const order = batch
    .flatMap((w, i) => w.statements.map((statement, j) => ({ statement, i, j })))
    .sort((a, b) => compareKeys(a.statement.lockKey, b.statement.lockKey));
  const keys = [...new Set(order.flatMap(({ statement }) => statement.lockKey ?? []))];
  // One statement alone, locking nothing another batch waits for, commits on its own.
  const transaction = order.length > 1 || keys.length > 0;
  let client: pg.PoolClient | undefined;
  try {
    const sendable = order.map(({ statement }) => sendableStatement(statement, texts));
    client = await pool.connect();
    // The whole batch in one write: BEGIN with the keys' locks (a simple query: the keys go as
    // literals), each statement, COMMIT. The connection pipelines, so PostgreSQL runs them back
    // to back and the event loop is not waited on between them. Every statement was checked to
    // be sendable above: one that `pg` refused to send would never reach PostgreSQL, which would
    // then commit the others.
    // BEGIN and the locks are one message, which PostgreSQL must never refuse whole (then BEGIN
    // would not run, and the statements after it would commit one by one): its keys are literals
    // made storable (lockKeys), so no byte of theirs can break it.
    const sent = [
      ...(transaction ? [client.query(keys.length ? `BEGIN; ${lockKeys(keys)}` : 'BEGIN')] : []),
      ...sendable.map((statement) => (client as pg.PoolClient).query(statement)),
      ...(transaction ? [client.query('COMMIT')] : []),
    ];
    const answers = await Promise.allSettled(sent);
    const failures = answers.flatMap((answer) => (answer.status === 'rejected' ? [answer.reason] : []));
    const ended = transaction ? answers.at(-1) : undefined;
    if (failures.length || (ended?.status === 'fulfilled' && ended.value.command !== 'COMMIT')) {
      // A statement failed, so the rest of the transaction did nothing and its COMMIT rolled
      // back (a COMMIT that fails itself ends the transaction too). PostgreSQL's own errors
      // leave the connection usable; any other (the connection lost) closes it.
      const usable = failures.every((failure) => failure instanceof pg.DatabaseError);
      client.release(!usable);
      client = undefined;
      throw failures[0] ?? new Error("the batch's transaction was rolled back");
    }
    const statementAnswers = transaction ? answers.slice(1, -1) : answers;
    client.release();
    observe?.({ statements: order.length, ok: true });
    order.forEach(({ i, j }, k) => {
      const answer = statementAnswers[k] as PromiseFulfilledResult<pg.QueryResult>;
      (rows[i] as unknown[][])[j] = answer.value.rows;
    });
    batch.forEach((w, i) => {
      w.resolve(rows[i] as unknown[][]);
    });
  } catch (error) {
    client?.release(true);
    observe?.({ statements: order.length, ok: false });
    for (const w of batch) w.reject(error);
  }
}

/**
 * The statement as `pg` sends it, its values already turned into what goes on the wire, so that
 * anything `pg` would refuse (a value it cannot convert, a name reused for another text) fails
 * here, before any of the batch is sent, and not as the one statement missing from a
 * transaction that then commits.
 */
function sendableStatement(statement: Statement, texts: Map<string, string>): pg.QueryConfig {
  const { name, text } = statement;
  const known = texts.get(name);
  if (known !== undefined && known !== text) {
    throw new Error(`the statement name ${name} stands for two texts`);
  }
  const values = statement.values.map((value) => prepareValue(value));
  texts.set(name, text);
  return { name, text, values };
}

/**
 * Locks the batch's keys until its transaction ends, each once and in the order of their hashes,
 * so batches wait for each other in a fixed order (no deadlock). Advisory: nothing is read.
 */
function lockKeys(keys: readonly string[]): string {
  // As literals in a simple query, which PostgreSQL refuses whole for a NUL.
  const list = keys.map((key) => escapeLiteral(storableText(`group-commit:${key}`))).join(', ');
  return `SELECT pg_advisory_xact_lock(hash) FROM (
    SELECT DISTINCT hashtextextended(key, 0) AS hash FROM unnest(ARRAY[${list}]::text[]) AS key) AS keys
    ORDER BY hash`;
}

/** Keys in order, statements without one first (they lock nothing another batch waits on). */
function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}
