/**
 * Token buckets, in Redis and in the process: a token given back (its send was refused by another
 * limit) is there to take again at once, never beyond the bucket's size.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenBuckets, type TokenBuckets } from '../../src/platform/token-bucket.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

const memory = () =>
  createTokenBuckets({
    mode: 'memory',
    client: null,
    keyPrefix: '',
    ping: async () => true,
    close: async () => {},
  });

describe.each([
  { name: 'in Redis', buckets: (): TokenBuckets => app.services.buckets },
  { name: 'in the process', buckets: memory },
])('a token given back, $name', ({ buckets }) => {
  it('is taken again at once, and never fills the bucket beyond its size', async () => {
    const b = buckets();
    const key = `test:${randomUUID()}`;
    expect(await b.take(key, 1, 1)).toBe(0);
    expect(await b.take(key, 1, 1)).toBeGreaterThan(900);
    await b.giveBack(key, 1, 1);
    expect(await b.take(key, 1, 1)).toBe(0);
    // Given back twice into a full bucket of one: still one token.
    await b.giveBack(key, 1, 1);
    await b.giveBack(key, 1, 1);
    expect(await b.take(key, 1, 1)).toBe(0);
    expect(await b.take(key, 1, 1)).toBeGreaterThan(900);
  });
});
