import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { findOrCreateUserByEmail } from '../../src/domain/identity/email.ts';
import {
  hashRefreshToken,
  issueRefreshToken,
  type RefreshTokenDeps,
  revokeAllRefreshTokens,
  revokeRefreshToken,
  rotateRefreshToken,
} from '../../src/domain/identity/refresh-tokens.ts';
import { AuthenticationError } from '../../src/platform/errors.ts';
import { type IdentityFixture, identityFixture, uniqueEmail } from './fixtures.ts';

let f: IdentityFixture;
let deps: RefreshTokenDeps;

beforeAll(async () => {
  f = await identityFixture();
  deps = {
    db: f.db,
    keys: f.keys,
    config: f.config,
    logger: f.logger,
    sessions: f.revokedSessions,
    now: f.clock.now,
  };
});

afterAll(async () => {
  await f?.close();
});

/** Waits (at most 10 s) until a statement of this database is in pg_sleep. */
async function sleeping(db: IdentityFixture['db']): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const rows = await db.$queryRawUnsafe<unknown[]>(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`,
    );
    if (rows.length) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no statement slept within 10 s');
}

async function newSession() {
  const { user } = await findOrCreateUserByEmail(f.db, uniqueEmail());
  const token = await issueRefreshToken(f.db, {
    userId: user.id,
    ttlDays: f.config.auth.refreshTtlDays,
    now: f.clock.now(),
  });
  return { user, token };
}

describe('refresh tokens', () => {
  it('are opaque, random and stored only as a hash', async () => {
    const { token } = await newSession();
    expect(token.token).toMatch(/^agnt_rt_[A-Za-z0-9_-]{43}$/);
    const row = await f.db.refreshToken.findUniqueOrThrow({
      where: { tokenHash: hashRefreshToken(token.token) },
    });
    expect(row.tokenHash).not.toContain(token.token.slice(8));
    expect(row.familyId).toBe(token.familyId);
    expect(row.expiresAt.getTime()).toBe(f.clock.now().getTime() + 30 * 86_400_000);
  });

  it('rotate into a new token of the same family and a new access token', async () => {
    const { user, token } = await newSession();
    const rotated = await rotateRefreshToken(deps, token.token);
    expect(rotated.user.id).toBe(user.id);
    expect(rotated.refreshToken.familyId).toBe(token.familyId);
    expect(rotated.refreshToken.token).not.toBe(token.token);
    const verified = await verifyAccessToken(
      { keys: f.keys, auth: f.config.auth, db: f.db, now: f.clock.now },
      rotated.accessToken.token,
    );
    expect(verified.userId).toBe(user.id);
    // The access token names its session, so ending the session refuses it.
    expect(verified.sessionId).toBe(token.familyId);

    const old = await f.db.refreshToken.findUniqueOrThrow({
      where: { tokenHash: hashRefreshToken(token.token) },
    });
    expect(old.rotatedAt).not.toBeNull();
    // The successor rotates in turn.
    await expect(rotateRefreshToken(deps, rotated.refreshToken.token)).resolves.toBeDefined();
  });

  it('revoke the whole family when a rotated token is presented again, and only that family', async () => {
    const { user, token: first } = await newSession();
    const other = await issueRefreshToken(f.db, { userId: user.id, ttlDays: 30, now: f.clock.now() });
    const second = (await rotateRefreshToken(deps, first.token)).refreshToken;
    const third = (await rotateRefreshToken(deps, second.token)).refreshToken;

    await expect(rotateRefreshToken(deps, first.token)).rejects.toThrow(
      /already used; the session has been ended/,
    );
    // The thief's and the owner's latest token are both dead now.
    await expect(rotateRefreshToken(deps, third.token)).rejects.toThrow(/revoked/);
    const family = await f.db.refreshToken.findMany({ where: { familyId: first.familyId } });
    expect(family).toHaveLength(3);
    expect(family.every((t) => t.revokedAt !== null)).toBe(true);
    // Another session of the same user is untouched.
    await expect(rotateRefreshToken(deps, other.token)).resolves.toBeDefined();
  });

  it('let exactly one of two concurrent rotations win, and treat the other as reuse', async () => {
    const { token } = await newSession();
    const results = await Promise.allSettled([
      rotateRefreshToken(deps, token.token),
      rotateRefreshToken(deps, token.token),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(lost?.reason).toBeInstanceOf(AuthenticationError);
    // The loser revoked the family after the winner committed, so the winner's token is dead too.
    const family = await f.db.refreshToken.findMany({ where: { familyId: token.familyId } });
    expect(family).toHaveLength(2);
    expect(family.every((t) => t.revokedAt !== null)).toBe(true);
  });

  it('sign out while a rotation is writing its successor: the successor is revoked too', async () => {
    const { token } = await newSession();
    const next = (await rotateRefreshToken(deps, token.token)).refreshToken;
    // The rotation of `next` is held between claiming `next` and storing its successor.
    await f.db.$executeRawUnsafe(`
      CREATE FUNCTION slow_successor() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.family_id = '${token.familyId}'::uuid THEN PERFORM pg_sleep(0.4); END IF;
        RETURN NEW;
      END $$`);
    await f.db.$executeRawUnsafe(
      'CREATE TRIGGER slow_successor BEFORE INSERT ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION slow_successor()',
    );
    try {
      const rotating = rotateRefreshToken(deps, next.token);
      await sleeping(f.db);
      await expect(revokeRefreshToken(deps, next.token)).resolves.toEqual({ revoked: true });
      const successor = (await rotating).refreshToken;
      await expect(rotateRefreshToken(deps, successor.token)).rejects.toThrow(/revoked/);
      const family = await f.db.refreshToken.findMany({ where: { familyId: token.familyId } });
      expect(family).toHaveLength(3);
      expect(family.every((t) => t.revokedAt !== null)).toBe(true);
    } finally {
      await f.db.$executeRawUnsafe('DROP TRIGGER slow_successor ON refresh_tokens');
      await f.db.$executeRawUnsafe('DROP FUNCTION slow_successor()');
    }
  });

  it('refuse expired, unknown and malformed tokens', async () => {
    const { token } = await newSession();
    f.clock.advance(30 * 86_400_000 + 1);
    await expect(rotateRefreshToken(deps, token.token)).rejects.toThrow(/expired/);
    await expect(rotateRefreshToken(deps, `agnt_rt_${'A'.repeat(43)}`)).rejects.toThrow(/not valid/);
    await expect(rotateRefreshToken(deps, 'nonsense')).rejects.toThrow(/not valid/);
  });

  it('sign out: revoking a token ends its family; doing it twice is fine', async () => {
    const { token } = await newSession();
    const next = (await rotateRefreshToken(deps, token.token)).refreshToken;
    expect(await f.revokedSessions.isRevoked(token.familyId)).toBe(false);
    await expect(revokeRefreshToken(deps, next.token)).resolves.toEqual({ revoked: true });
    expect(await f.revokedSessions.isRevoked(token.familyId)).toBe(true);
    await expect(rotateRefreshToken(deps, next.token)).rejects.toThrow(/revoked/);
    await expect(revokeRefreshToken(deps, next.token)).resolves.toEqual({ revoked: false });
    await expect(revokeRefreshToken(deps, 'nonsense')).resolves.toEqual({ revoked: false });
  });

  it('sign out everywhere revokes every family of the user', async () => {
    const { user, token } = await newSession();
    const other = await issueRefreshToken(f.db, { userId: user.id, ttlDays: 30, now: f.clock.now() });
    expect(await revokeAllRefreshTokens(deps, user.id)).toBe(2);
    await expect(rotateRefreshToken(deps, token.token)).rejects.toThrow(/revoked/);
    await expect(rotateRefreshToken(deps, other.token)).rejects.toThrow(/revoked/);
    // The access tokens of both sessions are refused too.
    expect(await f.revokedSessions.isRevoked(token.familyId)).toBe(true);
    expect(await f.revokedSessions.isRevoked(other.familyId)).toBe(true);
  });
});
