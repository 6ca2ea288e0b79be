/**
 * Pub/sub between processes (src/platform/pubsub.ts) on a real Redis, and the stand-in without
 * one: every subscriber of a topic gets each event once, in order, also those published while it
 * was busy; a subscriber that leaves gets nothing more, and the topic is unsubscribed in Redis
 * when the process's last subscriber leaves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPubSub, type PubSub } from '../../src/platform/pubsub.ts';
import { memoryRedis } from '../../src/platform/redis.ts';
import { capturingLogger } from '../helpers/logs.ts';
import { createTestRedis } from '../helpers/redis.ts';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(async () => {
  await redis.close();
});

/** Resolves when Redis reports `count` subscriptions to `topic` (a subscription is asynchronous). */
async function subscriptions(topic: string, count: number): Promise<void> {
  const channel = `${redis.keyPrefix}ps:${topic}`;
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const [, subscribed] = (await redis.client!.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(subscribed) === count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${channel} never had ${count} subscriptions`);
}

const take = async (events: AsyncIterableIterator<unknown>, count: number) => {
  const taken: unknown[] = [];
  for (let i = 0; i < count; i += 1) taken.push((await events.next()).value);
  return taken;
};

describe.each([
  ['Redis', () => createPubSub(redis, capturingLogger().logger)],
  ['the stand-in without Redis', () => createPubSub(memoryRedis('test:'), capturingLogger().logger)],
] as const)('pub/sub through %s', (through, create) => {
  let pubsub: PubSub;
  beforeAll(() => {
    pubsub = create();
  });
  afterAll(async () => {
    await pubsub.close();
  });
  const ready = (topic: string, count: number) =>
    through === 'Redis' ? subscriptions(topic, count) : Promise.resolve();

  it('gives every subscriber each event once, in order, also those sent while it was busy', async () => {
    const first = pubsub.subscribe('orders');
    const second = pubsub.subscribe('orders');
    await ready('orders', 1);
    const waiting = first.next();
    for (const n of [1, 2, 3]) await pubsub.publish('orders', { n });
    // The first was waiting for one; the second took none until all three were sent.
    expect((await waiting).value).toEqual({ n: 1 });
    expect(await take(first, 2)).toEqual([{ n: 2 }, { n: 3 }]);
    expect(await take(second, 3)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await first.return?.();
    await second.return?.();
  });

  it('ends a subscriber that leaves, also while it waits, and gives the others what follows', async () => {
    const leaving = pubsub.subscribe('tables');
    const staying = pubsub.subscribe('tables');
    await ready('tables', 1);
    const waiting = leaving.next();
    await leaving.return?.();
    expect(await waiting).toEqual({ done: true, value: undefined });
    await pubsub.publish('tables', { n: 1 });
    expect((await staying.next()).value).toEqual({ n: 1 });
    expect(await leaving.next()).toEqual({ done: true, value: undefined });
    await staying.return?.();
    // The process's last subscriber gone, Redis no longer sends it the topic.
    await ready('tables', 0);
  });

  it('ends a subscriber whose signal aborts', async () => {
    const controller = new AbortController();
    const events = pubsub.subscribe('guests', controller.signal);
    await ready('guests', 1);
    const waiting = events.next();
    controller.abort();
    expect(await waiting).toEqual({ done: true, value: undefined });
    await ready('guests', 0);
    const aborted = new AbortController();
    aborted.abort();
    expect(await pubsub.subscribe('guests', aborted.signal).next()).toEqual({ done: true, value: undefined });
    await ready('guests', 0);
  });
});
