/**
 * The public routes of the `api` role: GraphQL, MCP, public A2A, the signing keys, the raw webhook
 * routes and the embedded ClawPulse gateway. Each edge is handed only what it uses.
 */
import type { EmbeddedGateway } from '../a2a/gateway/embedded.ts';
import { publicA2aRoutes } from '../a2a/public/http.ts';
import { graphqlHandler } from '../api/http.ts';
import type { LiveAccess } from '../api/live-access.ts';
import type { GraphQLServer } from '../api/yoga.ts';
import { networkTools } from '../domain/tools/network.ts';
import { dailyToolQuota } from '../domain/tools/quota.ts';
import { type McpEndpoint, mcpEndpoint } from '../mcp/http.ts';
import { groupCommit } from '../platform/group-commit.ts';
import { type Route, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';
import { INSTAGRAM_PATH, instagramWebhook } from '../webhooks/instagram.ts';
import { LALAMOVE_PATH, lalamoveWebhook } from '../webhooks/lalamove.ts';
import { STRIPE_PATH, stripeWebhook } from '../webhooks/stripe.ts';
import { TELEGRAM_PATH, telegramWebhook } from '../webhooks/telegram.ts';
import { WHATSAPP_PATH, whatsappWebhook } from '../webhooks/whatsapp.ts';
import type { WebhookDeps } from './deps.ts';
import type { Services } from './services.ts';

/** `/.well-known/jwks.json`: the public keys our access tokens are verified with (every role). */
export function jwksRoute(keys: Services['keys']): Route {
  return {
    method: 'GET',
    path: '/.well-known/jwks.json',
    handler: (_req, res) => sendJson(res, 200, keys.jwks(), { 'cache-control': 'public, max-age=300' }),
  };
}

/** `/graphql` over HTTP (queries, mutations, SSE); WebSockets are upgraded in websocket.ts. */
export function graphqlRoute(
  yoga: GraphQLServer,
  services: Services,
  metrics: Metrics,
  liveAccess: LiveAccess,
): Route {
  return { method: '*', path: '/graphql', handler: graphqlHandler(yoga, services, metrics, liveAccess) };
}

/**
 * MCP for developers' agents with an API key: Streamable HTTP at `/mcp`, HTTP+SSE at `/mcp/sse`.
 * Each tool call counts against the key's daily quota (src/domain/tools/quota.ts).
 */
export function mcpRoutes(services: Services, metrics: Metrics): McpEndpoint {
  return mcpEndpoint(services, metrics, {
    tools: networkTools({ db: services.db, bookings: services.bookings }),
    quota: dailyToolQuota(services.apiQuota),
  });
}

/**
 * Public A2A for outside agents with an API key: the agent card, A2A's JSON-RPC at `/a2a/jsonrpc`
 * and AGP envelopes at `/a2a/v1`, over the same published tools and quota as MCP.
 */
export function publicA2aRoutesFor(services: Services, metrics: Metrics): Route[] {
  return publicA2aRoutes(services, metrics, {
    tools: networkTools({ db: services.db, bookings: services.bookings }),
    quota: dailyToolQuota(services.apiQuota),
  });
}

/** The messaging platforms', Lalamove's and Stripe's webhooks: verify, record, enqueue, answer. */
export function webhookRoutes(deps: WebhookDeps, metrics: Metrics): Route[] {
  const { config } = deps;
  const routes: Route[] = [];
  // One group commit for every webhook (the chat platforms, Lalamove, Stripe): their events
  // share batches, so one transaction and one WAL flush serve all that arrive together.
  const inbound = groupCommit(deps.database.pipelined, {
    ...config.webhooks.inboundBatch,
    observe: ({ statements, ok }) =>
      metrics.webhookBatches.observe({ outcome: ok ? 'committed' : 'failed' }, statements),
  });
  routes.push({
    method: 'POST',
    path: `${TELEGRAM_PATH}*`,
    name: '/webhooks/telegram',
    handler: telegramWebhook({
      database: deps.database,
      inbound,
      bots: config.channels.telegram.bots,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
    }),
  });
  const whatsapp = whatsappWebhook({
    database: deps.database,
    inbound,
    numbers: config.channels.whatsapp.numbers,
    bodyLimitBytes: config.http.bodyLimitBytes,
    metrics,
  });
  routes.push(
    { method: 'GET', path: `${WHATSAPP_PATH}*`, name: '/webhooks/whatsapp', handler: whatsapp.handshake },
    { method: 'POST', path: `${WHATSAPP_PATH}*`, name: '/webhooks/whatsapp', handler: whatsapp.deliver },
  );
  const instagram = instagramWebhook({
    database: deps.database,
    inbound,
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
      inbound,
      lalamove: config.delivery.lalamove,
      publicUrl: config.http.publicUrl,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
    }),
  });
  routes.push({
    method: 'POST',
    path: STRIPE_PATH,
    handler: stripeWebhook({
      inbound,
      stripe: deps.billing.stripe,
      bodyLimitBytes: config.http.bodyLimitBytes,
      metrics,
    }),
  });
  return routes;
}

/**
 * The embedded ClawPulse gateway at `/clawpulse/*` (`<PUBLIC_URL>/clawpulse/api/...`), for the
 * `api` and `all` roles; none when an outside gateway is configured (`CLAWPULSE_GATEWAY`). The
 * product's own agents do not come through here: they call the gateway in-process.
 */
export function clawpulseGatewayRoutes(gateway: EmbeddedGateway | undefined): Route[] {
  return gateway ? [gateway.route] : [];
}
