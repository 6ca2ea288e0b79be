/**
 * The chat webhooks' group commit (src/platform/group-commit.ts): events recorded within the
 * batch window commit in one transaction, each caller hears of its event only after that commit,
 * a chat's events keep their order, and a batch that fails stores nothing and fails every caller.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chatInboundTask,
  type InboundRecord,
  inboundStatement,
  recordChannelEvents,
  recordInbound,
} from '../../src/domain/channels/inbound.ts';
import { type GroupCommit, groupCommit } from '../../src/platform/group-commit.ts';
import { defineTask } from '../../src/platform/jobs.ts';
import { providerEventPayload, recordProviderEvent } from '../../src/platform/provider-events.ts';
import { inboundText } from '../factories/inbound.ts';
import { holdCommitOf } from '../helpers/batches.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { waitFor } from '../helpers/jobs.ts';

let database: TestDatabase;
let inbound: GroupCommit;
beforeAll(async () => {
  database = await createTestDatabase();
  // Everything a test submits in one turn of the event loop lands in one batch.
  inbound = groupCommit(database.pipelined, { windowMs: 50, maxStatements: 1000 });
});
afterAll(() => database.drop());

const ACCOUNT = 'agnt';
const unique = () => randomBytes(6).toString('hex');
const message = (chat: string, text = 'hello'): InboundRecord =>
  inboundText({ account: ACCOUNT, chat, id: unique(), text });

/** The chats' stored events: the transaction that wrote each, in the chat's order. */
async function stored(chats: string[]) {
  const { rows } = await database.pool.query<{ chat: string; id: string; xid: string }>(
    `SELECT external_chat_id AS chat, external_id AS id, xmin::text AS xid
       FROM inbound_events WHERE external_chat_id = ANY($1::text[]) ORDER BY sequence`,
    [chats],
  );
  return rows;
}

async function drainJobCount(chat: string): Promise<number> {
  const { rows } = await database.pool.query(
    `SELECT 1 FROM graphile_worker._private_jobs AS jobs
       JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
      WHERE jobs.payload->>'externalChatId' = $1 AND tasks.identifier = $2 AND jobs.key IS NOT NULL`,
    [chat, chatInboundTask.name],
  );
  return rows.length;
}

describe('recording inbound events through a group commit', () => {
  it('commits concurrent events in one transaction, each chat’s in order, each once, one drain job per chat', async () => {
    const chats = [unique(), unique(), unique()];
    const events = chats.flatMap((chat) => [1, 2, 3].map((n) => message(chat, `m${n}`)));
    const redelivered = events[4]!;
    const results = await Promise.all([
      ...events.map((event) => recordInbound(inbound, event)),
      recordInbound(inbound, redelivered),
    ]);
    expect(results.map((r) => r.stored)).toEqual([...events.map(() => true), false]);

    const rows = await stored(chats);
    expect(new Set(rows.map((r) => r.xid)).size).toBe(1);
    for (const chat of chats) {
      expect(rows.filter((r) => r.chat === chat).map((r) => r.id)).toEqual(
        events.filter((e) => e.externalChatId === chat).map((e) => e.externalId),
      );
      expect(await drainJobCount(chat)).toBe(1);
    }
  });

  it('keeps one delivery’s events together and in order', async () => {
    const chat = unique();
    const events = [message(chat, 'a'), message(chat, 'b'), message(chat, 'c')];
    const counts = await recordChannelEvents(
      { database, inbound },
      events.map((record) => ({ record })),
    );
    expect(counts).toMatchObject({ stored: 3, duplicates: 0, messages: 3 });
    expect((await stored([chat])).map((r) => r.id)).toEqual(events.map((e) => e.externalId));
  });

  it('answers no caller before the batch is committed', async () => {
    const chat = unique();
    // Holds the batch at its commit: a deferred trigger waits for a lock the test holds.
    const held = await holdCommitOf(database, 'inbound_events', `NEW.external_chat_id = '${chat}'`);
    try {
      let answered = 0;
      const recording = Promise.all(
        [message(chat, 'one'), message(unique(), 'two')].map((event) =>
          recordInbound(inbound, event).then((result) => {
            answered += 1;
            return result;
          }),
        ),
      );
      await held.held();
      expect(answered).toBe(0);
      expect(await stored([chat])).toEqual([]);
      await held.release();
      expect((await recording).map((r) => r.stored)).toEqual([true, true]);
    } finally {
      await held.release();
    }
  });

  it('numbers a chat’s event only once an earlier batch holding that chat has committed', async () => {
    const chat = unique();
    const other = unique();
    const lastNumber = async () =>
      (
        await database.pool.query<{ n: string }>(
          `SELECT last_value::text AS n FROM pg_sequences
            WHERE schemaname = 'public' AND sequencename = 'inbound_events_sequence_seq'`,
        )
      ).rows[0]!.n;
    // The first batch, with the chat's first event, is held at its commit.
    const held = await holdCommitOf(
      database,
      'inbound_events',
      `NEW.external_chat_id = '${chat}' AND NEW.external_id LIKE 'first-%'`,
    );
    try {
      const first = recordInbound(inbound, { ...message(chat, 'one'), externalId: `first-${unique()}` });
      await held.held();
      const numbered = await lastNumber();
      // The chat's next event goes in a batch of its own once the window is out, and waits for
      // the chat; another chat's event in the same batch waits with it.
      const second = recordInbound(inbound, message(chat, 'two'));
      const elsewhere = recordInbound(inbound, message(other, 'three'));
      const waiters = async () =>
        (
          await database.pool.query(
            `SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'
                AND pid <> pg_backend_pid()`,
          )
        ).rows.length;
      await waitFor(async () => (await waiters()) === 2, 'the second batch to wait for the chat');
      expect(await lastNumber()).toBe(numbered);
      await held.release();
      expect((await Promise.all([first, second, elsewhere])).map((r) => r.stored)).toEqual([
        true,
        true,
        true,
      ]);
      const rows = await stored([chat]);
      expect(rows.map((r) => r.id)[0]).toMatch(/^first-/);
      expect(rows).toHaveLength(2);
    } finally {
      await held.release();
    }
  });

  it('fails every caller of a batch that fails, and stores none of it', async () => {
    const chats = [unique(), unique()];
    const good = chats.map((chat) => message(chat));
    // No external id: the column refuses it, and with it the whole batch.
    const bad = { ...message(chats[0]!), externalId: null as unknown as string };
    const results = await Promise.allSettled([
      recordInbound(inbound, good[0]!),
      recordInbound(inbound, bad),
      recordInbound(inbound, good[1]!),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(await stored(chats)).toEqual([]);
    // The connection went back to the pool usable, and the provider's redelivery is stored.
    expect(
      (await Promise.all(good.map((event) => recordInbound(inbound, event)))).map((r) => r.stored),
    ).toEqual([true, true]);
  });

  it('stores nothing of a batch whose statement in the middle fails, though those after it were already sent', async () => {
    const chat = unique();
    const [first, last] = [message(chat, 'first'), message(chat, 'last')];
    const bad = { ...message(chat, 'bad'), externalId: null as unknown as string };
    // One submission keeps its order: the failing statement goes between two good ones, all
    // three written to the connection before PostgreSQL has answered the first.
    await expect(inbound.query([first, bad, last].map(inboundStatement))).rejects.toThrow(/external_id/);
    expect(await stored([chat])).toEqual([]);
    expect(await drainJobCount(chat)).toBe(0);
    expect(await recordInbound(inbound, last)).toEqual({ stored: true });
  });

  it('stores nothing of a batch one of whose statements `pg` cannot even send', async () => {
    const chat = unique();
    const [first, last] = [message(chat, 'first'), message(chat, 'last')];
    // A value that fails as it is turned into bytes. Sent in one write with the others and a
    // COMMIT, the statement would be the one missing from a healthy transaction that commits
    // the rest; the batch fails before any of it is sent instead.
    const unsendable = inboundStatement(message(chat, 'unsendable'));
    const values = [...unsendable.values];
    values[values.length - 1] = {
      toPostgres() {
        throw new Error('cannot be sent');
      },
    };
    await expect(
      inbound.query([inboundStatement(first), { ...unsendable, values }, inboundStatement(last)]),
    ).rejects.toThrow('cannot be sent');
    expect(await stored([chat])).toEqual([]);
    expect(await drainJobCount(chat)).toBe(0);
    // The next batches store as usual.
    const again = await Promise.all([first, last].map((event) => recordInbound(inbound, event)));
    expect(again.map((r) => r.stored)).toEqual([true, true]);
  });

  it('stores an update whose ids are longer than their index holds with the rest of its batch, and knows it when sent again', async () => {
    const chat = unique();
    const long = { ...message(`${chat}${'c'.repeat(6_000)}`), externalId: `${unique()}${'i'.repeat(6_000)}` };
    const others = [message(chat, 'a'), message(chat, 'b')];
    const results = await Promise.all([long, ...others].map((event) => recordInbound(inbound, event)));
    expect(results.map((r) => r.stored)).toEqual([true, true, true]);
    expect((await stored([chat])).map((r) => r.id)).toEqual(others.map((e) => e.externalId));
    const { rows } = await database.pool.query<{ id: string; chat: string }>(
      `SELECT external_id AS id, external_chat_id AS chat FROM inbound_events WHERE external_id LIKE 'sha256:%'
        AND external_chat_id LIKE 'sha256:%'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await recordInbound(inbound, long)).stored).toBe(false);
  });

  it("stores a provider's event whose id holds a NUL with the rest of its batch, all of it in one transaction", async () => {
    const task = defineTask({ name: `test-provider-event-${unique()}`, schema: providerEventPayload });
    const provider = `test-${unique()}`;
    const event = { provider, eventId: 'evt_\u0000x', eventType: 'thing.happened', payload: {} };
    const chat = unique();
    const others = [message(chat, 'a'), message(chat, 'b')];
    const results = await Promise.all([
      recordProviderEvent(inbound, event, task),
      ...others.map((e) => recordInbound(inbound, e)),
    ]);
    expect(results.map((r) => r.stored)).toEqual([true, true, true]);
    const { rows } = await database.pool.query<{ xid: string }>(
      `SELECT xmin::text AS xid FROM provider_events WHERE provider = $1
        UNION ALL SELECT xmin::text FROM inbound_events WHERE external_chat_id = $2`,
      [provider, chat],
    );
    expect(rows).toHaveLength(3);
    expect(new Set(rows.map((r) => r.xid)).size).toBe(1);
    expect((await recordProviderEvent(inbound, event, task)).stored).toBe(false);
  });

  it('refuses a pool whose connections do not pipeline', () => {
    expect(() => groupCommit(database.pool, { windowMs: 0, maxStatements: 1 })).toThrow(/pipelined pool/);
  });

  it('commits at once when nothing else is committing, without waiting out the window', async () => {
    const idle = groupCommit(database.pipelined, { windowMs: 600_000, maxStatements: 1000 });
    const chat = unique();
    expect(await recordInbound(idle, message(chat))).toEqual({ stored: true });
    // What arrives while a batch commits waits for it (not the window), then goes together.
    const first = recordInbound(idle, message(chat, 'a'));
    await new Promise((resolve) => setImmediate(resolve));
    const more = [message(chat, 'b'), message(chat, 'c')].map((event) => recordInbound(idle, event));
    expect((await Promise.all([first, ...more])).map((r) => r.stored)).toEqual([true, true, true]);
    const rows = await stored([chat]);
    expect(rows).toHaveLength(4);
    expect(rows[2]!.xid).toBe(rows[3]!.xid);
  });

  it('with a window of 0 commits each event on its own', async () => {
    const alone = groupCommit(database.pipelined, { windowMs: 0, maxStatements: 1000 });
    const chat = unique();
    await Promise.all([message(chat, 'x'), message(chat, 'y')].map((event) => recordInbound(alone, event)));
    const rows = await stored([chat]);
    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((r) => r.xid)).size).toBe(2);
  });
});
