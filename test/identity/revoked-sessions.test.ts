/**
 * Ended sessions: shared between processes through Redis and kept there until the session's
 * last access token would have expired; with the per-process stand-in (no Redis), or while Redis
 * is unreachable, known only to the process that ended the session.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRevokedSessions } from '../../src/domain/identity/revoked-sessions.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { memoryRedis, type RedisHandle } from '../../src/platform/redis.ts';
import { createTestRedis } from '../helpers/redis.ts';

const logger = createLogger('silent');
let redis: Awaited<ReturnType<typeof createTestRedis>>;

beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(() => redis?.close());

describe('with Redis', () => {
  it('is seen by every process, and kept for the access-token lifetime only', async () => {
    const here = createRevokedSessions(redis, { ttlSeconds: 900, logger });
    const there = createRevokedSessions(redis, { ttlSeconds: 900, logger });
    const sessionId = randomUUID();
    expect(await there.isRevoked(sessionId)).toBe(false);
    await here.revoke(sessionId);
    expect(await there.isRevoked(sessionId)).toBe(true);
    const ttl = await redis.client!.ttl(`${redis.keyPrefix}revoked-session:${sessionId}`);
    expect(ttl).toBeGreaterThan(890);
    expect(ttl).toBeLessThanOrEqual(900);
  });
});

describe('without Redis', () => {
  it('the per-process stand-in: only the process that ended the session refuses its tokens', async () => {
    const standIn = memoryRedis('test:');
    const here = createRevokedSessions(standIn, { ttlSeconds: 900, logger });
    const there = createRevokedSessions(standIn, { ttlSeconds: 900, logger });
    const sessionId = randomUUID();
    await here.revoke(sessionId);
    expect(await here.isRevoked(sessionId)).toBe(true);
    expect(await there.isRevoked(sessionId)).toBe(false);
  });

  it('Redis unreachable: still refused by the process that ended it, and nothing throws', async () => {
    const down = new Redis({
      host: '127.0.0.1',
      port: 1,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    down.on('error', () => {});
    const handle: RedisHandle = {
      mode: 'redis',
      client: down,
      keyPrefix: 'test:down:',
      ping: async () => false,
      close: async () => down.disconnect(),
    };
    try {
      const sessions = createRevokedSessions(handle, { ttlSeconds: 900, logger });
      const sessionId = randomUUID();
      await sessions.revoke(sessionId);
      expect(await sessions.isRevoked(sessionId)).toBe(true);
      expect(await sessions.isRevoked(randomUUID())).toBe(false);
    } finally {
      down.disconnect();
    }
  });
});
