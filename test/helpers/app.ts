/**
 * Starts the real server on a free port with a database and Redis prefix of its own, a loopback
 * SMTP server, and a clock the test can move. `gql()` posts an operation over real HTTP and, when
 * the answer is not what the test expected, the assertion prints the whole response.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { loadConfig } from '../../src/config/index.ts';
import { generateKeyringSpec, parseKeyring } from '../../src/domain/agents/secrets.ts';
import { CLOCK_TOLERANCE_SECONDS } from '../../src/domain/identity/access-tokens.ts';
import { createRevokedSessions } from '../../src/domain/identity/revoked-sessions.ts';
import { generateSigningKey, loadSigningKeys } from '../../src/domain/identity/signing-keys.ts';
import { channelSenders } from '../../src/integrations/channels.ts';
import { createMailer } from '../../src/integrations/mail/mailer.ts';
import { mediaLoaders } from '../../src/integrations/media.ts';
import type { Database } from '../../src/platform/db.ts';
import { generateFernetKey } from '../../src/platform/fernet.ts';
import { createLogger, type Logger } from '../../src/platform/logger.ts';
import { createPubSub } from '../../src/platform/pubsub.ts';
import { createRateLimiter } from '../../src/platform/rate-limit.ts';
import type { RedisHandle } from '../../src/platform/redis.ts';
import { createTokenBuckets } from '../../src/platform/token-bucket.ts';
import { buildApp, type Role } from '../../src/wiring/app.ts';
import { buildNetwork, generateGatewayKey } from '../../src/wiring/network.ts';
import { bookingServices, type Services, withConversation } from '../../src/wiring/services.ts';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { createTestRedis } from './redis.ts';

export interface TestApp {
  url: string;
  /** With METRICS_PORT: the address of the monitoring listener. */
  monitoringUrl: string | undefined;
  services: Services;
  smtp: FakeSmtp;
  database: TestDatabase;
  clock: { now(): Date; advance(ms: number): void };
  /** Sends one GraphQL operation; `token` goes in `Authorization: Bearer`. */
  gql<TResult, TVariables>(
    document: DocumentTypeDecoration<TResult, TVariables> | string,
    variables?: TVariables,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<TResult>>;
  /** Signs a new (or existing) address in through the real code-by-mail flow. */
  signIn(email?: string): Promise<{ token: string; userId: string; email: string; refreshToken: string }>;
  close(): Promise<void>;
}

export interface GraphQLResponse<T> {
  status: number;
  headers: Headers;
  data: T | null | undefined;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  /** The whole body, for assertion messages. */
  body: unknown;
}

export interface TestAppOptions {
  env?: Record<string, string | undefined>;
  role?: Role;
  /** Share a database or Redis with another app (to run two processes against one store). */
  database?: TestDatabase;
  redis?: RedisHandle;
  /** Where log lines go (by default nowhere, unless TEST_LOG_LEVEL is set). */
  logger?: Logger;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const ownDatabase = !options.database;
  const ownRedis = !options.redis;
  const database = options.database ?? (await createTestDatabase());
  const redis = options.redis ?? (await createTestRedis());
  const smtp = await startFakeSmtp();
  const signing = await generateSigningKey();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SMTP_URL: smtp.url,
    JWT_PRIVATE_KEY: signing.privateKeyPem,
    JWT_KEY_ID: signing.keyId,
    // Every test request comes from 127.0.0.1; tests of these limits set their own.
    SIGN_IN_LIMIT_PER_IP: '10000',
    RATE_LIMIT_PER_IP: '100000',
    AUTH_FAILURE_LIMIT_PER_IP: '100000',
    // Tests change users and memberships behind the API (factories, the database), which a
    // process remembering them would not hear of; tests of that memory set their own.
    AUTH_USER_CACHE_MS: '0',
    // Likewise a person's taste, which tests build behind the API.
    TASTE_CACHE_MS: '0',
    // Tests of the channels see messages acknowledged; tests of the agent turn it on.
    CONSUMER_AGENT: 'false',
    // No outside service is reached by accident: tests point what they use at their fakes.
    WEATHER_API_URL: 'http://127.0.0.1:9',
    DIRECTIONS_API_URL: 'http://127.0.0.1:9',
    ...options.env,
  });
  const logger = options.logger ?? createLogger(config.logLevel);
  let offset = 0;
  const clock = {
    now: () => new Date(Date.now() + offset),
    advance(ms: number) {
      offset += ms;
    },
  };
  const mailer = createMailer(config, logger);
  const pubsub = createPubSub(redis, logger);
  const limiter = createRateLimiter(redis, logger);
  // AGENT_SECRET_KEYS when the test gives one (worker processes of its own share it).
  const keyring = parseKeyring(config.agents.secretKeys ?? generateKeyringSpec());
  const services: Services = withConversation(
    {
      config,
      logger,
      database: database as Database,
      db: database.prisma,
      redis,
      pubsub,
      senders: channelSenders(config.channels),
      media: mediaLoaders(config),
      buckets: createTokenBuckets(redis),
      bookings: bookingServices({
        db: database.prisma,
        now: clock.now,
        config,
        limiter,
        pubsub,
        logger,
        keyring,
      }),
      limiter,
      revokedSessions: createRevokedSessions(redis, {
        ttlSeconds: config.auth.accessTtlSeconds + CLOCK_TOLERANCE_SECONDS,
        logger,
      }),
      mailer,
      keys: await loadSigningKeys(config, logger),
      keyring,
      external: undefined,
      now: clock.now,
      network: buildNetwork(config, {
        db: database.prisma,
        gatewayKey: config.network.apiKey ?? generateGatewayKey(),
        logger,
        redis,
        now: clock.now,
      }),
    },
    { sessionKeys: [generateFernetKey()] },
  );
  const app = buildApp(services, options.role ?? 'api');
  const port = await app.start();
  const url = `http://127.0.0.1:${port}`;
  const monitoringPort = app.monitoringPort();

  const gql: TestApp['gql'] = async (document, variables, opts = {}) => {
    const query =
      typeof document === 'string' || document instanceof String
        ? String(document)
        : print(document as never);
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...opts.headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.text();
    let body: { data?: unknown; errors?: GraphQLResponse<unknown>['errors'] };
    try {
      body = JSON.parse(text);
    } catch {
      body = { errors: [{ message: `not JSON (${response.status}): ${text}` }] };
    }
    return {
      status: response.status,
      headers: response.headers,
      data: body.data as never,
      errors: body.errors,
      body,
    };
  };

  return {
    url,
    monitoringUrl: monitoringPort === null ? undefined : `http://127.0.0.1:${monitoringPort}`,
    services,
    smtp,
    database,
    clock,
    gql,
    async signIn(email = uniqueEmail()) {
      const requested = await gql(REQUEST_CODE, { email });
      if (requested.errors) throw new Error(`requestSignInCode failed: ${JSON.stringify(requested.body)}`);
      const mail = await smtp.nextMessageTo(email);
      const code = /\b(\d{6})\b/.exec(mail.text)?.[1];
      const signedIn = await gql<{ signInWithCode: Record<string, never> }, unknown>(SIGN_IN, {
        email,
        code,
      });
      const result = signedIn.data?.signInWithCode as
        | { session?: { accessToken: string; refreshToken: string }; user?: { id: string } }
        | undefined;
      if (!result?.session || !result.user)
        throw new Error(`signInWithCode failed: ${JSON.stringify(signedIn.body)}`);
      const userId = Buffer.from(result.user.id, 'base64').toString().split(':')[1]!;
      return { token: result.session.accessToken, refreshToken: result.session.refreshToken, userId, email };
    },
    async close() {
      await app.stop();
      await pubsub.close();
      mailer.close();
      await smtp.close();
      if (ownRedis) await redis.close();
      if (ownDatabase) await database.drop();
    },
  };
}

const REQUEST_CODE = `mutation RequestCode($email: String!) {
  requestSignInCode(input: { email: $email }) { __typename ... on Error { message } }
}`;

const SIGN_IN = `mutation SignIn($email: String!, $code: String!) {
  signInWithCode(input: { email: $email, code: $code }) {
    __typename
    ... on SignInPayload { session { accessToken refreshToken } user { id } }
    ... on Error { message }
  }
}`;

/** Unique values, so tests never see each other's rows or rate-limit windows. */
export function uniqueEmail(label = 'user'): string {
  return `${label}-${randomBytes(5).toString('hex')}@example.test`;
}

export function uniqueIp(): string {
  return `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
}

/**
 * Narrows a result union to the member a test expects, or fails printing the whole answer.
 * `const { organization } = member(res.data?.createOrganization, 'OrganizationPayload', res)`.
 */
export function member<T extends { __typename?: string }, N extends NonNullable<T['__typename']>>(
  value: T | null | undefined,
  typename: N,
  response: { body: unknown },
): Extract<T, { __typename?: N }> {
  if (!value || value.__typename !== typename) {
    throw new Error(`expected ${typename}, got:\n${JSON.stringify(response.body, null, 2)}`);
  }
  return value as Extract<T, { __typename?: N }>;
}

/** The database id inside a Relay global id. */
export function rawId(globalId: string): string {
  return Buffer.from(globalId, 'base64').toString().split(':')[1]!;
}
