/**
 * What a drained message commits, counted on the database itself: every row a transaction writes
 * carries that transaction's id (`xmin`), so the distinct ids on the rows written since a drain
 * began are the drain's writing commits (each a WAL flush the webhooks' batches wait behind).
 * The statements are Prisma's own, heard through `Database.onQuery`; the advisory lock's two run
 * on the pool beside them. No worker runs here: the drain is called as the chat's job calls it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyringSpec, parseKeyring } from '../../src/domain/agents/secrets.ts';
import {
  type DrainDeps,
  drainChat,
  type InboundHandler,
  recordInbound,
} from '../../src/domain/channels/inbound.ts';
import type { NormalizedMessage } from '../../src/domain/channels/normalized.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inboundText } from '../factories/inbound.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const ACCOUNT = 'agnt-drain';
const unique = () => `7${BigInt(`0x${randomBytes(5).toString('hex')}`)}`;

/** A text from the person `sender` (by default the chat's own, a private chat). */
async function receive(chat: string, sender = chat): Promise<string> {
  const id = unique();
  const record = inboundText({ account: ACCOUNT, chat, id, text: 'hello' });
  (record.normalized as { sender: NormalizedMessage['sender'] }).sender.externalId = sender;
  await recordInbound(database, record);
  const { rows } = await database.pool.query<{ id: string }>(
    'SELECT id::text FROM inbound_events WHERE account = $1 AND external_id = $2',
    [ACCOUNT, id],
  );
  return rows[0]!.id;
}

function deps(handler: InboundHandler): DrainDeps {
  return {
    database,
    keyring: parseKeyring(generateKeyringSpec()),
    logger: createLogger('silent'),
    handler,
  };
}

const chatOf = (externalChatId: string) => ({
  platform: 'TELEGRAM' as const,
  account: ACCOUNT,
  externalChatId,
});

/** The next transaction id, as the rows' `xmin` spells it (the low 32 bits). */
async function nextXid(): Promise<bigint> {
  const { rows } = await database.pool.query<{ xid: string }>(
    'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid',
  );
  return BigInt(rows[0]!.xid) % 2n ** 32n;
}

const WRITTEN_TABLES = [
  'users',
  'channel_identities',
  'agents',
  'chats',
  'inbound_events',
  'outbound_messages',
  'graphile_worker._private_jobs',
];

/** Per table, the transactions that left rows in it since `since` (one entry per row). */
async function writtenSince(since: bigint): Promise<Record<string, string[]>> {
  const written: Record<string, string[]> = {};
  for (const table of WRITTEN_TABLES) {
    const { rows } = await database.pool.query<{ xid: string }>(
      `SELECT xmin::text AS xid FROM ${table} WHERE xmin::text::bigint >= $1 ORDER BY 1`,
      [since.toString()],
    );
    if (rows.length) written[table] = rows.map((r) => r.xid);
  }
  return written;
}

/** Drains the chat with `handler`, returning Prisma's statements and the writing commits. */
async function drainCounted(chat: string, handler: InboundHandler) {
  const since = await nextXid();
  const statements: string[] = [];
  const stop = database.onQuery(({ query }) => void statements.push(query));
  try {
    const outcome = await drainChat(deps(handler), chatOf(chat));
    expect(outcome).toEqual({ processed: 1, retryAfterMs: null });
  } finally {
    stop();
  }
  const written = await writtenSince(since);
  return { statements, written, commits: new Set(Object.values(written).flat()).size };
}

async function chatRow(chat: string) {
  const { rows } = await database.pool.query<{
    id: string;
    last_inbound_at: Date | null;
    unreachable_at: Date | null;
  }>(
    'SELECT id::text, last_inbound_at, unreachable_at FROM chats WHERE account = $1 AND external_chat_id = $2',
    [ACCOUNT, chat],
  );
  return rows[0];
}

async function eventRow(id: string) {
  const { rows } = await database.pool.query<{ status: string; processed_at: Date | null }>(
    'SELECT status::text, processed_at FROM inbound_events WHERE id = $1',
    [id],
  );
  return rows[0]!;
}

const quiet: InboundHandler = async () => {};

describe('draining a chat', () => {
  it('commits a known sender’s message once: the chat’s stamp and the event’s mark in one statement', async () => {
    const chat = unique();
    await receive(chat);
    await drainCounted(chat, quiet);
    const before = (await chatRow(chat))!;

    const event = await receive(chat);
    const { statements, written, commits } = await drainCounted(chat, quiet);

    // The page, the sender with their agent and latest chat, and the final statement.
    expect(statements).toHaveLength(3);
    expect(commits).toBe(1);
    expect(Object.keys(written).sort()).toEqual(['chats', 'inbound_events']);
    expect(written.chats).toEqual(written.inbound_events);
    expect(await eventRow(event)).toMatchObject({ status: 'PROCESSED' });
    const after = (await chatRow(chat))!;
    expect(after.id).toBe(before.id);
    expect(after.last_inbound_at!.getTime()).toBeGreaterThanOrEqual(before.last_inbound_at!.getTime());
  });

  it('never moves a chat’s last message back: an older message handled after a newer one leaves it', async () => {
    const chat = unique();
    await receive(chat);
    await drainChat(deps(quiet), chatOf(chat));
    // A newer message was handled already (its time is later than the one about to be drained).
    const newer = new Date(Date.now() + 3_600_000);
    await database.pool.query('UPDATE chats SET last_inbound_at = $2 WHERE external_chat_id = $1', [
      chat,
      newer,
    ]);
    await receive(chat);
    await drainChat(deps(quiet), chatOf(chat));
    expect((await chatRow(chat))!.last_inbound_at).toEqual(newer);
    // The same when the chat is written before the handler (it was marked unreachable).
    await database.pool.query(`UPDATE chats SET unreachable_at = now() WHERE external_chat_id = $1`, [chat]);
    await receive(chat);
    await drainChat(deps(quiet), chatOf(chat));
    expect(await chatRow(chat)).toMatchObject({ last_inbound_at: newer, unreachable_at: null });
  });

  it('begins no next message once the process is stopping: the rest keep their place for the next drain', async () => {
    const chat = unique();
    const [first, second] = [await receive(chat), await receive(chat)];
    const stopping = new AbortController();
    // The first message is being handled when the stop comes.
    const handler: InboundHandler = async () => {
      stopping.abort();
    };
    const outcome = await drainChat({ ...deps(handler), signal: stopping.signal }, chatOf(chat));
    expect(outcome).toEqual({ processed: 1, retryAfterMs: 0 });
    expect(await eventRow(first)).toMatchObject({ status: 'PROCESSED' });
    expect(await eventRow(second)).toMatchObject({ status: 'PENDING' });
    expect(await drainChat(deps(quiet), chatOf(chat))).toEqual({ processed: 1, retryAfterMs: null });
  });

  it('commits a first contact twice: the person, their agent and the chat together, then the mark', async () => {
    const chat = unique();
    const event = await receive(chat);
    const { statements, written, commits } = await drainCounted(chat, quiet);

    // The page, the sender (none yet); the user, the identity, the agent, its registration job and
    // the chat in one statement; the final statement.
    expect(statements, statements.join('\n')).toHaveLength(4);
    expect(commits).toBe(2);
    // The person's rows and their agent's registration job share one commit; the event its own.
    const made = new Set([
      ...written.users!,
      ...written.channel_identities!,
      ...written.agents!,
      ...written.chats!,
      ...written['graphile_worker._private_jobs']!,
    ]);
    expect(made.size).toBe(1);
    expect(made.has(written.inbound_events![0]!)).toBe(false);
    expect(await eventRow(event)).toMatchObject({ status: 'PROCESSED' });
  });

  it('stamps the chat before the handler when its replies need it: unreachable, window closing, not the latest', async () => {
    const seen: Array<{ lastInboundAt: number; reachable: boolean }> = [];
    const looking: InboundHandler = async (message) => {
      const row = (await chatRow(message.externalChatId))!;
      seen.push({ lastInboundAt: row.last_inbound_at!.getTime(), reachable: row.unreachable_at === null });
    };
    const sentAt = async (event: string) => {
      const { rows } = await database.pool.query<{ at: string }>(
        `SELECT normalized->>'sentAt' AS at FROM inbound_events WHERE id = $1`,
        [event],
      );
      return new Date(rows[0]!.at).getTime();
    };

    // Unreachable (the person had blocked the bot): speaking again makes it reachable, before the reply.
    const blocked = unique();
    await receive(blocked);
    await drainChat(deps(quiet), chatOf(blocked));
    await database.pool.query(
      `UPDATE chats SET unreachable_at = now(), unreachable_reason = 'blocked' WHERE external_chat_id = $1`,
      [blocked],
    );
    const again = await receive(blocked);
    const counted = await drainCounted(blocked, looking);
    expect(seen.at(-1)).toEqual({ lastInboundAt: await sentAt(again), reachable: true });
    expect(counted.commits).toBe(2);

    // Its window closing within the hour: opened again before the reply.
    const closing = unique();
    await receive(closing);
    await drainChat(deps(quiet), chatOf(closing));
    await database.pool.query(
      `UPDATE chats SET last_inbound_at = now() - interval '23 hours 30 minutes' WHERE external_chat_id = $1`,
      [closing],
    );
    const late = await receive(closing);
    expect((await drainCounted(closing, looking)).commits).toBe(2);
    expect(seen.at(-1)).toEqual({ lastInboundAt: await sentAt(late), reachable: true });

    // Their own chat, after they spoke in a group (their latest chat now): stamped before the
    // reply, so their notices follow them back.
    const person = unique();
    await receive(person);
    await drainChat(deps(quiet), chatOf(person));
    const group = `-${unique()}`;
    await receive(group, person);
    await drainChat(deps(quiet), chatOf(group));
    const back = await receive(person);
    expect((await drainCounted(person, looking)).commits).toBe(2);
    expect(seen.at(-1)).toEqual({ lastInboundAt: await sentAt(back), reachable: true });
  });

  it('keeps a message hit by a passing database fault waiting, and fails one the data refuses', async () => {
    const chat = unique();
    const waiting = await receive(chat);
    let calls = 0;
    // The handler's first try meets a deadlock (the database's own error), the second succeeds.
    const deadlocked: InboundHandler = async () => {
      calls += 1;
      if (calls === 1) {
        await database.prisma.$executeRawUnsafe(
          `DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$`,
        );
      }
    };
    expect(await drainChat(deps(deadlocked), chatOf(chat))).toEqual({ processed: 0, retryAfterMs: 5_000 });
    expect(await eventRow(waiting)).toMatchObject({ status: 'PENDING' });
    expect(await drainChat(deps(deadlocked), chatOf(chat))).toEqual({ processed: 1, retryAfterMs: null });
    expect(await eventRow(waiting)).toMatchObject({ status: 'PROCESSED' });
    // A value the database refuses fails the message, as before: trying again would not help.
    const refused = await receive(chat);
    const refusing: InboundHandler = async () => {
      await database.prisma.$executeRawUnsafe(
        `DO $$ BEGIN RAISE EXCEPTION 'duplicate key' USING ERRCODE = '23505'; END $$`,
      );
    };
    expect(await drainChat(deps(refusing), chatOf(chat))).toEqual({ processed: 1, retryAfterMs: null });
    expect(await eventRow(refused)).toMatchObject({ status: 'FAILED' });
  });

  it('leaves the event pending and the chat as it was when the final commit fails, and handles it once more', async () => {
    const chat = unique();
    await receive(chat);
    await drainChat(deps(quiet), chatOf(chat));
    const before = (await chatRow(chat))!;
    const event = await receive(chat);

    // The event's mark fails (as a crash before its commit would lose it): nothing of it stays.
    await database.pool.query(`
      CREATE FUNCTION test_refuse_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused'; END $$;
      CREATE TRIGGER test_refuse_mark BEFORE UPDATE ON inbound_events
        FOR EACH ROW WHEN (NEW.id = '${event}') EXECUTE FUNCTION test_refuse_mark()`);
    let handled = 0;
    const counting: InboundHandler = async () => {
      handled += 1;
    };
    try {
      await expect(drainChat(deps(counting), chatOf(chat))).rejects.toThrow(/refused/);
    } finally {
      await database.pool.query(
        'DROP TRIGGER test_refuse_mark ON inbound_events; DROP FUNCTION test_refuse_mark()',
      );
    }
    expect(handled).toBe(1);
    expect(await eventRow(event)).toMatchObject({ status: 'PENDING', processed_at: null });
    expect((await chatRow(chat))!.last_inbound_at).toEqual(before.last_inbound_at);

    // The next drain handles it again, and marks it and stamps the chat together.
    const { commits, written } = await drainCounted(chat, counting);
    expect(handled).toBe(2);
    expect(commits).toBe(1);
    expect(written.chats).toEqual(written.inbound_events);
    expect(await eventRow(event)).toMatchObject({ status: 'PROCESSED' });
  });
});
