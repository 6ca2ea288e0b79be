/**
 * A chat's history that cannot be read, or the person's turn lock that cannot be taken (their
 * Redis away), does not cost the person their message: the turn is not answered without them, nor
 * failed for good. The message waits, the person is told once that the answer comes later, and it
 * is handled again after `unavailableRetryMs`, as when no model can be reached. A history that
 * cannot be saved after the answer was queued loses that exchange from the history, and nothing
 * else: one answer, no apology after it, the message done.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { drainChat, recordInbound } from '../../src/domain/channels/inbound.ts';
import { consumerAgentHandler } from '../../src/domain/conversation/assembly.ts';
import { createSessionStore } from '../../src/domain/conversation/sessions.ts';
import { ERROR_REPLY, UNAVAILABLE_REPLY } from '../../src/domain/conversation/turn.ts';
import { generateFernetKey } from '../../src/platform/fernet.ts';
import type { RedisHandle } from '../../src/platform/redis.ts';
import { createLocks } from '../../src/platform/user-lock.ts';
import { agentEnv } from '../factories/apps.ts';
import { inboundText } from '../factories/inbound.ts';
import { anthropicMessage, startFakeAnthropic } from '../fakes/anthropic.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let down: Redis;
let anthropic: Awaited<ReturnType<typeof startFakeAnthropic>>;

beforeAll(async () => {
  anthropic = await startFakeAnthropic();
  app = await startTestApp({ env: agentEnv(anthropic) });
  // A Redis that does not answer, where the sessions are kept.
  down = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  down.on('error', () => {});
});
afterAll(async () => {
  down?.disconnect();
  await app?.close();
  await anthropic?.close();
});

/** A Redis handle on `client`, under a prefix of its own. */
const handleOn = (client: Redis): RedisHandle => ({
  mode: 'redis',
  client,
  keyPrefix: `test:${randomBytes(4).toString('hex')}:`,
  ping: async () => true,
  close: async () => {},
});

/** One message from a new chat, recorded; the drain's deps for `handler`, its chat and event. */
async function oneMessage(handler: ReturnType<typeof consumerAgentHandler>, text: string) {
  const account = 'history-bot';
  const chat = `7${Date.now()}${randomBytes(2).toString('hex')}`;
  const id = randomBytes(6).toString('hex');
  await recordInbound(app.services.database, inboundText({ account, chat, id, text }));
  const deps = {
    database: app.services.database,
    keyring: app.services.keyring,
    logger: app.services.logger,
    handler,
  };
  const target = { platform: 'TELEGRAM' as const, account, externalChatId: chat };
  const event = () => app.services.db.inboundEvent.findFirstOrThrow({ where: { account, externalId: id } });
  return { deps, target, event };
}

it('keeps the message waiting, and says so once, while the chat’s history cannot be read', async () => {
  const redis: RedisHandle = {
    mode: 'redis',
    client: down,
    keyPrefix: `test:${randomBytes(4).toString('hex')}:`,
    ping: async () => false,
    close: async () => {},
  };
  const sessions = createSessionStore({
    redis,
    keys: [generateFernetKey()],
    idleSeconds: 3600,
    logger: app.services.logger,
  });
  const handler = consumerAgentHandler({ ...app.services, sessions });
  const account = 'history-bot';
  const chat = `7${Date.now()}`;
  const id = randomBytes(6).toString('hex');
  await recordInbound(app.services.database, inboundText({ account, chat, id, text: 'Book me a table' }));

  const deps = {
    database: app.services.database,
    keyring: app.services.keyring,
    logger: app.services.logger,
    handler,
  };
  const target = { platform: 'TELEGRAM' as const, account, externalChatId: chat };
  const outcome = await drainChat(deps, target);
  expect(outcome).toEqual({
    processed: 0,
    retryAfterMs: app.services.config.consumerAgent.unavailableRetryMs,
  });
  const event = await app.services.db.inboundEvent.findFirstOrThrow({ where: { account, externalId: id } });
  expect(event.status).toBe('PENDING');
  const told = await app.services.db.outboundMessage.findMany({
    where: { dedupeKey: { startsWith: 'unavailable:' } },
  });
  expect(told.map((m) => m.body)).toContain(UNAVAILABLE_REPLY);
  // Tried again while it is still away: waiting still, and told once.
  expect((await drainChat(deps, target)).processed).toBe(0);
  const again = await app.services.db.outboundMessage.count({
    where: { dedupeKey: `unavailable:${event.id}` },
  });
  expect(again).toBe(1);
});

it('keeps the message waiting, and says so once, while the person’s turn lock cannot be taken', async () => {
  const handler = consumerAgentHandler({
    ...app.services,
    locks: createLocks(handleOn(down), { leaseMs: 30_000 }),
  });
  const { deps, target, event } = await oneMessage(handler, 'A table for two tonight');
  expect(await drainChat(deps, target)).toEqual({
    processed: 0,
    retryAfterMs: app.services.config.consumerAgent.unavailableRetryMs,
  });
  const { id, status } = await event();
  expect(status).toBe('PENDING');
  expect((await drainChat(deps, target)).processed).toBe(0);
  const told = await app.services.db.outboundMessage.findMany({ where: { dedupeKey: `unavailable:${id}` } });
  expect(told.map((m) => m.body)).toEqual([UNAVAILABLE_REPLY]);
});

it('answers once, without an apology after, when the history cannot be saved', async () => {
  // A Redis user who may read but not write: the history loads (empty), its save is refused.
  const user = `agnt-readonly-${randomBytes(4).toString('hex')}`;
  const admin = app.services.redis.client as Redis;
  await admin.call('ACL', 'SETUSER', user, 'on', 'nopass', '~*', '+@read', '+@connection');
  const readOnly = new Redis({
    host: admin.options.host,
    port: admin.options.port,
    username: user,
    password: 'unused',
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
  });
  readOnly.on('error', () => {});
  try {
    const sessions = createSessionStore({
      redis: handleOn(readOnly),
      keys: [generateFernetKey()],
      idleSeconds: 3600,
      logger: app.services.logger,
    });
    anthropic.respond(() => ({ body: anthropicMessage({ text: 'Tonight at 20:00 works at Sal.' }) }));
    const handler = consumerAgentHandler({ ...app.services, sessions });
    const { deps, target, event } = await oneMessage(handler, 'Somewhere for tonight?');
    expect((await drainChat(deps, target)).processed).toBe(1);
    const { id, status, error } = await event();
    expect({ status, error }).toEqual({ status: 'PROCESSED', error: null });
    const sent = await app.services.db.outboundMessage.findMany({
      where: { dedupeKey: { endsWith: `:${id}` } },
    });
    expect(sent.map((m) => [m.kind, m.body])).toEqual([['reply', 'Tonight at 20:00 works at Sal.']]);
    expect(sent.map((m) => m.body)).not.toContain(ERROR_REPLY);
  } finally {
    readOnly.disconnect();
    await admin.call('ACL', 'DELUSER', user);
  }
});
