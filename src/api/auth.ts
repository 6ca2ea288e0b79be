/**
 * The caller's identity, from the `Authorization` header only: `Bearer <access token>` or
 * `Bearer <API key>` (keys are told apart by their prefix). Headers such as `X-User-Id` are never
 * read. No header at all is an anonymous caller; a header that does not verify is a 401, and an
 * address whose credentials keep failing is refused whatever it sends next (a 429), before any
 * credential is looked up (credential-failures.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  authenticateAccessTokenWithRoles,
  sessionEnded,
  signedInWith,
  type UserCache,
  verifyOwnAccessToken,
} from '../domain/identity/access-tokens.ts';
import { type Actor, anonymous, type MembershipRole } from '../domain/identity/actor.ts';
import { authenticateApiKey } from '../domain/identity/api-keys.ts';
import {
  credentialFailureLimit,
  lockedOut,
  verifyCredentialFrom,
} from '../domain/identity/credential-failures.ts';
import { AuthenticationError } from '../platform/errors.ts';
import type { Services } from '../wiring/services.ts';
import type { LiveAccess } from './live-access.ts';
import { limitChecks, type RateLimitRefusal, rateLimit, refusalOf } from './rate-limit.ts';

export async function authenticate(
  services: Services,
  headers: IncomingHttpHeaders,
  ip?: string,
): Promise<Actor> {
  return (await authenticateRequest(services, headers, ip)).actor;
}

/** The caller, and for a signed-in person their roles, read with their user (null otherwise). */
export interface Authenticated {
  actor: Actor;
  roles: ReadonlyMap<string, MembershipRole> | null;
}

/** authenticate, also answering a signed-in person's roles (see authenticateAccessTokenWithRoles). */
export async function authenticateRequest(
  services: Services,
  headers: IncomingHttpHeaders,
  ip?: string,
): Promise<Authenticated> {
  const header = headers.authorization;
  if (header === undefined || header === '') return { actor: anonymous, roles: null };
  if (ip === undefined) return verify(services, header);
  return verifyCredentialFrom(services, ip, () => verify(services, header));
}

/** authenticateRequest, then the request limits (rateLimit): the refusal of the first one exceeded. */
export interface AdmittedRequest extends Authenticated {
  refusal: RateLimitRefusal | null;
}

/**
 * authenticateRequest followed by rateLimit, with the same answers, in fewer round trips for a
 * signed-in person's access token of ours (what nearly every request carries): the token is
 * verified in this process, then the address's failed-credentials lockout and the request limits
 * go to Redis in one script (RateLimiter.hitInOrderUnless) beside the ended-session check, and the
 * user is read after them (or remembered: AUTH_USER_CACHE_MS). A locked-out address is still refused whatever it sent, and nothing of it is
 * counted; a credential that does not verify, an API key or an external token takes the path of
 * authenticateRequest, then rateLimit. One difference: a good token of a user deleted or gone
 * (refused as before) has been counted against the address's and the user's limits.
 */
export async function authenticateAndLimit(
  services: Services,
  headers: IncomingHttpHeaders,
  ip: string,
  remembered?: Pick<LiveAccess, 'remembered'>,
): Promise<AdmittedRequest> {
  const header = headers.authorization;
  const credential = header ? bearer(header) : null;
  const verified =
    credential && !isApiKey(services, credential)
      ? await verifyOwnAccessToken(tokenDeps(services), credential).catch(() => null)
      : null;
  if (!verified) {
    const authenticated = await authenticateRequest(services, headers, ip);
    return { ...authenticated, refusal: await rateLimit(services, authenticated.actor, ip) };
  }
  const checks = limitChecks(services, { kind: 'user', userId: verified.userId, isPlatformAdmin: false }, ip);
  const deps = tokenDeps(services);
  // Asked beside the script, so both go to Redis in one write (auto-pipelining).
  const ended = sessionEnded(deps, verified);
  const limits = await services.limiter.hitInOrderUnless(credentialFailureLimit(services, ip), checks);
  if (limits?.index === -1) throw lockedOut(limits.result.retryAfterSeconds);
  // After the script, not beside it: a locked-out address costs no read, and the reads of
  // requests whose scripts were answered together go to PostgreSQL together (one statement).
  const signedIn = await signedInWith(deps, verified, ended, remembered && userCache(services, remembered));
  return { ...signedIn, refusal: refusalOf(checks, limits) };
}

/**
 * The user and roles of signed-in people, remembered for AUTH_USER_CACHE_MS by this process and
 * forgotten in every API process as soon as a membership changes through the API (live-access.ts).
 * The session is still checked on every request, so signing out takes effect at once.
 */
function userCache(services: Services, cache: Pick<LiveAccess, 'remembered'>): UserCache {
  const maxAgeMs = services.config.auth.userCacheMs;
  return (userId, read, keep) => cache.remembered(`signed-in\n${userId}`, maxAgeMs, read, keep);
}

/**
 * Verifies an `Authorization` value (also what WebSocket clients send in `connection_init`).
 * With the client's `ip`, failures count against that address and a locked-out address gets
 * RateLimitedError before anything is verified; without it (re-checking a credential that was
 * already accepted) nothing is counted.
 */
export async function authenticateCredential(
  services: Services,
  authorization: string,
  options: { ip?: string } = {},
): Promise<Actor> {
  if (options.ip === undefined) return (await verify(services, authorization)).actor;
  return (await verifyCredentialFrom(services, options.ip, () => verify(services, authorization))).actor;
}

/** The credential of an `Authorization` value, or null when it is not `Bearer <credential>`. */
function bearer(authorization: string): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] ?? null;
}

function tokenDeps(services: Services) {
  return {
    keys: services.keys,
    auth: services.config.auth,
    db: services.db,
    external: services.external,
    revokedSessions: services.revokedSessions,
    now: services.now,
  };
}

async function verify(services: Services, authorization: string): Promise<Authenticated> {
  const credential = bearer(authorization);
  if (!credential)
    throw new AuthenticationError('Use the Authorization header as "Bearer <token or API key>"');
  if (isApiKey(services, credential)) {
    const actor = await authenticateApiKey(services.db, credential, {
      keyPrefix: services.config.auth.apiKeyPrefix,
      now: services.now,
    });
    return { actor, roles: null };
  }
  return authenticateAccessTokenWithRoles(tokenDeps(services), credential);
}

/** For metrics: what kind of credential a refused request carried. */
export function credentialKind(
  services: Services,
  headers: IncomingHttpHeaders,
): 'apiKey' | 'jwt' | 'malformed' {
  const value = /^Bearer\s+(\S+)/i.exec(headers.authorization ?? '')?.[1];
  if (!value) return 'malformed';
  return isApiKey(services, value) ? 'apiKey' : 'jwt';
}

function isApiKey(services: Services, credential: string): boolean {
  return credential.startsWith(`${services.config.auth.apiKeyPrefix}_`);
}
