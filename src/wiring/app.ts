/**
 * Builds and runs one AGNT process. `buildApp()` takes its services ready-made (tests hand it a
 * database and Redis of their own); `main.ts` resolves the real ones first. The pieces live next
 * to it: routes.ts (GraphQL, keys, webhooks), monitoring.ts (health, readiness, metrics),
 * websocket.ts (graphql-ws upgrades); this file decides what a role runs and starts and stops it.
 */

import { createLiveAccess } from '../api/live-access.ts';
import { graphqlWebSocket } from '../api/websocket.ts';
import { createGraphQLServer } from '../api/yoga.ts';
import { createHttpServer, type Route } from '../platform/http.ts';
import { createMetrics } from '../platform/metrics.ts';
import { countStatement } from '../platform/operation-stats.ts';
import { startWorker, type WorkerHandle, type WorkerOptions } from '../worker/runner.ts';
import { backlogReader, monitoringRoutes, type Observed } from './monitoring.ts';
import {
  clawpulseGatewayRoutes,
  graphqlRoute,
  jwksRoute,
  mcpRoutes,
  publicA2aRoutesFor,
  webhookRoutes,
} from './routes.ts';
import type { Services } from './services.ts';
import { acceptGraphqlWebSockets } from './websocket.ts';

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
  // The worker sends and receives envelopes; its /metrics counts them.
  if (role !== 'api') services.network.metrics = metrics;
  // Per process for /metrics, and per operation for the slow-operation log.
  const stopCountingQueries = services.database.onQuery(({ durationMs }) => {
    metrics.dbQueries.inc();
    countStatement(durationMs);
  });
  // Rights remembered per process: the route's authentication and Yoga's subscriptions share them.
  const liveAccess = createLiveAccess(services);
  const yoga = createGraphQLServer(services, metrics, liveAccess);
  let worker: WorkerHandle | null = null;

  const { monitoring } = config;
  const observed: Observed = {
    services,
    role,
    metrics,
    worker: () => worker,
    backlog: backlogReader(services),
  };
  const routes: Route[] = [
    // With a monitoring port, the public one keeps only what load balancers need.
    ...monitoringRoutes(observed, {
      token: monitoring.token,
      open: monitoring.token === undefined && monitoring.port === undefined,
      metrics: monitoring.port === undefined,
    }),
    jwksRoute(services.keys),
  ];
  const mcp = role !== 'worker' ? mcpRoutes(services, metrics) : null;
  if (role !== 'worker') {
    routes.push(
      graphqlRoute(yoga, services, metrics, liveAccess),
      ...(mcp?.routes ?? []),
      ...publicA2aRoutesFor(services, metrics),
      ...webhookRoutes(services, metrics),
      ...clawpulseGatewayRoutes(services.network.gateway),
    );
  }

  const http = createHttpServer({ routes, logger, metrics, proxy: config.http.proxy });
  const monitoringHttp =
    monitoring.port === undefined
      ? null
      : createHttpServer({
          routes: monitoringRoutes(observed, {
            token: monitoring.token,
            open: monitoring.token === undefined,
            metrics: true,
          }),
          logger,
          metrics,
          proxy: config.http.proxy,
        });
  let monitoringPort: number | null = null;

  const graphqlWs = role !== 'worker' ? graphqlWebSocket(yoga, services, metrics) : null;
  if (graphqlWs) acceptGraphqlWebSockets(http, graphqlWs, config.http.cors);

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
      await mcp?.close();
      await Promise.all([http.close(deadline * 0.8), monitoringHttp?.close(deadline * 0.8), worker?.stop()]);
      stopCountingQueries();
    },
  };
}
