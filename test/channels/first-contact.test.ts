/**
 * A person's first message (`resolveSender` finding no identity): the person, their identity, their
 * consumer agent with its registration job and the chat are written by one statement, and two
 * drains making the same person at once leave one of each. The race is made to happen, not hoped
 * for: a lock on the identities table holds both drains' writes until both are waiting on it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentSigningSecret, firstKid } from '../../src/domain/agents/agents.ts';
import { generateKeyringSpec, parseKeyring } from '../../src/domain/agents/secrets.ts';
import { resolveSender } from '../../src/domain/channels/inbound.ts';
import type { NormalizedMessage } from '../../src/domain/channels/normalized.ts';
import { inboundText } from '../factories/inbound.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { waitFor } from '../helpers/jobs.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());

const keyring = parseKeyring(generateKeyringSpec());
const ACCOUNT = 'agnt-first-contact';
const unique = () => `7${BigInt(`0x${randomBytes(5).toString('hex')}`)}`;

/** A text in `chat` from the person `sender`, who calls themselves `name`, their app in `language`. */
function message(
  chat: string,
  sender: string,
  name: string,
  language: string | null = 'pt',
): NormalizedMessage {
  const { normalized } = inboundText({ account: ACCOUNT, chat, id: unique(), text: 'hello' });
  return { ...normalized!, sender: { externalId: sender, displayName: name, language } };
}

async function count(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, values);
  return rows[0]!.n;
}

/** Every row the person named `name` left: users by that name, their identities, agents, chats, jobs. */
async function rowsOf(name: string, sender: string) {
  const users = await database.pool.query<{ id: string }>(
    'SELECT id::text FROM users WHERE display_name = $1',
    [name],
  );
  const userIds = users.rows.map((r) => r.id);
  return {
    users: userIds.length,
    identities: await count("channel_identities WHERE platform = 'TELEGRAM' AND external_id = $1", [sender]),
    agents: await count('agents WHERE user_id = ANY($1::uuid[])', [userIds]),
    chats: await count('chats WHERE user_id = ANY($1::uuid[])', [userIds]),
    registrations: await count(
      `graphile_worker._private_jobs AS jobs
       JOIN agents ON jobs.key = 'agent-register:' || agents.id::text
       WHERE agents.user_id = ANY($1::uuid[])`,
      [userIds],
    ),
  };
}

/** What `rowsOf` finds of one person with their agent and its registration job, in `chats` chats. */
const onePerson = (chats: number) => ({ users: 1, identities: 1, agents: 1, chats, registrations: 1 });

/** Registration jobs for agents that do not exist: what a loser of the race must not leave. */
function strayRegistrations(): Promise<number> {
  return count(
    `graphile_worker._private_jobs AS jobs
     JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
     WHERE tasks.identifier = 'agent-register'
       AND NOT EXISTS (SELECT FROM agents WHERE agents.id::text = jobs.payload->>'agentId')`,
    [],
  );
}

/**
 * Runs `resolveSender` for each message at once, with their writes held back until all of them
 * wait to write the identity (so every one found no person and tries to make them).
 */
async function atOnce(messages: NormalizedMessage[]) {
  const lock = await database.pool.connect();
  try {
    await lock.query('BEGIN');
    // SHARE lets the reads through and makes every INSERT wait.
    await lock.query('LOCK TABLE channel_identities IN SHARE MODE');
    const resolved = Promise.all(messages.map((m) => resolveSender(database.prisma, keyring, m)));
    await waitFor(
      async () =>
        (await count(
          `pg_locks WHERE NOT granted AND relation = 'channel_identities'::regclass
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [],
        )) === messages.length,
      'every first contact to wait for the identities table',
    );
    await lock.query('COMMIT');
    return await resolved;
  } finally {
    lock.release();
  }
}

describe('a first contact', () => {
  it('makes the person, their identity, agent, registration job and chat in one statement and one commit', async () => {
    const sender = unique();
    const name = `Ana ${sender}`;
    const sent = message(sender, sender, name);
    const statements: string[] = [];
    const stop = database.onQuery(({ query }) => void statements.push(query));
    const made = await resolveSender(database.prisma, keyring, sent).finally(stop);

    // The identity read (no one yet), then the write: no BEGIN or COMMIT of Prisma's.
    expect(statements, statements.join('\n')).toHaveLength(2);
    expect(made.touch).toBeNull();
    expect(await rowsOf(name, sender)).toEqual(onePerson(1));
    const { rows } = await database.pool.query<{ xid: string }>(
      `SELECT xmin::text AS xid FROM users WHERE id = $1
       UNION SELECT xmin::text FROM channel_identities WHERE id = $2
       UNION SELECT xmin::text FROM agents WHERE id = $3
       UNION SELECT xmin::text FROM chats WHERE id = $4
       UNION SELECT xmin::text FROM graphile_worker._private_jobs WHERE key = 'agent-register:' || $3`,
      [made.userId, made.identityId, made.agentId, made.chatId],
    );
    expect(rows).toHaveLength(1);

    const agent = await database.prisma.agent.findUniqueOrThrow({ where: { id: made.agentId } });
    expect(agent).toMatchObject({ kind: 'CONSUMER', userId: made.userId, signingKid: firstKid(agent.id) });
    expect(await agentSigningSecret(database.prisma, keyring, agent.id)).toHaveLength(32);
    const chat = await database.prisma.chat.findUniqueOrThrow({ where: { id: made.chatId } });
    expect(chat).toMatchObject({ userId: made.userId, externalChatId: sender, unreachableAt: null });
    expect(chat.lastInboundAt).toEqual(new Date(sent.sentAt));
    // The language their app is set to, which their notices are written in.
    expect(await database.prisma.user.findUniqueOrThrow({ where: { id: made.userId } })).toMatchObject({
      language: 'pt',
    });
  });

  it('keeps the language the platform gives as a tag, and none that is not one', async () => {
    for (const [given, kept] of [
      ['pt-br', 'pt-BR'],
      ['EN', 'en'],
      ['not a language', null],
      [null, null],
    ] as const) {
      const sender = unique();
      const made = await resolveSender(
        database.prisma,
        keyring,
        message(sender, sender, `Bo ${sender}`, given),
      );
      expect((await database.prisma.user.findUniqueOrThrow({ where: { id: made.userId } })).language).toBe(
        kept,
      );
    }
  });

  it('leaves one person when two of their chats arrive at once: the loser takes theirs and writes no spare row', async () => {
    const sender = unique();
    const name = `Rui ${sender}`;
    const [a, b] = await atOnce([message(sender, sender, name), message(unique(), sender, name)]);

    expect(b).toMatchObject({ userId: a!.userId, identityId: a!.identityId, agentId: a!.agentId });
    expect(b!.chatId).not.toBe(a!.chatId);
    expect(await rowsOf(name, sender)).toEqual(onePerson(2));
    expect(await strayRegistrations()).toBe(0);
  });

  it('leaves one person and one chat when three drains resolve the same message at once', async () => {
    const sender = unique();
    const name = `Eva ${sender}`;
    const sent = message(sender, sender, name);
    const [a, ...others] = await atOnce([sent, sent, sent]);

    for (const other of others) {
      expect(other).toMatchObject({
        userId: a!.userId,
        identityId: a!.identityId,
        agentId: a!.agentId,
        chatId: a!.chatId,
      });
    }
    expect(await rowsOf(name, sender)).toEqual(onePerson(1));
    expect(await strayRegistrations()).toBe(0);
  });

  it('keeps a chat that exists as it is, someone else’s, stamped and reachable again', async () => {
    const chatId = unique();
    const first = await resolveSender(database.prisma, keyring, message(chatId, unique(), 'Owner'));
    await database.prisma.chat.update({
      where: { id: first.chatId },
      data: { unreachableAt: new Date(), unreachableReason: 'blocked' },
    });

    const sender = unique();
    const sent = message(chatId, sender, `Guest ${sender}`);
    const made = await resolveSender(database.prisma, keyring, sent);

    expect(made.userId).not.toBe(first.userId);
    expect(made.chatId).toBe(first.chatId);
    expect(await database.prisma.chat.findUniqueOrThrow({ where: { id: first.chatId } })).toMatchObject({
      userId: first.userId,
      lastInboundAt: new Date(sent.sentAt),
      unreachableAt: null,
      unreachableReason: null,
    });
  });
});
