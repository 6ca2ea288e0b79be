/**
 * The caller's identity, from the `Authorization` header only: `Bearer <access token>` or
 * `Bearer <API key>` (keys are told apart by their prefix). Headers such as `X-User-Id` are never
 * read. No header at all is an anonymous caller; a header that does not verify is a 401, and an
 * address whose credentials keep failing is refused before its next one is verified (a 429).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { authenticateAccessTokenWithRoles } from '../domain/identity/access-tokens.ts';
import { type Actor, anonymous, type MembershipRole } from '../domain/identity/actor.ts';
import { authenticateApiKey } from '../domain/identity/api-keys.ts';
import { verifyCredentialFrom } from '../domain/identity/credential-failures.ts';
import { AuthenticationError } from '../platform/errors.ts';
import type { Services } from '../wiring/services.ts';

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

async function verify(services: Services, authorization: string): Promise<Authenticated> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) throw new AuthenticationError('Use the Authorization header as "Bearer <token or API key>"');
  const credential = match[1]!;
  if (isApiKey(services, credential)) {
    const actor = await authenticateApiKey(services.db, credential, {
      keyPrefix: services.config.auth.apiKeyPrefix,
      now: services.now,
    });
    return { actor, roles: null };
  }
  return authenticateAccessTokenWithRoles(
    {
      keys: services.keys,
      auth: services.config.auth,
      db: services.db,
      external: services.external,
      revokedSessions: services.revokedSessions,
      now: services.now,
    },
    credential,
  );
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
