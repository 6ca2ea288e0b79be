/**
 * The embedded ClawPulse gateway: what the product serves itself when `CLAWPULSE_GATEWAY` is
 * unset. One call builds it over the app's database; the composition root (src/wiring) then
 *
 * - mounts `route` on the HTTP server of the `api` (and `all`) role, so outside agents reach it
 *   at `<PUBLIC_URL>/clawpulse/api/...`, and
 * - gives the ClawPulse client `fetch` and `baseUrl` in every role, so the product's own agents
 *   use it in-process, through the same API, with no socket:
 *
 * ```ts
 * const gateway = createEmbeddedGateway({ db, apiKey, visibilityTimeoutSeconds, bodyLimitBytes });
 * const client = createClawPulseClient({ baseUrl: gateway.baseUrl, apiKey, timeoutMs, fetch: gateway.fetch });
 * ```
 *
 * Inboxes live in PostgreSQL (store.ts), so every process of an installation shares them.
 */
import type { Db } from '../../platform/db.ts';
import type { Route } from '../../platform/http.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { createGatewayApi, type GatewayApi } from './api.ts';
import { IN_PROCESS_BASE_URL, inProcessFetch } from './in-process.ts';
import { gatewayRoute } from './route.ts';
import { createGatewayStore, type GatewayStore, gatewayBacklog } from './store.ts';

export interface EmbeddedGatewayOptions {
  db: Db;
  /** The key every request must carry as `X-API-Key` (CLAWPULSE_API_KEY). */
  apiKey: string;
  /** An unacknowledged message is handed out again after this long (CLAWPULSE_VISIBILITY_TIMEOUT_SECONDS). */
  visibilityTimeoutSeconds: number;
  /** Larger request bodies get 413 (HTTP_BODY_LIMIT_BYTES). */
  bodyLimitBytes: number;
  /** The gateway's clock (tests move it); `new Date()` by default. */
  now?: () => Date;
  /** Where store failures are logged. */
  logger?: Logger;
  /**
   * Whether an agent id is one of the installation's own agents: outside callers (the HTTP route)
   * may not read, acknowledge or register it. Its own agents use the in-process API, unguarded.
   */
  hostedHere: (agentId: string) => Promise<boolean>;
}

export interface EmbeddedGateway {
  /** The gateway's API as a plain function (see api.ts). */
  api: GatewayApi;
  /** The route to mount on the product's HTTP server (`/clawpulse/*`). */
  route: Route;
  /** A `fetch` that runs the API in-process; pair it with `baseUrl`. */
  fetch: typeof fetch;
  /** The base URL for a client using `fetch`: `http://clawpulse.internal`, never resolved. */
  baseUrl: string;
  store: GatewayStore;
  /** Sets the inbox gauges (`clawpulse_inbox_pending`, `clawpulse_inbox_oldest_pending_seconds`) from the database. */
  observe(metrics: Metrics): Promise<void>;
}

export function createEmbeddedGateway(options: EmbeddedGatewayOptions): EmbeddedGateway {
  if (!(options.visibilityTimeoutSeconds > 0)) throw new Error('visibilityTimeoutSeconds must be positive');
  if (options.apiKey.length === 0) throw new Error('The embedded gateway needs an API key');
  const now = options.now ?? (() => new Date());
  const store = createGatewayStore({
    db: options.db,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    now,
  });
  const settings = {
    store,
    apiKey: options.apiKey,
    bodyLimitBytes: options.bodyLimitBytes,
    logger: options.logger,
  };
  const api = createGatewayApi(settings);
  // What outside callers reach: the same API, but the installation's own agents are not theirs.
  const outside = createGatewayApi({ ...settings, hostedHere: options.hostedHere });
  let backlog: { at: number; lines: ReturnType<typeof gatewayBacklog> } | undefined;
  return {
    api,
    route: gatewayRoute(outside, { bodyLimitBytes: options.bodyLimitBytes }),
    fetch: inProcessFetch(api),
    baseUrl: IN_PROCESS_BASE_URL,
    store,
    async observe(metrics) {
      // Every scrape of every process asks; the figures are the database's: read at most every 2 s.
      if (!backlog || Date.now() - backlog.at > 2_000) {
        const read = gatewayBacklog(options.db, now());
        backlog = { at: Date.now(), lines: read };
        // A failed read is not kept: the next scrape asks again.
        read.catch(() => {
          if (backlog?.lines === read) backlog = undefined;
        });
      }
      const lines = await backlog.lines;
      // Kinds with nothing waiting read 0, not their last value.
      for (const kind of ['consumer', 'venue', 'platform']) {
        const line = lines.find((l) => l.kind === kind);
        metrics.clawpulseInboxPending.set({ kind }, line?.pending ?? 0);
        metrics.clawpulseInboxOldestPending.set({ kind }, line?.oldestAgeSeconds ?? 0);
      }
    },
  };
}
