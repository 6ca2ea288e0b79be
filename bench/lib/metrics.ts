/**
 * SQL statements per request, from the server's own count: the AGNT server counts every SQL
 * statement Prisma sends in the Prometheus counter `db_queries_total` (src/platform/metrics.ts).
 * The bench reads it around each check request (the statements of one request alone) and just
 * before and just after the measured window (the statements per request under load).
 *
 * Each read waits for the counter to settle (two reads 100 ms apart the same), so that requests
 * still in flight when a load run stops (the warm-up's, before the window) are counted where they
 * belong. Under load the statements are divided by the requests autocannon sent: that includes
 * the one per connection still in flight when the measurement stopped, which the server ran
 * (its statements are in the window) but whose answers autocannon no longer counted.
 *
 * Reading `/metrics` runs statements of its own on the AGNT server (the backlog gauges, see
 * `SCRAPE_STATEMENTS`), before it renders the count. Every reading here is net of them: the bench
 * keeps, per server, what its own reads have run, and takes it out.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { OUTBOXES } from '../../src/domain/operations/outboxes.ts';

export const SQL_STATEMENTS_METRIC = 'db_queries_total';
/**
 * The AGNT server serves /metrics only with its METRICS_TOKEN (src/wiring/app.ts); the bench starts it
 * with this one, on loopback. Other servers ignore the header.
 */
export const BENCH_METRICS_TOKEN = 'bench-metrics-token-on-loopback-only';
export const METRICS_HEADERS = { authorization: `Bearer ${BENCH_METRICS_TOKEN}` };
/** The server's own count of requests it answered, by route (src/platform/http.ts). */
const HTTP_REQUESTS_METRIC = 'http_request_duration_seconds_count';

const READ_TIMEOUT_MS = 5_000;

/**
 * What one read of the AGNT server's `/metrics` sends through Prisma before it renders the count
 * (src/wiring/monitoring.ts): two statements every time (the chat messages of the last day that
 * could not be handled, and the delivery orders Lalamove has not confirmed), and, when the
 * outboxes' backlog and the embedded gateway's inbox gauges were last read over `backlogCacheMs`
 * before (by `/metrics` or `/readyz`; the bench reads `/readyz` only in `crash-recovery`, which
 * counts no statements), one statement per outbox and one for the gateway's inboxes (both cached
 * for 2 s, refreshed by the same read). `a2a-booking` measures both on its idle server and says
 * when they differ from these.
 */
export const SCRAPE_STATEMENTS = { everyRead: 2, backlog: OUTBOXES.length + 1, backlogCacheMs: 2_000 };
/** A read this close to the backlog's refresh waits until it is certain whether it refreshes. */
const CACHE_MARGIN_MS = 250;

/** Per server: the statements the bench's own reads have run, and when one last refreshed the backlog. */
const ownReads = new Map<string, { statements: number; lastRefreshAt: number; lastRaw: number }>();
const SETTLE_INTERVAL_MS = 100;
/** At most this many reads (about 5 s) to see the counter stand still. */
const SETTLE_READS = 50;

export interface StatementReading {
  /** SQL statements the server has sent since it started, less those the bench's reads ran. */
  statements: number;
  /** Requests the server has answered on `path` since it started; null when it does not say. */
  requestsOn: (path: string) => number | null;
  /** False when the count was still moving after every read: something else is sending SQL. */
  settled: boolean;
}

/**
 * Reads the metrics until two reads 100 ms apart agree on the statements, at most `reads` times
 * (50 by default). With `reads: 1`, one read and no wait (for a server whose job worker keeps
 * sending SQL, which would never settle); the reading then says it is not settled.
 */
export async function settledStatements(
  origin: string,
  metricsPath: string,
  { reads = SETTLE_READS }: { reads?: number } = {},
): Promise<StatementReading> {
  let { statements: previous, exposition: text } = await readStatements(origin, metricsPath);
  let settled = false;
  for (let i = 1; i < reads && !settled; i += 1) {
    await sleep(SETTLE_INTERVAL_MS);
    const reading = await readStatements(origin, metricsPath);
    text = reading.exposition;
    settled = reading.statements === previous;
    previous = reading.statements;
  }
  const exposition = text;
  return {
    statements: previous,
    requestsOn: (path) => {
      try {
        return counterValue(exposition, HTTP_REQUESTS_METRIC, { route: path });
      } catch {
        return null;
      }
    },
    settled,
  };
}

/**
 * One read of the metrics, with the statement count net of every statement the bench's own reads
 * of this server have run (this one's included: it runs them before it renders the count).
 */
export async function readStatements(
  origin: string,
  path: string,
): Promise<{ statements: number; exposition: string }> {
  let own = ownReads.get(origin);
  let since = own ? performance.now() - own.lastRefreshAt : Number.POSITIVE_INFINITY;
  if (Math.abs(since - SCRAPE_STATEMENTS.backlogCacheMs) < CACHE_MARGIN_MS) {
    await sleep(SCRAPE_STATEMENTS.backlogCacheMs + CACHE_MARGIN_MS - since);
    since = performance.now() - (own?.lastRefreshAt ?? Number.NEGATIVE_INFINITY);
  }
  const sentAt = performance.now();
  const exposition = await readMetrics(origin, path);
  const raw = counterValue(exposition, SQL_STATEMENTS_METRIC);
  // A count that went back is a new server on the same port (crash-recovery restarts one).
  if (!own || raw < own.lastRaw) {
    own = { statements: 0, lastRefreshAt: Number.NEGATIVE_INFINITY, lastRaw: 0 };
    since = Number.POSITIVE_INFINITY;
    ownReads.set(origin, own);
  }
  const refresh = since > SCRAPE_STATEMENTS.backlogCacheMs;
  own.statements += SCRAPE_STATEMENTS.everyRead + (refresh ? SCRAPE_STATEMENTS.backlog : 0);
  if (refresh) own.lastRefreshAt = sentAt;
  own.lastRaw = raw;
  return { statements: raw - own.statements, exposition };
}

async function readMetrics(origin: string, path: string): Promise<string> {
  const url = new URL(path, origin);
  if (url.hostname !== '127.0.0.1')
    throw new Error(`refusing to read metrics from ${url.host}: only 127.0.0.1`);
  const response = await fetch(url, {
    headers: METRICS_HEADERS,
    signal: AbortSignal.timeout(READ_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return text;
}

/**
 * Sums the samples of `name` in Prometheus text format whose labels include `labels`; throws
 * when there is none.
 */
export function counterValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let sum = 0;
  let found = false;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    // `name 12` or `name{label="x"} 12`; not `name_other …`.
    const rest = line.slice(name.length);
    if (!rest.startsWith(' ') && !rest.startsWith('{')) continue;
    const end = rest.startsWith('{') ? rest.lastIndexOf('}') + 1 : 0;
    const labelText = rest.slice(0, end);
    if (!wanted.every((pair) => labelText.includes(pair))) continue;
    const value = Number(rest.slice(end).trim().split(/\s+/)[0]);
    if (!Number.isFinite(value)) throw new Error(`unreadable sample of ${name}: ${line}`);
    sum += value;
    found = true;
  }
  if (!found) throw new Error(`the metrics have no ${name}`);
  return sum;
}
