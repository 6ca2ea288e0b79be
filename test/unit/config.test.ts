import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { PRODUCTION_ENV } from '../factories/config.ts';

describe('configuration', () => {
  it('has local defaults for everything a developer machine needs', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(4000);
    expect(config.database.url).toBeUndefined();
    expect(config.database.defaultUrl).toBe('postgresql://postgres@127.0.0.1:5432/agnt');
    expect(config.redis.defaultUrl).toBe('redis://127.0.0.1:6379');
    expect(config.graphql.introspection).toBe(true);
  });

  it('names every bad variable, and why, in one error', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', RATE_LIMIT_PER_IP: '-1' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { issues, message } = error as ConfigError;
    expect(issues.map((i) => i.split(':')[0]).sort()).toEqual([
      'DATABASE_URL',
      'LOG_LEVEL',
      'PORT',
      'RATE_LIMIT_PER_IP',
    ]);
    expect(message).toContain('DATABASE_URL: must be a postgresql:// URL');
  });

  it('requires real services and keys in production, and turns introspection off there', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /JWT_PRIVATE_KEY[\s\S]*DATABASE_URL[\s\S]*SMTP_URL[\s\S]*SESSION_KEYS[\s\S]*AGENT_SECRET_KEYS[\s\S]*CLAWPULSE_API_KEY/,
    );
    const config = loadConfig({
      ...PRODUCTION_ENV,
      METRICS_TOKEN: 'a-metrics-token-of-some-length',
    });
    expect(config.graphql.introspection).toBe(false);
    expect(config.graphql.graphiql).toBe(false);
    expect(
      loadConfig({
        ...PRODUCTION_ENV,
        GRAPHQL_INTROSPECTION: 'true',
        METRICS_TOKEN: 'a-metrics-token-of-some-length',
      }).graphql.introspection,
    ).toBe(true);
  });

  it('reads the network settings, with the embedded gateway when none is named', () => {
    const network = loadConfig({}).network;
    expect(network).toMatchObject({
      gateway: undefined,
      platformAgentId: 'platform-agnt',
      inboxPollSeconds: 60,
      envelopeTtlMs: 30_000,
      retryDelaysSeconds: [60, 300, 1500],
      breaker: { failures: 5, windowSeconds: 600, cooldownSeconds: 300 },
    });
    expect(loadConfig({ CLAWPULSE_GATEWAY: 'https://gw.example/' }).network.gateway).toBe(
      'https://gw.example',
    );
    expect(() => loadConfig({ CLAWPULSE_PLATFORM_AGENT_ID: 'agnt-bridge' })).toThrow(
      /CLAWPULSE_PLATFORM_AGENT_ID: must be platform-<name>/,
    );
    expect(() => loadConfig({ A2A_RETRY_DELAYS_SECONDS: '60,soon' })).toThrow(/A2A_RETRY_DELAYS_SECONDS/);
  });

  it("reads each plan's metered prices, and refuses a plan's own price among them", () => {
    const config = loadConfig({
      STRIPE_PRICE_VENUE_GROWTH: 'price_growth',
      STRIPE_METERED_PRICES_VENUE_GROWTH: 'price_conversations, price_a2a_bookings',
    });
    expect(config.billing.meteredPrices).toMatchObject({
      VENUE_GROWTH: ['price_conversations', 'price_a2a_bookings'],
      VENUE_STARTER: [],
      DEVELOPER_FREE: [],
    });
    expect(() =>
      loadConfig({
        STRIPE_PRICE_VENUE_GROWTH: 'price_growth',
        STRIPE_METERED_PRICES_VENUE_PRO: 'price_growth',
      }),
    ).toThrow(/STRIPE_METERED_PRICES_VENUE_PRO: price_growth is a plan's own price, not a metered one/);
    expect(() => loadConfig({ STRIPE_METERED_PRICES_VENUE_PRO: 'not-a-price' })).toThrow(
      /STRIPE_METERED_PRICES_VENUE_PRO/,
    );
  });

  it('wants the external issuer settings together', () => {
    expect(() => loadConfig({ EXTERNAL_JWKS_URL: 'https://id.example/jwks.json' })).toThrow(
      /set all three or none/,
    );
  });

  it('refuses a dead-worker limit a live worker could reach between two of its heartbeats', () => {
    expect(() => loadConfig({ WORKER_HEARTBEAT_MS: '5000', WORKER_DEAD_AFTER_MS: '9000' })).toThrow(
      /WORKER_DEAD_AFTER_MS: must be at least twice WORKER_HEARTBEAT_MS/,
    );
    expect(loadConfig({}).worker).toMatchObject({ heartbeatMs: 5000, deadAfterMs: 30_000 });
  });

  it('keeps settled events 90, 400 and 30 days by default, and never less than a duplicate can come', () => {
    expect(loadConfig({}).retention).toEqual({
      providerEventsDays: 90,
      usageEventsDays: 400,
      inboundEventsDays: 30,
      failedInboundDays: 90,
      messageTextDays: 30,
    });
    expect(loadConfig({ RETENTION_USAGE_EVENTS_DAYS: '730' }).retention.usageEventsDays).toBe(730);
    let error: unknown;
    try {
      loadConfig({
        RETENTION_PROVIDER_EVENTS_DAYS: '7',
        RETENTION_USAGE_EVENTS_DAYS: '35',
        RETENTION_INBOUND_EVENTS_DAYS: '2',
        RETENTION_FAILED_INBOUND_DAYS: '7',
        RETENTION_MESSAGE_TEXT_DAYS: '0',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.replace(/ \(.*\)$/, '')).sort()).toEqual([
      'RETENTION_FAILED_INBOUND_DAYS: at least 8 days',
      'RETENTION_INBOUND_EVENTS_DAYS: at least 8 days',
      'RETENTION_MESSAGE_TEXT_DAYS: at least 1 day',
      'RETENTION_PROVIDER_EVENTS_DAYS: at least 30 days',
      'RETENTION_USAGE_EVENTS_DAYS: at least 90 days',
    ]);
  });

  it('has embeddings off by default, and wants OLLAMA_URL for the ollama provider', () => {
    expect(loadConfig({}).memory).toEqual({
      embeddings: undefined,
      dreamPeoplePerRun: 200,
      tasteCacheMs: 5000,
    });
    expect(loadConfig({ TASTE_CACHE_MS: '0' }).memory.tasteCacheMs).toBe(0);
    expect(() => loadConfig({ TASTE_CACHE_MS: '60001' })).toThrow(/TASTE_CACHE_MS/);
    expect(() => loadConfig({ EMBEDDINGS_PROVIDER: 'ollama' })).toThrow(
      /EMBEDDINGS_PROVIDER: ollama needs OLLAMA_URL/,
    );
    expect(() => loadConfig({ EMBEDDINGS_PROVIDER: 'openai' })).toThrow(/EMBEDDINGS_PROVIDER/);
    expect(
      loadConfig({ EMBEDDINGS_PROVIDER: 'ollama', OLLAMA_URL: 'http://127.0.0.1:11434/' }).memory.embeddings,
    ).toEqual({
      provider: 'ollama',
      url: 'http://127.0.0.1:11434',
      model: 'nomic-embed-text',
      timeoutMs: 2000,
    });
  });
});
