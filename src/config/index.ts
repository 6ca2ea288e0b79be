/**
 * Every environment variable the product reads, parsed and validated once.
 *
 * Nothing else in the codebase reads `process.env`. `loadConfig()` reports every bad variable in
 * one message; `main.ts` prints it and exits. Tests build a config with `loadConfig({...})` and
 * override only what they need.
 */
import { z } from 'zod';
import { type ProxyTrust, parseNetworks } from '../platform/client-address.ts';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const url = z.url();
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/**
 * One WhatsApp number. Its webhook secrets are mandatory: Meta signs every delivery with the app
 * secret (X-Hub-Signature-256) and checks our verify token in the GET handshake; 360dialog's own
 * signature is optional, so the secret we give it to send back in a header is the only guard.
 */
const whatsappSecret = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `required: ${what}` : 'must be a string'),
    })
    .min(16, `${what}: at least 16 characters`);
const whatsappNumberBase = {
  name: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'a number name is lower-case letters, digits, - and _'),
  phoneNumberId: z
    .string()
    .regex(/^\d{5,30}$/, 'the phone number id is the digits Meta shows for the number'),
};
const whatsappNumbers = z
  .array(
    z.discriminatedUnion(
      'provider',
      [
        z.object({
          ...whatsappNumberBase,
          provider: z.literal('meta'),
          accessToken: whatsappSecret('the Cloud API access token (a system user token)'),
          appSecret: whatsappSecret('the Meta app secret, which X-Hub-Signature-256 is checked with'),
          verifyToken: whatsappSecret('the verify token Meta echoes in the GET handshake'),
        }),
        z.object({
          ...whatsappNumberBase,
          provider: z.literal('360dialog'),
          accessToken: whatsappSecret("the number's D360-API-KEY"),
          webhookSecret: whatsappSecret('the secret 360dialog sends back in X-Webhook-Secret'),
        }),
      ],
      { error: 'each number needs "provider": "meta" or "360dialog"' },
    ),
    { error: 'a JSON list of numbers (see the README, "Connecting WhatsApp")' },
  )
  .min(1)
  .refine(
    (numbers) => new Set(numbers.map((n) => n.name)).size === numbers.length,
    'number names must differ',
  )
  .refine(
    (numbers) => new Set(numbers.map((n) => n.phoneNumberId)).size === numbers.length,
    'phone number ids must differ',
  );

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  ROLE: z.enum(['api', 'worker', 'all']).default('all'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // HTTP
  HOST: z.string().default('0.0.0.0'),
  PORT: port.default(4000),
  PUBLIC_URL: optional(url),
  HTTP_BODY_LIMIT_BYTES: positiveInt.default(1_000_000),
  SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  TRUST_PROXY: bool.default(false),
  // Behind proxies: how many of ours append to X-Forwarded-For, or their networks (CIDRs).
  TRUST_PROXY_HOPS: positiveInt.default(1),
  TRUSTED_PROXIES: optional(z.string()),
  // Browser origins that may call /graphql cross-site; unset, loopback origins outside production.
  CORS_ORIGINS: optional(z.string()),
  // Monitoring: /metrics and the readiness detail need this bearer token, or are on this port only.
  METRICS_TOKEN: optional(z.string().min(16, 'at least 16 characters')),
  METRICS_PORT: optional(port),

  // Services. Left unset, the product looks for them at the local defaults and falls back to an
  // embedded PostgreSQL and per-process stand-ins for Redis; set, they must answer.
  DATABASE_URL: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  REDIS_URL: optional(z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')),
  REDIS_KEY_PREFIX: z.string().default('agnt:'),
  EMBEDDED_POSTGRES_DIR: z.string().default('.data/postgres'),
  SEED_DEMO: bool.default(true),

  // GraphQL
  GRAPHQL_INTROSPECTION: optional(bool),
  GRAPHQL_MAX_DEPTH: positiveInt.default(10),
  GRAPHQL_MAX_COST: positiveInt.default(5000),
  GRAPHQL_MAX_ALIASES: positiveInt.default(15),
  GRAPHQL_MAX_TOKENS: positiveInt.default(1000),
  GRAPHQL_MAX_DIRECTIVES: positiveInt.default(10),
  GRAPHQL_MAX_CHARACTERS: positiveInt.default(15_000),
  GRAPHQL_WS_RECHECK_MS: positiveInt.default(5000),

  // Identity
  JWT_ISSUER: z.string().default('https://agnt.local'),
  JWT_AUDIENCE: z.string().default('agnt-api'),
  JWT_PRIVATE_KEY: optional(z.string()),
  JWT_KEY_ID: optional(z.string()),
  JWT_ACCESS_TTL_SECONDS: positiveInt.default(900),
  REFRESH_TOKEN_TTL_DAYS: positiveInt.default(30),
  EXTERNAL_JWKS_URL: optional(url),
  EXTERNAL_JWT_ISSUER: optional(z.string()),
  EXTERNAL_JWT_AUDIENCE: optional(z.string()),
  API_KEY_PREFIX: z
    .string()
    .regex(/^[a-z]+_[a-z]+$/)
    .default('agnt_live'),

  // Agents: keys that encrypt A2A signing secrets at rest.
  AGENT_SECRET_KEYS: optional(
    z
      .string()
      .regex(
        /^[A-Za-z0-9_-]+:[A-Za-z0-9+/=_-]{43,44}(,[A-Za-z0-9_-]+:[A-Za-z0-9+/=_-]{43,44})*$/,
        'must be id:base64key pairs separated by commas (32-byte keys), the first one encrypting',
      ),
  ),

  // Mail
  SMTP_URL: optional(z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')),
  MAIL_FROM: z.string().default('AGNT <no-reply@agnt.local>'),

  // Rate limits (requests per window)
  RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
  RATE_LIMIT_PER_IP: positiveInt.default(600),
  RATE_LIMIT_PER_USER: positiveInt.default(600),
  RATE_LIMIT_PER_API_KEY: positiveInt.default(1200),
  SIGN_IN_LIMIT_PER_EMAIL: positiveInt.default(5),
  SIGN_IN_LIMIT_PER_IP: positiveInt.default(20),
  SIGN_IN_LIMIT_WINDOW_SECONDS: positiveInt.default(900),
  SIGN_IN_DAILY_FAILURES_PER_EMAIL: positiveInt.default(20),
  SIGN_IN_DAILY_CODES_PER_EMAIL: positiveInt.default(20),
  AUTH_FAILURE_LIMIT_PER_IP: positiveInt.default(20),
  AUTH_FAILURE_WINDOW_SECONDS: positiveInt.default(900),

  // Worker
  WORKER_CONCURRENCY: positiveInt.default(5),
  WORKER_POLL_INTERVAL_MS: positiveInt.default(1000),
  WORKER_STALE_LOCK_SCAN_MS: positiveInt.default(600_000),
  WORKER_HEARTBEAT_MS: positiveInt.default(5_000),
  WORKER_DEAD_AFTER_MS: positiveInt.default(30_000),

  // Channels
  TELEGRAM_BOTS: optional(
    z.preprocess(
      (v) => {
        if (typeof v !== 'string') return v;
        try {
          return JSON.parse(v);
        } catch {
          return v;
        }
      },
      z
        .array(
          z.object({
            name: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'a bot name is lower-case letters, digits, - and _'),
            token: z.string().regex(/^\d+:[\w-]{20,}$/, 'not a Telegram bot token'),
            secret: z
              .string()
              .regex(
                /^[A-Za-z0-9_-]{16,256}$/,
                'the webhook secret is 16-256 characters of A-Z, a-z, 0-9, _ and -',
              ),
          }),
          { error: 'a JSON list of {"name","token","secret"}' },
        )
        .min(1),
    ),
  ),
  TELEGRAM_API_URL: url.default('https://api.telegram.org'),
  WHATSAPP_NUMBERS: optional(
    z.preprocess((v) => {
      if (typeof v !== 'string') return v;
      try {
        return JSON.parse(v);
      } catch {
        return v;
      }
    }, whatsappNumbers),
  ),
  WHATSAPP_GRAPH_API_URL: url.default('https://graph.facebook.com/v23.0'),
  WHATSAPP_DIALOG_API_URL: url.default('https://waba-v2.360dialog.io'),
  WHATSAPP_SEND_PER_SECOND: positiveInt.default(20),
  WHATSAPP_SEND_PER_CHAT_PER_SECOND: positiveInt.default(1),
  // Instagram: every secret is required, since the app secret is the only thing that tells
  // Meta's webhooks from anyone else's POST, and the verify token guards the subscription.
  INSTAGRAM_ACCOUNTS: optional(
    z.preprocess(
      (v) => {
        if (typeof v !== 'string') return v;
        try {
          return JSON.parse(v);
        } catch {
          return v;
        }
      },
      z
        .array(
          z.object({
            name: z
              .string({ error: 'each account needs a name (its webhook is /webhooks/instagram/<name>)' })
              .regex(/^[a-z0-9_-]{1,40}$/, 'an account name is lower-case letters, digits, - and _'),
            accountId: z
              .string({ error: 'the Instagram professional account id is required (digits, as a string)' })
              .regex(/^\d{1,30}$/, 'the Instagram professional account id is digits, as a string'),
            accessToken: z
              .string({ error: 'the page access token is required (it sends messages)' })
              .regex(/^[\w-]{20,1024}$/, 'not a Graph API access token'),
            appSecret: z
              .string({
                error: 'the app secret is required (it checks X-Hub-Signature-256 on every webhook)',
              })
              .regex(/^[A-Za-z0-9]{16,128}$/, 'not a Meta app secret'),
            verifyToken: z
              .string({ error: 'the verify token is required (Meta sends it in the subscription handshake)' })
              .regex(/^[\x21-\x7e]{16,256}$/, 'the verify token is 16-256 printable characters, no spaces'),
          }),
          { error: 'a JSON list of {"name","accountId","accessToken","appSecret","verifyToken"}' },
        )
        .min(1)
        .refine((list) => new Set(list.map((a) => a.name)).size === list.length, 'account names must differ')
        .refine(
          (list) => new Set(list.map((a) => a.accountId)).size === list.length,
          'each Instagram account id may be configured once',
        ),
    ),
  ),
  INSTAGRAM_GRAPH_API_URL: url.default('https://graph.facebook.com/v23.0'),
  INSTAGRAM_SEND_PER_SECOND: positiveInt.default(20),
  INSTAGRAM_SEND_PER_CHAT_PER_SECOND: positiveInt.default(1),
  // Hosts Instagram images are fetched from (`*.` for subdomains): Meta's CDN, nothing else.
  INSTAGRAM_MEDIA_HOSTS: z
    .string()
    .regex(
      /^ *(\*\.)?[A-Za-z0-9.[\]:-]+ *(, *(\*\.)?[A-Za-z0-9.[\]:-]+ *)*$/,
      'host names (or *.domain for its subdomains), comma-separated',
    )
    .default('*.cdninstagram.com,*.fbcdn.net,lookaside.fbsbx.com'),
  // Images people send are fetched when processed; larger ones are refused (the model's limit is 5 MB).
  MEDIA_MAX_BYTES: positiveInt.default(5 * 1024 * 1024),

  // Consumer agent: off, inbound messages are stored and acknowledged but not answered.
  CONSUMER_AGENT: bool.default(true),
  // With no model reachable, a message is tried again this often, and given up after so long.
  AGENT_UNAVAILABLE_RETRY_MS: positiveInt.default(60_000),
  AGENT_GIVE_UP_MINUTES: positiveInt.default(60),
  // Language models: Anthropic when its key is set; Ollama as the fallback.
  ANTHROPIC_API_KEY: optional(z.string().min(10)),
  ANTHROPIC_BASE_URL: url.default('https://api.anthropic.com'),
  ANTHROPIC_MODEL_CONVERSATION: z.string().min(1).default('claude-sonnet-4-6'),
  ANTHROPIC_MODEL_CHEAP: z.string().min(1).default('claude-haiku-4-5'),
  OLLAMA_URL: optional(url),
  OLLAMA_MODEL: z.string().min(1).default('qwen3:8b'),
  LLM_TIMEOUT_MS: positiveInt.default(60_000),
  LLM_MAX_OUTPUT_TOKENS: positiveInt.default(1024),
  LLM_BREAKER_FAILURES: positiveInt.default(5),
  LLM_BREAKER_COOLDOWN_MS: positiveInt.default(30_000),
  // Prices per million tokens, {"<model>":{"input":3,"output":15}}, over the built-in table.
  LLM_PRICES: optional(
    z.preprocess(
      (v) => {
        if (typeof v !== 'string') return v;
        try {
          return JSON.parse(v);
        } catch {
          return v;
        }
      },
      z.record(z.string(), z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }), {
        error: 'a JSON object of {"<model>":{"input":<USD per Mtok>,"output":<USD per Mtok>}}',
      }),
    ),
  ),
  LLM_USER_DAILY_TOKENS: positiveInt.default(200_000),
  LLM_ORG_MONTHLY_TOKENS: positiveInt.default(20_000_000),
  // A new chat account's daily tokens, doubled by each earlier day it was used, up to the above.
  LLM_NEW_USER_DAILY_TOKENS: positiveInt.default(40_000),
  // The whole platform's daily ceiling, in tokens and (optionally) in US dollars.
  LLM_PLATFORM_DAILY_TOKENS: positiveInt.default(50_000_000),
  LLM_PLATFORM_DAILY_USD: optional(z.coerce.number().positive()),
  LLM_LOCK_LEASE_MS: positiveInt.default(120_000),
  TOOL_TIMEOUT_MS: positiveInt.default(5000),
  // Chat sessions in Redis, Fernet-encrypted: keys comma-separated, the first encrypts.
  SESSION_KEYS: optional(
    z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{43}=(,[A-Za-z0-9_-]{43}=)*$/,
        'must be Fernet keys (32 bytes, url-safe base64) separated by commas, the first one encrypting',
      ),
  ),
  SESSION_IDLE_HOURS: positiveInt.default(72),
  SESSION_HISTORY_TOKENS: positiveInt.default(6000),

  // Delivery (Lalamove API v3)
  LALAMOVE_API_KEY: optional(z.string().min(8)),
  LALAMOVE_API_SECRET: optional(z.string().min(8)),
  LALAMOVE_API_URL: url.default('https://rest.lalamove.com'),
  LALAMOVE_MARKET: z
    .string()
    .regex(/^[A-Z]{2}$/, 'a two-letter market code such as HK, SG or TH')
    .default('HK'),
  DELIVERY_CONFIRM_MINUTES: positiveInt.default(10),

  // Weather and directions for the agent's answers and prompt
  WEATHER_API_URL: url.default('https://api.open-meteo.com'),
  DIRECTIONS_API_URL: url.default('https://router.project-osrm.org'),

  // Bookings
  BOOKING_HOLD_MINUTES: positiveInt.default(10),
  BOOKING_REQUEST_MINUTES: positiveInt.default(120),
  BOOKING_NO_SHOW_GRACE_MINUTES: positiveInt.default(30),
  BOOKING_COMPLETE_AFTER_MINUTES: positiveInt.default(60),
  BOOKING_FEEDBACK_AFTER_MINUTES: positiveInt.default(120),
  BOOKING_MAX_PENDING_PER_VENUE: positiveInt.default(2),
  BOOKING_MAX_PENDING_TOTAL: positiveInt.default(5),
  BOOKING_LIMIT_PER_PERSON: positiveInt.default(20),
  BOOKING_LIMIT_PER_API_KEY: positiveInt.default(200),
  BOOKING_LIMIT_WINDOW_SECONDS: positiveInt.default(600),
});

export type Env = z.input<typeof envSchema>;

export type Config = ReturnType<typeof shape>;

export class ConfigError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function shape(e: z.output<typeof envSchema>) {
  const production = e.NODE_ENV === 'production';
  return {
    env: e.NODE_ENV,
    production,
    role: e.ROLE,
    logLevel: e.LOG_LEVEL,
    http: {
      host: e.HOST,
      port: e.PORT,
      publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.PORT}`,
      bodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
      shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
      /** Where the client address comes from (src/platform/client-address.ts). */
      proxy: proxyTrust(e),
      /**
       * Origins answered with CORS headers: the listed ones and our own (PUBLIC_URL's, where
       * GraphiQL runs), and (outside production, with none listed) any loopback origin, where a
       * dashboard runs in development.
       */
      cors: {
        origins: [
          ...parseOrigins(e.CORS_ORIGINS ?? ''),
          new URL(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).origin,
        ],
        loopback: e.CORS_ORIGINS === undefined && !production,
      },
    },
    monitoring: {
      /** Bearer token for /metrics and the readiness detail, wherever they are served. */
      token: e.METRICS_TOKEN,
      /** A listener of their own; the public port then serves neither. */
      port: e.METRICS_PORT,
    },
    database: {
      /** Set when DATABASE_URL was given: then it must answer, no embedded fallback. */
      url: e.DATABASE_URL,
      defaultUrl: 'postgresql://postgres@127.0.0.1:5432/agnt',
      poolSize: e.DATABASE_POOL_SIZE,
      embeddedDir: e.EMBEDDED_POSTGRES_DIR,
      seedDemo: e.SEED_DEMO,
    },
    redis: {
      url: e.REDIS_URL,
      defaultUrl: 'redis://127.0.0.1:6379',
      keyPrefix: e.REDIS_KEY_PREFIX,
    },
    graphql: {
      introspection: e.GRAPHQL_INTROSPECTION ?? !production,
      maskErrors: true,
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxCost: e.GRAPHQL_MAX_COST,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxTokens: e.GRAPHQL_MAX_TOKENS,
      maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
      maxCharacters: e.GRAPHQL_MAX_CHARACTERS,
      wsRecheckMs: e.GRAPHQL_WS_RECHECK_MS,
      graphiql: !production,
    },
    auth: {
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      privateKeyPem: e.JWT_PRIVATE_KEY,
      keyId: e.JWT_KEY_ID,
      accessTtlSeconds: e.JWT_ACCESS_TTL_SECONDS,
      refreshTtlDays: e.REFRESH_TOKEN_TTL_DAYS,
      external:
        e.EXTERNAL_JWKS_URL && e.EXTERNAL_JWT_ISSUER && e.EXTERNAL_JWT_AUDIENCE
          ? { jwksUrl: e.EXTERNAL_JWKS_URL, issuer: e.EXTERNAL_JWT_ISSUER, audience: e.EXTERNAL_JWT_AUDIENCE }
          : undefined,
      apiKeyPrefix: e.API_KEY_PREFIX,
    },
    agents: {
      /** `id:base64key,…`; the first key encrypts, every key decrypts (rotation). */
      secretKeys: e.AGENT_SECRET_KEYS,
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM },
    rateLimits: {
      windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
      perIp: e.RATE_LIMIT_PER_IP,
      perUser: e.RATE_LIMIT_PER_USER,
      perApiKey: e.RATE_LIMIT_PER_API_KEY,
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
    },
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      /** How often a worker looks for jobs that became due (new jobs arrive by LISTEN/NOTIFY at once). */
      pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
      /** How often a worker frees jobs locked for over 4 hours by a worker that died. */
      staleLockScanMs: e.WORKER_STALE_LOCK_SCAN_MS,
      /** How often a worker says it is alive and looks for workers that stopped saying so. */
      heartbeatMs: e.WORKER_HEARTBEAT_MS,
      /** A worker silent for this long is dead: another worker frees the jobs it held. */
      deadAfterMs: e.WORKER_DEAD_AFTER_MS,
    },
    channels: {
      telegram: {
        /** Each bot: its name in webhook URLs (/webhooks/telegram/<name>), token and webhook secret. */
        bots: e.TELEGRAM_BOTS ?? [],
        apiUrl: e.TELEGRAM_API_URL.replace(/\/$/, ''),
      },
      whatsapp: {
        /** Each number: its name in webhook URLs (/webhooks/whatsapp/<name>), provider and secrets. */
        numbers: e.WHATSAPP_NUMBERS ?? [],
        graphApiUrl: e.WHATSAPP_GRAPH_API_URL.replace(/\/$/, ''),
        dialogApiUrl: e.WHATSAPP_DIALOG_API_URL.replace(/\/$/, ''),
        /** Messages per second per number, and to one person (Meta allows bursts, then 131056). */
        limits: { perAccount: e.WHATSAPP_SEND_PER_SECOND, perChat: e.WHATSAPP_SEND_PER_CHAT_PER_SECOND },
      },
      instagram: {
        /**
         * Each account: its name in webhook URLs (/webhooks/instagram/<name>), the Instagram
         * professional account id (`entry.id` and `recipient.id` in webhooks), the page access
         * token that sends, and the Meta app's secret and webhook verify token.
         */
        accounts: e.INSTAGRAM_ACCOUNTS ?? [],
        /** The Graph API with its version: sends go to `<graphApiUrl>/me/messages`. */
        graphApiUrl: e.INSTAGRAM_GRAPH_API_URL.replace(/\/$/, ''),
        /**
         * Hosts image URLs may point at (`*.domain`: its subdomains). Webhook bodies name the URL,
         * so anything else would have us fetch wherever a forged or odd attachment points.
         */
        mediaHosts: e.INSTAGRAM_MEDIA_HOSTS.split(',').map((host) => host.trim().toLowerCase()),
        /** Messages per second per account and per chat (the send queue's token buckets). */
        limits: {
          perAccount: e.INSTAGRAM_SEND_PER_SECOND,
          perChat: e.INSTAGRAM_SEND_PER_CHAT_PER_SECOND,
        },
      },
      media: {
        /** Largest image fetched from a platform; a larger one is refused (stated) or cut off (streamed). */
        maxBytes: e.MEDIA_MAX_BYTES,
      },
    },
    consumerAgent: {
      enabled: e.CONSUMER_AGENT,
      /** With no model reachable: retry a message this often, and fail it (kept) once this old. */
      unavailableRetryMs: e.AGENT_UNAVAILABLE_RETRY_MS,
      giveUpAfterMs: e.AGENT_GIVE_UP_MINUTES * 60_000,
    },
    llm: {
      anthropic: e.ANTHROPIC_API_KEY
        ? { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL.replace(/\/$/, '') }
        : undefined,
      /** Model per purpose: conversation turns, and cheap work such as summaries. */
      models: { conversation: e.ANTHROPIC_MODEL_CONVERSATION, cheap: e.ANTHROPIC_MODEL_CHEAP },
      ollama: e.OLLAMA_URL ? { url: e.OLLAMA_URL.replace(/\/$/, ''), model: e.OLLAMA_MODEL } : undefined,
      timeoutMs: e.LLM_TIMEOUT_MS,
      maxOutputTokens: e.LLM_MAX_OUTPUT_TOKENS,
      /** Consecutive failures that open a provider's circuit, and how long it stays open. */
      breaker: { failures: e.LLM_BREAKER_FAILURES, cooldownMs: e.LLM_BREAKER_COOLDOWN_MS },
      prices: e.LLM_PRICES ?? {},
      budgets: {
        userDailyTokens: e.LLM_USER_DAILY_TOKENS,
        organizationMonthlyTokens: e.LLM_ORG_MONTHLY_TOKENS,
        newUserDailyTokens: Math.min(e.LLM_NEW_USER_DAILY_TOKENS, e.LLM_USER_DAILY_TOKENS),
        platformDailyTokens: e.LLM_PLATFORM_DAILY_TOKENS,
        platformDailyMicros:
          e.LLM_PLATFORM_DAILY_USD === undefined ? null : Math.round(e.LLM_PLATFORM_DAILY_USD * 1_000_000),
      },
      /** How long one user's running turn holds their lock if its worker dies. */
      lockLeaseMs: e.LLM_LOCK_LEASE_MS,
      toolTimeoutMs: e.TOOL_TIMEOUT_MS,
    },
    sessions: {
      /** Fernet keys; the first encrypts, every one decrypts. Outside production, one is generated. */
      keys: e.SESSION_KEYS?.split(',') ?? [],
      idleSeconds: e.SESSION_IDLE_HOURS * 3600,
      historyTokens: e.SESSION_HISTORY_TOKENS,
    },
    delivery: {
      lalamove:
        e.LALAMOVE_API_KEY && e.LALAMOVE_API_SECRET
          ? {
              apiKey: e.LALAMOVE_API_KEY,
              apiSecret: e.LALAMOVE_API_SECRET,
              apiUrl: e.LALAMOVE_API_URL.replace(/\/$/, ''),
              market: e.LALAMOVE_MARKET,
            }
          : undefined,
      confirmMinutes: e.DELIVERY_CONFIRM_MINUTES,
    },
    weather: { apiUrl: e.WEATHER_API_URL.replace(/\/$/, '') },
    directions: { apiUrl: e.DIRECTIONS_API_URL.replace(/\/$/, '') },
    bookings: {
      /** Minutes a HELD booking keeps its table unconfirmed. */
      holdMinutes: e.BOOKING_HOLD_MINUTES,
      /** Minutes a venue has to answer a REQUESTED booking (never past its start). */
      requestMinutes: e.BOOKING_REQUEST_MINUTES,
      noShowGraceMinutes: e.BOOKING_NO_SHOW_GRACE_MINUTES,
      completeAfterMinutes: e.BOOKING_COMPLETE_AFTER_MINUTES,
      feedbackAfterMinutes: e.BOOKING_FEEDBACK_AFTER_MINUTES,
      /** A person's own bookings still waiting for a venue (HELD, REQUESTED): at one venue, in all. */
      maxPendingPerVenue: e.BOOKING_MAX_PENDING_PER_VENUE,
      maxPendingTotal: e.BOOKING_MAX_PENDING_TOTAL,
      /** Bookings asked for per window, counted per person and per API key. */
      createLimitPerPerson: e.BOOKING_LIMIT_PER_PERSON,
      createLimitPerApiKey: e.BOOKING_LIMIT_PER_API_KEY,
      createLimitWindowSeconds: e.BOOKING_LIMIT_WINDOW_SECONDS,
    },
  };
}

/** The well-formed origins of a comma-separated list (`https://host[:port]`, as browsers send them). */
function parseOrigins(list: string): string[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => {
      try {
        const url = new URL(entry);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === entry;
      } catch {
        return false;
      }
    });
}

function proxyTrust(e: z.output<typeof envSchema>): ProxyTrust {
  if (!e.TRUST_PROXY) return { mode: 'none' };
  if (e.TRUSTED_PROXIES) return { mode: 'networks', networks: parseNetworks(e.TRUSTED_PROXIES) };
  return { mode: 'hops', hops: e.TRUST_PROXY_HOPS };
}

/** Parses an environment (by default `process.env`); throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  const external = [e.EXTERNAL_JWKS_URL, e.EXTERNAL_JWT_ISSUER, e.EXTERNAL_JWT_AUDIENCE];
  if (external.some(Boolean) && !external.every(Boolean)) {
    problems.push('EXTERNAL_JWKS_URL, EXTERNAL_JWT_ISSUER, EXTERNAL_JWT_AUDIENCE: set all three or none');
  }
  if (e.NODE_ENV === 'production') {
    if (!e.JWT_PRIVATE_KEY)
      problems.push('JWT_PRIVATE_KEY: required in production (an ES256 PKCS#8 PEM key)');
    if (!e.DATABASE_URL) problems.push('DATABASE_URL: required in production');
    if (!e.SMTP_URL) problems.push('SMTP_URL: required in production to send sign-in codes');
    if (!e.SESSION_KEYS) problems.push('SESSION_KEYS: required in production to encrypt chat sessions');
    if (!e.AGENT_SECRET_KEYS)
      problems.push('AGENT_SECRET_KEYS: required in production to encrypt agent signing secrets');
    if (e.METRICS_TOKEN === undefined && e.METRICS_PORT === undefined)
      problems.push(
        'METRICS_TOKEN, METRICS_PORT: set one in production, so /metrics and the readiness detail are not public',
      );
  }
  if (e.TRUSTED_PROXIES !== undefined) {
    if (!e.TRUST_PROXY) problems.push('TRUSTED_PROXIES: only used with TRUST_PROXY=true');
    try {
      parseNetworks(e.TRUSTED_PROXIES);
    } catch (error) {
      problems.push(`TRUSTED_PROXIES: ${(error as Error).message}`);
    }
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT)
    problems.push('METRICS_PORT: must differ from PORT');
  for (const entry of e.CORS_ORIGINS?.split(',') ?? []) {
    if (entry.trim() && parseOrigins(entry).length === 0)
      problems.push(`CORS_ORIGINS: not an origin (scheme://host[:port], nothing after it): ${entry.trim()}`);
  }
  if ((e.LALAMOVE_API_KEY === undefined) !== (e.LALAMOVE_API_SECRET === undefined)) {
    problems.push('LALAMOVE_API_KEY, LALAMOVE_API_SECRET: set both or neither');
  }
  if ((e.JWT_PRIVATE_KEY === undefined) !== (e.JWT_KEY_ID === undefined)) {
    problems.push('JWT_PRIVATE_KEY, JWT_KEY_ID: set both or neither');
  }
  // A live worker must never look dead between two of its own heartbeats (or one late one).
  if (e.WORKER_DEAD_AFTER_MS < 2 * e.WORKER_HEARTBEAT_MS) {
    problems.push('WORKER_DEAD_AFTER_MS: must be at least twice WORKER_HEARTBEAT_MS');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return shape(e);
}

/** The names of every variable read here (the README table and .env.example list each one). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);
