/**
 * Guessing sign-in codes over days. The short windows (codes per address per 15 minutes, 5
 * attempts per code) bound a burst; a guesser who paces themselves under them would still get
 * thousands of guesses a day at one address. So each address also has a daily cap on wrong codes
 * and on codes sent: past either, sign-in by code pauses for that address until the day's window
 * ends, and the address is told so by one email, however many attempts follow.
 *
 * The short window is set out of the way here (as if the guesser waited for it each time): what
 * is tested is the daily cap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  requestSignInCode,
  SIGN_IN_CODE_MAX_ATTEMPTS,
  type SignInDeps,
  verifySignInCode,
} from '../../src/domain/identity/sign-in.ts';
import { AuthenticationError, RateLimitedError } from '../../src/platform/errors.ts';
import {
  codeIn,
  type IdentityFixture,
  identityFixture,
  signInDeps,
  uniqueEmail,
  uniqueIp,
} from './fixtures.ts';

const DAILY_FAILURES = 12;
const DAILY_CODES = 6;
const NOTICE_SUBJECT = 'Sign-in to AGNT paused for your address';
const DAY_SECONDS = 86_400;

let f: IdentityFixture;
let deps: SignInDeps;

beforeAll(async () => {
  f = await identityFixture({
    SIGN_IN_LIMIT_PER_EMAIL: '1000',
    SIGN_IN_LIMIT_PER_IP: '1000',
    SIGN_IN_DAILY_FAILURES_PER_EMAIL: String(DAILY_FAILURES),
    SIGN_IN_DAILY_CODES_PER_EMAIL: String(DAILY_CODES),
  });
  deps = signInDeps(f);
});

afterAll(async () => {
  await f?.close();
});

/** Requests a code over real SMTP and reads it from the delivered mail. */
async function requestCode(email: string): Promise<string> {
  await requestSignInCode(deps, { email, ip: uniqueIp() });
  return codeIn((await f.smtp.nextMessageTo(email)).text);
}

const mailsTo = (email: string) => f.smtp.messages.filter((m) => m.envelopeTo.includes(email));
const noticesTo = (email: string) => mailsTo(email).filter((m) => m.subject === NOTICE_SUBJECT);
const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

describe('wrong codes per address per day', () => {
  it(`stops a guesser after ${DAILY_FAILURES} wrong codes, even with the right code, and tells the address once`, async () => {
    const email = uniqueEmail('guessed');
    let wrongAnswers = 0;
    let code = '';
    let refusal: unknown;
    // Each new code brings 5 more attempts: without a daily cap this goes on for ever.
    for (let round = 0; round < 10 && !refusal; round++) {
      code = await requestCode(email).catch((error: unknown) => {
        refusal = error;
        return '';
      });
      for (let attempt = 0; attempt < SIGN_IN_CODE_MAX_ATTEMPTS && !refusal; attempt++) {
        const error = await verifySignInCode(deps, { email, code: wrongFor(code), ip: uniqueIp() }).catch(
          (e: unknown) => e,
        );
        if (error instanceof RateLimitedError) refusal = error;
        else {
          expect(error).toBeInstanceOf(AuthenticationError);
          wrongAnswers += 1;
        }
      }
    }
    // The wrong code that reached the cap is answered with the pause itself.
    expect(wrongAnswers).toBe(DAILY_FAILURES - 1);
    expect(refusal).toBeInstanceOf(RateLimitedError);
    expect((refusal as RateLimitedError).message).toMatch(/paused/);
    const retryAfter = (refusal as RateLimitedError).retryAfterSeconds;
    expect(retryAfter).toBeGreaterThan(DAY_SECONDS - 60);
    expect(retryAfter).toBeLessThanOrEqual(DAY_SECONDS);

    // The live code is right, and still refused: the pause is checked before the code is.
    await expect(verifySignInCode(deps, { email, code, ip: uniqueIp() })).rejects.toBeInstanceOf(
      RateLimitedError,
    );
    // No new code is sent while paused.
    const before = mailsTo(email).length;
    await expect(requestSignInCode(deps, { email, ip: uniqueIp() })).rejects.toBeInstanceOf(RateLimitedError);
    for (let i = 0; i < 3; i++) {
      await verifySignInCode(deps, { email, code: wrongFor(code), ip: uniqueIp() }).catch(() => {});
    }
    expect(mailsTo(email).length).toBe(before);

    // Told once, not per attempt.
    const notices = noticesTo(email);
    expect(notices).toHaveLength(1);
    expect(notices[0]!.text).toContain(email);
    expect(notices[0]!.text).toMatch(/paused until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    expect(await f.db.user.count({ where: { email } })).toBe(0);
  });

  it('leaves other addresses alone', async () => {
    const victim = uniqueEmail('victim');
    for (let i = 0; i < DAILY_FAILURES; i++) {
      const code = i % SIGN_IN_CODE_MAX_ATTEMPTS === 0 ? await requestCode(victim) : '';
      await verifySignInCode(deps, { email: victim, code: wrongFor(code), ip: uniqueIp() }).catch(() => {});
    }
    const bystander = uniqueEmail('bystander');
    const code = await requestCode(bystander);
    await expect(verifySignInCode(deps, { email: bystander, code, ip: uniqueIp() })).resolves.toMatchObject({
      isNewUser: true,
    });
    expect(noticesTo(bystander)).toHaveLength(0);
  });
});

describe('codes sent per address per day', () => {
  it(`sends at most ${DAILY_CODES} codes a day to one address, and tells it once`, async () => {
    const email = uniqueEmail('flooded');
    for (let i = 0; i < DAILY_CODES; i++) await requestSignInCode(deps, { email, ip: uniqueIp() });
    for (let i = 0; i < 3; i++) {
      const refused = await requestSignInCode(deps, { email, ip: uniqueIp() }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(RateLimitedError);
      expect((refused as RateLimitedError).retryAfterSeconds).toBeGreaterThan(DAY_SECONDS - 60);
    }
    expect(await f.db.signInCode.count({ where: { email } })).toBe(DAILY_CODES);
    expect(mailsTo(email).filter((m) => m.subject === 'Your AGNT sign-in code')).toHaveLength(DAILY_CODES);
    expect(noticesTo(email)).toHaveLength(1);

    // The last code sent still works: the cap stops sending, not signing in.
    const codes = mailsTo(email).filter((m) => m.subject === 'Your AGNT sign-in code');
    const last = codeIn(codes.at(-1)!.text);
    await expect(verifySignInCode(deps, { email, code: last, ip: uniqueIp() })).resolves.toMatchObject({
      isNewUser: true,
    });
  });
});
