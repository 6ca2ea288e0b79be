/**
 * Health, readiness and metrics: `/healthz` for load balancers, `/readyz` with what each
 * dependency says, `/metrics` for Prometheus, on the public port or one of their own.
 */
import type { IncomingMessage } from 'node:http';
import { failedInboundLastDay } from '../domain/channels/inbound.ts';
import { unplacedOrders } from '../domain/delivery/order.ts';
import { breakerStateValue, describeBreakers } from '../domain/envelopes/breakers.ts';
import { type BacklogLine, describeBacklog, outboxBacklog } from '../domain/operations/outboxes.ts';
import { bearerMatches, type Route, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';
import { pendingMigrations } from '../platform/migrate.ts';
import type { WorkerHandle } from '../worker/runner.ts';
import type { Role } from './app.ts';
import type { MonitoringDeps } from './deps.ts';

export interface Observed {
  services: MonitoringDeps;
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
export function monitoringRoutes(
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
        // What needs an operator, read together; one that cannot be read leaves its gauges as they were.
        const unread = (what: string) => (error: unknown) => {
          observed.services.logger.warn({ err: error }, `could not read ${what}`);
          return [];
        };
        const now = new Date();
        const [failed, unplaced] = await Promise.all([
          failedInboundLastDay(observed.services.db, now).catch(unread('the failed chat messages')),
          unplacedOrders(observed.services.db, now).catch(unread('the unconfirmed delivery orders')),
        ]);
        for (const line of failed) metrics.inboundFailed.set({ channel: line.channel }, line.failed);
        for (const line of unplaced) {
          metrics.deliveriesUnplaced.set({ status: line.status }, line.count);
          metrics.deliveriesUnplacedOldest.set({ status: line.status }, line.oldestSeconds);
        }
        await observed.services.network.gateway?.observe(metrics).catch((error: unknown) => {
          observed.services.logger.warn({ err: error }, 'could not read the gateway’s inboxes');
        });
        const breakers = await observed.services.network.breakers.snapshots().catch(() => null);
        if (breakers) {
          // Reset first: a recipient's breaker that closed since the last scrape leaves the list.
          metrics.a2aBreakerState.reset();
          for (const breaker of breakers) {
            metrics.a2aBreakerState.set({ scope: breaker.scope }, breakerStateValue(breaker.state));
          }
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
export function backlogReader(services: MonitoringDeps): () => Promise<BacklogLine[] | null> {
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
  services: MonitoringDeps,
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
  // Open breakers mean envelopes wait (nothing is dropped): reported, never unready.
  const breakers = await services.network.breakers.snapshots().catch(() => null);
  if (breakers) {
    checks.a2aBreakers = { ok: true, detail: describeBreakers(breakers, services.network.breakers.mode) };
  }
  // Embeddings are a help to recall, never a reason to be unready: without them (or without
  // pgvector) recall still answers, by words or by similarity computed in SQL.
  const search = services.memorySearch;
  checks.embeddings = search
    ? {
        ok: true,
        detail: `on (${services.config.memory.embeddings?.provider} ${search.embedder.model}); ${(await search.vectorSupport()).detail}`,
      }
    : { ok: true, detail: 'off: EMBEDDINGS_PROVIDER=none, recall is full-text alone' };
  // Billing off (no Stripe key outside production) is said, never a reason to be unready.
  checks.billing = services.billing.stripe
    ? { ok: true, detail: 'on' }
    : { ok: true, detail: `off: ${services.config.billing.offReason ?? 'Stripe is not configured'}` };
  const ready = Object.values(checks).every((c) => c.ok);
  return { ready, role, checks };
}
