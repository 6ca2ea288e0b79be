/**
 * Rate limits (requests per window), API keys' daily quotas by tier, and the limits on sign-in and
 * failed credentials.
 */
import { z } from 'zod';
import { positiveInt } from './parse.ts';

export const rateLimitsEnv = z.object({
  RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
  RATE_LIMIT_PER_IP: positiveInt.default(600),
  RATE_LIMIT_PER_USER: positiveInt.default(600),
  RATE_LIMIT_PER_API_KEY: positiveInt.default(1200),
  API_KEY_DAILY_FREE: positiveInt.default(100),
  API_KEY_DAILY_PRO: positiveInt.default(10_000),
  SIGN_IN_LIMIT_PER_EMAIL: positiveInt.default(5),
  SIGN_IN_LIMIT_PER_IP: positiveInt.default(20),
  SIGN_IN_LIMIT_WINDOW_SECONDS: positiveInt.default(900),
  SIGN_IN_DAILY_FAILURES_PER_EMAIL: positiveInt.default(20),
  SIGN_IN_DAILY_CODES_PER_EMAIL: positiveInt.default(20),
  AUTH_FAILURE_LIMIT_PER_IP: positiveInt.default(20),
  AUTH_FAILURE_WINDOW_SECONDS: positiveInt.default(900),
});

export function rateLimitsConfig(e: z.output<typeof rateLimitsEnv>) {
  return {
    windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
    perIp: e.RATE_LIMIT_PER_IP,
    perUser: e.RATE_LIMIT_PER_USER,
    perApiKey: e.RATE_LIMIT_PER_API_KEY,
    /** Requests an API key may make per UTC day, by its organisation's developer tier. */
    dailyPerApiKey: { FREE: e.API_KEY_DAILY_FREE, PRO: e.API_KEY_DAILY_PRO },
    signInPerEmail: e.SIGN_IN_LIMIT_PER_EMAIL,
    signInPerIp: e.SIGN_IN_LIMIT_PER_IP,
    signInWindowSeconds: e.SIGN_IN_LIMIT_WINDOW_SECONDS,
    /** Wrong codes per address per day before sign-in by code pauses for it (the address is told). */
    signInDailyFailuresPerEmail: e.SIGN_IN_DAILY_FAILURES_PER_EMAIL,
    /** Codes sent per address per day. */
    signInDailyCodesPerEmail: e.SIGN_IN_DAILY_CODES_PER_EMAIL,
    /** Failed credentials (API keys, tokens) per client address per window, before 429. */
    authFailuresPerIp: e.AUTH_FAILURE_LIMIT_PER_IP,
    authFailureWindowSeconds: e.AUTH_FAILURE_WINDOW_SECONDS,
  };
}
