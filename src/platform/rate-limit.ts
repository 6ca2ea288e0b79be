/**
 * Fixed-window rate limits. In Redis the increment and the expiry are one Lua script, so
 * concurrent requests across processes are admitted exactly up to the limit. Without Redis (or
 * while it is down) the same windows are counted in this process and the fallback is reported.
 */
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import type { RedisHandle } from './redis.ts';

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets (0 when allowed). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  /** Counts one hit against `key` and tells whether it is within `limit` per `windowSeconds`. */
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitResult>;
  /**
   * Tells whether one more hit against `key` would be within `limit`, without counting it: for
   * limits on failures, which are checked before an attempt and counted only when it fails.
   */
  peek(key: string, limit: number): Promise<RateLimitResult>;
  /** 'redis' while Redis answers, 'memory' while this process counts alone. */
  readonly mode: () => 'redis' | 'memory';
}

// KEYS[1] counter; ARGV[1] window in ms. Returns {count, pttl}.
const SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}`;

// KEYS[1] counter. Returns {count, pttl} without changing anything.
const PEEK_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
return {count, redis.call('PTTL', KEYS[1])}`;

type RedisWithLimit = Redis & {
  agntRateLimit(key: string, windowMs: number): Promise<[number, number]>;
  agntRateLimitPeek(key: string): Promise<[number, number]>;
};

export function createRateLimiter(redis: RedisHandle, logger: Logger): RateLimiter {
  const memory = memoryWindows();
  let degraded = redis.mode === 'memory';
  const client = redis.client as RedisWithLimit | null;
  client?.defineCommand('agntRateLimit', { numberOfKeys: 1, lua: SCRIPT });
  client?.defineCommand('agntRateLimitPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT });
  const fallBack = (error: unknown) => {
    if (!degraded) {
      logger.error({ err: error }, 'Redis is unavailable: rate limits fall back to this process');
    }
    degraded = true;
  };

  return {
    mode: () => (degraded ? 'memory' : 'redis'),
    async hit(key, limit, windowSeconds) {
      const windowMs = windowSeconds * 1000;
      if (client) {
        try {
          const [count, ttl] = await client.agntRateLimit(`${redis.keyPrefix}rl:${key}`, windowMs);
          if (degraded) logger.info('rate limits are counted in Redis again');
          degraded = false;
          return result(count, limit, ttl);
        } catch (error) {
          fallBack(error);
        }
      }
      const { count, ttl } = memory.hit(key, windowMs);
      return result(count, limit, ttl);
    },
    async peek(key, limit) {
      if (client) {
        try {
          const [count, ttl] = await client.agntRateLimitPeek(`${redis.keyPrefix}rl:${key}`);
          return result(count + 1, limit, ttl);
        } catch (error) {
          fallBack(error);
        }
      }
      const { count, ttl } = memory.peek(key);
      return result(count + 1, limit, ttl);
    },
  };
}

function result(count: number, limit: number, ttlMs: number): RateLimitResult {
  const allowed = count <= limit;
  return {
    allowed,
    limit,
    remaining: Math.max(0, limit - count),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(ttlMs / 1000)),
  };
}

function memoryWindows() {
  const windows = new Map<string, { count: number; resetAt: number }>();
  let sweeps = 0;
  return {
    hit(key: string, windowMs: number) {
      const now = Date.now();
      // Drop expired windows now and then so the map stays bounded.
      if (++sweeps % 1000 === 0) {
        for (const [k, w] of windows) if (w.resetAt <= now) windows.delete(k);
      }
      let w = windows.get(key);
      if (!w || w.resetAt <= now) {
        w = { count: 0, resetAt: now + windowMs };
        windows.set(key, w);
      }
      w.count += 1;
      return { count: w.count, ttl: w.resetAt - now };
    },
    peek(key: string) {
      const now = Date.now();
      const w = windows.get(key);
      return !w || w.resetAt <= now ? { count: 0, ttl: 0 } : { count: w.count, ttl: w.resetAt - now };
    },
  };
}
