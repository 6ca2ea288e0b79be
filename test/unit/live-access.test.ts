/**
 * A live subscriber's right to read, remembered by the process (src/api/live-access.ts): a yes
 * is answered at once, without a promise, while it is fresh, checked again in the background
 * once it is REFRESH_FROM_MS to REFRESH_BY_MS old, and checked afresh (waited for) once it is RECHECK_MS old or any
 * membership changed; a no is never remembered.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createLiveAccess, RECHECK_MS, REFRESH_BY_MS, REFRESH_FROM_MS } from '../../src/api/live-access.ts';
import type { Actor } from '../../src/domain/identity/actor.ts';
import { createPubSub } from '../../src/platform/pubsub.ts';
import { memoryRedis } from '../../src/platform/redis.ts';
import { capturingLogger } from '../helpers/logs.ts';

const { logger } = capturingLogger();
const pubsub = createPubSub(memoryRedis('test:'), logger);
afterAll(() => pubsub.close());

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function access() {
  let clock = Date.parse('2026-12-06T12:00:00Z');
  const liveAccess = createLiveAccess({ pubsub, now: () => new Date(clock), logger });
  let checks = 0;
  let answer = true;
  /** While set, checks wait for `release()`. */
  let gate: Promise<void> | null = null;
  let open = () => {};
  const check = async () => {
    checks += 1;
    const decided = answer;
    if (gate) await gate;
    return decided;
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
    hold: () => {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    release: async () => {
      gate = null;
      open();
      // The background check's answer is taken in a later turn.
      await nextTurn();
    },
    /** Background checks start in a later turn than the event that found their answer old. */
    nextTurn,
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

  it('is checked again in the background late in its life, so events do not wait', async () => {
    const a = access();
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    a.later(REFRESH_FROM_MS - 1);
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    expect(a.checks()).toBe(1);
    a.later(REFRESH_BY_MS - REFRESH_FROM_MS + 1);
    a.hold();
    // Still a yes at once; the check runs behind it, once however many events arrive meanwhile.
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    await a.nextTurn();
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    expect(a.checks()).toBe(2);
    await a.release();
    // Past the first answer's life, the second one (as of when its check began) answers at once.
    a.later(RECHECK_MS - REFRESH_BY_MS);
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    expect(a.checks()).toBe(2);
    // Never trusted past RECHECK_MS: with no event late in its life, the next one waits.
    a.later(RECHECK_MS);
    const stale = a.liveAccess.allowed(staff, 'venue:1', a.check);
    expect(stale).toBeInstanceOf(Promise);
    expect(await stale).toBe(true);
    expect(a.checks()).toBe(3);
  });

  it('drops a yes whose background check says no, so the next event is refused', async () => {
    const a = access();
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    a.later(REFRESH_BY_MS);
    a.answer(false);
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    await a.release();
    const next = a.liveAccess.allowed(staff, 'venue:1', a.check);
    expect(next).toBeInstanceOf(Promise);
    expect(await next).toBe(false);
    expect(a.checks()).toBe(3);
  });

  it('keeps no background yes that began before a membership changed', async () => {
    const a = access();
    expect(await a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    a.later(REFRESH_BY_MS);
    a.hold();
    expect(a.liveAccess.allowed(staff, 'venue:1', a.check)).toBe(true);
    // The member is removed while the check (which read the old membership) is under way.
    await a.liveAccess.membershipsChanged('organization-1');
    a.answer(false);
    await a.release();
    const next = a.liveAccess.allowed(staff, 'venue:1', a.check);
    expect(next).toBeInstanceOf(Promise);
    expect(await next).toBe(false);
  });

  it('spreads the background checks of many subscribers over the events of a few seconds', async () => {
    const a = access();
    const people = Array.from(
      { length: 200 },
      (_, i): Actor => ({ kind: 'user', userId: `user-${i}`, isPlatformAdmin: false }),
    );
    for (const person of people) await a.liveAccess.allowed(person, 'venue:1', a.check);
    a.later((REFRESH_FROM_MS + REFRESH_BY_MS) / 2);
    for (const person of people) expect(a.liveAccess.allowed(person, 'venue:1', a.check)).toBe(true);
    await a.nextTurn();
    const halfway = a.checks() - people.length;
    // About half of them are due by the middle of the range; not all at once.
    expect(halfway).toBeGreaterThan(40);
    expect(halfway).toBeLessThan(160);
    await a.release();
  });
});
