import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { rotateRefreshToken } from '../../src/domain/identity/refresh-tokens.ts';
import {
  requestSignInCode,
  SIGN_IN_CODE_MAX_ATTEMPTS,
  type SignInDeps,
  verifySignInCode,
} from '../../src/domain/identity/sign-in.ts';
import { AuthenticationError, RateLimitedError, ValidationError } from '../../src/platform/errors.ts';
import {
  codeIn,
  type IdentityFixture,
  identityFixture,
  signInDeps,
  uniqueEmail,
  uniqueIp,
} from './fixtures.ts';

let f: IdentityFixture;
let deps: SignInDeps;

beforeAll(async () => {
  f = await identityFixture({ SIGN_IN_LIMIT_PER_EMAIL: '3', SIGN_IN_LIMIT_PER_IP: '4' });
  deps = signInDeps(f);
});

const refreshDeps = () => ({ ...deps, sessions: f.revokedSessions });

afterAll(async () => {
  await f?.close();
});

/** Requests a code over real SMTP and reads it from the delivered mail. */
async function requestCode(email: string, ip = uniqueIp()): Promise<string> {
  await requestSignInCode(deps, { email, ip });
  const mail = await f.smtp.nextMessageTo(email);
  return codeIn(mail.text);
}

describe('sign-in by email code', () => {
  it('signs in through a code delivered over SMTP, creating the user once', async () => {
    const email = uniqueEmail('ann');
    const ip = uniqueIp();
    const answer = await requestSignInCode(deps, { email: `  ${email.toUpperCase()} `, ip });
    expect(answer.email).toBe(email);

    const mail = await f.smtp.nextMessageTo(email);
    expect(mail.subject).toBe('Your AGNT sign-in code');
    expect(mail.from).toContain('no-reply@agnt.local');
    expect(mail.to).toContain(email);
    const code = codeIn(mail.text);

    const first = await verifySignInCode(deps, { email, code, ip });
    expect(first.isNewUser).toBe(true);
    expect(first.user.email).toBe(email);

    const verified = await verifyAccessToken(
      { keys: f.keys, auth: f.config.auth, db: f.db, now: f.clock.now },
      first.accessToken.token,
    );
    expect(verified).toMatchObject({ userId: first.user.id, source: 'agnt' });

    const rotated = await rotateRefreshToken(refreshDeps(), first.refreshToken.token);
    expect(rotated.user.id).toBe(first.user.id);

    const second = await verifySignInCode(deps, { email, code: await requestCode(email), ip });
    expect(second.isNewUser).toBe(false);
    expect(second.user.id).toBe(first.user.id);
    // A second sign-in is a second session: its own refresh family.
    expect(second.refreshToken.familyId).not.toBe(first.refreshToken.familyId);
  });

  it('stores only a peppered hash of the code, never the code or its plain hash', async () => {
    const email = uniqueEmail();
    const code = await requestCode(email);
    const row = await f.db.signInCode.findFirstOrThrow({ where: { email } });
    expect(row.codeHash).not.toContain(code);
    expect(row.codeHash).not.toBe(createHash('sha256').update(code).digest('hex'));
    expect(row.codeHash).not.toBe(createHash('sha256').update(`${email}\n${code}`).digest('hex'));
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(10 * 60 * 1000);
  });

  it('answers the same for an address with an account and one without', async () => {
    const known = uniqueEmail('known');
    await verifySignInCode(deps, { email: known, code: await requestCode(known), ip: uniqueIp() });
    const unknown = uniqueEmail('unknown');

    const a = await requestSignInCode(deps, { email: known, ip: uniqueIp() });
    const b = await requestSignInCode(deps, { email: unknown, ip: uniqueIp() });
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    expect(a.expiresAt.getTime()).toBe(b.expiresAt.getTime());
    // Both get a mail: the sender learns nothing from what happens either.
    await f.smtp.nextMessageTo(known);
    await f.smtp.nextMessageTo(unknown);
  });

  it('refuses a malformed address or code before doing anything', async () => {
    await expect(requestSignInCode(deps, { email: 'not-an-address', ip: uniqueIp() })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(
      verifySignInCode(deps, { email: uniqueEmail(), code: '12ab56', ip: uniqueIp() }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('kills a code after 5 wrong attempts, even for the right code afterwards', async () => {
    const email = uniqueEmail();
    const ip = uniqueIp();
    const code = await requestCode(email, ip);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= SIGN_IN_CODE_MAX_ATTEMPTS; attempt++) {
      const left = SIGN_IN_CODE_MAX_ATTEMPTS - attempt;
      await expect(verifySignInCode(deps, { email, code: wrong, ip })).rejects.toThrow(
        left > 0 ? `The code is wrong (${left} attempts left)` : /no attempts are left/,
      );
    }
    await expect(verifySignInCode(deps, { email, code, ip })).rejects.toThrow(/no valid sign-in code/);
    const row = await f.db.signInCode.findFirstOrThrow({ where: { email } });
    expect(row).toMatchObject({ attempts: SIGN_IN_CODE_MAX_ATTEMPTS, consumedAt: null });
  });

  it('counts concurrent wrong guesses one by one: never more than 5 comparisons', async () => {
    const email = uniqueEmail();
    const code = await requestCode(email);
    const guesses = Array.from({ length: 20 }, (_, i) =>
      String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'),
    );
    const results = await Promise.allSettled(
      guesses.map((g) => verifySignInCode(deps, { email, code: g, ip: uniqueIp() })),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const wrong = results.filter(
      (r) => r.status === 'rejected' && /The code is wrong/.test(String(r.reason)),
    );
    expect(wrong).toHaveLength(SIGN_IN_CODE_MAX_ATTEMPTS);
    const row = await f.db.signInCode.findFirstOrThrow({ where: { email } });
    expect(row.attempts).toBe(SIGN_IN_CODE_MAX_ATTEMPTS);
  });

  it('refuses an expired code (10 minutes), accepts it just before', async () => {
    const early = uniqueEmail();
    const earlyCode = await requestCode(early);
    f.clock.advance(10 * 60 * 1000 - 1000);
    await expect(
      verifySignInCode(deps, { email: early, code: earlyCode, ip: uniqueIp() }),
    ).resolves.toMatchObject({
      isNewUser: true,
    });

    const late = uniqueEmail();
    const lateCode = await requestCode(late);
    f.clock.advance(10 * 60 * 1000 + 1);
    await expect(verifySignInCode(deps, { email: late, code: lateCode, ip: uniqueIp() })).rejects.toThrow(
      /no valid sign-in code/,
    );
  });

  it('accepts a code once', async () => {
    const email = uniqueEmail();
    const code = await requestCode(email);
    await verifySignInCode(deps, { email, code, ip: uniqueIp() });
    await expect(verifySignInCode(deps, { email, code, ip: uniqueIp() })).rejects.toBeInstanceOf(
      AuthenticationError,
    );
  });

  it('replaces the previous code of an address with a new one', async () => {
    const email = uniqueEmail();
    const older = await requestCode(email);
    // Same instant on purpose: "newest" must not depend on timestamps differing.
    const newer = await requestCode(email);
    const rows = await f.db.signInCode.findMany({ where: { email }, orderBy: { expiresAt: 'asc' } });
    expect(rows.map((r) => r.expiresAt.getTime() > f.clock.now().getTime())).toEqual([false, true]);
    if (older !== newer) {
      await expect(verifySignInCode(deps, { email, code: older, ip: uniqueIp() })).rejects.toThrow(
        /The code is wrong/,
      );
    }
    await expect(verifySignInCode(deps, { email, code: newer, ip: uniqueIp() })).resolves.toBeDefined();
  });

  it('signs in exactly once when one code is verified concurrently', async () => {
    const email = uniqueEmail();
    const code = await requestCode(email);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => verifySignInCode(deps, { email, code, ip: uniqueIp() })),
    );
    const succeeded = results.filter((r) => r.status === 'fulfilled');
    expect(succeeded).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AuthenticationError);
    }
    expect(await f.db.user.count({ where: { email } })).toBe(1);
    expect(await f.db.refreshToken.count({ where: { user: { email } } })).toBe(1);
  });

  it('rate limits requests per address (3 per window here), across IPs', async () => {
    const email = uniqueEmail();
    for (let i = 0; i < 3; i++) await requestSignInCode(deps, { email, ip: uniqueIp() });
    const refused = await requestSignInCode(deps, { email, ip: uniqueIp() }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterSeconds).toBeGreaterThan(0);
    expect(await f.db.signInCode.count({ where: { email } })).toBe(3);
  });

  it('rate limits requests per IP (4 per window here), without using up the victims’ allowance', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 4; i++) await requestSignInCode(deps, { email: uniqueEmail(), ip });
    const victim = uniqueEmail('victim');
    await expect(requestSignInCode(deps, { email: victim, ip })).rejects.toBeInstanceOf(RateLimitedError);
    expect(await f.db.signInCode.count({ where: { email: victim } })).toBe(0);
    // The refused request did not count against the victim's address.
    for (let i = 0; i < 3; i++) await requestSignInCode(deps, { email: victim, ip: uniqueIp() });
  });
});
