/**
 * Builds and runs one AGNT process. `buildApp()` takes its services ready-made (tests hand it a
 * database and Redis of their own); `main.ts` resolves the real ones first.
 */
import type { IncomingMessage } from 'node:http';
import { originAllowed } from './api/cross-site.ts';
import { graphqlHandler } from './api/http.ts';
import { graphqlWebSocket } from './api/websocket.ts';
import { createGraphQLServer } from './api/yoga.ts';
import { type BacklogLine, describeBacklog, outboxBacklog } from './domain/operations/outboxes.ts';
import { bearerMatches, createHttpServer, type Route, sendJson } from './platform/http.ts';
import { createMetrics, type Metrics } from './platform/metrics.ts';
import { pendingMigrations } from './platform/migrate.ts';
import type { Services } from './services.ts';
import { INSTAGRAM_PATH, instagramWebhook } from './webhooks/instagram.ts';
import { LALAMOVE_PATH, lalamoveWebhook } from './webhooks/lalamove.ts';
import { TELEGRAM_PATH, telegramWebhook } from './webhooks/telegram.ts';
import { WHATSAPP_PATH, whatsappWebhook } from './webhooks/whatsapp.ts';
import { startWorker, type WorkerHandle, type WorkerOptions } from './worker/runner.ts';

export type Role = 'api' | 'worker' | 'all';

export interface App {
  /** Starts serving; resolves with the port the HTTP server listens on. */
  start(): Promise<number>;
  /** Graceful stop: stop accepting, finish in-flight work, close pools. */
  stop(): Promise<void>;
  /** The port /metrics and the readiness detail are served on, with METRICS_PORT, once started. */
  monitoringPort(): number | null;
  services: Services;
}

export interface AppOptions {
  /** Extra worker tasks and a crontab of their own (tests); metrics are the app's. */
  worker?: Omit<WorkerOptions, 'metrics'>;
}

export function buildApp(services: Services, role: Role = 'all', options: AppOptions = {}): App {
  const { config, logger } = services;
  const metrics = createMetrics();
  // The worker runs the consumer agent's model calls; its /metrics counts them.
  if (role !== 'api') services.llm.useMetrics(metrics);
  const stopCountingQueries = services.database.onQuery(() => metrics.dbQueries.inc());
  const yoga = createGraphQLServer(services, metrics);
  let worker: WorkerHandle | null = null;
  const backlog = backlogReader(services);

  const { monitoring } = config;
  const observe = { services, role, metrics, worker: () => worker, backlog };
  const routes: Route[] = [
    // With a monitoring port, the public one keeps only what load balancers need.
    ...monitoringRoutes(observe, {
      token: monitoring.token,
      open: monitoring.token === undefined && monitoring.port === undefined,
      metrics: monitoring.port === undefined,
    }),
    {
      method: 'GET',
      path: '/.well-known/jwks.json',
      handler: (_req, res) =>
        sendJson(res, 200, services.keys.jwks(), { 'cache-control': 'public, max-age=300' }),
    },
  ];
  if (role !== 'worker') {
    routes.push({ method: '*', path: '/graphql', handler: graphqlHandler(yoga, services, metrics) });
    routes.push({
      method: 'POST',
      path: `${TELEGRAM_PATH}*`,
      name: '/webhooks/telegram',
      handler: telegramWebhook({
        database: services.database,
        bots: config.channels.telegram.bots,
        bodyLimitBytes: config.http.bodyLimitBytes,
        metrics,
      }),
    });
    const whatsapp = whatsappWebhook({
      database: services.database,
      numbers: config.channels.whatsapp.numbers,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
    });
    routes.push(
      { method: 'GET', path: `${WHATSAPP_PATH}*`, name: '/webhooks/whatsapp', handler: whatsapp.handshake },
      { method: 'POST', path: `${WHATSAPP_PATH}*`, name: '/webhooks/whatsapp', handler: whatsapp.deliver },
    );
    const instagram = instagramWebhook({
      database: services.database,
      accounts: config.channels.instagram.accounts,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
    });
    routes.push(
      {
        method: 'GET',
        path: `${INSTAGRAM_PATH}*`,
        name: '/webhooks/instagram',
        handler: instagram.handshake,
      },
      { method: 'POST', path: `${INSTAGRAM_PATH}*`, name: '/webhooks/instagram', handler: instagram.receive },
    );
    routes.push({
      method: 'POST',
      path: LALAMOVE_PATH,
      handler: lalamoveWebhook({
        database: services.database,
        lalamove: config.delivery.lalamove,
        publicUrl: config.http.publicUrl,
        bodyLimitBytes: config.http.bodyLimitBytes,
        metrics,
      }),
    });
  }

  const http = createHttpServer({ routes, logger, metrics, proxy: config.http.proxy });
  const monitoringHttp =
    monitoring.port === undefined
      ? null
      : createHttpServer({
          routes: monitoringRoutes(observe, {
            token: monitoring.token,
            open: monitoring.token === undefined,
            metrics: true,
          }),
          logger,
          metrics,
          proxy: config.http.proxy,
        });
  let monitoringPort: number | null = null;

  // graphql-ws on the same path, held to the same limits and checks as HTTP (src/api/websocket.ts).
  const graphqlWs = role !== 'worker' ? graphqlWebSocket(yoga, services, metrics) : null;
  if (graphqlWs) {
    http.onUpgrade((req, socket, head, { ip }) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') {
        socket.destroy();
        return;
      }
      // Browsers open WebSockets to any site without CORS, so a page elsewhere could run operations
      // from its visitors' addresses; they always send Origin, which must then be allowed.
      const origin = req.headers.origin;
      if (origin !== undefined && !originAllowed(origin, config.http.cors)) {
        socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      graphqlWs.handleUpgrade(req, socket, head, ip);
    });
  }

  return {
    services,
    monitoringPort: () => monitoringPort,
    async start() {
      if (role !== 'api') worker = await startWorker(services, { ...options.worker, metrics, role });
      const port = await http.listen(config.http.port, config.http.host);
      logger.info({ 'http.port': port, role }, `AGNT ${role} listening on port ${port}`);
      if (monitoringHttp && monitoring.port !== undefined) {
        monitoringPort = await monitoringHttp.listen(monitoring.port, config.http.host);
        logger.info({ 'http.port': monitoringPort }, `metrics and readiness on port ${monitoringPort}`);
      }
      return port;
    },
    async stop() {
      const deadline = config.http.shutdownTimeoutMs;
      await graphqlWs?.dispose();
      await Promise.all([http.close(deadline * 0.8), monitoringHttp?.close(deadline * 0.8), worker?.stop()]);
      stopCountingQueries();
    },
  };
}

interface Observed {
  services: Services;
  role: Role;
  metrics: Metrics;
  worker: () => WorkerHandle | null;
  backlog: () => Promise<BacklogLine[] | null>;
}

/**
 * `/healthz` (always open), `/readyz` and, when `metrics`, `/metrics`. The readiness detail and
 * the metrics name dependencies, errors and traffic, so unless `open` they need `token` as a
 * bearer token; without it `/readyz` still answers its status (200 or 503), with no detail.
 */
function monitoringRoutes(
  observed: Observed,
  access: { token: string | undefined; open: boolean; metrics: boolean },
): Route[] {
  const trusted = (req: IncomingMessage) =>
    access.open || (access.token !== undefined && bearerMatches(req.headers.authorization, access.token));
  const routes: Route[] = [
    { method: 'GET', path: '/healthz', handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: async (req, res) => {
        const report = await readiness(observed.services, observed.role, observed.worker(), observed.backlog);
        sendJson(res, report.ready ? 200 : 503, trusted(req) ? report : { ready: report.ready });
      },
    },
  ];
  if (access.metrics) {
    routes.push({
      method: 'GET',
      path: '/metrics',
      handler: async (req, res) => {
        if (!trusted(req)) {
          sendJson(
            res,
            401,
            { error: 'Send the metrics token as Authorization: Bearer' },
            {
              'www-authenticate': 'Bearer realm="metrics"',
            },
          );
          return;
        }
        const { metrics } = observed;
        for (const line of (await observed.backlog()) ?? []) {
          const labels = { outbox: line.outbox, channel: line.channel };
          metrics.outboxPending.set(labels, line.pending);
          metrics.outboxOldestPending.set(labels, line.oldestAgeSeconds);
        }
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
      },
    });
  }
  return routes;
}

/**
 * The outboxes' backlog, read at most every 2 s however often `/metrics` and `/readyz` are asked
 * (every process answers both; the figures are the database's, the same from each). Null when
 * the database does not answer.
 */
function backlogReader(services: Services): () => Promise<BacklogLine[] | null> {
  let cached: { at: number; lines: Promise<BacklogLine[] | null> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > 2_000) {
      cached = {
        at: Date.now(),
        lines: outboxBacklog(services.db).catch((error) => {
          services.logger.warn({ err: error }, 'could not read the outboxes’ backlog');
          return null;
        }),
      };
    }
    return cached.lines;
  };
}

async function readiness(
  services: Services,
  role: Role,
  worker: WorkerHandle | null,
  backlog: () => Promise<BacklogLine[] | null>,
) {
  const checks: Record<string, { ok: boolean; detail?: string }> = {};
  try {
    await services.database.pool.query('SELECT 1');
    const pending = await pendingMigrations(services.database.pool);
    checks.database = { ok: true };
    checks.migrations = pending.length
      ? { ok: false, detail: `pending: ${pending.join(', ')}` }
      : { ok: true };
  } catch (error) {
    checks.database = { ok: false, detail: (error as Error).message };
  }
  if (services.redis.mode === 'memory') {
    checks.redis = {
      ok: true,
      detail: 'not configured: per-process stand-ins (limits and events are not shared)',
    };
  } else {
    // Still ready while Redis is down: the API serves on per-process rate limits, and taking every
    // instance out of the load balancer because of Redis would turn a degradation into an outage.
    const up = await services.redis.ping();
    const limiter = services.limiter.mode();
    if (!up) {
      checks.redis = {
        ok: true,
        detail:
          'unreachable: rate limits fall back to per-process counting (each process admits up to the limit on its own) until Redis answers again',
      };
    } else if (limiter === 'memory') {
      checks.redis = {
        ok: true,
        detail:
          'answering again: rate limits return from per-process counting to Redis with the next request',
      };
    } else {
      checks.redis = { ok: true };
    }
  }
  if (role !== 'api')
    checks.worker = worker ? { ok: worker.running() } : { ok: false, detail: 'not started' };
  if (role !== 'api' && services.config.consumerAgent.enabled) {
    // A model outage degrades the agent ("assistant unavailable", messages kept and retried); it
    // is reported, not a reason to take the process out of service.
    const llm = services.llm.status();
    const describe = (name: string, p: typeof llm.anthropic) =>
      p ? `${name} ${p.state.replace('_', '-')} (${p.models.join(', ')})` : `${name} not configured`;
    checks.llm = {
      ok: true,
      detail: `${llm.available ? 'available' : 'unavailable'}: ${describe('anthropic', llm.anthropic)}; ${describe('ollama', llm.ollama)}`,
    };
  }
  // A backlog is reported, never a reason to be unready: taking processes out of service would
  // only make it grow.
  if (checks.database?.ok) {
    const lines = await backlog();
    if (lines) checks.backlog = { ok: true, detail: describeBacklog(lines) };
  }
  const ready = Object.values(checks).every((c) => c.ok);
  return { ready, role, checks };
}
