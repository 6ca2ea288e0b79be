import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisHandle } from '../../src/platform/redis.ts';
import { testRedisUrl } from './env.ts';

/** A real Redis connection with a key prefix of its own, so test files never see each other's keys. */
export async function createTestRedis(): Promise<RedisHandle & { flush(): Promise<void> }> {
  const keyPrefix = `test:${randomBytes(6).toString('hex')}:`;
  const client = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  await client.ping();
  return {
    mode: 'redis',
    client,
    keyPrefix,
    ping: async () => (await client.ping()) === 'PONG',
    async flush() {
      const keys = await client.keys(`${keyPrefix}*`);
      if (keys.length) await client.del(...keys);
    },
    async close() {
      const keys = await client.keys(`${keyPrefix}*`);
      if (keys.length) await client.del(...keys);
      await client.quit();
    },
  };
}
