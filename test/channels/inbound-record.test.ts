/**
 * `recordInbound`: an event stored once per platform id, and its chat's drain job scheduled in
 * the same statement, exactly as `enqueue(…, { jobKey, jobKeyMode: 'replace' })` would leave the
 * queue, except that a waiting, due job is kept rather than rewritten. No worker runs here:
 * a worker's part (taking a job) is played with the SQL graphile-worker itself sends.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chatInboundTask,
  chatKey,
  type InboundRecord,
  recordInbound,
} from '../../src/domain/channels/inbound.ts';
import type { Database, Db } from '../../src/platform/db.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { inboundText } from '../factories/inbound.ts';
import { holdCommitOf } from '../helpers/batches.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { waitFor } from '../helpers/jobs.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const ACCOUNT = 'agnt';
const unique = () => randomBytes(6).toString('hex');

function message(chat: string, text = 'hello'): InboundRecord {
  const id = unique();
  return inboundText({ account: ACCOUNT, chat, id, text, raw: { update_id: id, message: { text } } });
}

interface JobRow {
  id: string;
  task: string;
  payload: unknown;
  queue: string | null;
  priority: number;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  key: string | null;
  locked_at: Date | null;
  revision: number;
  flags: unknown;
}

/** Every job of the chat's drain (keyed or no longer keyed), oldest first. */
async function drainJobs(chat: string): Promise<JobRow[]> {
  const { rows } = await database.pool.query<JobRow>(
    `SELECT jobs.id::text, tasks.identifier AS task, jobs.payload, queues.queue_name AS queue,
            jobs.priority, jobs.run_at, jobs.attempts, jobs.max_attempts, jobs.last_error, jobs.key,
            jobs.locked_at, jobs.revision, jobs.flags
       FROM graphile_worker._private_jobs AS jobs
       JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
       LEFT JOIN graphile_worker._private_job_queues AS queues ON queues.id = jobs.job_queue_id
      WHERE jobs.payload->>'externalChatId' = $1 AND tasks.identifier = $2
      ORDER BY jobs.id`,
    [chat, chatInboundTask.name],
  );
  return rows;
}

const keyOf = (chat: string) => chatKey('TELEGRAM', ACCOUNT, chat);
const payloadOf = (chat: string) => ({
  platform: 'TELEGRAM' as const,
  account: ACCOUNT,
  externalChatId: chat,
});

/** What graphile-worker's getJobs does to the job it takes (0.17: src/sql/getJobs.ts). */
const TAKE_JOB = `UPDATE graphile_worker._private_jobs
                     SET attempts = attempts + 1, locked_by = 'test-worker', locked_at = now()
                   WHERE id = $1`;

/**
 * Whether recordInbound's statement is waiting for a lock. Asked on a pool connection outside any
 * transaction: PostgreSQL keeps a transaction's first view of pg_stat_activity.
 */
async function waitingOnALock(): Promise<boolean> {
  const { rows } = await database.pool.query(
    `SELECT 1 FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH stored AS%'
        AND pid <> pg_backend_pid()`,
  );
  return rows.length > 0;
}

/**
 * Makes graphile-worker's inserts of jobs with `key` (add_job's upsert) wait while the test holds
 * an advisory lock, from a BEFORE INSERT trigger: the moment between add_job clearing the keys of
 * running jobs and its upsert, held open.
 */
async function holdJobInserts(key: string) {
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  const lock = 727275;
  await holder.query(`
    CREATE OR REPLACE FUNCTION test_hold_job_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_lock(${lock});
      PERFORM pg_advisory_unlock(${lock});
      RETURN NEW;
    END $$`);
  await holder.query(`
    CREATE TRIGGER test_hold_job_inserts BEFORE INSERT ON graphile_worker._private_jobs
    FOR EACH ROW WHEN (NEW.key = '${key}') EXECUTE FUNCTION test_hold_job_inserts()`);
  await holder.query('SELECT pg_advisory_lock($1)', [lock]);
  return {
    release: () => holder.query('SELECT pg_advisory_unlock($1)', [lock]),
    async drop() {
      await holder.query('DROP TRIGGER test_hold_job_inserts ON graphile_worker._private_jobs');
      await holder.end();
    },
  };
}

/** Whether recordInbound's statement waits for a lock of this kind (pg_stat_activity.wait_event). */
async function waitingOn(kind: 'advisory' | 'transactionid'): Promise<boolean> {
  const { rows } = await database.pool.query(
    `SELECT 1 FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = $1
        AND query LIKE '%WITH stored AS%' AND pid <> pg_backend_pid()`,
    [kind],
  );
  return rows.length > 0;
}

// The webhooks pass the Database (a prepared statement on its pool); other callers pass Prisma.
describe.each([
  { via: 'the pool', db: (): Database | Db => database },
  { via: 'Prisma', db: (): Database | Db => database.prisma },
])('recordInbound through $via, and the chat’s drain job', ({ db }) => {
  it('stores a new event with the drain job enqueue would add, and a redelivery changes nothing', async () => {
    const chat = unique();
    const event = message(chat);
    expect(await recordInbound(db(), event)).toEqual({ stored: true });
    const [job] = await drainJobs(chat);

    // The same job through enqueue, for a chat of its own.
    const other = unique();
    await enqueue(database.prisma, chatInboundTask, payloadOf(other), {
      jobKey: keyOf(other),
      jobKeyMode: 'replace',
    });
    const [expected] = await drainJobs(other);
    const comparable = ({ id: _id, run_at: _runAt, payload: _p, key: _k, ...rest }: JobRow) => rest;
    expect(comparable(job!)).toEqual(comparable(expected!));
    expect(job).toMatchObject({ payload: payloadOf(chat), key: keyOf(chat), attempts: 0, revision: 0 });

    expect(await recordInbound(db(), event)).toEqual({ stored: false });
    expect(await drainJobs(chat)).toEqual([job]);
    const stored = await database.prisma.inboundEvent.findMany({ where: { externalChatId: chat } });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      externalId: event.externalId,
      eventType: 'message',
      status: 'PENDING',
      raw: event.raw,
      normalized: event.normalized,
      rawText: null,
      error: null,
    });
  });

  it('keeps the waiting job when the chat already has one due: one job for many messages', async () => {
    const chat = unique();
    await recordInbound(db(), message(chat, 'first'));
    const [job] = await drainJobs(chat);
    for (const text of ['second', 'third']) {
      expect(await recordInbound(db(), message(chat, text))).toEqual({ stored: true });
    }
    // Untouched: what `replace` would have written over it is what it already holds.
    expect(await drainJobs(chat)).toEqual([job]);
    expect(await database.prisma.inboundEvent.count({ where: { externalChatId: chat } })).toBe(3);
  });

  it('adds a job behind one a worker is running, as replace does', async () => {
    const chat = unique();
    await recordInbound(db(), message(chat, 'first'));
    const [running] = await drainJobs(chat);
    await database.pool.query(TAKE_JOB, [running!.id]);

    await recordInbound(db(), message(chat, 'while it runs'));
    const jobs = await drainJobs(chat);
    expect(jobs).toHaveLength(2);
    expect(jobs[0]).toMatchObject({ id: running!.id, key: null });
    expect(jobs[0]!.locked_at).not.toBeNull();
    expect(jobs[1]).toMatchObject({ key: keyOf(chat), locked_at: null, attempts: 0 });

    // And that new job is kept for the next message, while it waits.
    await recordInbound(db(), message(chat, 'and another'));
    expect(await drainJobs(chat)).toEqual(jobs);
  });

  it('brings a job scheduled for later forward, and resets a failed one, as replace does', async () => {
    const later = unique();
    // What the drain's retryLater leaves when another drain holds the chat.
    await enqueue(database.prisma, chatInboundTask, payloadOf(later), {
      jobKey: keyOf(later),
      jobKeyMode: 'replace',
      runAt: new Date(Date.now() + 3_600_000),
    });
    const before = Date.now();
    await recordInbound(db(), message(later));
    const [moved] = await drainJobs(later);
    expect(moved!.run_at.getTime()).toBeLessThanOrEqual(Date.now());
    expect(moved!.run_at.getTime()).toBeGreaterThan(before - 60_000);
    expect(moved!.revision).toBe(1);

    const failed = unique();
    await recordInbound(db(), message(failed));
    const [job] = await drainJobs(failed);
    await database.pool.query(
      `UPDATE graphile_worker._private_jobs SET attempts = 2, last_error = 'boom', run_at = now() - interval '1 second'
        WHERE id = $1`,
      [job!.id],
    );
    await recordInbound(db(), message(failed));
    expect(await drainJobs(failed)).toEqual([
      expect.objectContaining({ id: job!.id, attempts: 0, last_error: null, revision: 1 }),
    ]);
  });

  it('adds no job for an event that needs no processing', async () => {
    const chat = unique();
    const ignored = { ...message(chat), eventType: 'edited_message', normalized: null };
    expect(await recordInbound(db(), ignored)).toEqual({ stored: true });
    const failed = { ...message(chat), status: 'FAILED' as const, error: 'unreadable' };
    expect(await recordInbound(db(), failed)).toEqual({ stored: true });
    expect(await drainJobs(chat)).toEqual([]);
    const rows = await database.prisma.inboundEvent.findMany({
      where: { externalChatId: chat },
      orderBy: { sequence: 'asc' },
    });
    expect(rows.map((r) => [r.status, r.error])).toEqual([
      ['IGNORED', null],
      ['FAILED', 'unreadable'],
    ]);
  });

  it('keeps raw bodies as Prisma did: absent is NULL, null is JSON null, and text loses NUL and lone surrogates', async () => {
    const chat = unique();
    const base = { ...message(chat), normalized: null, status: 'FAILED' as const };
    await recordInbound(db(), { ...base, externalId: unique(), raw: undefined, rawText: 'a\u0000b' });
    await recordInbound(db(), { ...base, externalId: unique(), raw: null });
    await recordInbound(db(), {
      ...base,
      externalId: unique(),
      raw: { 'k\u0000': ['\ud800x', 'ok \ud83d\ude00'] },
    });
    const { rows } = await database.pool.query(
      `SELECT raw IS NULL AS sql_null, jsonb_typeof(raw) AS type, raw, raw_text
         FROM inbound_events WHERE external_chat_id = $1 ORDER BY sequence`,
      [chat],
    );
    expect(rows).toEqual([
      { sql_null: true, type: null, raw: null, raw_text: 'a\ufffdb' },
      { sql_null: false, type: 'null', raw: null, raw_text: null },
      { sql_null: false, type: 'object', raw: { 'k\ufffd': ['\ufffdx', 'ok \ud83d\ude00'] }, raw_text: null },
    ]);
  });

  it('waits for a worker taking the job at that moment, then adds a new one behind it', async () => {
    const chat = unique();
    await recordInbound(db(), message(chat, 'first'));
    const [job] = await drainJobs(chat);

    // A worker in the middle of taking the job: its row is locked FOR UPDATE, not yet marked.
    const worker = new pg.Client({ connectionString: database.url });
    await worker.connect();
    try {
      await worker.query('BEGIN');
      await worker.query(
        'SELECT id FROM graphile_worker._private_jobs WHERE id = $1 FOR UPDATE SKIP LOCKED',
        [job!.id],
      );
      const recording = recordInbound(db(), message(chat, 'second'));
      await waitFor(() => waitingOnALock(), 'the webhook statement to wait for the job row');
      await worker.query(TAKE_JOB, [job!.id]);
      await worker.query('COMMIT');
      expect(await recording).toEqual({ stored: true });
    } finally {
      await worker.end();
    }
    const jobs = await drainJobs(chat);
    expect(jobs.map((j) => [j.id === job!.id, j.key, j.locked_at === null])).toEqual([
      [true, null, false],
      [false, keyOf(chat), true],
    ]);
  });

  it('adds a job behind one a worker takes while add_job runs, where add_job alone adds none', async () => {
    const chat = unique();
    // A job not yet due (a drain's retryLater), so the statement calls add_job.
    await enqueue(database.prisma, chatInboundTask, payloadOf(chat), {
      jobKey: keyOf(chat),
      jobKeyMode: 'replace',
      runAt: new Date(Date.now() + 3_600_000),
    });
    const [job] = await drainJobs(chat);
    const hold = await holdJobInserts(keyOf(chat));
    const worker = new pg.Client({ connectionString: database.url });
    await worker.connect();
    try {
      const recording = recordInbound(db(), message(chat));
      // add_job has cleared the keys of running jobs (none) and waits to upsert: a worker takes the job now.
      await waitFor(() => waitingOn('advisory'), 'add_job to reach its upsert');
      await worker.query('BEGIN');
      await worker.query(TAKE_JOB, [job!.id]);
      await hold.release();
      await waitFor(() => waitingOn('transactionid'), 'the upsert to wait for the worker');
      await worker.query('COMMIT');
      expect(await recording).toEqual({ stored: true });
    } finally {
      await worker.end();
      await hold.drop();
    }
    const jobs = await drainJobs(chat);
    expect(jobs.map((j) => [j.id === job!.id, j.key, j.locked_at === null])).toEqual([
      [true, null, false],
      [false, keyOf(chat), true],
    ]);
  });

  it('holds the job it keeps until the event is committed: a worker skips it meanwhile', async () => {
    const chat = unique();
    await recordInbound(db(), message(chat, 'first'));
    const [job] = await drainJobs(chat);

    // Hold this chat's next insert open at its commit, after the statement has done everything
    // else: a deferred trigger waits for an advisory lock the test holds.
    const hold = await holdCommitOf(
      database,
      'inbound_events',
      `NEW.external_chat_id = ${pg.escapeLiteral(chat)}`,
    );
    const worker = new pg.Client({ connectionString: database.url });
    await worker.connect();
    try {
      const recording = recordInbound(db(), message(chat, 'second'));
      await hold.held();
      // Not committed yet: a worker looking for work now passes over the chat's job.
      const meanwhile = await worker.query(
        'SELECT id FROM graphile_worker._private_jobs WHERE id = $1 FOR UPDATE SKIP LOCKED',
        [job!.id],
      );
      expect(meanwhile.rows).toEqual([]);
      await hold.release();
      expect(await recording).toEqual({ stored: true });
      // Committed: the job is there to take, and the drain it runs reads both messages.
      await worker.query('BEGIN');
      const taken = await worker.query(
        'SELECT id::text FROM graphile_worker._private_jobs WHERE id = $1 FOR UPDATE SKIP LOCKED',
        [job!.id],
      );
      expect(taken.rows).toEqual([{ id: job!.id }]);
      await worker.query('ROLLBACK');
    } finally {
      await hold.release();
      await worker.end();
    }
    expect(await drainJobs(chat)).toEqual([job]);
    const pending = await database.prisma.inboundEvent.findMany({
      where: { externalChatId: chat, status: 'PENDING' },
      orderBy: { sequence: 'asc' },
    });
    expect(pending.map((e) => (e.normalized as { text: string }).text)).toEqual(['first', 'second']);
  });
});
