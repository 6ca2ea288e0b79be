/**
 * Token buckets for sending within platforms' limits (Telegram: ~30 messages/s per bot, 1/s per
 * chat). In Redis one Lua script refills and takes atomically, so every worker process shares a
 * bucket; without Redis (or while it is down) the buckets are per process.
 */
import type { Redis } from 'ioredis';
import type { RedisHandle } from './redis.ts';

export interface TokenBuckets {
  /**
   * Takes a token from `key` (capacity `burst`, refilled at `perSecond`). Returns 0 when one was
   * taken, else the milliseconds until one will be there (nothing is taken then).
   */
  take(key: string, perSecond: number, burst: number): Promise<number>;
  /**
   * Puts back a token taken from `key` for something that then did not happen (another limit
   * refused it), so waiting on one limit does not spend another's.
   */
  giveBack(key: string, perSecond: number, burst: number): Promise<void>;
}

// KEYS[1] bucket; ARGV: rate per ms, burst, now ms, and 1 to take a token or 0 to give one back.
// The bucket is refilled for the time passed first (never beyond burst). Taking returns the wait in
// ms (0: taken); giving back adds the token (never beyond burst) and returns 0.
const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local take = ARGV[4] == '1'
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if not take then tokens = math.min(burst, tokens + 1)
elseif tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait`;

type RedisWithBucket = Redis & {
  agntToken(key: string, rate: number, burst: number, now: number, take: 1 | 0): Promise<number>;
};

export function createTokenBuckets(redis: RedisHandle, now: () => number = Date.now): TokenBuckets {
  const local = new Map<string, { tokens: number; at: number }>();
  const client = redis.client as RedisWithBucket | null;
  client?.defineCommand('agntToken', { numberOfKeys: 1, lua: SCRIPT });

  /** The script's work on this process's own bucket: refilled, then a token taken (or given back). */
  const locally = (key: string, perSecond: number, burst: number, take: boolean) => {
    const rate = perSecond / 1000;
    const t = now();
    const state = local.get(key) ?? { tokens: burst, at: t };
    state.tokens = Math.min(burst, state.tokens + Math.max(0, t - state.at) * rate);
    state.at = t;
    local.set(key, state);
    if (!take) {
      state.tokens = Math.min(burst, state.tokens + 1);
      return 0;
    }
    if (state.tokens >= 1) {
      state.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - state.tokens) / rate);
  };
  const change = async (key: string, perSecond: number, burst: number, take: boolean) => {
    if (client) {
      try {
        return Number(
          await client.agntToken(`${redis.keyPrefix}tb:${key}`, perSecond / 1000, burst, now(), take ? 1 : 0),
        );
      } catch {
        // Redis is down: the process's own buckets keep sending within the limits, per process.
      }
    }
    return locally(key, perSecond, burst, take);
  };

  return {
    take: (key, perSecond, burst) => change(key, perSecond, burst, true),
    async giveBack(key, perSecond, burst) {
      await change(key, perSecond, burst, false);
    },
  };
}
