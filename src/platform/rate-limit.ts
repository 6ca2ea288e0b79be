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
   * Counts one hit against each key in turn, as `hit` one after another would, and stops at the
   * first one over its limit (the keys after it are not counted): one round trip to Redis for
   * all of them. Answers the index of that key with its result, or null when all are within.
   */
  hitInOrder(hits: readonly LimitHit[]): Promise<{ index: number; result: RateLimitResult } | null>;
  /**
   * `peek(unless.key, unless.limit)`, then, only if that one more hit would be within its limit,
   * `hitInOrder(hits)`: both in one round trip to Redis. A peek over its limit counts nothing and
   * answers `{ index: -1, result }` with the peek's result.
   */
  hitInOrderUnless(
    unless: { key: string; limit: number },
    hits: readonly LimitHit[],
  ): Promise<{ index: number; result: RateLimitResult } | null>;
  /**
   * Tells whether one more hit against `key` would be within `limit`, without counting it: for
   * limits on failures, which are checked before an attempt and counted only when it fails.
   */
  peek(key: string, limit: number): Promise<RateLimitResult>;
  /** 'redis' while Redis answers, 'memory' while this process counts alone. */
  readonly mode: () => 'redis' | 'memory';
}

export interface LimitHit {
  key: string;
  limit: number;
  windowSeconds: number;
}

// KEYS[1] counter; ARGV[1] window in ms. Returns {count, pttl}.
const SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}`;

// KEYS[i] counters; ARGV[2i-1] window in ms and ARGV[2i] limit of KEYS[i]. The first counter over
// its limit ends the script: returns {i, count, pttl}, or {0, 0, 0} when every one is within.
const IN_ORDER_SCRIPT = `
for i = 1, #KEYS do
  local window = ARGV[2 * i - 1]
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], window) end
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], window); ttl = tonumber(window) end
  if count > tonumber(ARGV[2 * i]) then return {i, count, ttl} end
end
return {0, 0, 0}`;

// KEYS[1] a counter that is only peeked, ARGV[1] its limit; then KEYS[2..] and ARGV[2..] as for
// IN_ORDER_SCRIPT. When one more hit on KEYS[1] would pass its limit, nothing is counted and the
// script returns {-1, count + 1, pttl}; otherwise {i, count, pttl} for KEYS[i + 1], as IN_ORDER.
const UNLESS_IN_ORDER_SCRIPT = `
local peeked = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
if peeked > tonumber(ARGV[1]) then return {-1, peeked, redis.call('PTTL', KEYS[1])} end
for i = 2, #KEYS do
  local window = ARGV[2 * i - 2]
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], window) end
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[i], window); ttl = tonumber(window) end
  if count > tonumber(ARGV[2 * i - 1]) then return {i - 1, count, ttl} end
end
return {0, 0, 0}`;

// KEYS[1] counter. Returns {count, pttl} without changing anything.
const PEEK_SCRIPT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
return {count, redis.call('PTTL', KEYS[1])}`;

type RedisWithLimit = Redis & {
  agntRateLimit(key: string, windowMs: number): Promise<[number, number]>;
  agntRateLimitPeek(key: string): Promise<[number, number]>;
  agntRateLimitInOrder(
    keyCount: number,
    ...keysThenArgs: (string | number)[]
  ): Promise<[number, number, number]>;
  agntRateLimitUnlessInOrder(
    keyCount: number,
    ...keysThenArgs: (string | number)[]
  ): Promise<[number, number, number]>;
};

export function createRateLimiter(redis: RedisHandle, logger: Logger): RateLimiter {
  const memory = memoryWindows();
  let degraded = redis.mode === 'memory';
  const client = redis.client as RedisWithLimit | null;
  client?.defineCommand('agntRateLimit', { numberOfKeys: 1, lua: SCRIPT });
  client?.defineCommand('agntRateLimitPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT });
  // No numberOfKeys: the first argument of each call says how many keys follow.
  client?.defineCommand('agntRateLimitInOrder', { lua: IN_ORDER_SCRIPT });
  client?.defineCommand('agntRateLimitUnlessInOrder', { lua: UNLESS_IN_ORDER_SCRIPT });
  const fallBack = (error: unknown) => {
    if (!degraded) {
      logger.error({ err: error }, 'Redis is unavailable: rate limits fall back to this process');
    }
    degraded = true;
  };

  /** The hits counted in this process, in order, up to the first over its limit. */
  const hitInMemory = (hits: readonly LimitHit[]) => {
    for (const [index, h] of hits.entries()) {
      const { count, ttl } = memory.hit(h.key, h.windowSeconds * 1000);
      if (count > h.limit) return { index, result: result(count, h.limit, ttl) };
    }
    return null;
  };
  /** A script's answer: `position` 0 when every hit was within its limit, else the first over (from 1). */
  const firstOver = (hits: readonly LimitHit[], position: number, count: number, ttl: number) =>
    position === 0 ? null : { index: position - 1, result: result(count, hits[position - 1]!.limit, ttl) };

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
    async hitInOrder(hits) {
      if (client) {
        try {
          const [position, count, ttl] = await client.agntRateLimitInOrder(
            hits.length,
            ...hits.map((h) => `${redis.keyPrefix}rl:${h.key}`),
            ...hits.flatMap((h) => [h.windowSeconds * 1000, h.limit]),
          );
          if (degraded) logger.info('rate limits are counted in Redis again');
          degraded = false;
          return firstOver(hits, position, count, ttl);
        } catch (error) {
          fallBack(error);
        }
      }
      return hitInMemory(hits);
    },
    async hitInOrderUnless(unless, hits) {
      if (client) {
        try {
          const [position, count, ttl] = await client.agntRateLimitUnlessInOrder(
            hits.length + 1,
            `${redis.keyPrefix}rl:${unless.key}`,
            ...hits.map((h) => `${redis.keyPrefix}rl:${h.key}`),
            unless.limit,
            ...hits.flatMap((h) => [h.windowSeconds * 1000, h.limit]),
          );
          if (degraded) logger.info('rate limits are counted in Redis again');
          degraded = false;
          if (position === -1) return { index: -1, result: result(count, unless.limit, ttl) };
          return firstOver(hits, position, count, ttl);
        } catch (error) {
          fallBack(error);
        }
      }
      const peeked = memory.peek(unless.key);
      const before = result(peeked.count + 1, unless.limit, peeked.ttl);
      if (!before.allowed) return { index: -1, result: before };
      return hitInMemory(hits);
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
