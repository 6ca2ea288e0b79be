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
 *
 * Those limits bound a burst; a guesser who paces themselves under them could still try
 * thousands of codes a day at one address. So each address also has a daily cap on wrong codes
 * (SIGN_IN_DAILY_FAILURES_PER_EMAIL) and on codes sent (SIGN_IN_DAILY_CODES_PER_EMAIL). Reaching
 * the wrong-code cap pauses sign-in by code for the address (no code is sent or accepted, the
 * right one included) until its day's window ends; reaching either cap tells the address, by one
 * email per day however many attempts follow, so its owner knows someone is trying.
 */
import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { Config } from '../../config/index.ts';
import type { User } from '../../generated/prisma/client.ts';
import type { Mailer } from '../../integrations/mail/mailer.ts';
import { limitedAddress } from '../../platform/client-address.ts';
import type { Db } from '../../platform/db.ts';
import { AuthenticationError, RateLimitedError, ValidationError } from '../../platform/errors.ts';
import type { Logger } from '../../platform/logger.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import { type IssuedAccessToken, issueAccessToken } from './access-tokens.ts';
import { restoreAccount } from './account-deletion.ts';
import { findOrCreateUserByEmail, normalizeEmail } from './email.ts';
import { type IssuedRefreshToken, issueRefreshToken } from './refresh-tokens.ts';
import type { SigningKeys } from './signing-keys.ts';

export const SIGN_IN_CODE_TTL_SECONDS = 600;
export const SIGN_IN_CODE_MAX_ATTEMPTS = 5;
/** The window of the daily caps: a day from the first wrong code (or code sent) it counts. */
const DAY_SECONDS = 86_400;

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
  await limit(
    deps.limiter,
    `signin:request:ip:${limitedAddress(input.ip)}`,
    limits.signInPerIp,
    limits.signInWindowSeconds,
  );
  await refuseWhilePaused(deps, email);
  // The address is hashed so Redis holds no plain addresses.
  await limit(
    deps.limiter,
    `signin:request:email:${sha256(email)}`,
    limits.signInPerEmail,
    limits.signInWindowSeconds,
  );
  const sentToday = await deps.limiter.hit(
    `signin:codes:day:email:${sha256(email)}`,
    limits.signInDailyCodesPerEmail,
    DAY_SECONDS,
  );
  if (!sentToday.allowed) {
    await tellOfPause(deps, email, 'codes', sentToday.retryAfterSeconds);
    throw new RateLimitedError(
      `Too many sign-in codes were sent to this address today: try again in ${describeWait(sentToday.retryAfterSeconds)}`,
      sentToday.retryAfterSeconds,
    );
  }

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
    `signin:verify:ip:${limitedAddress(input.ip)}`,
    limits.signInPerIp * SIGN_IN_CODE_MAX_ATTEMPTS,
    limits.signInWindowSeconds,
  );

  // Before the code is looked at: while paused, even the right code is refused.
  await refuseWhilePaused(deps, email);

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
    const failedToday = await deps.limiter.hit(
      failuresKey(email),
      limits.signInDailyFailuresPerEmail,
      DAY_SECONDS,
    );
    if (failedToday.remaining === 0) {
      // This wrong code reached the cap (or, side by side with others, went past it): paused
      // from now on. Peeking gives how long for (a hit within its limit reports no wait).
      const paused = await deps.limiter.peek(failuresKey(email), limits.signInDailyFailuresPerEmail);
      await tellOfPause(deps, email, 'wrong codes', paused.retryAfterSeconds);
      throw pausedError(paused.retryAfterSeconds);
    }
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
    // Signing in before the purge takes back a deleted account (account-deletion.ts).
    if (await restoreAccount(tx, user.id)) user.deletedAt = null;
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

const failuresKey = (email: string) => `signin:failures:day:email:${sha256(email)}`;

/** RateLimitedError while the address has used up its wrong codes for the day. */
async function refuseWhilePaused(deps: SignInDeps, email: string): Promise<void> {
  const failures = await deps.limiter.peek(
    failuresKey(email),
    deps.config.rateLimits.signInDailyFailuresPerEmail,
  );
  if (!failures.allowed) throw pausedError(failures.retryAfterSeconds);
}

function pausedError(retryAfterSeconds: number): RateLimitedError {
  return new RateLimitedError(
    `Too many wrong codes were entered for this address today: sign-in by code is paused for it for ${describeWait(retryAfterSeconds)}`,
    retryAfterSeconds,
  );
}

/**
 * Tells the address that sign-in by code is paused for it, once a day however many attempts
 * follow: the notice has a daily window of its own, and only its first hit sends. It goes to
 * every address alike, with or without an account, like the codes themselves. A mail that
 * fails is logged: the refusal stands either way.
 */
async function tellOfPause(
  deps: SignInDeps,
  email: string,
  cause: 'wrong codes' | 'codes',
  retryAfterSeconds: number,
): Promise<void> {
  const notice = await deps.limiter.hit(`signin:pause-notice:email:${sha256(email)}`, 1, DAY_SECONDS);
  if (!notice.allowed) return;
  const until = new Date((deps.now?.() ?? new Date()).getTime() + retryAfterSeconds * 1000);
  const when = `${until.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  try {
    await deps.mailer.send({
      to: email,
      subject: 'Sign-in to AGNT paused for your address',
      text: [
        cause === 'wrong codes'
          ? `Too many wrong sign-in codes were entered for ${email} today, so sign-in by email code for this address is paused until ${when}.`
          : `Too many sign-in codes were requested for ${email} today, so no more are sent to this address: sending is paused until ${when}.`,
        '',
        'If that was you, request a new code after that time. If it was not, someone may be trying to sign in as you: while the pause lasts no code gets them in, and you need do nothing. Never share a sign-in code.',
      ].join('\n'),
    });
  } catch (error) {
    deps.logger.error({ err: error }, 'could not send the sign-in pause notice');
  }
}

/** "3 hours", "12 minutes", "40 seconds": roughly, for people. */
function describeWait(seconds: number): string {
  if (seconds >= 7200) return `${Math.ceil(seconds / 3600)} hours`;
  if (seconds >= 120) return `${Math.ceil(seconds / 60)} minutes`;
  return `${seconds} seconds`;
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
