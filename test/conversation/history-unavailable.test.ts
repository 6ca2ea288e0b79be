/**
 * A chat's history that cannot be read (its Redis away) does not cost the person their message:
 * the turn is not answered without it, nor failed for good. The message waits, the person is told
 * once that the answer comes later, and it is handled again after `unavailableRetryMs`, as when no
 * model can be reached.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { drainChat, recordInbound } from '../../src/domain/channels/inbound.ts';
import { consumerAgentHandler } from '../../src/domain/conversation/assembly.ts';
import { createSessionStore } from '../../src/domain/conversation/sessions.ts';
import { UNAVAILABLE_REPLY } from '../../src/domain/conversation/turn.ts';
import { generateFernetKey } from '../../src/platform/fernet.ts';
import type { RedisHandle } from '../../src/platform/redis.ts';
import { inboundText } from '../factories/inbound.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let down: Redis;

beforeAll(async () => {
  app = await startTestApp();
  // A Redis that does not answer, where the sessions are kept.
  down = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  down.on('error', () => {});
});
afterAll(async () => {
  down?.disconnect();
  await app?.close();
});

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
