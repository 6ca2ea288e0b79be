/**
 * SQL statements per request, from the server's own count: the AGNT server counts every SQL
 * statement Prisma sends in the Prometheus counter `db_queries_total` (src/platform/metrics.ts).
 * The bench reads it around each check request (the statements of one request alone) and just
 * before and just after the measured window (the statements per request under load). Reading
 * the metrics runs no SQL.
 *
 * Each read waits for the counter to settle (two reads 100 ms apart the same), so that requests
 * still in flight when a load run stops (the warm-up's, before the window) are counted where they
 * belong. Under load the statements are divided by the requests autocannon sent: that includes
 * the one per connection still in flight when the measurement stopped, which the server ran
 * (its statements are in the window) but whose answers autocannon no longer counted.
 */
import { setTimeout as sleep } from 'node:timers/promises';

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
const SETTLE_INTERVAL_MS = 100;
/** At most this many reads (about 5 s) to see the counter stand still. */
const SETTLE_READS = 50;

export interface StatementReading {
  /** SQL statements the server has sent since it started. */
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
  let text = await readMetrics(origin, metricsPath);
  let previous = counterValue(text, SQL_STATEMENTS_METRIC);
  let settled = false;
  for (let i = 1; i < reads && !settled; i += 1) {
    await sleep(SETTLE_INTERVAL_MS);
    text = await readMetrics(origin, metricsPath);
    const value = counterValue(text, SQL_STATEMENTS_METRIC);
    settled = value === previous;
    previous = value;
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
