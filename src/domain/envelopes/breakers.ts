/**
 * Circuit breakers for sending envelopes (CLAWPULSE.md, "Circuit breakers"): one global and one
 * per recipient. A breaker opens after `failures` failed sends within `windowSeconds`, refuses
 * sends for `cooldownSeconds`, then lets exactly one probe through (half-open): the probe's
 * success closes it, its failure opens it for a full cooldown again.
 *
 * The state lives in Redis, so every process and a restarted one see the same breaker. Each
 * decision is one Lua script, so it is atomic across processes: of many concurrent senders after
 * a cooldown exactly one gets the probe (a token set with `SET NX` and a lease, so a probe whose
 * process dies is given to someone else when the lease ends). Without Redis (the per-process
 * stand-in of src/platform/redis.ts) the same rules run in this process's memory: each process
 * then learns on its own that the gateway is down, which `mode` says.
 *
 * Only the probe decides a breaker that is not closed: outcomes of calls let through before it
 * opened are ignored. A success while closed changes nothing (failures are counted in a sliding
 * window, not in a row). Times come from the caller's clock (`now`), so tests move them.
 *
 * Why not a library: the well-kept breaker libraries for Node (opossum, cockatiel) keep their
 * state in the process and wrap the call itself; neither can hold the state in Redis nor hand
 * out one probe across processes, and the state machine is a few lines of Lua.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisHandle } from '../../platform/redis.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerSettings {
  /** Failures within the window that open a breaker. */
  failures: number;
  windowSeconds: number;
  /** How long an open breaker refuses before its probe. */
  cooldownSeconds: number;
  /** How long a probe may take before another caller gets to probe (default 60 s). */
  probeLeaseMs?: number;
}

export interface BreakerSnapshot {
  /** `global`, or `recipient:<agent id>`. */
  scope: string;
  state: BreakerState;
  /** Failures counted in the window (closed breakers only). */
  failures: number;
  /** When an open breaker lets its probe through (null when closed). */
  retryAt: Date | null;
}

/** A send the breakers let through; report its outcome with `success` or `failure`. */
export interface Admission {
  allowed: true;
  recipient: string;
  /** The probe tokens this send holds, by scope (a send may probe both breakers). */
  probes: Record<string, string>;
}

/** A send the breakers refuse: wait until `retryAt`. */
export interface Refusal {
  allowed: false;
  scope: string;
  retryAt: Date;
}

export interface EnvelopeBreakers {
  readonly mode: 'redis' | 'memory';
  /** Asks to send to `recipient`: the global breaker first, then the recipient's. */
  admit(recipient: string): Promise<Admission | Refusal>;
  /** The send went through (the gateway answered): a probe closes its breakers. */
  success(admission: Admission): Promise<void>;
  /** The send failed for now (timeout, connection, 5xx): counted on both breakers. */
  failure(admission: Admission): Promise<void>;
  snapshot(scope: string): Promise<BreakerSnapshot>;
  /** The global breaker and every recipient's that is not closed (for /readyz and metrics). */
  snapshots(): Promise<BreakerSnapshot[]>;
}

export const GLOBAL_SCOPE = 'global';

export function recipientScope(recipient: string): string {
  return `recipient:${recipient}`;
}

/** The `a2a_breaker_state` gauge's value: 0 closed, 1 half-open, 2 open. */
export function breakerStateValue(state: BreakerState): number {
  return state === 'closed' ? 0 : state === 'half_open' ? 1 : 2;
}

/** One line for `/readyz`: which breakers are not closed, and where their state lives. */
export function describeBreakers(snapshots: readonly BreakerSnapshot[], mode: 'redis' | 'memory'): string {
  const tripped = snapshots.filter((s) => s.state !== 'closed');
  const where = mode === 'redis' ? 'shared in Redis' : 'per process (no Redis)';
  if (!tripped.length) return `all closed (${where})`;
  const parts = tripped.map(
    (s) =>
      `${s.scope} ${s.state.replace('_', '-')}${s.state === 'open' ? ` until ${s.retryAt!.toISOString()}` : ''}`,
  );
  return `${parts.join(', ')} (${where})`;
}

/** How long an open breaker's record is kept with no probe (then it counts as closed). */
const KEEP_OPEN_MS = 7 * 86_400_000;

/** The store of one breaker's state: Redis or this process. */
interface BreakerStore {
  mode: 'redis' | 'memory';
  /** { allowed, probe token or null, retryAt ms } */
  pass(scope: string, now: number): Promise<{ allowed: boolean; probe: string | null; retryAt: number }>;
  report(scope: string, ok: boolean, probe: string | null, now: number): Promise<void>;
  release(scope: string, probe: string): Promise<void>;
  peek(scope: string, now: number): Promise<BreakerSnapshot>;
  tripped(): Promise<string[]>;
}

export function createEnvelopeBreakers(
  redis: RedisHandle,
  settings: BreakerSettings,
  options: { now?: () => number } = {},
): EnvelopeBreakers {
  const now = options.now ?? Date.now;
  const store = redis.client
    ? redisStore(redis.client, `${redis.keyPrefix}a2a:breaker:`, settings)
    : memoryStore(settings);

  async function report(admission: Admission, ok: boolean) {
    const at = now();
    for (const scope of [GLOBAL_SCOPE, recipientScope(admission.recipient)]) {
      const probe = admission.probes[scope] ?? null;
      // A success only matters to a breaker this send probes.
      if (ok && !probe) continue;
      await store.report(scope, ok, probe, at);
    }
  }

  return {
    mode: store.mode,
    async admit(recipient) {
      const probes: Record<string, string> = {};
      for (const scope of [GLOBAL_SCOPE, recipientScope(recipient)]) {
        const pass = await store.pass(scope, now());
        if (!pass.allowed) {
          // Refused further on: the probe taken on the way is given back for another sender.
          for (const [held, token] of Object.entries(probes)) await store.release(held, token);
          return { allowed: false, scope, retryAt: new Date(pass.retryAt) };
        }
        if (pass.probe) probes[scope] = pass.probe;
      }
      return { allowed: true, recipient, probes };
    },
    success: (admission) => report(admission, true),
    failure: (admission) => report(admission, false),
    snapshot: (scope) => store.peek(scope, now()),
    async snapshots() {
      const scopes = [GLOBAL_SCOPE, ...(await store.tripped()).filter((s) => s !== GLOBAL_SCOPE).sort()];
      return Promise.all(scopes.map((scope) => store.peek(scope, now())));
    },
  };
}

// KEYS: open, probe. ARGV: now, probe lease ms, token, cooldown ms. Returns {allowed, probe?, retryAt}.
// Refused while another sender's probe is out: back when its lease ends, or after a cooldown if
// that is sooner (by then the probe has usually closed the breaker or opened it again).
const PASS = `
local opened = redis.call('GET', KEYS[1])
if not opened then return {1, 0, 0} end
local now = tonumber(ARGV[1])
local untilMs = tonumber(opened)
if now < untilMs then return {0, 0, untilMs} end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[2]) then return {1, 1, 0} end
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then ttl = tonumber(ARGV[2]) end
return {0, 0, now + math.min(ttl, tonumber(ARGV[4]))}`;

// KEYS: open, failures, probe, tripped. ARGV: now, ok, token, failures, window ms, cooldown ms,
// scope, keep ms, member.
const REPORT = `
local now = tonumber(ARGV[1])
local cooldown = tonumber(ARGV[6])
local opened = redis.call('GET', KEYS[1])
if opened then
  if ARGV[3] == '' or redis.call('GET', KEYS[3]) ~= ARGV[3] then return 'ignored' end
  if ARGV[2] == '1' then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
    redis.call('SREM', KEYS[4], ARGV[7])
    return 'closed'
  end
  redis.call('SET', KEYS[1], now + cooldown, 'PX', cooldown + tonumber(ARGV[8]))
  redis.call('DEL', KEYS[3])
  return 'reopened'
end
if ARGV[2] == '1' then return 'closed' end
local window = tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('PEXPIRE', KEYS[2], window)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  redis.call('SET', KEYS[1], now + cooldown, 'PX', cooldown + tonumber(ARGV[8]))
  redis.call('DEL', KEYS[2])
  redis.call('SADD', KEYS[4], ARGV[7])
  return 'opened'
end
return 'counted'`;

// KEYS: probe. ARGV: token.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

type BreakerRedis = Redis & {
  agntBreakerPass(
    open: string,
    probe: string,
    now: number,
    lease: number,
    token: string,
    cooldown: number,
  ): Promise<[number, number, number]>;
  agntBreakerReport(...args: (string | number)[]): Promise<string>;
  agntBreakerRelease(probe: string, token: string): Promise<number>;
};

function redisStore(client: Redis, prefix: string, settings: BreakerSettings): BreakerStore {
  const redis = client as BreakerRedis;
  redis.defineCommand('agntBreakerPass', { numberOfKeys: 2, lua: PASS });
  redis.defineCommand('agntBreakerReport', { numberOfKeys: 4, lua: REPORT });
  redis.defineCommand('agntBreakerRelease', { numberOfKeys: 1, lua: RELEASE });
  const key = (scope: string, part: string) => `${prefix}${scope}:${part}`;
  const tripped = `${prefix}tripped`;
  const windowMs = settings.windowSeconds * 1000;
  const cooldownMs = settings.cooldownSeconds * 1000;
  return {
    mode: 'redis',
    async pass(scope, now) {
      const token = randomUUID();
      const [allowed, probe, retryAt] = await redis.agntBreakerPass(
        key(scope, 'open'),
        key(scope, 'probe'),
        now,
        settings.probeLeaseMs ?? 60_000,
        token,
        cooldownMs,
      );
      return { allowed: allowed === 1, probe: probe === 1 ? token : null, retryAt };
    },
    async report(scope, ok, probe, now) {
      await redis.agntBreakerReport(
        key(scope, 'open'),
        key(scope, 'failures'),
        key(scope, 'probe'),
        tripped,
        now,
        ok ? '1' : '0',
        probe ?? '',
        settings.failures,
        windowMs,
        cooldownMs,
        scope,
        KEEP_OPEN_MS,
        randomUUID(),
      );
    },
    async release(scope, probe) {
      await redis.agntBreakerRelease(key(scope, 'probe'), probe);
    },
    async peek(scope, now) {
      const [opened, failures] = await Promise.all([
        redis.get(key(scope, 'open')),
        redis.zcount(key(scope, 'failures'), now - windowMs, '+inf'),
      ]);
      if (!opened) return { scope, state: 'closed', failures, retryAt: null };
      const until = Number(opened);
      return { scope, state: now < until ? 'open' : 'half_open', failures: 0, retryAt: new Date(until) };
    },
    async tripped() {
      return redis.smembers(tripped);
    },
  };
}

/** The same rules in this process (no Redis): single-threaded, so each call is atomic. */
function memoryStore(settings: BreakerSettings): BreakerStore {
  const breakers = new Map<
    string,
    { until: number | null; failures: number[]; probe: { token: string; ends: number } | null }
  >();
  const windowMs = settings.windowSeconds * 1000;
  const cooldownMs = settings.cooldownSeconds * 1000;
  const of = (scope: string) => {
    let breaker = breakers.get(scope);
    if (!breaker) {
      breaker = { until: null, failures: [], probe: null };
      breakers.set(scope, breaker);
    }
    return breaker;
  };
  return {
    mode: 'memory',
    async pass(scope, now) {
      const b = of(scope);
      if (b.until === null) return { allowed: true, probe: null, retryAt: 0 };
      if (now < b.until) return { allowed: false, probe: null, retryAt: b.until };
      // The lease runs on the real clock, as Redis's PX does.
      if (b.probe && b.probe.ends > Date.now()) {
        return {
          allowed: false,
          probe: null,
          retryAt: now + Math.min(b.probe.ends - Date.now(), cooldownMs),
        };
      }
      b.probe = { token: randomUUID(), ends: Date.now() + (settings.probeLeaseMs ?? 60_000) };
      return { allowed: true, probe: b.probe.token, retryAt: 0 };
    },
    async report(scope, ok, probe, now) {
      const b = of(scope);
      if (b.until !== null) {
        if (!probe || b.probe?.token !== probe) return;
        if (ok) breakers.delete(scope);
        else {
          b.until = now + cooldownMs;
          b.probe = null;
        }
        return;
      }
      if (ok) return;
      b.failures = [...b.failures.filter((at) => at > now - windowMs), now];
      if (b.failures.length >= settings.failures) {
        b.until = now + cooldownMs;
        b.failures = [];
      }
    },
    async release(scope, probe) {
      const b = of(scope);
      if (b.probe?.token === probe) b.probe = null;
    },
    async peek(scope, now) {
      const b = breakers.get(scope);
      if (!b || b.until === null) {
        return {
          scope,
          state: 'closed',
          failures: b ? b.failures.filter((at) => at > now - windowMs).length : 0,
          retryAt: null,
        };
      }
      return { scope, state: now < b.until ? 'open' : 'half_open', failures: 0, retryAt: new Date(b.until) };
    },
    async tripped() {
      return [...breakers].filter(([, b]) => b.until !== null).map(([scope]) => scope);
    },
  };
}
