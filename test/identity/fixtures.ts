/**
 * What the identity tests share: a database and Redis prefix of their own, the SMTP fake, a
 * config built from a test environment, and a clock the test moves by hand.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { loadConfig } from '../../src/config/index.ts';
import { createRevokedSessions } from '../../src/domain/identity/revoked-sessions.ts';
import { generateSigningKey, loadSigningKeys } from '../../src/domain/identity/signing-keys.ts';
import { createMailer } from '../../src/integrations/mail/mailer.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createRateLimiter } from '../../src/platform/rate-limit.ts';
import { startFakeSmtp } from '../fakes/smtp.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createTestRedis } from '../helpers/redis.ts';

export async function identityFixture(env: Record<string, string | undefined> = {}) {
  const database = await createTestDatabase();
  const redis = await createTestRedis();
  const smtp = await startFakeSmtp();
  const logger = createLogger('silent');
  const signing = await generateSigningKey();
  const config = loadConfig({
    NODE_ENV: 'test',
    SMTP_URL: smtp.url,
    JWT_PRIVATE_KEY: signing.privateKeyPem,
    JWT_KEY_ID: signing.keyId,
    ...env,
  });
  const keys = await loadSigningKeys(config, logger);
  const mailer = createMailer(config, logger);
  const limiter = createRateLimiter(redis, logger);
  const revokedSessions = createRevokedSessions(redis, { ttlSeconds: config.auth.accessTtlSeconds, logger });
  const clock = manualClock();
  return {
    database,
    db: database.prisma,
    redis,
    smtp,
    logger,
    config,
    keys,
    mailer,
    limiter,
    revokedSessions,
    clock,
    async close() {
      mailer.close();
      await smtp.close();
      await redis.close();
      await database.drop();
    },
  };
}

export type IdentityFixture = Awaited<ReturnType<typeof identityFixture>>;

/** What the sign-in functions take, from the fixture. */
export function signInDeps(f: IdentityFixture) {
  return {
    db: f.db,
    mailer: f.mailer,
    limiter: f.limiter,
    keys: f.keys,
    config: f.config,
    logger: f.logger,
    now: f.clock.now,
  };
}

/** A clock that moves only when told; starts at the real time. */
export function manualClock() {
  let current = Date.now();
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
  };
}

/** Unique values, so tests never see each other's rows or rate-limit windows. */
export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(5).toString('hex')}@example.test`;
}

export function uniqueIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

/** The 6-digit code in a sign-in mail. */
export function codeIn(text: string): string {
  const match = /\b(\d{6})\b/.exec(text);
  if (!match) throw new Error(`no code in mail:\n${text}`);
  return match[1]!;
}
