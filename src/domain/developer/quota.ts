/**
 * The daily request quota of API keys: each key may make its tier's number of requests per UTC
 * day (tiers.ts), and the count starts again at midnight UTC. It is a limit of its own, beside
 * the per-minute request limits (src/api/rate-limit.ts), which still apply to every request.
 *
 * What counts as one request: a GraphQL request over HTTP, a GraphQL operation over a WebSocket,
 * and one tool call (MCP, public A2A; tools/quota.ts). MCP's own protocol messages (initialize,
 * listing tools, the SSE stream) are not counted: a developer's agent pays for what it does, not
 * for keeping its session up. A refused request is not counted.
 *
 * Counts live in Redis (platform/day-counters.ts), one counter per key per day; the
 * `api-usage-flush` job copies them to `api_key_daily_usage` for the dashboard and billing
 * (usage.ts). The tier is looked up on each request (one indexed query), so a plan that lapses or
 * is paid for changes the limit at the key's next request.
 */
import type { DayCounters } from '../../platform/day-counters.ts';
import { RateLimitedError } from '../../platform/errors.ts';
import { type DeveloperTier, dailyLimit, developerTier, type TierDeps } from './tiers.ts';

/** How long a day's counter is kept after the day, so the flush after midnight still reads it. */
export const KEEP_AFTER_DAY_MS = 2 * 86_400_000;
const DAY_MS = 86_400_000;

export interface QuotaDeps extends TierDeps {
  counters: DayCounters;
  /** Requests per day by tier (config.rateLimits.dailyPerApiKey). */
  limits: Readonly<Record<DeveloperTier, number>>;
}

export interface QuotaState {
  tier: DeveloperTier;
  limit: number;
  /** Requests left today after this one. */
  remaining: number;
  /** The next midnight UTC, when the count starts again. */
  resetsAt: Date;
  /** Whole seconds from now until `resetsAt` (at least 1). */
  secondsToReset: number;
}

/** An API key has made its day's requests: it may go on at midnight UTC (`resetsAt`). */
export class DailyQuotaExceededError extends RateLimitedError {
  override name = 'DailyQuotaExceededError';
  readonly code = 'DAILY_QUOTA_EXCEEDED';
  readonly quota: QuotaState;
  constructor(quota: QuotaState) {
    super(
      `This API key has made its ${quota.limit} requests for today (${quota.tier.toLowerCase()} tier); the quota resets at midnight UTC (${quota.resetsAt.toISOString()}), in ${quota.secondsToReset} s`,
      quota.secondsToReset,
    );
    this.quota = quota;
  }
}

/** The UTC day holding `at`, as `YYYY-MM-DD`. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The midnight UTC that ends the day holding `at`. */
export function nextUtcMidnight(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()) + DAY_MS);
}

/**
 * Counts one request of the key against its day's quota. Resolves to the quota's state when the
 * request is admitted; throws DailyQuotaExceededError (and counts nothing) when the day's
 * requests are spent.
 */
export async function spendApiRequest(
  deps: QuotaDeps,
  key: { apiKeyId: string; organizationId: string },
): Promise<QuotaState> {
  const now = deps.now();
  const tier = await developerTier(deps, key.organizationId);
  const limit = dailyLimit(deps.limits, tier);
  const resetsAt = nextUtcMidnight(now);
  const untilReset = resetsAt.getTime() - now.getTime();
  const taken = await deps.counters.take(key.apiKeyId, utcDay(now), limit, untilReset + KEEP_AFTER_DAY_MS);
  const state: QuotaState = {
    tier,
    limit,
    remaining: Math.max(0, limit - taken.count),
    resetsAt,
    secondsToReset: Math.max(1, Math.ceil(untilReset / 1000)),
  };
  if (!taken.allowed) throw new DailyQuotaExceededError({ ...state, remaining: 0 });
  return state;
}

/** The `X-RateLimit-*` headers an HTTP answer carries for an API key's request. */
export function quotaHeaders(quota: QuotaState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(quota.limit),
    'x-ratelimit-remaining': String(quota.remaining),
    // Epoch seconds, as GitHub's and others' APIs give it.
    'x-ratelimit-reset': String(Math.floor(quota.resetsAt.getTime() / 1000)),
  };
}
