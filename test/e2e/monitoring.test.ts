/**
 * The monitoring endpoints, over real HTTP. `/metrics` and the detail of `/readyz` describe the
 * system's insides (dependencies, error messages, traffic by operation), so they are served only
 * with `METRICS_TOKEN` as a bearer token, or only on a port of their own (`METRICS_PORT`).
 * `/healthz`, and `/readyz`'s status with no detail, stay open for load balancers. Production
 * refuses to start with neither set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { PRODUCTION_ENV } from '../factories/config.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const TOKEN = 'a-metrics-token-for-the-scraper';

const get = (url: string, token?: string) =>
  fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });

describe('with METRICS_TOKEN', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(() => app?.close());

  it('serves /metrics only to the bearer of the token', async () => {
    for (const token of [undefined, '', 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const refused = await get(`${app.url}/metrics`, token);
      const text = await refused.text();
      expect(refused.status, `token ${token}`).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect(text).not.toContain('http_request_duration_seconds');
    }
    // The token in another header or in the URL is not the token.
    const elsewhere = await fetch(`${app.url}/metrics?token=${TOKEN}`, {
      headers: { 'x-metrics-token': TOKEN },
    });
    expect(elsewhere.status).toBe(401);

    const served = await get(`${app.url}/metrics`, TOKEN);
    expect(served.status).toBe(200);
    expect(await served.text()).toContain('http_request_duration_seconds');
  });

  it('keeps /healthz open, and /readyz open for its status but not its detail', async () => {
    expect(await (await get(`${app.url}/healthz`)).json()).toEqual({ status: 'ok' });

    for (const token of [undefined, 'wrong']) {
      const bare = await get(`${app.url}/readyz`, token);
      expect(bare.status).toBe(200);
      expect(await bare.json()).toEqual({ ready: true });
    }
    const detailed = await get(`${app.url}/readyz`, TOKEN);
    expect(detailed.status).toBe(200);
    expect(await detailed.json()).toEqual({
      ready: true,
      role: 'api',
      checks: {
        database: { ok: true },
        migrations: { ok: true },
        redis: { ok: true },
        backlog: {
          ok: true,
          detail:
            'inbound: nothing pending; send: nothing pending; a2a: nothing pending; a2a-inbound: nothing pending; webhooks: nothing pending',
        },
        a2aBreakers: { ok: true, detail: 'all closed (shared in Redis)' },
        embeddings: { ok: true, detail: 'off: EMBEDDINGS_PROVIDER=none, recall is full-text alone' },
        billing: { ok: true, detail: 'off: STRIPE_SECRET_KEY not set' },
      },
    });
  });

  it('answers 503 without the token when not ready, still without the detail', async () => {
    // A migration the database no longer records makes the process unready.
    const [last] = await app.database.prisma.$queryRawUnsafe<{ migration_name: string }[]>(
      'SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name DESC LIMIT 1',
    );
    await app.database.prisma.$executeRawUnsafe(
      'UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1',
      last!.migration_name,
    );
    try {
      const bare = await get(`${app.url}/readyz`);
      expect(bare.status).toBe(503);
      expect(await bare.json()).toEqual({ ready: false });
      const detailed = await get(`${app.url}/readyz`, TOKEN);
      expect(detailed.status).toBe(503);
      expect(await detailed.json()).toMatchObject({
        ready: false,
        checks: { migrations: { ok: false, detail: `pending: ${last!.migration_name}` } },
      });
    } finally {
      await app.database.prisma.$executeRawUnsafe(
        'UPDATE "_prisma_migrations" SET rolled_back_at = NULL WHERE migration_name = $1',
        last!.migration_name,
      );
    }
  });
});

describe('with METRICS_PORT', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ env: { METRICS_PORT: '0' } });
  });
  afterAll(() => app?.close());

  it('serves /metrics and the readiness detail on that port, and neither on the public one', async () => {
    const monitoring = app.monitoringUrl;
    if (!monitoring) throw new Error('no monitoring port');
    expect(monitoring).not.toBe(app.url);

    expect((await get(`${app.url}/metrics`)).status).toBe(404);
    expect(await (await get(`${app.url}/readyz`)).json()).toEqual({ ready: true });
    expect((await get(`${app.url}/healthz`)).status).toBe(200);

    const metrics = await get(`${monitoring}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('http_request_duration_seconds');
    expect(await (await get(`${monitoring}/readyz`)).json()).toMatchObject({ ready: true, role: 'api' });
    expect((await get(`${monitoring}/healthz`)).status).toBe(200);
    // Only monitoring there: the API is not served on it.
    expect((await fetch(`${monitoring}/graphql`, { method: 'POST' })).status).toBe(404);
  });
});

describe('in production', () => {
  const production = {
    ...PRODUCTION_ENV,
  };

  it('refuses to start with neither METRICS_TOKEN nor METRICS_PORT', () => {
    expect(() => loadConfig(production)).toThrow(
      'METRICS_TOKEN, METRICS_PORT: set one in production, so /metrics and the readiness detail are not public',
    );
    const unchanged = { otlpEndpoint: undefined, serviceName: 'agnt', slowOperationMs: 1000 };
    expect(loadConfig({ ...production, METRICS_TOKEN: TOKEN }).monitoring).toEqual({
      token: TOKEN,
      port: undefined,
      ...unchanged,
    });
    expect(loadConfig({ ...production, METRICS_PORT: '9464' }).monitoring).toEqual({
      token: undefined,
      port: 9464,
      ...unchanged,
    });
  });

  it('wants a token long enough not to be guessed', () => {
    expect(() => loadConfig({ ...production, METRICS_TOKEN: 'short' })).toThrow(
      'METRICS_TOKEN: at least 16 characters',
    );
  });
});
