/**
 * Rotating refresh tokens.
 *
 * A token is 32 random bytes shown to the client once; the database holds its SHA-256 (a hash of a
 * high-entropy secret needs no salt or slow hash). Every sign-in starts a family; each rotation
 * marks the presented token rotated and issues its successor in the same family. Presenting a
 * rotated token again means two parties hold it (one of them a thief), so the whole family is
 * revoked and both must sign in again (OAuth 2.0 Security BCP, refresh token rotation).
 *
 * Rotation is strict: two concurrent refreshes with one token count as reuse. A client must
 * serialise its refreshes (most do, with a single in-flight refresh promise).
 *
 * A family is a session: its access tokens carry the family id (`sid`), and revoking the family,
 * by signing out or by reuse, also ends the session for them (RevokedSessions).
 *
 * A rotation and a revocation of one family take turns (`underFamilyLocks`, a transaction-scoped
 * lock per family, taken before anything is read): a revocation's UPDATE then starts after the
 * rotation committed, so it sees, and revokes, the successor the rotation issued. Without it, a
 * revocation that started while a rotation was writing could miss that successor, and the session
 * would live on once its access tokens' end was forgotten.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../../config/index.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { AuthenticationError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import { type IssuedAccessToken, issueAccessToken } from './access-tokens.ts';
import type { RevokedSessions } from './revoked-sessions.ts';
import type { SigningKeys } from './signing-keys.ts';

const TOKEN_PREFIX = 'agnt_rt_';
const TOKEN_SHAPE = /^agnt_rt_[A-Za-z0-9_-]{43}$/;

export interface IssuedRefreshToken {
  token: string;
  familyId: string;
  expiresAt: Date;
}

export interface RefreshTokenDeps {
  db: Db;
  keys: SigningKeys;
  config: Pick<Config, 'auth'>;
  logger: Logger;
  /** Where ended sessions are kept, so their access tokens are refused too. */
  sessions: RevokedSessions;
  now?: () => Date;
}

export interface RotatedTokens {
  user: User;
  accessToken: IssuedAccessToken;
  refreshToken: IssuedRefreshToken;
}

/** Stores a new refresh token for `userId`; a new family unless `familyId` is given. */
export async function issueRefreshToken(
  db: DbOrTx,
  input: { userId: string; familyId?: string; ttlDays: number; now: Date },
): Promise<IssuedRefreshToken> {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const familyId = input.familyId ?? randomUUID();
  const expiresAt = new Date(input.now.getTime() + input.ttlDays * 86_400_000);
  await db.refreshToken.create({
    data: {
      userId: input.userId,
      familyId,
      tokenHash: hashRefreshToken(token),
      expiresAt,
      createdAt: input.now,
    },
  });
  return { token, familyId, expiresAt };
}

/**
 * Exchanges a valid refresh token for a new one (same family) and a new access token.
 * A rotated token presented again revokes its family and fails; so do unknown, revoked and
 * expired tokens (AuthenticationError).
 */
export async function rotateRefreshToken(deps: RefreshTokenDeps, token: string): Promise<RotatedTokens> {
  const now = deps.now?.() ?? new Date();
  const row = await findToken(deps.db, token);
  if (!row) throw new AuthenticationError('The refresh token is not valid');
  if (row.revokedAt) throw new AuthenticationError('The refresh token has been revoked');
  if (row.rotatedAt) {
    await revokeFamily(deps, row.familyId, now, 'reused');
    throw new AuthenticationError('The refresh token was already used; the session has been ended');
  }
  if (row.expiresAt <= now) throw new AuthenticationError('The refresh token has expired');

  // The conditional UPDATE is the lock: of two concurrent rotations exactly one sees count 1.
  // The loser's UPDATE waits for the winner's transaction, so by the time it revokes the family
  // below, the winner's new token is committed and is revoked too.
  const successor = await deps.db.$transaction(async (tx) => {
    await lockFamilies(tx, [row.familyId]);
    const claimed = await tx.refreshToken.updateMany({
      where: { id: row.id, rotatedAt: null, revokedAt: null },
      data: { rotatedAt: now },
    });
    if (claimed.count !== 1) return null;
    return issueRefreshToken(tx, {
      userId: row.userId,
      familyId: row.familyId,
      ttlDays: deps.config.auth.refreshTtlDays,
      now,
    });
  });
  if (!successor) {
    await revokeFamily(deps, row.familyId, now, 'used concurrently');
    throw new AuthenticationError('The refresh token was already used; the session has been ended');
  }
  const accessToken = await issueAccessToken(deps.keys, {
    userId: row.userId,
    auth: deps.config.auth,
    sessionId: row.familyId,
    now,
  });
  return { user: row.user, accessToken, refreshToken: successor };
}

/**
 * Signs out the session the token belongs to: revokes its whole family, so no earlier or later
 * token of that sign-in works, and ends the session for its access tokens. Unknown tokens are
 * ignored (signing out twice is not an error).
 */
export async function revokeRefreshToken(
  deps: { db: DbOrTx; sessions: RevokedSessions; now?: () => Date },
  token: string,
): Promise<{ revoked: boolean }> {
  const row = await findToken(deps.db, token);
  if (!row) return { revoked: false };
  const result = await underFamilyLocks(deps.db, [row.familyId], (tx) =>
    tx.refreshToken.updateMany({
      where: { familyId: row.familyId, revokedAt: null },
      data: { revokedAt: deps.now?.() ?? new Date() },
    }),
  );
  // Even when the family was already revoked: ending a session twice is harmless, and it renews
  // the entry if the first ending was only remembered by a process that has since gone.
  await deps.sessions.revoke(row.familyId);
  return { revoked: result.count > 0 };
}

/**
 * Signs a user out everywhere (every family, and the access tokens of each). Returns how many
 * tokens were revoked.
 */
export async function revokeAllRefreshTokens(
  deps: { db: DbOrTx; sessions: RevokedSessions },
  userId: string,
  now: Date = new Date(),
): Promise<number> {
  const live = await deps.db.refreshToken.findMany({
    where: { userId, revokedAt: null },
    distinct: ['familyId'],
    select: { familyId: true },
  });
  const result = await underFamilyLocks(
    deps.db,
    live.map((f) => f.familyId),
    (tx) => tx.refreshToken.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: now } }),
  );
  for (const { familyId } of live) await deps.sessions.revoke(familyId);
  return result.count;
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

async function findToken(db: DbOrTx, token: string) {
  // A string that cannot be one of ours costs no query.
  if (!TOKEN_SHAPE.test(token)) return null;
  // Looking up by the hash leaks no timing about the token: the attacker controls the input to
  // SHA-256, not the hash being compared.
  return db.refreshToken.findUnique({
    where: { tokenHash: hashRefreshToken(token) },
    include: { user: true },
  });
}

async function revokeFamily(
  deps: { db: DbOrTx; logger: Logger; sessions: RevokedSessions },
  familyId: string,
  now: Date,
  reason: string,
): Promise<void> {
  const result = await underFamilyLocks(deps.db, [familyId], (tx) =>
    tx.refreshToken.updateMany({ where: { familyId, revokedAt: null }, data: { revokedAt: now } }),
  );
  await deps.sessions.revoke(familyId);
  deps.logger.warn(
    { 'auth.refreshFamily': familyId, 'auth.revoked': result.count, 'auth.reason': reason },
    'refresh token reuse: revoked the whole token family',
  );
}

/** Takes the families' locks, in one order (no two callers wait on each other), till `tx` ends. */
async function lockFamilies(tx: Tx, familyIds: readonly string[]): Promise<void> {
  for (const familyId of [...new Set(familyIds)].sort()) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`refresh-family:${familyId}`}, 0))`;
  }
}

/** Runs `run` holding the families' locks: in a transaction of its own, or in `db`'s when it is one. */
function underFamilyLocks<T>(
  db: DbOrTx,
  familyIds: readonly string[],
  run: (tx: Tx) => Promise<T>,
): Promise<T> {
  const inLock = async (tx: Tx) => {
    await lockFamilies(tx, familyIds);
    return run(tx);
  };
  return '$transaction' in db ? db.$transaction(inLock) : inLock(db);
}
