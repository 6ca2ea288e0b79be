/**
 * The envelope breakers in Redis: open after 5 failures in the window, refuse for the cooldown,
 * then exactly one probe among concurrent callers; its success closes, its failure re-opens for
 * a full cooldown. Two breaker instances on one Redis are two processes: they share the state.
 * The per-process stand-in follows the same rules.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type Admission,
  type BreakerSettings,
  createEnvelopeBreakers,
  type EnvelopeBreakers,
  recipientScope,
} from '../../src/domain/envelopes/breakers.ts';
import { memoryRedis, type RedisHandle } from '../../src/platform/redis.ts';
import { createTestRedis } from '../helpers/redis.ts';

const SETTINGS: BreakerSettings = { failures: 5, windowSeconds: 600, cooldownSeconds: 300 };
const VENUE = 'venue-11111111-1111-4111-8111-111111111111';
const OTHER = 'venue-22222222-2222-4222-8222-222222222222';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
let now = Date.parse('2026-12-03T12:00:00Z');
const clock = () => now;

beforeAll(async () => {
  redis = await createTestRedis();
});
afterAll(() => redis.close());
beforeEach(async () => {
  await redis.flush();
});

async function admitted(breakers: EnvelopeBreakers, recipient = VENUE): Promise<Admission> {
  const admission = await breakers.admit(recipient);
  if (!admission.allowed) throw new Error(`refused by ${admission.scope}`);
  return admission;
}

async function fail(breakers: EnvelopeBreakers, times: number, recipient = VENUE) {
  for (let i = 0; i < times; i++) await breakers.failure(await admitted(breakers, recipient));
}

for (const store of ['redis', 'memory'] as const) {
  describe(`envelope breakers (${store})`, () => {
    const make = (handle?: RedisHandle) =>
      createEnvelopeBreakers(handle ?? (store === 'redis' ? redis : memoryRedis('test:')), SETTINGS, {
        now: clock,
      });

    it('opens after five failures within the window, and only then', async () => {
      const breakers = make();
      expect(breakers.mode).toBe(store);
      await fail(breakers, 4);
      expect((await breakers.snapshot(recipientScope(VENUE))).state).toBe('closed');
      expect((await breakers.snapshot(recipientScope(VENUE))).failures).toBe(4);
      await fail(breakers, 1);
      const open = await breakers.snapshot(recipientScope(VENUE));
      expect(open).toEqual({
        scope: recipientScope(VENUE),
        state: 'open',
        failures: 0,
        retryAt: new Date(now + 300_000),
      });
      // The global breaker counted them too.
      expect((await breakers.snapshot('global')).state).toBe('open');
      expect(await breakers.admit(VENUE)).toEqual({
        allowed: false,
        scope: 'global',
        retryAt: new Date(now + 300_000),
      });
      expect((await breakers.snapshots()).map((s) => [s.scope, s.state])).toEqual([
        ['global', 'open'],
        [recipientScope(VENUE), 'open'],
      ]);
    });

    it('forgets failures older than the window', async () => {
      const breakers = make();
      await fail(breakers, 4);
      now += 601_000;
      await fail(breakers, 4);
      expect((await breakers.snapshot(recipientScope(VENUE))).state).toBe('closed');
    });

    it('lets exactly one probe through after the cooldown, among concurrent callers of two processes', async () => {
      const one = make();
      const two = store === 'redis' ? make() : one;
      await fail(one, 5);
      now += 299_000;
      expect((await two.admit(VENUE)).allowed).toBe(false);
      now += 1_000;
      expect((await two.snapshot('global')).state).toBe('half_open');
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 ? one : two).admit(VENUE)),
      );
      const allowed = answers.filter((a): a is Admission => a.allowed);
      expect(allowed).toHaveLength(1);
      // The probe holds both breakers: only its outcome decides them.
      expect(Object.keys(allowed[0]!.probes).sort()).toEqual(['global', recipientScope(VENUE)]);
      for (const refused of answers.filter((a) => !a.allowed)) {
        expect(refused.allowed === false && refused.retryAt.getTime()).toBeGreaterThan(now);
      }

      await (store === 'redis' ? two : one).success(allowed[0]!);
      expect((await one.snapshot('global')).state).toBe('closed');
      expect((await one.snapshot(recipientScope(VENUE))).state).toBe('closed');
      expect((await one.admit(VENUE)).allowed).toBe(true);
      expect(await one.snapshots()).toEqual([
        { scope: 'global', state: 'closed', failures: 0, retryAt: null },
      ]);
    });

    it('opens again for a full cooldown when the probe fails', async () => {
      const breakers = make();
      await fail(breakers, 5);
      now += 300_000;
      const probe = await admitted(breakers);
      await breakers.failure(probe);
      const reopened = await breakers.snapshot('global');
      expect(reopened).toMatchObject({ state: 'open', retryAt: new Date(now + 300_000) });
      now += 299_999;
      expect((await breakers.admit(VENUE)).allowed).toBe(false);
      now += 1;
      expect((await breakers.admit(VENUE)).allowed).toBe(true);
    });

    it('ignores the outcomes of calls let through before the breaker opened', async () => {
      const breakers = make();
      const early = await admitted(breakers);
      await fail(breakers, 5);
      await breakers.success(early);
      await breakers.failure(early);
      expect((await breakers.snapshot('global')).retryAt).toEqual(new Date(now + 300_000));
    });

    it('keeps one recipient’s breaker from holding back another, once the global one is closed', async () => {
      const breakers = make();
      await fail(breakers, 5);
      now += 300_000;
      // The probe to OTHER closes the global breaker; VENUE's own breaker is still to be probed.
      await breakers.success(await admitted(breakers, OTHER));
      expect((await breakers.snapshot('global')).state).toBe('closed');
      expect((await breakers.snapshot(recipientScope(VENUE))).state).toBe('half_open');
      expect((await breakers.admit(OTHER)).allowed).toBe(true);
    });
  });
}

describe('envelope breakers across restarts', () => {
  it('keep their state in Redis: a new instance on a new connection sees the open breaker', async () => {
    await fail(createEnvelopeBreakers(redis, SETTINGS, { now: clock }), 5);
    const restarted = await createTestRedis();
    try {
      const handle = { ...restarted, keyPrefix: redis.keyPrefix };
      const breakers = createEnvelopeBreakers(handle, SETTINGS, { now: clock });
      expect((await breakers.snapshot('global')).state).toBe('open');
      expect((await breakers.admit(VENUE)).allowed).toBe(false);
    } finally {
      await restarted.close();
    }
  });

  it('give a probe whose process died to another caller when its lease ends', async () => {
    const breakers = createEnvelopeBreakers(redis, { ...SETTINGS, probeLeaseMs: 200 }, { now: clock });
    await fail(breakers, 5);
    now += 300_000;
    expect((await breakers.admit(VENUE)).allowed).toBe(true);
    expect((await breakers.admit(VENUE)).allowed).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await breakers.admit(VENUE)).allowed).toBe(true);
  });
});
