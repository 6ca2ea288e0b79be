import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/index.ts';
import { generateKeyringSpec, parseKeyring, type SecretKeyring } from '../domain/agents/secrets.ts';
import type { BookingDeps } from '../domain/bookings/bookings.ts';
import { createBookingDeps } from '../domain/bookings/deps.ts';
import { acknowledge, type InboundHandler } from '../domain/channels/inbound.ts';
import type { MediaLoaders } from '../domain/channels/media.ts';
import type { ChannelSenders } from '../domain/channels/outbound.ts';
import { consumerAgentHandler } from '../domain/conversation/assembly.ts';
import { createLlmGateway, type LlmGatewayStatus } from '../domain/conversation/gateway.ts';
import type { LlmGateway } from '../domain/conversation/messages.ts';
import { createSessionStore, type SessionStore } from '../domain/conversation/sessions.ts';
import type { DeliveryDeps } from '../domain/delivery/deps.ts';
import { DEMO_OWNER_EMAIL, seedDemoNetwork } from '../domain/demo/seed.ts';
import { requireProForGuestBookings } from '../domain/developer/tiers.ts';
import type { ApiUsageDeps } from '../domain/developer/usage.ts';
import {
  CLOCK_TOLERANCE_SECONDS,
  createExternalIssuer,
  type ExternalIssuer,
} from '../domain/identity/access-tokens.ts';
import { createRevokedSessions, type RevokedSessions } from '../domain/identity/revoked-sessions.ts';
import { generateSigningKey, loadSigningKeys, type SigningKeys } from '../domain/identity/signing-keys.ts';
import { createMemorySearch, type MemorySearch } from '../domain/memory/embeddings.ts';
import { venueAgentRequests } from '../domain/network/consumer-agent.ts';
import { keepingInbox } from '../domain/network/staff-inbox.ts';
import { webhookEvents } from '../domain/outbound-webhooks/events.ts';
import { payForApiBooking } from '../domain/usage/paid-calls.ts';
import { a2aBookingUsage } from '../domain/usage/recorders.ts';
import { channelSenders } from '../integrations/channels.ts';
import { createOsrmClient, type DirectionsClient } from '../integrations/directions/osrm.ts';
import { createLalamoveClient } from '../integrations/lalamove/client.ts';
import { createModelRouter } from '../integrations/llm/router.ts';
import { createMailer, type Mailer } from '../integrations/mail/mailer.ts';
import { mediaLoaders } from '../integrations/media.ts';
import { createOllamaEmbedClient } from '../integrations/ollama/embed.ts';
import { createStripeClient, type StripeClient } from '../integrations/stripe/client.ts';
import { createOpenMeteoClient, type WeatherClient } from '../integrations/weather/open-meteo.ts';
import { createDayCounters } from '../platform/day-counters.ts';
import {
  connectDatabase,
  type Database,
  type Db,
  ensureDatabaseExists,
  postgresAnswers,
} from '../platform/db.ts';
import { startEmbeddedPostgres } from '../platform/embedded-postgres.ts';
import { ServiceUnavailableError } from '../platform/errors.ts';
import { generateFernetKey } from '../platform/fernet.ts';
import { installJobSchema } from '../platform/jobs.ts';
import type { Logger } from '../platform/logger.ts';
import type { Metrics } from '../platform/metrics.ts';
import { migrate } from '../platform/migrate.ts';
import { createPubSub, type PubSub } from '../platform/pubsub.ts';
import { createRateLimiter, type RateLimiter } from '../platform/rate-limit.ts';
import { connectRedis, type RedisHandle, redact } from '../platform/redis.ts';
import { createTokenBuckets, type TokenBuckets } from '../platform/token-bucket.ts';
import { createLocks, type Locks } from '../platform/user-lock.ts';
import { buildNetwork, generateGatewayKey, type NetworkServices, networkHandlers } from './network.ts';

/** The long-lived dependencies of one running app, built once per process (resolveServices) or by a test. */
export interface Services {
  config: Config;
  logger: Logger;
  database: Database;
  db: Db;
  redis: RedisHandle;
  limiter: RateLimiter;
  /** Signed-out sessions, whose access tokens are refused until they expire. */
  revokedSessions: RevokedSessions;
  mailer: Mailer;
  keys: SigningKeys;
  /** Live events between processes (Redis pub/sub, or in-process stand-in). */
  pubsub: PubSub;
  /** What booking functions need: database, clock, effects (jobs, messages, events). */
  bookings: BookingDeps;
  /** How each configured channel sends (the send queue uses them). */
  senders: ChannelSenders;
  /** Fetch images people send, per channel, when a handler asks. */
  media: MediaLoaders;
  /** Rate limits for sending, shared through Redis. */
  buckets: TokenBuckets;
  /** Encrypts agents' A2A signing secrets at rest. */
  keyring: SecretKeyring;
  external: ExternalIssuer | undefined;
  /** Language models (Anthropic, Ollama) within budgets; `status()` for /readyz. */
  llm: LlmGateway & { status(): LlmGatewayStatus; useMetrics(metrics: Metrics): void };
  /** Chat histories, Fernet-encrypted in Redis. */
  sessions: SessionStore;
  /** Leases shared through Redis (one running conversation turn per person). */
  locks: Locks;
  weather: WeatherClient;
  directions: DirectionsClient;
  /** Lalamove and the delivery rules. */
  delivery: DeliveryDeps;
  /** What processing an inbound message means: the consumer agent, or acknowledging it. */
  inbound: InboundHandler;
  /** The clock. Tests pass their own. */
  now: () => Date;
  /** The ClawPulse client our agents talk through, and the gateway key in force. */
  network: NetworkServices;
  /** Stripe (built once from config.billing), or undefined while billing is off. */
  billing: { stripe: StripeClient | undefined };
  /** API keys' daily quotas: the counters (Redis) and what a key's tier and limit depend on. */
  apiQuota: ApiUsageDeps;
  /** Embeddings for memory recall (EMBEDDINGS_PROVIDER); undefined: full-text alone. */
  memorySearch: MemorySearch | undefined;
}

/**
 * The consumer agent's services on top of the others, and the inbound handler that uses them
 * (the agent, or with CONSUMER_AGENT=false a plain acknowledgement). Shared with the tests' app.
 */
export function withConversation(
  base: Omit<
    Services,
    | 'llm'
    | 'sessions'
    | 'locks'
    | 'weather'
    | 'directions'
    | 'delivery'
    | 'inbound'
    | 'billing'
    | 'apiQuota'
    | 'memorySearch'
  >,
  options: { sessionKeys: readonly string[]; metrics?: Metrics },
): Services {
  const { config, logger, now } = base;
  const partial = {
    ...base,
    llm: createLlmGateway({
      models: createModelRouter(config.llm, { logger, metrics: options.metrics, now }),
      budgets: config.llm.budgets,
      prices: config.llm.prices,
      maxOutputTokens: config.llm.maxOutputTokens,
      db: base.db,
      logger,
      metrics: options.metrics,
      now,
    }),
    sessions: createSessionStore({
      redis: base.redis,
      keys: options.sessionKeys,
      idleSeconds: config.sessions.idleSeconds,
      logger,
    }),
    locks: createLocks(base.redis, { leaseMs: config.llm.lockLeaseMs }),
    weather: createOpenMeteoClient({ apiUrl: config.weather.apiUrl }),
    directions: createOsrmClient({ apiUrl: config.directions.apiUrl }),
    delivery: {
      db: base.db,
      // Lalamove checks request timestamps against its own clock, so the client keeps the real one.
      lalamove: config.delivery.lalamove ? createLalamoveClient(config.delivery.lalamove) : undefined,
      now,
      confirmMinutes: config.delivery.confirmMinutes,
      logger,
    },
    inbound: acknowledge,
    billing: { stripe: config.billing.stripe ? createStripeClient(config.billing.stripe) : undefined },
    apiQuota: {
      db: base.db,
      counters: createDayCounters(base.redis, logger),
      limits: config.rateLimits.dailyPerApiKey,
      billing: Boolean(config.billing.stripe),
      plans: config.billing.plans,
      graceDays: config.billing.graceDays,
      now,
    },
    memorySearch: config.memory.embeddings
      ? createMemorySearch({
          db: base.db,
          embedder: createOllamaEmbedClient(config.memory.embeddings),
          timeoutMs: config.memory.embeddings.timeoutMs,
          logger,
        })
      : undefined,
  };
  if (config.consumerAgent.enabled) partial.inbound = consumerAgentHandler(partial);
  partial.network.handlers = networkHandlers(partial);
  return partial;
}

/**
 * Bookings' dependencies with every side effect a booking change has in its own transaction: the
 * venue's agent asked, A2A usage recorded, organisations' webhooks told (an outbox); and the venue
 * agents' inboxes close a request whose booking is settled any other way. The product and the test
 * harness both build bookings here, so they cannot drift apart.
 */
export function bookingServices(deps: {
  db: BookingDeps['db'];
  now: () => Date;
  config: Pick<Config, 'bookings' | 'network' | 'billing' | 'usage'>;
  limiter: BookingDeps['limiter'];
  pubsub: Pick<Services['pubsub'], 'publish'>;
  logger: Logger;
  keyring: SecretKeyring;
}): BookingDeps {
  const { db, now, config, limiter, pubsub, logger, keyring } = deps;
  const bookings = keepingInbox(
    createBookingDeps({
      db,
      now,
      config: config.bookings,
      limiter,
      publish: pubsub.publish,
      onPublishError: (error) => logger.error({ err: error }, 'could not publish a booking event'),
      hooks: [
        venueAgentRequests({ keyring, envelopeTtlMs: config.network.envelopeTtlMs, now }),
        a2aBookingUsage({ now }),
        webhookEvents({ now }),
      ],
    }),
    pubsub.publish,
    (error) => logger.error({ err: error }, 'could not publish an inbox event'),
  );
  // An API key books at the network's venues on the pro developer tier only, however it asks.
  const gated: BookingDeps = {
    ...bookings,
    mayBookAsGuest: requireProForGuestBookings({
      db,
      billing: Boolean(config.billing.stripe),
      plans: config.billing.plans,
      graceDays: config.billing.graceDays,
      now,
    }),
  };
  // With billing on, a booking made with an API key (GraphQL or MCP) is a paid call; without it,
  // bookings cost nothing.
  if (!config.billing.stripe) return gated;
  return {
    ...gated,
    payForCreation: payForApiBooking({
      plans: config.billing.plans,
      graceDays: config.billing.graceDays,
      now,
      price: config.usage.apiCallPrice,
      currency: config.usage.apiCallCurrency,
    }),
  };
}

/**
 * Resolves the real services for a process: the configured database (or the local default, or an
 * embedded PostgreSQL), migrated and seeded; Redis or its stand-ins; mail; signing keys.
 * A configured service that does not answer is an error that names the variable and the fix.
 */
export async function resolveServices(
  config: Config,
  logger: Logger,
): Promise<Services & { shutdown(): Promise<void> }> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const shutdown = async () => {
    for (const cleanup of cleanups)
      await cleanup().catch((error) => logger.error({ err: error }, 'shutdown step failed'));
  };
  try {
    return { ...(await resolve(config, logger, cleanups)), shutdown };
  } catch (error) {
    // Whatever was started before the failure (an embedded server, pools) is stopped again.
    await shutdown();
    throw error;
  }
}

async function resolve(
  config: Config,
  logger: Logger,
  cleanups: (() => Promise<unknown>)[],
): Promise<Services> {
  let url = config.database.url;
  if (url) {
    if (!(await postgresAnswers(url))) {
      throw new ServiceUnavailableError(
        `DATABASE_URL=${redact(url)} does not answer. Start PostgreSQL there (for example \`pg_ctlcluster 15 main start\`), or unset DATABASE_URL to use the local default or an embedded PostgreSQL under ${config.database.embeddedDir}.`,
      );
    }
  } else if (await postgresAnswers(config.database.defaultUrl)) {
    url = config.database.defaultUrl;
  } else {
    const embedded = await startEmbeddedPostgres(config.database.embeddedDir, logger);
    cleanups.push(embedded.stop);
    url = embedded.url;
  }
  await ensureDatabaseExists(url);
  const migrated = await migrate(url);
  if (migrated.applied.length) logger.info({ 'db.migrations': migrated.applied }, 'applied migrations');
  // graphile-worker's queue schema, for every role: the API enqueues through graphile_worker.add_job.
  await installJobSchema(url, logger);

  const redis = await connectRedis(config.redis, logger);
  cleanups.unshift(() => redis.close());

  const keys = await loadSigningKeys(await withDevelopmentKey(config), logger);
  const database = connectDatabase(url, config.database.poolSize, {
    preparedStatements: config.database.preparedStatements,
    connectTimeoutMs: config.database.connectTimeoutMs,
  });
  cleanups.unshift(() => database.close());
  const keyring = await loadKeyring(config);
  if (config.database.seedDemo && (await seedDemoNetwork(database.prisma, keyring))) {
    logger.info(`seeded the demo network: sign in as ${DEMO_OWNER_EMAIL}`);
  }
  const pubsub = createPubSub(redis, logger);
  cleanups.unshift(() => pubsub.close());
  const now = () => new Date();
  const sessionKeys = await loadSessionKeys(config);
  if (config.consumerAgent.enabled && !config.llm.anthropic && !config.llm.ollama) {
    logger.warn(
      'neither ANTHROPIC_API_KEY nor OLLAMA_URL is set: the consumer agent answers every message with "assistant unavailable"',
    );
  }
  const limiter = createRateLimiter(redis, logger);
  const services = withConversation(
    {
      config,
      logger,
      database,
      db: database.prisma,
      pubsub,
      senders: channelSenders(config.channels),
      media: mediaLoaders(config),
      buckets: createTokenBuckets(redis),
      bookings: bookingServices({ db: database.prisma, now, config, limiter, pubsub, logger, keyring }),
      redis,
      limiter,
      revokedSessions: createRevokedSessions(redis, {
        ttlSeconds: config.auth.accessTtlSeconds + CLOCK_TOLERANCE_SECONDS,
        logger,
      }),
      mailer: createMailer(config, logger),
      keys,
      keyring,
      external: config.auth.external ? createExternalIssuer(config.auth.external) : undefined,
      now,
      network: buildNetwork(config, {
        db: database.prisma,
        gatewayKey: await loadGatewayKey(config),
        logger,
        redis,
      }),
    },
    { sessionKeys },
  );
  if (services.memorySearch) {
    // pgvector is detected (and created where the database allows) once, at start; without it,
    // similarity is computed in plain SQL. Either way recall works: this never fails the start.
    const support = await services.memorySearch.vectorSupport();
    logger.info({ 'embeddings.pgvector': support.pgvector }, `memory embeddings on: ${support.detail}`);
  }
  return services;
}

/** The ClawPulse gateway key: CLAWPULSE_API_KEY, or outside production one kept under `.data/`. */
async function loadGatewayKey(config: Config): Promise<string> {
  if (config.network.apiKey) return config.network.apiKey;
  if (config.production) throw new Error('CLAWPULSE_API_KEY is required in production');
  return developmentSecret('clawpulse-api-key', generateGatewayKey);
}

/** Fernet keys of chat sessions: SESSION_KEYS, or outside production one kept under `.data/`. */
async function loadSessionKeys(config: Config): Promise<string[]> {
  if (config.sessions.keys.length) return config.sessions.keys;
  if (config.production) throw new Error('SESSION_KEYS is required in production');
  return developmentSecret('session-keys', () => [generateFernetKey()]);
}

/**
 * Outside production with no signing key configured, one is generated once and kept under
 * `.data/`, so sessions survive restarts and every local process verifies the same tokens.
 * The same goes for the keyring of agent secrets.
 */
async function withDevelopmentKey(config: Config): Promise<Config> {
  if (config.production || config.auth.privateKeyPem) return config;
  const key = await developmentSecret('jwt-signing-key', generateSigningKey);
  return { ...config, auth: { ...config.auth, privateKeyPem: key.privateKeyPem, keyId: key.keyId } };
}

/** The keyring of agent secrets: AGENT_SECRET_KEYS, or outside production one kept under `.data/`. */
export async function loadKeyring(config: Config): Promise<SecretKeyring> {
  if (config.agents.secretKeys) return parseKeyring(config.agents.secretKeys);
  if (config.production) throw new Error('AGENT_SECRET_KEYS is required in production');
  return parseKeyring(await developmentSecret('agent-secret-keys', generateKeyringSpec));
}

/** A secret generated once and kept under `.data/` (development only; production configures its own). */
async function developmentSecret<T>(name: string, generate: () => T | Promise<T>): Promise<T> {
  const file = path.resolve(`.data/${name}.json`);
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    const value = await generate();
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(value), { mode: 0o600 });
    return value;
  }
}
