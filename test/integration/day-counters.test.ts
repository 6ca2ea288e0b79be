/**
 * Daily counters on real Redis and on the in-process stand-in: concurrent requests are admitted
 * exactly up to the limit, a refused one adds nothing, each day counts alone, and a day's counts
 * can be read back whole (what the flush job reads) until the counter expires.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createDayCounters } from '../../src/platform/day-counters.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { memoryRedis, type RedisHandle } from '../../src/platform/redis.ts';
import { createTestRedis } from '../helpers/redis.ts';

const handles: RedisHandle[] = [];
afterAll(async () => {
  for (const handle of handles) await handle.close();
});

describe.each(['redis', 'memory'] as const)('day counters (%s)', (mode) => {
  async function counters() {
    const handle = mode === 'redis' ? await createTestRedis() : memoryRedis(`test:${randomUUID()}:`);
    handles.push(handle);
    return { handle, counters: createDayCounters(handle, createLogger('silent')) };
  }

  it('admits exactly the limit of 20 at once, counts no refusal, and keeps days apart', async () => {
    const { counters: c } = await counters();
    const id = randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, () => c.take(id, '2026-12-04', 5, 60_000)));
    expect(answers.filter((a) => a.allowed)).toHaveLength(5);
    expect(answers.filter((a) => !a.allowed).every((a) => a.count === 5)).toBe(true);
    expect(await c.read(id, '2026-12-04')).toBe(5);
    expect(await c.take(id, '2026-12-05', 5, 60_000)).toEqual({ allowed: true, count: 1 });
    const other = randomUUID();
    await c.take(other, '2026-12-04', 5, 60_000);
    expect(await c.all('2026-12-04')).toEqual(
      new Map([
        [id, 5],
        [other, 1],
      ]),
    );
    expect(await c.all('2026-12-03')).toEqual(new Map());
    expect(c.mode()).toBe(mode);
  });
});

it('expires a day’s counter in Redis and its set of ids after the time given', async () => {
  const handle = await createTestRedis();
  handles.push(handle);
  const c = createDayCounters(handle, createLogger('silent'));
  const id = randomUUID();
  await c.take(id, '2026-12-04', 5, 90_000);
  for (const key of [
    `${handle.keyPrefix}day:{2026-12-04}:${id}`,
    `${handle.keyPrefix}day:{2026-12-04}:ids`,
  ]) {
    const ttl = await handle.client!.pttl(key);
    expect(ttl, key).toBeGreaterThan(80_000);
    expect(ttl, key).toBeLessThanOrEqual(90_000);
  }
});

it('refuses to read a day whole while Redis is away, rather than answer with this process’s part of it', async () => {
  // A Redis that does not answer: counting goes on in the process, reading the day fails.
  const down = new Redis({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  down.on('error', () => {});
  const handle: RedisHandle = {
    mode: 'redis',
    client: down,
    keyPrefix: `test:${randomUUID()}:`,
    ping: async () => false,
    close: async () => down.disconnect(),
  };
  handles.push(handle);
  const c = createDayCounters(handle, createLogger('silent'));
  const id = randomUUID();
  expect(await c.take(id, '2026-12-04', 5, 60_000)).toEqual({ allowed: true, count: 1 });
  expect(c.mode()).toBe('memory');
  await expect(c.all('2026-12-04')).rejects.toThrow();
});
