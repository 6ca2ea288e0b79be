/**
 * Sign-in by a one-time code sent by email.
 *
 * Every address gets a code, whether or not it has an account (the account is created on first
 * successful sign-in), so the answer to a request never tells whether an address is known.
 *
 * A code is 6 digits: a million possibilities, which a stolen database would give up to a plain
 * hash in a moment. It is stored as HMAC-SHA256 under a server-side pepper (derived from the
 * signing key, never stored in the database), bound to the address. A new code replaces the
 * address's previous one; it lives 10 minutes and allows 5 attempts. An attempt is counted BEFORE the
 * code is compared (a conditional UPDATE), so no burst of concurrent guesses gets more than 5
 * comparisons, and consuming is another conditional UPDATE, so of two concurrent correct
 * verifications exactly one signs in.
 */
import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../config.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Mailer } from '../../integrations/mail/mailer.ts';
import type { Db } from '../../platform/db.ts';
import { AuthenticationError, RateLimitedError, ValidationError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import { type IssuedAccessToken, issueAccessToken } from './access-tokens.ts';
import { findOrCreateUserByEmail, normalizeEmail } from './email.ts';
import { type IssuedRefreshToken, issueRefreshToken } from './refresh-tokens.ts';
import type { SigningKeys } from './signing-keys.ts';

export const SIGN_IN_CODE_TTL_SECONDS = 600;
export const SIGN_IN_CODE_MAX_ATTEMPTS = 5;

export interface SignInDeps {
  db: Db;
  mailer: Mailer;
  limiter: RateLimiter;
  keys: SigningKeys;
  config: Pick<Config, 'auth' | 'rateLimits'>;
  logger: Logger;
  /** The clock; tests pass their own instead of sleeping. */
  now?: () => Date;
}

export interface SignInResult {
  user: User;
  /** True when this sign-in created the account. */
  isNewUser: boolean;
  accessToken: IssuedAccessToken;
  refreshToken: IssuedRefreshToken;
}

/**
 * Sends a sign-in code to `email`. Rate limited per IP, then per address (RateLimitedError); the
 * IP is checked first so a blocked sender cannot use up a victim's per-address allowance.
 */
export async function requestSignInCode(
  deps: SignInDeps,
  input: { email: string; ip: string },
): Promise<{ email: string; expiresAt: Date }> {
  const email = normalizeEmail(input.email);
  const limits = deps.config.rateLimits;
  await limit(deps.limiter, `signin:request:ip:${input.ip}`, limits.signInPerIp, limits.signInWindowSeconds);
  // The address is hashed so Redis holds no plain addresses.
  await limit(
    deps.limiter,
    `signin:request:email:${sha256(email)}`,
    limits.signInPerEmail,
    limits.signInWindowSeconds,
  );

  const now = deps.now?.() ?? new Date();
  const code = randomInt(0, 1_000_000).toString().padStart(6, '0');
  const expiresAt = new Date(now.getTime() + SIGN_IN_CODE_TTL_SECONDS * 1000);
  // A new code replaces any live one (it is marked expired), so an address has at most one code
  // to guess at. createdAt comes from our clock, not the database's, because tests move the clock.
  await deps.db.$transaction([
    deps.db.signInCode.updateMany({
      where: { email, consumedAt: null, expiresAt: { gt: now } },
      data: { expiresAt: now },
    }),
    deps.db.signInCode.create({
      data: { email, codeHash: hashCode(deps.keys, email, code), expiresAt, createdAt: now },
    }),
  ]);
  await deps.mailer.send({
    to: email,
    subject: 'Your AGNT sign-in code',
    text: [
      `Your AGNT sign-in code is ${code}`,
      '',
      `It works once, for ${SIGN_IN_CODE_TTL_SECONDS / 60} minutes. If you did not ask for it, ignore this message.`,
    ].join('\n'),
  });
  return { email, expiresAt };
}

/**
 * Checks a code and signs in: consumes the code, creates the user if the address is new, and
 * issues an access token and a refresh token (a new family). Wrong, expired, used and exhausted
 * codes fail with AuthenticationError.
 */
export async function verifySignInCode(
  deps: SignInDeps,
  input: { email: string; code: string; ip: string },
): Promise<SignInResult> {
  const email = normalizeEmail(input.email);
  const code = input.code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) throw new ValidationError('The code is 6 digits', 'code');
  const limits = deps.config.rateLimits;
  // Per-code attempts bound guesses at one address; this bounds one IP guessing across many
  // addresses: as many guesses as the codes it may request could be tried.
  await limit(
    deps.limiter,
    `signin:verify:ip:${input.ip}`,
    limits.signInPerIp * SIGN_IN_CODE_MAX_ATTEMPTS,
    limits.signInWindowSeconds,
  );

  const now = deps.now?.() ?? new Date();
  const live = { consumedAt: null, expiresAt: { gt: now }, attempts: { lt: SIGN_IN_CODE_MAX_ATTEMPTS } };
  const latest = await deps.db.signInCode.findFirst({
    where: { email, ...live },
    orderBy: { createdAt: 'desc' },
    select: { id: true, codeHash: true, attempts: true },
  });
  // Reserve one attempt. The WHERE is re-checked on the locked row, so concurrent attempts are
  // counted one by one and none passes once the fifth has been taken.
  const reserved = latest
    ? await deps.db.signInCode.updateMany({
        where: { id: latest.id, ...live },
        data: { attempts: { increment: 1 } },
      })
    : { count: 0 };
  if (!latest || reserved.count !== 1) {
    throw new AuthenticationError(
      'There is no valid sign-in code for this address (it expired, was used, or had too many wrong attempts): request a new one',
    );
  }

  const expected = Buffer.from(latest.codeHash, 'hex');
  const given = Buffer.from(hashCode(deps.keys, email, code), 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    // `attempts` was read before our increment; concurrent attempts may have used more.
    const left = Math.max(0, SIGN_IN_CODE_MAX_ATTEMPTS - latest.attempts - 1);
    throw new AuthenticationError(
      left > 0
        ? `The code is wrong (${left} attempts left)`
        : 'The code is wrong and no attempts are left: request a new one',
    );
  }

  // Consume, create the user and start a refresh family together: a failure after consuming must
  // not burn the code without signing in.
  const outcome = await deps.db.$transaction(async (tx) => {
    const consumed = await tx.signInCode.updateMany({
      where: { id: latest.id, consumedAt: null },
      data: { consumedAt: now },
    });
    if (consumed.count !== 1) return null;
    const { user, created } = await findOrCreateUserByEmail(tx, email);
    const refreshToken = await issueRefreshToken(tx, {
      userId: user.id,
      ttlDays: deps.config.auth.refreshTtlDays,
      now,
    });
    return { user, created, refreshToken };
  });
  if (!outcome) throw new AuthenticationError('This sign-in code has already been used: request a new one');

  const accessToken = await issueAccessToken(deps.keys, {
    userId: outcome.user.id,
    auth: deps.config.auth,
    sessionId: outcome.refreshToken.familyId,
    now,
  });
  deps.logger.info(
    { 'user.id': outcome.user.id, 'auth.newUser': outcome.created },
    'signed in by email code',
  );
  return { user: outcome.user, isNewUser: outcome.created, accessToken, refreshToken: outcome.refreshToken };
}

function hashCode(keys: SigningKeys, email: string, code: string): string {
  return createHmac('sha256', keys.deriveSecret('sign-in-code')).update(`${email}\n${code}`).digest('hex');
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 32);
}

async function limit(limiter: RateLimiter, key: string, max: number, windowSeconds: number): Promise<void> {
  const result = await limiter.hit(key, max, windowSeconds);
  if (!result.allowed) {
    throw new RateLimitedError(
      `Too many sign-in attempts: try again in ${result.retryAfterSeconds} seconds`,
      result.retryAfterSeconds,
    );
  }
}
