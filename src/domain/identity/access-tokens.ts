/**
 * Short-lived access tokens: ES256 JWTs that we sign, and optionally JWTs from one configured
 * external issuer.
 *
 * jose verifies a signature and checks whatever claims are present; by itself it requires no
 * `exp`, no `sub` and accepts any algorithm the key allows. Verification here therefore pins the
 * algorithm, issuer, audience and token type and lists the claims a token must carry, so a token
 * without an expiry can never be accepted.
 *
 * External tokens (EXTERNAL_JWKS_URL, EXTERNAL_JWT_ISSUER, EXTERNAL_JWT_AUDIENCE) map to a user by
 * their `email` claim: the issuer is trusted by configuration exactly as a delivered sign-in code
 * is, so a verified address signs in (and, the first time, creates) the user with that address.
 * A token without an `email` claim, or with `email_verified: false`, is refused. We do not map by
 * `sub` because we store no external subject ids; mapping by address also means one person is one
 * user whichever way they sign in.
 */
import { randomUUID } from 'node:crypto';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { Config } from '../../config/index.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { AuthenticationError, ValidationError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/uuid.ts';
import type { Actor, MembershipRole } from './actor.ts';
import { findOrCreateUserByEmail, normalizeEmail } from './email.ts';
import type { RevokedSessions } from './revoked-sessions.ts';
import { ACCESS_TOKEN_ALGORITHM, type SigningKeys } from './signing-keys.ts';

/** The JWT `typ` of our access tokens (RFC 9068), so no other JWT signed by us passes as one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Asymmetric algorithms accepted from the external issuer. Never HS* (a public key is no secret), never none. */
export const EXTERNAL_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];

/** Seconds of clock difference tolerated on `exp`, `nbf` and `iat` between us and other machines. */
export const CLOCK_TOLERANCE_SECONDS = 5;

export type AccessTokenSettings = Pick<Config['auth'], 'issuer' | 'audience' | 'accessTtlSeconds'>;

export interface IssuedAccessToken {
  token: string;
  /** The `jti`. */
  tokenId: string;
  expiresAt: Date;
}

/**
 * Signs an access token for `userId` with the current signing key. `sessionId` (the refresh-token
 * family of the sign-in) goes in the `sid` claim, so ending the session refuses the token.
 */
export async function issueAccessToken(
  keys: SigningKeys,
  input: { userId: string; auth: AccessTokenSettings; sessionId?: string; now?: Date },
): Promise<IssuedAccessToken> {
  const issuedAt = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const expiresAt = issuedAt + input.auth.accessTtlSeconds;
  const tokenId = randomUUID();
  const token = await new SignJWT(input.sessionId ? { sid: input.sessionId } : {})
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALGORITHM, kid: keys.signingKeyId, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(input.auth.issuer)
    .setAudience(input.auth.audience)
    .setSubject(input.userId)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(tokenId)
    .sign(keys.signingKey);
  return { token, tokenId, expiresAt: new Date(expiresAt * 1000) };
}

/** The configured external issuer with its remote key set (fetched lazily and cached by jose). */
export interface ExternalIssuer {
  issuer: string;
  audience: string;
  keys: JWTVerifyGetKey;
}

/**
 * Build once per process and share it: the remote key set caches the issuer's keys and refetches
 * on an unknown `kid` (at most once per cooldown), so key rotation at the issuer just works.
 */
export function createExternalIssuer(
  external: NonNullable<Config['auth']['external']>,
  options: { timeoutMs?: number } = {},
): ExternalIssuer {
  return {
    issuer: external.issuer,
    audience: external.audience,
    keys: createRemoteJWKSet(new URL(external.jwksUrl), { timeoutDuration: options.timeoutMs ?? 5000 }),
  };
}

export interface AccessTokenVerifierDeps {
  keys: SigningKeys;
  auth: Pick<Config['auth'], 'issuer' | 'audience'>;
  /** Used for external tokens (to find the user by address) and by authenticateAccessToken. */
  db: DbOrTx;
  external?: ExternalIssuer;
  /** Ended sessions, whose tokens authenticateAccessToken refuses. */
  revokedSessions?: RevokedSessions;
  now?: () => Date;
}

export interface VerifiedAccessToken {
  userId: string;
  /** `jti`; external tokens may have none. */
  tokenId: string | null;
  expiresAt: Date;
  /** `sid`: the session (refresh-token family) our token belongs to; null for external tokens. */
  sessionId: string | null;
  source: 'agnt' | 'external';
}

/**
 * Verifies a bearer token and returns whose it is; throws AuthenticationError with a message that
 * says what was wrong (expired, wrong algorithm, unknown key, …). Does not load the user for our
 * own tokens: see authenticateAccessToken.
 */
export async function verifyAccessToken(
  deps: AccessTokenVerifierDeps,
  token: string,
): Promise<VerifiedAccessToken> {
  const own = await verifyOwnAccessToken(deps, token);
  if (own) return own;
  // verifyOwnAccessToken answers null only for a token whose `iss` is the external issuer's.
  const external = deps.external!;
  const payload = await verifyWith(
    token,
    decodeUnverified(token).alg,
    external.keys,
    {
      algorithms: EXTERNAL_ALGORITHMS,
      issuer: external.issuer,
      audience: external.audience,
      requiredClaims: ['exp', 'sub'],
      currentDate: deps.now?.() ?? new Date(),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    },
    EXTERNAL_ALGORITHMS.join(', '),
  );
  const userId = await userForExternalToken(deps.db, payload);
  return {
    userId,
    tokenId: payload.jti ?? null,
    expiresAt: new Date(payload.exp! * 1000),
    sessionId: null,
    source: 'external',
  };
}

/**
 * verifyAccessToken for a token of ours, which needs nothing outside this process (no database,
 * no network); null for a token of the external issuer, which is mapped to its user in the
 * database (verifyAccessToken does both). Throws AuthenticationError as verifyAccessToken does.
 */
export async function verifyOwnAccessToken(
  deps: Pick<AccessTokenVerifierDeps, 'keys' | 'auth' | 'external' | 'now'>,
  token: string,
): Promise<VerifiedAccessToken | null> {
  const currentDate = deps.now?.() ?? new Date();
  const remembered = rememberedToken(deps, token, currentDate);
  if (remembered) return ownTokenClaims(remembered);
  // Read without trust only to choose which issuer's rules to apply; the chosen verification then
  // pins that issuer, so a token cannot pick laxer rules by lying about `iss`.
  const unverified = decodeUnverified(token);
  const external = deps.external;
  if (external && unverified.payload.iss === external.issuer && external.issuer !== deps.auth.issuer) {
    return null;
  }
  const payload = await verifyOwnToken(deps, token, unverified.alg, currentDate);
  return ownTokenClaims(payload);
}

function ownTokenClaims(payload: JWTPayload): VerifiedAccessToken {
  if (!payload.sub || !isUuid(payload.sub))
    throw new AuthenticationError('The access token has an invalid subject');
  return {
    userId: payload.sub,
    tokenId: payload.jti ?? null,
    expiresAt: new Date(payload.exp! * 1000),
    sessionId: typeof payload.sid === 'string' ? payload.sid : null,
    source: 'agnt',
  };
}

interface VerifiedToken {
  payload: JWTPayload;
  kid: string;
  key: CryptoKey;
}

/** Tokens of ours already verified, per signing key set (so per process and per test server). */
const verifiedTokens = new WeakMap<SigningKeys, Map<string, VerifiedToken>>();

/** Most verified tokens remembered per key set; the oldest is forgotten first. */
const VERIFIED_TOKENS_MAX = 10_000;

type OwnTokenDeps = Pick<AccessTokenVerifierDeps, 'keys' | 'auth'>;

function verifiedTokenCache(deps: OwnTokenDeps, token: string) {
  let cache = verifiedTokens.get(deps.keys);
  if (!cache) {
    cache = new Map();
    verifiedTokens.set(deps.keys, cache);
  }
  return { cache, key: `${deps.auth.issuer}\n${deps.auth.audience}\n${token}` };
}

/**
 * One of our tokens verified before, if it still holds at `currentDate`. The signature, issuer,
 * audience, type and required claims cannot change for the same bytes; what can is checked again
 * on every use: the time (`exp`, `nbf`) and that the key that signed it is still one we accept
 * (a retired key retires its tokens at once). Only our own rules put tokens here, and a token
 * whose `iss` is ours never takes the external issuer's path, so a hit needs no other check.
 */
function rememberedToken(deps: OwnTokenDeps, token: string, currentDate: Date) {
  const { cache, key } = verifiedTokenCache(deps, token);
  const known = cache.get(key);
  if (!known) return undefined;
  const now = currentDate.getTime() / 1000;
  const { payload } = known;
  if (
    deps.keys.publicKey(known.kid) === known.key &&
    payload.exp! > now - CLOCK_TOLERANCE_SECONDS &&
    (payload.nbf === undefined || payload.nbf <= now + CLOCK_TOLERANCE_SECONDS)
  ) {
    return payload;
  }
  // Expired or its key retired: verified again, which says why it is refused.
  cache.delete(key);
  return undefined;
}

/**
 * jose's verification of one of our tokens, remembered (see rememberedToken): a client sends
 * the same token with every request until it expires, and the ES256 signature check was most of
 * what authenticating a request cost.
 */
async function verifyOwnToken(
  deps: OwnTokenDeps,
  token: string,
  alg: string | undefined,
  currentDate: Date,
): Promise<JWTPayload> {
  let kid: string | undefined;
  let key: CryptoKey | undefined;
  const payload = await verifyWith(
    token,
    alg,
    (header) => {
      if (!header.kid) throw new AuthenticationError('The access token names no signing key (kid)');
      kid = header.kid;
      key = deps.keys.publicKey(header.kid);
      if (!key)
        throw new AuthenticationError(`The access token was signed with an unknown key (kid ${header.kid})`);
      return key;
    },
    {
      algorithms: [ACCESS_TOKEN_ALGORITHM],
      issuer: deps.auth.issuer,
      audience: deps.auth.audience,
      typ: ACCESS_TOKEN_TYPE,
      requiredClaims: ['exp', 'sub', 'iat', 'jti'],
      currentDate,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    },
    ACCESS_TOKEN_ALGORITHM,
  );
  if (kid && key) {
    const { cache, key: cacheKey } = verifiedTokenCache(deps, token);
    if (cache.size >= VERIFIED_TOKENS_MAX) cache.delete(cache.keys().next().value!);
    cache.set(cacheKey, { payload, kid, key });
  }
  return payload;
}

/**
 * The Actor for a bearer token: verifies it, then loads the user (a deleted user's tokens stop
 * working at once, and `isPlatformAdmin` is read fresh rather than trusted from a claim) and,
 * at the same time, checks that its session has not ended (signed out).
 */
export async function authenticateAccessToken(
  deps: AccessTokenVerifierDeps,
  token: string,
): Promise<Extract<Actor, { kind: 'user' }>> {
  return (await authenticateAccessTokenWithRoles(deps, token)).actor;
}

/**
 * Where a caller may keep users as signedInWith reads them (the user's row with its memberships),
 * keyed by user id: `read` reads one from the database, and only a row `keep` accepts may be kept
 * (a user gone or deleted is read again, so a restored account signs in at once).
 */
export type UserCache = <T>(userId: string, read: () => Promise<T>, keep: (row: T) => boolean) => Promise<T>;

/** A signed-in person and every role they hold, read in one statement with the token's user. */
export interface SignedIn {
  actor: Extract<Actor, { kind: 'user' }>;
  /** Organisation id → role, complete: an organisation not in it is one they do not belong to. */
  roles: ReadonlyMap<string, MembershipRole>;
}

/**
 * authenticateAccessToken, also answering the person's roles in every organisation, read with the
 * user in the same statement (so a request that asks for a role later need not read it again).
 */
export async function authenticateAccessTokenWithRoles(
  deps: AccessTokenVerifierDeps,
  token: string,
): Promise<SignedIn> {
  const verified = await verifyAccessToken(deps, token);
  return signedInWith(deps, verified, sessionEnded(deps, verified));
}

/** Whether the session of a verified token has ended (signed out): its token is then refused. */
export function sessionEnded(
  deps: Pick<AccessTokenVerifierDeps, 'revokedSessions'>,
  verified: VerifiedAccessToken,
): Promise<boolean> {
  return verified.sessionId && deps.revokedSessions
    ? deps.revokedSessions.isRevoked(verified.sessionId)
    : Promise.resolve(false);
}

/**
 * The signed-in person of a verified token: reads the user with their roles while `ended` (whether
 * the token's session has ended, see sessionEnded) is answered, and refuses an ended session
 * first, then a token whose user is gone or deleted.
 */
export async function signedInWith(
  deps: Pick<AccessTokenVerifierDeps, 'db'>,
  verified: VerifiedAccessToken,
  ended: Promise<boolean>,
  cache?: UserCache,
): Promise<SignedIn> {
  const read = () =>
    deps.db.user.findUnique({
      where: { id: verified.userId },
      select: {
        id: true,
        isPlatformAdmin: true,
        deletedAt: true,
        memberships: { select: { organizationId: true, role: true } },
      },
    });
  const [user, hasEnded] = await Promise.all([
    cache ? cache(verified.userId, read, (row) => row !== null && !row.deletedAt) : read(),
    ended,
  ]);
  if (hasEnded) {
    throw new AuthenticationError('The session of this access token has ended (signed out): sign in again', {
      genuine: true,
    });
  }
  if (!user) throw new AuthenticationError('The access token belongs to no user', { genuine: true });
  // Deleted (and waiting for its purge): signing in with an email code restores it.
  if (user.deletedAt) {
    throw new AuthenticationError('This account was deleted: sign in again to restore it', { genuine: true });
  }
  return {
    actor: { kind: 'user', userId: user.id, isPlatformAdmin: user.isPlatformAdmin },
    roles: new Map(user.memberships.map((m) => [m.organizationId, m.role])),
  };
}

function decodeUnverified(token: string): { alg: string | undefined; payload: JWTPayload } {
  try {
    return { alg: decodeProtectedHeader(token).alg, payload: decodeJwt(token) };
  } catch {
    throw new AuthenticationError('The access token is malformed');
  }
}

async function verifyWith(
  token: string,
  alg: string | undefined,
  key: JWTVerifyGetKey,
  options: Parameters<typeof jwtVerify>[2],
  expected: string,
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, key, options);
    return payload;
  } catch (error) {
    throw explain(error, alg, expected);
  }
}

/** Turns jose's errors into one AuthenticationError each, worded for the client. */
function explain(error: unknown, alg: string | undefined, expected: string): Error {
  if (error instanceof AuthenticationError) return error;
  // jose checks the signature before the claims: an expired token is one we really issued.
  if (error instanceof errors.JWTExpired) {
    return new AuthenticationError('The access token has expired', { genuine: true });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing')
      return new AuthenticationError(`The access token has no "${error.claim}" claim`);
    switch (error.claim) {
      case 'nbf':
        return new AuthenticationError('The access token is not valid yet (nbf is in the future)');
      case 'iss':
        return new AuthenticationError('The access token was issued by an unexpected issuer');
      case 'aud':
        return new AuthenticationError('The access token is meant for another audience');
      case 'typ':
        return new AuthenticationError('The access token has the wrong type (typ)');
      case 'iat':
        return new AuthenticationError('The access token was issued in the future');
      default:
        return new AuthenticationError(`The access token's "${error.claim}" claim is invalid`);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new AuthenticationError(
      `The access token's algorithm "${alg ?? '(none)'}" is not accepted (expected ${expected})`,
    );
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new AuthenticationError('The access token was signed with an unknown key (kid)');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new AuthenticationError('The access token signature is invalid');
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return new AuthenticationError('The access token is malformed');
  }
  if (error instanceof errors.JOSEError) {
    return new AuthenticationError('The access token could not be verified');
  }
  // Not a token problem (say, the external key set could not be fetched): let it surface as such.
  return error instanceof Error ? error : new Error(String(error));
}

async function userForExternalToken(db: DbOrTx, payload: JWTPayload): Promise<string> {
  if (typeof payload.email !== 'string') {
    throw new AuthenticationError('The external access token has no "email" claim');
  }
  // Only an address the issuer says it verified names a user: a token without the claim could
  // carry any address its holder typed in.
  if (payload.email_verified !== true) {
    throw new AuthenticationError('The external access token carries an unverified email address');
  }
  let email: string;
  try {
    email = normalizeEmail(payload.email);
  } catch (error) {
    if (error instanceof ValidationError) {
      throw new AuthenticationError('The external access token has an invalid "email" claim');
    }
    throw error;
  }
  const { user } = await findOrCreateUserByEmail(db, email);
  return user.id;
}
