/**
 * Failed credentials per client address. A client whose API keys or tokens keep failing is
 * testing them (a list of leaked keys, forged tokens), so past AUTH_FAILURE_LIMIT_PER_IP failures
 * in AUTH_FAILURE_WINDOW_SECONDS its address is refused with RateLimitedError, whatever it sends.
 *
 * The limit is checked before the credential is looked up, so a locked-out address learns nothing
 * more about any credential, not even that one is good: it gets the same refusal whatever it sent.
 * (The `/graphql` route verifies an access token of ours in the process first, reading nothing,
 * then checks the lockout in the same Redis script as the request limits: src/api/auth.ts.) A failure is counted after it happens,
 * not reserved before: reserving would count every good credential while it is being verified,
 * and a client sending many requests at once would be refused for credentials that were fine.
 * Failures verified side by side can therefore pass the check together; the count then answers
 * those past the limit with the lockout too, as if they had come one after another.
 *
 * Credentials of ours that merely ended (expired, signed out, revoked: AuthenticationError with
 * `genuine`) do not count: their holders are not guessing, and a browser tab with an expired
 * token must not lock out the office it shares an address with.
 */
import type { Config } from '../../config/index.ts';
import { limitedAddress } from '../../platform/client-address.ts';
import { AuthenticationError, RateLimitedError } from '../../platform/errors.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';

export interface CredentialFailureDeps {
  limiter: RateLimiter;
  config: Pick<Config, 'rateLimits'>;
}

/** Runs `verify` for a credential from `ip`, unless the address is locked out; counts its failure. */
export async function verifyCredentialFrom<T>(
  deps: CredentialFailureDeps,
  ip: string,
  verify: () => Promise<T>,
): Promise<T> {
  const { key, limit } = credentialFailureLimit(deps, ip);
  const windowSeconds = deps.config.rateLimits.authFailureWindowSeconds;
  const before = await deps.limiter.peek(key, limit);
  if (!before.allowed) throw lockedOut(before.retryAfterSeconds);
  try {
    return await verify();
  } catch (error) {
    if (error instanceof AuthenticationError && !error.genuine) {
      const counted = await deps.limiter.hit(key, limit, windowSeconds);
      if (!counted.allowed) throw lockedOut(counted.retryAfterSeconds);
    }
    throw error;
  }
}

/**
 * The counter of `ip`'s failed credentials and its limit, for a caller that checks the lockout
 * itself in one round trip with other limits (RateLimiter.hitInOrderUnless): that caller must
 * answer a locked-out address with `lockedOut` whatever its credential, as verifyCredentialFrom does.
 */
export function credentialFailureLimit(
  deps: Pick<CredentialFailureDeps, 'config'>,
  ip: string,
): { key: string; limit: number } {
  return { key: `auth:failures:ip:${limitedAddress(ip)}`, limit: deps.config.rateLimits.authFailuresPerIp };
}

/** What a locked-out address is told, whatever it sent. */
export function lockedOut(retryAfterSeconds: number): RateLimitedError {
  return new RateLimitedError(
    `Too many failed credentials from this address: try again in ${retryAfterSeconds} seconds`,
    retryAfterSeconds,
  );
}
