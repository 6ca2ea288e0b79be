import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryRedis, type RedisHandle } from '../../src/platform/redis.ts';
import { createLocks, type Locks } from '../../src/platform/user-lock.ts';
import { testRedisUrl } from '../helpers/env.ts';
import { createTestRedis } from '../helpers/redis.ts';

type TestRedis = Awaited<ReturnType<typeof createTestRedis>>;
let redis: TestRedis;
// More connections on the same keys, standing in for other processes.
const others: Redis[] = [];

beforeAll(async () => {
  redis = await createTestRedis();
  for (let i = 0; i < 4; i++) others.push(new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 }));
});

afterAll(async () => {
  await Promise.all(others.map((client) => client.quit()));
  await redis?.close();
});

/** Another process's view of the same Redis and prefix. */
function processHandle(i: number): RedisHandle {
  return { ...redis, client: others[i % others.length]! };
}

let names = 0;
const newName = () => `user:${++names}`;

describe('user locks on Redis', () => {
  it('lets exactly one of two contenders in, and the other after release', async () => {
    const a = createLocks(redis, { leaseMs: 10_000 });
    const b = createLocks(processHandle(0), { leaseMs: 10_000 });
    const name = newName();

    const lease = await a.tryAcquire(name);
    expect(lease).not.toBeNull();
    expect(lease!.key).toBe(`${redis.keyPrefix}lock:${name}`);
    expect(await b.tryAcquire(name)).toBeNull();
    // Other names are independent.
    expect(await b.tryAcquire(newName())).not.toBeNull();

    await lease!.release();
    const next = await b.tryAcquire(name);
    expect(next).not.toBeNull();
    expect(await a.tryAcquire(name)).toBeNull();
    // Releasing twice is harmless.
    await lease!.release();
    expect(await a.tryAcquire(name)).toBeNull();
  });

  it('sets the lease as the key expiry, and extend renews it', async () => {
    const locks = createLocks(redis, { leaseMs: 5000, prefix: 'llm:' });
    const lease = (await locks.tryAcquire(newName()))!;
    expect(lease.key).toMatch(new RegExp(`^${redis.keyPrefix}llm:user:\\d+$`));
    const ttl = await redis.client!.pttl(lease.key);
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5000);
    await redis.client!.pexpire(lease.key, 1000);
    expect(await lease.extend()).toBe(true);
    expect(await redis.client!.pttl(lease.key)).toBeGreaterThan(4000);
  });

  it("lets another in once a dead holder's lease runs out", async () => {
    const name = newName();
    const dead = createLocks(redis, { leaseMs: 150 });
    const alive = createLocks(processHandle(1), { leaseMs: 10_000 });
    expect(await dead.tryAcquire(name)).not.toBeNull();
    // The holder "dies": it never releases. Until the lease runs out nobody else gets in.
    expect(await alive.tryAcquire(name)).toBeNull();
    const lease = await vi.waitFor(
      async () => {
        const acquired = await alive.tryAcquire(name);
        if (!acquired) throw new Error('still held');
        return acquired;
      },
      { timeout: 3000, interval: 25 },
    );
    expect(lease.key).toBe(`${redis.keyPrefix}lock:${name}`);
  });

  it('never lets a stale holder release or extend the lease someone else took', async () => {
    const name = newName();
    const stale = await createLocks(redis, { leaseMs: 100 }).tryAcquire(name);
    const other = createLocks(processHandle(2), { leaseMs: 10_000 });
    const current = await vi.waitFor(
      async () => {
        const acquired = await other.tryAcquire(name);
        if (!acquired) throw new Error('still held');
        return acquired;
      },
      { timeout: 3000, interval: 25 },
    );

    expect(await stale!.extend()).toBe(false);
    await stale!.release();
    // The current holder still holds it, with its own lease untouched.
    expect(await other.tryAcquire(name)).toBeNull();
    expect(await redis.client!.pttl(current.key)).toBeGreaterThan(9000);
    expect(await current.extend()).toBe(true);
    await current.release();
    expect(await other.tryAcquire(name)).not.toBeNull();
  });

  it('admits exactly one of 50 concurrent contenders across connections', async () => {
    const name = newName();
    const contenders: Locks[] = Array.from({ length: 50 }, (_, i) =>
      createLocks(i % 5 === 0 ? redis : processHandle(i), { leaseMs: 10_000 }),
    );
    const leases = await Promise.all(contenders.map((locks) => locks.tryAcquire(name)));
    expect(leases.filter((lease) => lease !== null)).toHaveLength(1);
  });
});

describe('user locks without Redis', () => {
  it('follows the same rules within the process, on its own clock', async () => {
    let now = 1_000_000;
    const handle = memoryRedis('mem:');
    const a = createLocks(handle, { leaseMs: 1000, now: () => now });
    const b = createLocks(handle, { leaseMs: 1000, now: () => now });
    const name = newName();

    const first = (await a.tryAcquire(name))!;
    expect(first.key).toBe(`mem:lock:${name}`);
    expect(await b.tryAcquire(name)).toBeNull();
    await first.release();
    const second = (await b.tryAcquire(name))!;
    expect(second).not.toBeNull();

    // Extending keeps it past the original lease…
    now += 900;
    expect(await second.extend()).toBe(true);
    now += 900;
    expect(await a.tryAcquire(name)).toBeNull();
    // …and a lease not extended runs out, after which the old holder can do nothing.
    now += 101;
    const third = (await a.tryAcquire(name))!;
    expect(third).not.toBeNull();
    expect(await second.extend()).toBe(false);
    await second.release();
    expect(await b.tryAcquire(name)).toBeNull();
    expect(await third.extend()).toBe(true);

    // 50 at once: exactly one.
    const other = newName();
    const leases = await Promise.all(Array.from({ length: 50 }, () => a.tryAcquire(other)));
    expect(leases.filter((lease) => lease !== null)).toHaveLength(1);

    // Another stand-in (another process) has its own table.
    expect(await createLocks(memoryRedis('mem:'), { leaseMs: 1000 }).tryAcquire(other)).not.toBeNull();
  });
});
