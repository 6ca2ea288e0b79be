/**
 * Chat messages that could not be handled, as operators meet them over GraphQL: a platform admin
 * lists them with their errors (never what they say), newest first and by channel, and hands one
 * back to its chat, whose drain then handles it as a new message; everyone else is refused, and a
 * message that is not failed, or was never readable, is not retried. The drains are the chat
 * job's own (`drainChat`), called here as the job calls them.
 */
import { randomBytes } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyringSpec, parseKeyring } from '../../src/domain/agents/secrets.ts';
import {
  chatKey,
  type DrainDeps,
  drainChat,
  ERROR_CHARS,
  type InboundHandler,
  recordInbound,
} from '../../src/domain/channels/inbound.ts';
import { errorSummary } from '../../src/domain/operations/failed-inbound.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { inboundText } from '../factories/inbound.ts';
import { graphql } from '../generated/gql.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors } from '../helpers/authz.ts';

let app: TestApp;
let actors: Actors;
beforeAll(async () => {
  app = await startTestApp();
  actors = await createActors(app);
});
afterAll(() => app?.close());

const FailedMessages = graphql(`
  query FailedInboundMessages($channel: ChatChannel, $first: Int, $after: String) {
    failedInboundMessages(channel: $channel, first: $first, after: $after) {
      edges { node { id channel account externalChatId eventType status error receivedAt processedAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const RetryMessage = graphql(`
  mutation RetryInboundMessage($id: ID!) {
    retryInboundMessage(input: { inboundMessageId: $id }) {
      __typename
      ... on RetryInboundMessagePayload { inboundMessage { id status error processedAt } }
      ... on Error { message }
    }
  }
`);

const ACCOUNT = `agnt-failed-${randomBytes(3).toString('hex')}`;
const unique = () => `7${BigInt(`0x${randomBytes(5).toString('hex')}`)}`;
const gid = (id: string) => encodeGlobalID('InboundMessage', id);

async function receive(chat: string, text = 'a table for two tonight?'): Promise<string> {
  const id = unique();
  await recordInbound(app.services.db, inboundText({ account: ACCOUNT, chat, id, text }));
  const row = await app.services.db.inboundEvent.findFirstOrThrow({
    where: { account: ACCOUNT, externalId: id },
  });
  return row.id;
}

function drain(chat: string, handler: InboundHandler) {
  const deps: DrainDeps = {
    database: app.services.database,
    keyring: parseKeyring(generateKeyringSpec()),
    logger: createLogger('silent'),
    handler,
  };
  return drainChat(deps, { platform: 'TELEGRAM', account: ACCOUNT, externalChatId: chat });
}

const failing: InboundHandler = async () => {
  throw new Error('the venue search index is missing');
};

async function failedIds(token: string, channel?: 'TELEGRAM' | 'WHATSAPP') {
  const res = await app.gql(FailedMessages, { channel, first: 100 }, { token });
  expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
  return res.data!.failedInboundMessages.edges.map((e) => e.node);
}

describe('failed chat messages', () => {
  it('lists them for platform admins with their errors, newest first, by channel and page by page', async () => {
    const chat = unique();
    const first = await receive(chat, 'my card number is 4242 4242 4242 4242');
    const second = await receive(chat);
    expect(await drain(chat, failing)).toEqual({ processed: 2, retryAfterMs: null });

    const listed = await failedIds(actors.platformAdmin.token, 'TELEGRAM');
    const ours = listed.filter((m) => m.account === ACCOUNT);
    expect(ours.map((m) => m.id)).toEqual([gid(second), gid(first)]);
    expect(ours[0]).toEqual({
      id: gid(second),
      channel: 'TELEGRAM',
      account: ACCOUNT,
      externalChatId: chat,
      eventType: 'message',
      status: 'FAILED',
      error: 'the venue search index is missing',
      receivedAt: expect.any(String),
      processedAt: expect.any(String),
    });
    // What the person wrote is not for operators' eyes: no field carries it (the words, not the
    // digits alone, which a random chat id may hold).
    expect(JSON.stringify(ours)).not.toContain('card number');
    expect(JSON.stringify(ours)).not.toContain('4242 4242');
    expect((await failedIds(actors.platformAdmin.token, 'WHATSAPP')).some((m) => m.account === ACCOUNT)).toBe(
      false,
    );

    // Page by page, from the newest: the second page begins where the first ended.
    const everyone = listed.map((m) => m.id);
    const page = await app.gql(
      FailedMessages,
      { channel: 'TELEGRAM', first: 1 },
      { token: actors.platformAdmin.token },
    );
    expect(page.data?.failedInboundMessages.pageInfo.hasNextPage).toBe(true);
    expect(page.data?.failedInboundMessages.edges.map((e) => e.node.id)).toEqual(everyone.slice(0, 1));
    const next = await app.gql(
      FailedMessages,
      { channel: 'TELEGRAM', first: 1, after: page.data!.failedInboundMessages.pageInfo.endCursor },
      { token: actors.platformAdmin.token },
    );
    expect(next.data?.failedInboundMessages.edges.map((e) => e.node.id)).toEqual(everyone.slice(1, 2));
    const bad = await app.gql(
      FailedMessages,
      { first: 1, after: 'not-a-cursor' },
      { token: actors.platformAdmin.token },
    );
    expect(bad.errors?.[0]?.message).toBe('This is not a cursor of this list');
  });

  it('hands a failed message back to its chat, which handles it once more', async () => {
    const chat = unique();
    const event = await receive(chat);
    await drain(chat, failing);
    // The drain job its arrival added has run (as the worker would have taken it).
    await app.services.db.$executeRaw`
      DELETE FROM graphile_worker._private_jobs WHERE key = ${chatKey('TELEGRAM', ACCOUNT, chat)}`;

    const res = await app.gql(RetryMessage, { id: gid(event) }, { token: actors.platformAdmin.token });
    expect(res.data?.retryInboundMessage, JSON.stringify(res.body)).toEqual({
      __typename: 'RetryInboundMessagePayload',
      inboundMessage: { id: gid(event), status: 'PENDING', error: null, processedAt: null },
    });
    // The chat's drain is due, as for a message just received.
    const [job] = await app.services.db.$queryRaw<{ task_identifier: string }[]>`
      SELECT task_identifier FROM graphile_worker.jobs WHERE key = ${chatKey('TELEGRAM', ACCOUNT, chat)}`;
    expect(job).toEqual({ task_identifier: 'chat-inbound' });

    const seen: string[] = [];
    const handled: InboundHandler = async (message, context) => {
      seen.push(`${context.eventId}:${message.text}`);
    };
    expect(await drain(chat, handled)).toEqual({ processed: 1, retryAfterMs: null });
    expect(seen).toEqual([`${event}:a table for two tonight?`]);
    expect(await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: event } })).toMatchObject({
      status: 'PROCESSED',
      error: null,
    });

    // Handled now: not failed, so not retried again.
    const again = await app.gql(RetryMessage, { id: gid(event) }, { token: actors.platformAdmin.token });
    expect(again.data?.retryInboundMessage).toEqual({
      __typename: 'ConflictError',
      message: 'Only a failed message can be retried; this one is PROCESSED',
    });
  });

  it('does not answer a message out of turn once the person has written since, answered or not, and changes nothing', async () => {
    for (const since of ['answered', 'waiting', 'failed too'] as const) {
      const chat = unique();
      const event = await receive(chat);
      await drain(chat, failing);
      // Asked to send it again, they did.
      await receive(chat, 'a table for two tonight? (again)');
      if (since === 'answered') await drain(chat, async () => {});
      if (since === 'failed too') await drain(chat, failing);
      const before = await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: event } });
      const res = await app.gql(RetryMessage, { id: gid(event) }, { token: actors.platformAdmin.token });
      expect(res.data?.retryInboundMessage, since).toEqual({
        __typename: 'ConflictError',
        message:
          'The person has written in this chat since this message failed (they were asked to send it again): it is not answered now, out of turn',
      });
      expect(await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: event } })).toEqual(before);
    }
  });

  it('knows the person wrote since from their chat once that message is deleted (retention)', async () => {
    const chat = unique();
    const event = await receive(chat);
    await drain(chat, failing);
    // A minute later they wrote again, were answered, and that message is gone since.
    const id = unique();
    const record = inboundText({ account: ACCOUNT, chat, id, text: 'hello?' });
    (record.normalized as { sentAt: string }).sentAt = new Date(Date.now() + 60_000).toISOString();
    await recordInbound(app.services.db, record);
    await drain(chat, async () => {});
    await app.services.db.inboundEvent.deleteMany({ where: { account: ACCOUNT, externalId: id } });
    const res = await app.gql(RetryMessage, { id: gid(event) }, { token: actors.platformAdmin.token });
    expect(res.data?.retryInboundMessage).toMatchObject({ __typename: 'ConflictError' });
    expect(await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: event } })).toMatchObject({
      status: 'FAILED',
    });
  });

  it('shows of a database client’s error its first line and its reason, not the arguments in between', () => {
    const prisma = [
      '',
      'Invalid `prisma.chat.create()` invocation:',
      '',
      '{',
      '  data: { lastMessage: "my card number is 4242 4242 4242 4242" }',
      '}',
      '',
      'Unique constraint failed on the fields: (`external_chat_id`)',
    ].join('\n');
    expect(errorSummary(prisma)).toBe(
      'Invalid `prisma.chat.create()` invocation: Unique constraint failed on the fields: (`external_chat_id`)',
    );
    expect(errorSummary('\n\n  boom  \n  at handler (turn.ts:1)')).toBe('boom');
    expect(errorSummary(`x${'y'.repeat(400)}`)).toHaveLength(300);
    expect(errorSummary(null)).toBeNull();
    // Stored cut short, its last line is the arguments': the first line alone.
    const cut = `${prisma.slice(0, prisma.indexOf('}'))}${' '.repeat(2000)}`.slice(0, ERROR_CHARS);
    expect(errorSummary(cut)).toBe('Invalid `prisma.chat.create()` invocation:');
  });

  it('does not retry a body that could not be read, and changes nothing', async () => {
    const id = unique();
    await recordInbound(app.services.db, {
      platform: 'TELEGRAM',
      account: ACCOUNT,
      externalId: id,
      externalChatId: null,
      eventType: 'unreadable',
      rawText: '{"update_id": ',
      normalized: null,
      status: 'FAILED',
      error: 'malformed JSON',
    });
    const row = await app.services.db.inboundEvent.findFirstOrThrow({
      where: { account: ACCOUNT, externalId: id },
    });
    const res = await app.gql(RetryMessage, { id: gid(row.id) }, { token: actors.platformAdmin.token });
    expect(res.data?.retryInboundMessage).toEqual({
      __typename: 'ConflictError',
      message: 'This message could not be read when it arrived: there is nothing to handle',
    });
    expect(await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: row.id } })).toEqual(row);
  });

  it('refuses everyone but platform admins, before anything runs', async () => {
    const chat = unique();
    const event = await receive(chat);
    await drain(chat, failing);
    for (const token of [actors.owner.token, actors.staff.token, actors.keyWrite.secret, undefined]) {
      const list = await app.gql(FailedMessages, { first: 5 }, token ? { token } : {});
      expect(list.errors?.[0]?.extensions?.code, JSON.stringify(list.body)).toMatch(
        /FORBIDDEN|UNAUTHENTICATED/,
      );
      const retry = await app.gql(RetryMessage, { id: gid(event) }, token ? { token } : {});
      expect(retry.errors?.[0]?.extensions?.code, JSON.stringify(retry.body)).toMatch(
        /FORBIDDEN|UNAUTHENTICATED/,
      );
    }
    expect(await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: event } })).toMatchObject({
      status: 'FAILED',
    });
  });
});
