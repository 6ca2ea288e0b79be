/**
 * Counters per id per day, with a ceiling: what a daily quota needs. A counter lives under a key
 * named by its day, so a new day starts from nothing without anything being reset; it is kept for
 * two days beyond, so the day's last count can still be read (and stored) after midnight.
 *
 * In Redis, "read, compare with the limit, add one" is one Lua script, so concurrent requests in
 * several processes are admitted exactly up to the limit, and a refused request adds nothing (the
 * count is what was admitted). Each day also keeps the set of ids counted that day, so the day's
 * counts can be read without scanning keys. Without Redis (or while it is down) the same counts
 * are kept in this process, as the rate limits do (src/platform/rate-limit.ts).
 */
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import type { RedisHandle } from './redis.ts';

export interface DayCount {
  allowed: boolean;
  /** The day's count after this call (unchanged when refused). */
  count: number;
}

export interface DayCounters {
  /**
   * Adds one to `id`'s count for `day` unless it has reached `limit`. `ttlMs`: how long the
   * counter must outlive now (from now to the end of the day, plus the time to read it after).
   */
  take(id: string, day: string, limit: number, ttlMs: number): Promise<DayCount>;
  /** `id`'s count for `day`, without changing it. */
  read(id: string, day: string): Promise<number>;
  /**
   * Every id counted on `day`, with its count. With Redis configured and not answering this
   * throws (the counts would be this process's part of the day only).
   */
  all(day: string): Promise<Map<string, number>>;
  readonly mode: () => 'redis' | 'memory';
}

// KEYS[1] the counter, KEYS[2] the day's set of ids; ARGV: limit, ttl in ms, id.
const TAKE = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return {count, 0} end
count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return {count, 1}`;

type RedisWithTake = Redis & {
  agntDayTake(
    counter: string,
    ids: string,
    limit: number,
    ttlMs: number,
    id: string,
  ): Promise<[number, number]>;
};

/** How many past days the in-process stand-in keeps. */
const MEMORY_DAYS = 3;

export function createDayCounters(redis: RedisHandle, logger: Logger): DayCounters {
  const memory = new Map<string, Map<string, number>>();
  let degraded = redis.mode === 'memory';
  const client = redis.client as RedisWithTake | null;
  client?.defineCommand('agntDayTake', { numberOfKeys: 2, lua: TAKE });
  // The day in braces is a hash tag: a day's counters and its set share a slot in a cluster.
  const counterKey = (id: string, day: string) => `${redis.keyPrefix}day:{${day}}:${id}`;
  const idsKey = (day: string) => `${redis.keyPrefix}day:{${day}}:ids`;
  const fallBack = (error: unknown) => {
    if (!degraded)
      logger.error({ err: error }, 'Redis is unavailable: daily quotas fall back to this process');
    degraded = true;
  };
  const daysOf = (day: string) => {
    let counts = memory.get(day);
    if (!counts) {
      counts = new Map();
      memory.set(day, counts);
      // Keep the latest few days only; day strings (YYYY-MM-DD) sort as dates.
      for (const old of [...memory.keys()].sort().slice(0, -MEMORY_DAYS)) memory.delete(old);
    }
    return counts;
  };

  return {
    mode: () => (degraded ? 'memory' : 'redis'),
    async take(id, day, limit, ttlMs) {
      if (client) {
        try {
          const [count, allowed] = await client.agntDayTake(
            counterKey(id, day),
            idsKey(day),
            limit,
            Math.max(1, Math.ceil(ttlMs)),
            id,
          );
          degraded = false;
          return { allowed: allowed === 1, count };
        } catch (error) {
          fallBack(error);
        }
      }
      const counts = daysOf(day);
      const count = counts.get(id) ?? 0;
      if (count >= limit) return { allowed: false, count };
      counts.set(id, count + 1);
      return { allowed: true, count: count + 1 };
    },
    async read(id, day) {
      if (client) {
        try {
          return Number((await client.get(counterKey(id, day))) ?? 0);
        } catch (error) {
          fallBack(error);
        }
      }
      return memory.get(day)?.get(id) ?? 0;
    },
    async all(day) {
      // The day's counts are read whole or not at all: with Redis away this process's own counts
      // are a part of the day (each process counted apart), and recorded as the whole they would
      // lose the rest for good. The reader (the flush job) fails and runs again.
      if (client) {
        const ids = await client.smembers(idsKey(day));
        if (ids.length === 0) return new Map();
        const counts = await client.mget(ids.map((id) => counterKey(id, day)));
        return new Map(ids.map((id, i) => [id, Number(counts[i] ?? 0)]));
      }
      return new Map(memory.get(day) ?? []);
    },
  };
}
