/**
 * The real AGNT server for scenarios: its own migrated database and Redis key prefix, a signing
 * key made for the run, and rate limits raised out of the way (every bench request comes from
 * one IP and one user, and the bench measures the server, not the limiter; the limiter still
 * runs its Redis script on every request, as in production).
 *
 * `prepareAgnt()` runs in the bench process; `serveAgnt()` runs in the server process and starts
 * the app the way `npm start` does (resolveServices, then buildApp), in the `api` role unless
 * the params name another.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Config, loadConfig } from '../../src/config/index.ts';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import {
  generateSigningKey,
  loadSigningKeys,
  type SigningKeys,
} from '../../src/domain/identity/signing-keys.ts';
import { connectDatabase, type Database } from '../../src/platform/db.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { buildApp, type Role } from '../../src/wiring/app.ts';
import { resolveServices } from '../../src/wiring/services.ts';
import { createMigratedDatabase } from './database.ts';
import { BENCH_METRICS_TOKEN } from './metrics.ts';
import type { Served } from './scenario.ts';

/**
 * Where the AGNT server exposes its Prometheus metrics; `db_queries_total` there counts every SQL
 * statement Prisma sends, which gives the SQL statements per request (see metrics.ts).
 */
export const AGNT_METRICS_PATH = '/metrics';

/** Far above anything two cores can send in a run. */
const UNLIMITED = String(1_000_000_000);

/** What the server process needs: the environment `loadConfig` reads. */
export interface AgntParams {
  env: Record<string, string>;
  /** `api` when absent: HTTP only, no job worker polling in the background. */
  role?: Role;
}

export interface PreparedAgnt {
  params: AgntParams;
  config: Config;
  /** The signing keys the server will use, to mint tokens for the run. */
  keys: SigningKeys;
  /** A connection to the run's database, for seeding; closed by cleanup(). */
  database: Database;
  cleanup(): Promise<void>;
}

/** The Redis the real server uses (under a key prefix of the run's own). */
export function benchRedisUrl(): string {
  return process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
}

export async function prepareAgnt(): Promise<PreparedAgnt> {
  const benchDatabase = await createMigratedDatabase();
  const keyPrefix = `agnt-bench:${randomBytes(6).toString('hex')}:`;
  try {
    const signing = await generateSigningKey();
    // The server runs as deployed (NODE_ENV=production), so every secret production requires is
    // made here for the run; when a later change adds one, loadConfig's error names it.
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: benchDatabase.url,
      REDIS_URL: benchRedisUrl(),
      REDIS_KEY_PREFIX: keyPrefix,
      SEED_DEMO: 'false',
      JWT_PRIVATE_KEY: signing.privateKeyPem,
      JWT_KEY_ID: signing.keyId,
      // One token for the whole run, however many scenarios and seconds it takes.
      JWT_ACCESS_TTL_SECONDS: String(24 * 3600),
      // Production requires a relay; nothing in the bench sends mail, so nothing connects to it.
      SMTP_URL: 'smtp://127.0.0.1:2525',
      AGENT_SECRET_KEYS: `bench:${randomBytes(32).toString('base64url')}`,
      // A Fernet key for chat sessions (32 bytes, url-safe base64 with its padding).
      SESSION_KEYS: `${randomBytes(32).toString('base64url')}=`,
      // The embedded ClawPulse gateway (CLAWPULSE_GATEWAY unset) takes this key; production requires one.
      CLAWPULSE_API_KEY: randomBytes(24).toString('base64url'),
      // Production requires billing settings; nothing in the bench calls Stripe, so they point nowhere.
      STRIPE_SECRET_KEY: 'sk_test_bench_not_used',
      STRIPE_WEBHOOK_SECRETS: 'whsec_bench_not_used',
      STRIPE_API_BASE: 'http://127.0.0.1:9',
      STRIPE_PRICE_VENUE_STARTER: 'price_bench_venue_starter',
      STRIPE_PRICE_VENUE_GROWTH: 'price_bench_venue_growth',
      STRIPE_PRICE_VENUE_PRO: 'price_bench_venue_pro',
      STRIPE_PRICE_DEVELOPER_PRO: 'price_bench_developer_pro',
      // Production keeps /metrics private; the bench reads it with this token.
      METRICS_TOKEN: BENCH_METRICS_TOKEN,
      RATE_LIMIT_PER_IP: UNLIMITED,
      RATE_LIMIT_PER_USER: UNLIMITED,
      RATE_LIMIT_PER_API_KEY: UNLIMITED,
      // The bench's keys make far more than a day's requests: daily quotas are not what it measures.
      API_KEY_DAILY_FREE: UNLIMITED,
      API_KEY_DAILY_PRO: UNLIMITED,
      SIGN_IN_LIMIT_PER_IP: UNLIMITED,
      // booking-create books thousands of tables over 500 guests: it measures the write path, not the caps.
      BOOKING_MAX_PENDING_PER_VENUE: UNLIMITED,
      BOOKING_MAX_PENDING_TOTAL: UNLIMITED,
      BOOKING_LIMIT_PER_PERSON: UNLIMITED,
    };
    const config = loadConfig(env);
    const keys = await loadSigningKeys(config, createLogger('silent'));
    const database = connectDatabase(benchDatabase.url, 2);
    return {
      params: { env },
      config,
      keys,
      database,
      async cleanup() {
        await database.close();
        await dropRedisKeys(keyPrefix);
        await benchDatabase.drop();
      },
    };
  } catch (error) {
    await benchDatabase.drop();
    throw error;
  }
}

export async function serveAgnt(params: AgntParams): Promise<Served> {
  const config = loadConfig(params.env);
  const services = await resolveServices(config, createLogger(config.logLevel));
  const app = buildApp(services, params.role ?? 'api');
  const port = await app.start();
  return {
    port,
    async stop() {
      await app.stop();
      services.mailer.close();
      await services.shutdown();
    },
  };
}

/**
 * A signed-in person who belongs to no organisation (someone looking for a table), as the
 * `authorization` header of their requests.
 */
export async function consumerAuthorization(agnt: PreparedAgnt): Promise<string> {
  const user = await agnt.database.prisma.user.create({
    data: { email: `bench-guest-${randomBytes(4).toString('hex')}@example.test`, displayName: 'Bench Guest' },
  });
  const { token } = await issueAccessToken(agnt.keys, { userId: user.id, auth: agnt.config.auth });
  return `Bearer ${token}`;
}

async function dropRedisKeys(prefix: string): Promise<void> {
  const client = new Redis(benchRedisUrl(), { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await client.connect();
    // SCAN is bounded by the cursor coming back to 0; the prefix holds a few rate-limit counters.
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
