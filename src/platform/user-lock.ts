/**
 * Leases: at most one holder of a name at a time across every process (one running conversation
 * loop per user). A lease is a Redis key set with `SET NX PX` to a random token; only the holder
 * of that token may extend or release it (checked and done in one Lua script), so a holder that
 * stalled past its lease cannot release or extend the lease someone else has taken since. If a
 * holder dies, its lease simply runs out after `leaseMs`.
 *
 * Without Redis the same rules hold within this process only (every `createLocks` on the same
 * handle shares one table), which is all a single process needs.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisHandle } from './redis.ts';

export interface Lease {
  readonly key: string;
  /** Extends the lease; false if it was lost (expired and taken). */
  extend(): Promise<boolean>;
  release(): Promise<void>;
}

export interface Locks {
  /** null when someone else holds it. */
  tryAcquire(name: string): Promise<Lease | null>;
}

// KEYS[1] lease; ARGV[1] token, ARGV[2] lease in ms. 1 if extended, 0 if the token no longer holds it.
const EXTEND_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

// KEYS[1] lease; ARGV[1] token. Deletes the key only while that token holds it.
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type RedisWithLeases = Redis & {
  agntLeaseExtend(key: string, token: string, leaseMs: number): Promise<number>;
  agntLeaseRelease(key: string, token: string): Promise<number>;
};

/** How a lease is kept; the Redis and in-process versions behave alike. */
interface LeaseTable {
  acquire(key: string, token: string, leaseMs: number): Promise<boolean>;
  extend(key: string, token: string, leaseMs: number): Promise<boolean>;
  release(key: string, token: string): Promise<void>;
}

export function createLocks(
  redis: RedisHandle,
  options: {
    leaseMs: number;
    /** Prepended to names after the Redis key prefix (default `lock:`). */
    prefix?: string;
    /** The in-process table's clock (Redis keeps its own time). */
    now?: () => number;
  },
): Locks {
  const { leaseMs } = options;
  if (!(Number.isInteger(leaseMs) && leaseMs > 0)) throw new RangeError('leaseMs must be a positive integer');
  const prefix = `${redis.keyPrefix}${options.prefix ?? 'lock:'}`;
  const table = redis.client
    ? redisTable(redis.client as RedisWithLeases)
    : memoryTable(redis, options.now ?? Date.now);

  return {
    async tryAcquire(name) {
      const key = `${prefix}${name}`;
      // 128 random bits: no other holder, in any process, ever has the same token.
      const token = randomBytes(16).toString('hex');
      if (!(await table.acquire(key, token, leaseMs))) return null;
      return {
        key,
        extend: () => table.extend(key, token, leaseMs),
        release: () => table.release(key, token),
      };
    },
  };
}

function redisTable(client: RedisWithLeases): LeaseTable {
  client.defineCommand('agntLeaseExtend', { numberOfKeys: 1, lua: EXTEND_SCRIPT });
  client.defineCommand('agntLeaseRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT });
  return {
    acquire: async (key, token, leaseMs) => (await client.set(key, token, 'PX', leaseMs, 'NX')) === 'OK',
    extend: async (key, token, leaseMs) => (await client.agntLeaseExtend(key, token, leaseMs)) === 1,
    async release(key, token) {
      await client.agntLeaseRelease(key, token);
    },
  };
}

// One table per handle, so that every `createLocks` over the same stand-in sees the same leases.
const memoryTables = new WeakMap<RedisHandle, Map<string, { token: string; expiresAt: number }>>();

function memoryTable(redis: RedisHandle, now: () => number): LeaseTable {
  let leases = memoryTables.get(redis);
  if (!leases) {
    leases = new Map();
    memoryTables.set(redis, leases);
  }
  const table = leases;
  const holder = (key: string) => {
    const lease = table.get(key);
    if (lease && lease.expiresAt <= now()) table.delete(key);
    return table.get(key)?.token ?? null;
  };
  // No awaits between the check and the write: within one process that is atomic.
  return {
    async acquire(key, token, leaseMs) {
      if (holder(key) !== null) return false;
      table.set(key, { token, expiresAt: now() + leaseMs });
      return true;
    },
    async extend(key, token, leaseMs) {
      if (holder(key) !== token) return false;
      table.set(key, { token, expiresAt: now() + leaseMs });
      return true;
    },
    async release(key, token) {
      if (holder(key) === token) table.delete(key);
    },
  };
}
