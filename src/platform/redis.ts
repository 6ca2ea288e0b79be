/**
 * Redis, or per-process stand-ins when none is configured and none answers.
 *
 * A configured REDIS_URL that does not answer is a start-up error. An unconfigured one falls back
 * to the local default and, failing that, to stand-ins that work within one process (rate limits,
 * pub/sub); the mode is logged and shown by `/readyz`, because several processes on stand-ins do
 * not share limits or events.
 */
import { Redis } from 'ioredis';
import { ServiceUnavailableError } from './errors.ts';
import type { Logger } from './logger.ts';

export type RedisMode = 'redis' | 'memory';

export interface RedisHandle {
  mode: RedisMode;
  /** null in memory mode. */
  client: Redis | null;
  keyPrefix: string;
  /** Answers whether Redis is reachable right now (always true in memory mode). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

async function tryConnect(url: string, timeoutMs: number): Promise<Redis | null> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    // Fail fast while we decide; reconnect forever once we run on it.
    retryStrategy: (times) => Math.min(times * 200, 2000),
    enableOfflineQueue: true,
    // Commands sent in the same tick (the limits and session checks of concurrent requests) go
    // to Redis in one write; each still gets its own answer, and order is kept.
    enableAutoPipelining: true,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    return null;
  }
}

export async function connectRedis(
  options: { url: string | undefined; defaultUrl: string; keyPrefix: string },
  logger: Logger,
): Promise<RedisHandle> {
  const url = options.url ?? options.defaultUrl;
  const client = await tryConnect(url, 1500);
  if (!client) {
    if (options.url) {
      throw new ServiceUnavailableError(
        `REDIS_URL=${redact(options.url)} does not answer. Start Redis (for example \`redis-server --port 6379\`) or unset REDIS_URL to run on per-process stand-ins.`,
      );
    }
    logger.warn(
      { 'redis.url': redact(url) },
      'Redis does not answer and REDIS_URL is not set: running on per-process stand-ins (rate limits and live updates are not shared between processes)',
    );
    return memoryRedis(options.keyPrefix);
  }
  client.on('error', (error) => logger.error({ err: error }, 'redis connection error'));
  return {
    mode: 'redis',
    client,
    keyPrefix: options.keyPrefix,
    async ping() {
      try {
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

export function memoryRedis(keyPrefix: string): RedisHandle {
  return {
    mode: 'memory',
    client: null,
    keyPrefix,
    ping: async () => true,
    close: async () => {},
  };
}

/** Hides the password in a service URL for logs and error messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
