/** Identity: the tokens we sign, an outside issuer we accept, API keys, and sign-in mail. */
import { z } from 'zod';
import { type Context, optional, positiveInt, url } from './parse.ts';

export const authEnv = z.object({
  JWT_ISSUER: z.string().default('https://agnt.local'),
  JWT_AUDIENCE: z.string().default('agnt-api'),
  JWT_PRIVATE_KEY: optional(z.string()),
  JWT_KEY_ID: optional(z.string()),
  JWT_ACCESS_TTL_SECONDS: positiveInt.default(900),
  AUTH_USER_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  REFRESH_TOKEN_TTL_DAYS: positiveInt.default(30),
  EXTERNAL_JWKS_URL: optional(url),
  EXTERNAL_JWT_ISSUER: optional(z.string()),
  EXTERNAL_JWT_AUDIENCE: optional(z.string()),
  API_KEY_PREFIX: z
    .string()
    .regex(/^[a-z]+_[a-z]+$/)
    .default('agnt_live'),
  API_KEYS_PER_ORGANIZATION: positiveInt.default(10),
  ORGANIZATIONS_PER_PERSON: positiveInt.default(10),
});
type AuthEnv = z.output<typeof authEnv>;

export const mailEnv = z.object({
  SMTP_URL: optional(z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')),
  MAIL_FROM: z.string().default('AGNT <no-reply@agnt.local>'),
});
type MailEnv = z.output<typeof mailEnv>;

export function authConfig(e: AuthEnv) {
  return {
    issuer: e.JWT_ISSUER,
    audience: e.JWT_AUDIENCE,
    privateKeyPem: e.JWT_PRIVATE_KEY,
    keyId: e.JWT_KEY_ID,
    accessTtlSeconds: e.JWT_ACCESS_TTL_SECONDS,
    /** How long a signed-in person's user and roles are remembered per process; 0: read on every request. */
    userCacheMs: e.AUTH_USER_CACHE_MS,
    refreshTtlDays: e.REFRESH_TOKEN_TTL_DAYS,
    external:
      e.EXTERNAL_JWKS_URL && e.EXTERNAL_JWT_ISSUER && e.EXTERNAL_JWT_AUDIENCE
        ? { jwksUrl: e.EXTERNAL_JWKS_URL, issuer: e.EXTERNAL_JWT_ISSUER, audience: e.EXTERNAL_JWT_AUDIENCE }
        : undefined,
    apiKeyPrefix: e.API_KEY_PREFIX,
    /** Live (unrevoked) API keys an organisation may hold: each key has its own daily quota. */
    apiKeysPerOrganization: e.API_KEYS_PER_ORGANIZATION,
    /** Organisations one person may own: each holds its own keys, each key its own quota. */
    organizationsPerPerson: e.ORGANIZATIONS_PER_PERSON,
  };
}

export function mailConfig(e: MailEnv) {
  return { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM };
}

export function authProblems(e: AuthEnv, { production }: Context): string[] {
  const problems: string[] = [];
  const external = [e.EXTERNAL_JWKS_URL, e.EXTERNAL_JWT_ISSUER, e.EXTERNAL_JWT_AUDIENCE];
  if (external.some(Boolean) && !external.every(Boolean)) {
    problems.push('EXTERNAL_JWKS_URL, EXTERNAL_JWT_ISSUER, EXTERNAL_JWT_AUDIENCE: set all three or none');
  }
  if (production && !e.JWT_PRIVATE_KEY)
    problems.push('JWT_PRIVATE_KEY: required in production (an ES256 PKCS#8 PEM key)');
  if ((e.JWT_PRIVATE_KEY === undefined) !== (e.JWT_KEY_ID === undefined)) {
    problems.push('JWT_PRIVATE_KEY, JWT_KEY_ID: set both or neither');
  }
  return problems;
}

export function mailProblems(e: MailEnv, { production }: Context): string[] {
  return production && !e.SMTP_URL ? ['SMTP_URL: required in production to send sign-in codes'] : [];
}
