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

// KEYS[1] bucket; ARGV: rate per ms, burst, now ms. Returns wait in ms (0: taken).
const SCRIPT = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait`;

// KEYS[1] bucket; ARGV: rate per ms, burst, now ms. Adds a token (refilled first, capped at burst).
const GIVE_BACK = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate + 1)
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return 0`;

type RedisWithBucket = Redis & {
  agntTakeToken(key: string, rate: number, burst: number, now: number): Promise<number>;
  agntGiveToken(key: string, rate: number, burst: number, now: number): Promise<number>;
};

export function createTokenBuckets(redis: RedisHandle, now: () => number = Date.now): TokenBuckets {
  const local = new Map<string, { tokens: number; at: number }>();
  const client = redis.client as RedisWithBucket | null;
  client?.defineCommand('agntTakeToken', { numberOfKeys: 1, lua: SCRIPT });
  client?.defineCommand('agntGiveToken', { numberOfKeys: 1, lua: GIVE_BACK });

  const takeLocally = (key: string, perSecond: number, burst: number) => {
    const rate = perSecond / 1000;
    const t = now();
    const state = local.get(key) ?? { tokens: burst, at: t };
    state.tokens = Math.min(burst, state.tokens + Math.max(0, t - state.at) * rate);
    state.at = t;
    local.set(key, state);
    if (state.tokens >= 1) {
      state.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - state.tokens) / rate);
  };

  return {
    async take(key, perSecond, burst) {
      if (client) {
        try {
          return Number(
            await client.agntTakeToken(`${redis.keyPrefix}tb:${key}`, perSecond / 1000, burst, now()),
          );
        } catch {
          // Redis is down: the process's own buckets keep sending within the limits, per process.
        }
      }
      return takeLocally(key, perSecond, burst);
    },
    async giveBack(key, perSecond, burst) {
      if (client) {
        try {
          await client.agntGiveToken(`${redis.keyPrefix}tb:${key}`, perSecond / 1000, burst, now());
          return;
        } catch {
          // Redis is down: the token was taken from this process's own bucket.
        }
      }
      const rate = perSecond / 1000;
      const t = now();
      const state = local.get(key) ?? { tokens: burst, at: t };
      state.tokens = Math.min(burst, state.tokens + Math.max(0, t - state.at) * rate + 1);
      state.at = t;
      local.set(key, state);
    },
  };
}
