/**
 * A live subscriber's right to read, remembered by the process (src/api/live-access.ts): a yes
 * is answered at once, without a promise, while it is fresh, and checked afresh once it is
 * RECHECK_MS old or any membership changed; a no is never remembered.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createLiveAccess, RECHECK_MS } from '../../src/api/live-access.ts';
import type { Actor } from '../../src/domain/identity/actor.ts';
import { createPubSub } from '../../src/platform/pubsub.ts';
import { memoryRedis } from '../../src/platform/redis.ts';
import { capturingLogger } from '../helpers/logs.ts';

const { logger } = capturingLogger();
const pubsub = createPubSub(memoryRedis('test:'), logger);
afterAll(() => pubsub.close());

function access() {
  let clock = Date.parse('2026-12-06T12:00:00Z');
  const liveAccess = createLiveAccess({ pubsub, now: () => new Date(clock), logger });
  let checks = 0;
  let answer = true;
  const check = async () => {
    checks += 1;
    return answer;
  };
  return {
    liveAccess,
    check,
    checks: () => checks,
    answer: (next: boolean) => {
      answer = next;
    },
    later: (ms: number) => {
      clock += ms;
    },
  };
}

const staff: Actor = { kind: 'user', userId: 'user-1', isPlatformAdmin: false };

describe('a live subscriber’s right to read', () => {
  it('is answered at once from a fresh yes, and checked again once it is stale', async () => {
    const a = access();
    const first = a.liveAccess.allowed(staff, 'venue:1', a.check);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe(true);
    // The same person, as another object (another request's context): the same answer.
    expect(a.liveAccess.allowed({ ...staff }, 'venue:1', a.check)).toBe(true);
    expect(a.checks()).toBe(1);
    // Another resource is its own question.
    expect(await a.liveAccess.allowed(staff, 'venue:2', a.check)).toBe(true);
    expect(a.checks()).toBe(2);

    a.later(RECHECK_MS);
    a.answer(false);
    const stale = a.liveAccess.allowed(staff, 'venue:1', a.check);
    expect(stale).toBeInstanceOf(Promise);
    expect(await stale).toBe(false);
    expect(a.checks()).toBe(3);
  });

  it('never remembers a no, and forgets every yes when a membership changes', async () => {
    const a = access();
    a.answer(false);
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(false);
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(false);
    expect(a.checks()).toBe(2);

    a.answer(true);
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    expect(a.checks()).toBe(3);
    await a.liveAccess.membershipsChanged('organization-1');
    a.answer(false);
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(false);
    expect(a.checks()).toBe(4);
  });
});
