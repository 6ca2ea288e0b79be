/**
 * The API's request limits, shared by every way in: an HTTP request to `/graphql`, a WebSocket
 * connection, and each operation sent over one. Besides, an API key's request (an HTTP request,
 * a WebSocket operation; not the connection) counts against the key's daily quota.
 */
import { DailyQuotaExceededError, quotaHeaders, spendApiRequest } from '../domain/developer/quota.ts';
import type { Actor } from '../domain/identity/actor.ts';
import { limitedAddress } from '../platform/client-address.ts';
import type { LimitHit, RateLimitResult as LimitResult } from '../platform/rate-limit.ts';
import type { Services } from '../wiring/services.ts';

export interface RateLimitRefusal {
  /** Which limit was exceeded, for metrics: `ip`, `user` or `apiKey`. */
  limit: string;
  retryAfter: number;
}

/**
 * Every request counts against its IP; signed-in requests also against their user or API key.
 * Returns the first limit exceeded, or null.
 */
export async function rateLimit(
  services: Services,
  actor: Actor,
  ip: string,
): Promise<RateLimitRefusal | null> {
  const checks = limitChecks(services, actor, ip);
  // One round trip for both: a request over its IP's limit is not counted against its user.
  return refusalOf(checks, await services.limiter.hitInOrder(checks));
}

/** The limits a request from `ip` by `actor` counts against, in the order they are counted. */
export function limitChecks(
  services: Pick<Services, 'config'>,
  actor: Actor,
  ip: string,
): (LimitHit & { name: string })[] {
  const { rateLimits } = services.config;
  const windowSeconds = rateLimits.windowSeconds;
  const checks: (LimitHit & { name: string })[] = [
    { name: 'ip', key: `ip:${limitedAddress(ip)}`, limit: rateLimits.perIp, windowSeconds },
  ];
  if (actor.kind === 'user')
    checks.push({ name: 'user', key: `user:${actor.userId}`, limit: rateLimits.perUser, windowSeconds });
  if (actor.kind === 'apiKey')
    checks.push({ name: 'apiKey', key: `key:${actor.apiKeyId}`, limit: rateLimits.perApiKey, windowSeconds });
  return checks;
}

/** The refusal for the limit `hitInOrder` (or `hitInOrderUnless`) found exceeded among `checks`. */
export function refusalOf(
  checks: readonly { name: string }[],
  refused: { index: number; result: LimitResult } | null,
): RateLimitRefusal | null {
  return refused && { limit: checks[refused.index]!.name, retryAfter: refused.result.retryAfterSeconds };
}

/**
 * Counts an API key's request against its daily quota (developer/quota.ts); anyone else's is not
 * counted. `headers`: the `X-RateLimit-*` headers for the answer; `refused`: the day is spent.
 */
export async function dailyQuota(
  services: Pick<Services, 'apiQuota'>,
  actor: Actor,
): Promise<{ headers: Record<string, string>; refused: DailyQuotaExceededError | null }> {
  if (actor.kind !== 'apiKey') return { headers: {}, refused: null };
  try {
    return { headers: quotaHeaders(await spendApiRequest(services.apiQuota, actor)), refused: null };
  } catch (error) {
    if (error instanceof DailyQuotaExceededError)
      return { headers: quotaHeaders(error.quota), refused: error };
    throw error;
  }
}

/**
 * How a spent daily quota is told over GraphQL: the error (code `RATE_LIMITED`, as for the
 * per-minute limits, with `retryAfterSeconds`, and the day's `resetsAt`, `limit` and `tier`), and
 * for HTTP its headers: `Retry-After` (seconds to midnight UTC) and `X-RateLimit-*`.
 */
export function dailyQuotaRefusal(error: DailyQuotaExceededError) {
  const { quota } = error;
  return {
    body: {
      message: error.message,
      extensions: {
        code: 'RATE_LIMITED',
        reason: error.code,
        retryAfterSeconds: error.retryAfterSeconds,
        resetsAt: quota.resetsAt.toISOString(),
        limit: quota.limit,
        tier: quota.tier,
      },
    },
    headers: { 'retry-after': String(error.retryAfterSeconds), ...quotaHeaders(quota) },
  };
}
