/**
 * Builds and runs one AGNT process. `buildApp()` takes its services ready-made (tests hand it a
 * database and Redis of their own); `main.ts` resolves the real ones first.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type DocumentNode, type ExecutionArgs, type ExecutionResult, GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { authenticateCredential } from './api/auth.ts';
import { graphqlHandler } from './api/http.ts';
import { createGraphQLServer } from './api/yoga.ts';
import { type Actor, anonymous } from './domain/identity/actor.ts';
import { type BacklogLine, describeBacklog, outboxBacklog } from './domain/operations/outboxes.ts';
import { AuthenticationError } from './platform/errors.ts';
import { createHttpServer, type Route, sendJson } from './platform/http.ts';
import { createMetrics } from './platform/metrics.ts';
import { pendingMigrations } from './platform/migrate.ts';
import type { Services } from './services.ts';
import { INSTAGRAM_PATH, instagramWebhook } from './webhooks/instagram.ts';
import { LALAMOVE_PATH, lalamoveWebhook } from './webhooks/lalamove.ts';
import { TELEGRAM_PATH, telegramWebhook } from './webhooks/telegram.ts';
import { WHATSAPP_PATH, whatsappWebhook } from './webhooks/whatsapp.ts';
import { startWorker, type WorkerHandle, type WorkerOptions } from './worker/runner.ts';

export type Role = 'api' | 'worker' | 'all';

/** Yoga's enveloped execute/subscribe, carried to graphql-ws through rootValue. */
type EnvelopedRoot = {
  execute: (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;
  subscribe: (args: ExecutionArgs) => ReturnType<NonNullable<Parameters<typeof useServer>[0]['subscribe']>>;
};

export interface App {
  /** Starts serving; resolves with the port the HTTP server listens on. */
  start(): Promise<number>;
  /** Graceful stop: stop accepting, finish in-flight work, close pools. */
  stop(): Promise<void>;
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

  const routes: Route[] = [
    { method: 'GET', path: '/healthz', handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: async (_req, res) => {
        const report = await readiness(services, role, worker, backlog);
        sendJson(res, report.ready ? 200 : 503, report);
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async (_req, res) => {
        for (const line of (await backlog()) ?? []) {
          const labels = { outbox: line.outbox, channel: line.channel };
          metrics.outboxPending.set(labels, line.pending);
          metrics.outboxOldestPending.set(labels, line.oldestAgeSeconds);
        }
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(body);
      },
    },
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
      db: services.db,
      numbers: config.channels.whatsapp.numbers,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
    });
    routes.push(
      { method: 'GET', path: `${WHATSAPP_PATH}*`, name: '/webhooks/whatsapp', handler: whatsapp.handshake },
      { method: 'POST', path: `${WHATSAPP_PATH}*`, name: '/webhooks/whatsapp', handler: whatsapp.deliver },
    );
    const instagram = instagramWebhook({
      db: services.db,
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
        db: services.db,
        lalamove: config.delivery.lalamove,
        publicUrl: config.http.publicUrl,
        bodyLimitBytes: config.http.bodyLimitBytes,
        metrics,
      }),
    });
  }

  const http = createHttpServer({ routes, logger, metrics, trustProxy: config.http.trustProxy });

  // graphql-ws on the same path, through Yoga's envelop pipeline so WebSocket operations get the
  // same plugins (limits, masking, metrics) as HTTP ones. Identity comes from `connection_init`.
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.http.bodyLimitBytes });
  const wsServer = useServer(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        try {
          const actor =
            typeof authorization === 'string' && authorization !== ''
              ? await authenticateCredential(services, authorization)
              : anonymous;
          (ctx.extra as { actor?: unknown }).actor = actor;
          return true;
        } catch (error) {
          if (error instanceof AuthenticationError) return false;
          throw error;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const extra = ctx.extra as unknown as { actor: Actor; request: IncomingMessage };
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: extra.request,
          socket: extra.request.socket,
          params,
          requestId: crypto.randomUUID(),
          ip: extra.request.socket.remoteAddress ?? 'unknown',
          actor: extra.actor,
          logger,
        });
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          // A syntax error answers this operation. Thrown, it would make graphql-ws close the
          // whole socket (4500), ending the connection's other subscriptions with it.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const args = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );
  if (role !== 'worker') {
    http.onUpgrade((req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
  }

  return {
    services,
    async start() {
      if (role !== 'api') worker = await startWorker(services, { ...options.worker, metrics, role });
      const port = await http.listen(config.http.port, config.http.host);
      logger.info({ 'http.port': port, role }, `AGNT ${role} listening on port ${port}`);
      return port;
    },
    async stop() {
      const deadline = config.http.shutdownTimeoutMs;
      await wsServer.dispose();
      await Promise.all([http.close(deadline * 0.8), worker?.stop()]);
      stopCountingQueries();
    },
  };
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
