/**
 * The API's request limits, shared by every way in: an HTTP request to `/graphql`, a WebSocket
 * connection, and each operation sent over one.
 */
import type { Actor } from '../domain/identity/actor.ts';
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
  const { limiter, config } = services;
  const window = config.rateLimits.windowSeconds;
  const checks: [string, string, number][] = [['ip', `ip:${ip}`, config.rateLimits.perIp]];
  if (actor.kind === 'user') checks.push(['user', `user:${actor.userId}`, config.rateLimits.perUser]);
  if (actor.kind === 'apiKey') checks.push(['apiKey', `key:${actor.apiKeyId}`, config.rateLimits.perApiKey]);
  for (const [limit, key, max] of checks) {
    const result = await limiter.hit(key, max, window);
    if (!result.allowed) return { limit, retryAfter: result.retryAfterSeconds };
  }
  return null;
}
