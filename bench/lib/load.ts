/**
 * Sends load with autocannon and reduces its result to what the table shows.
 *
 * Latency percentiles come from our own histogram in microseconds: autocannon's histogram counts
 * whole milliseconds, too coarse for a server that answers in one or two. Its per-request
 * timing (from `process.hrtime`) is exact; only its bucketing is coarse, so we record the same
 * timings at a finer grain.
 */
import { createHistogram } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import { bodyFiller, classifyAnswer, headerRotator, type LoadRequest, requestBodies } from './scenario.ts';

export interface LoadTarget {
  /** `http://127.0.0.1:<port>`; any other host is refused. */
  origin: string;
  request: LoadRequest;
  /**
   * When set, an answer with another body counts as a failure: one expected body for each of
   * `requestBodies(request)`, in the same order.
   */
  expectBodies?: string[];
}

export interface LoadOptions {
  connections: number;
  durationSeconds: number;
  /**
   * At most this many requests per second over all connections (autocannon's `overallRate`);
   * unset, each connection sends its next request as soon as the last is answered. autocannon
   * gives each connection a budget of `overallRate / connections` requests per second of its own
   * clock: a connection sends back to back until its budget is spent, then waits for its next
   * second. The connections start together, so a second's requests come as a burst at its start
   * (at full concurrency while it lasts), not spread evenly over it.
   */
  overallRate?: number;
}

export interface LoadResult {
  /** Completed requests per second of the run. */
  requestsPerSecond: number;
  /** Latency of 2xx answers, in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Completed requests (any status). */
  requests: number;
  /**
   * Requests sent: the completed ones, plus the one per connection still in flight when the run
   * stopped (the server ran those too, but autocannon no longer counted their answers).
   */
  sent: number;
  /** Connection errors, timeouts, non-2xx answers and unexpected bodies. */
  failures: number;
  /** Answers counted under a label of `request.answers.tolerated` (not failures), by label. */
  tolerated: Record<string, number>;
  /** Status codes seen, for the error message when failures > 0. */
  statusCodes: Record<string, number>;
  durationSeconds: number;
}

/** A request may take this long before autocannon counts a timeout. */
const REQUEST_TIMEOUT_SECONDS = 10;

/** Runs autocannon on this thread. `signal` stops the run early (the partial result is returned). */
export async function runLoad(
  target: LoadTarget,
  options: LoadOptions,
  signal?: AbortSignal,
): Promise<LoadResult> {
  const url = new URL(target.request.path, target.origin);
  // The bench only ever loads servers it started itself.
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to send load to ${url.host}: only 127.0.0.1`);

  const latencyMicros = createHistogram({ lowest: 1, highest: REQUEST_TIMEOUT_SECONDS * 1e6, figures: 3 });
  const bodies = requestBodies(target.request);
  // Answers checked here rather than by autocannon, whose `expectBody` knows only one body: each
  // answer against its own body's expected answer, or against `request.answers`.
  let checkedMismatches = 0;
  const tolerated: Record<string, number> = {};
  const expectations = target.expectBodies;
  const answers = target.request.answers;
  const checkAnswer = (index: number) =>
    expectations
      ? (status: number, answer: string) => {
          if (status >= 200 && status < 300 && answer !== expectations[index]) checkedMismatches += 1;
        }
      : answers
        ? (status: number, answer: string) => {
            const outcome = classifyAnswer(target.request, status, answer);
            // Non-2xx answers are autocannon's to count (non2xx).
            if (outcome === 'failure' && status >= 200 && status < 300) checkedMismatches += 1;
            else if (outcome !== 'ok' && outcome !== 'failure')
              tolerated[outcome] = (tolerated[outcome] ?? 0) + 1;
          }
        : undefined;
  // Bodies with `vary` tokens, and their `headersFor`, are built per request (autocannon calls
  // setupRequest each time).
  const fill = bodyFiller(target.request);
  const rotate = headerRotator(target.request);
  const { headersFor, rotatingHeaders } = target.request;
  const setupRequest =
    target.request.vary?.length || headersFor || rotatingHeaders
      ? (request: { body?: string; headers?: Record<string, string> }) => {
          const body = fill(request.body);
          return {
            ...request,
            body,
            headers: {
              ...request.headers,
              ...rotate(),
              ...(headersFor && body !== undefined ? headersFor(body) : {}),
            },
          };
        }
      : undefined;
  const perRequest = bodies.length > 1 || answers !== undefined || setupRequest !== undefined;
  const requests = perRequest
    ? bodies.map((body, index) => ({
        method: target.request.method,
        path: `${url.pathname}${url.search}`,
        headers: target.request.headers,
        body,
        onResponse: checkAnswer(index),
        // An undefined key would replace autocannon's default setupRequest and break it.
        ...(setupRequest ? { setupRequest } : {}),
      }))
    : undefined;
  const instance = autocannon({
    url: url.toString(),
    method: target.request.method,
    headers: target.request.headers,
    connections: options.connections,
    duration: options.durationSeconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    // autocannon refuses `expectBody` next to `requests`, even an undefined one.
    ...(requests ? { requests } : { body: bodies[0], expectBody: expectations?.[0] }),
  });
  instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode >= 200 && statusCode < 300) {
      latencyMicros.record(
        Math.min(REQUEST_TIMEOUT_SECONDS * 1e6, Math.max(1, Math.round(responseTimeMs * 1000))),
      );
    }
  });
  const stop = () => instance.stop();
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  // autocannon ends on its own after `duration`; this only guards against it never doing so.
  const guard = setTimeout(stop, (options.durationSeconds + REQUEST_TIMEOUT_SECONDS + 5) * 1000);
  try {
    const result = await instance;
    const statusCodes = Object.fromEntries(
      Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]),
    );
    const completed = Object.values(statusCodes).reduce((sum, n) => sum + n, 0);
    return {
      // From the totals, not autocannon's per-second samples: on a worker thread autocannon
      // returns its raw result, whose sample histogram is kept by the (absent) worker manager.
      requestsPerSecond: result.duration > 0 ? completed / result.duration : 0,
      p50Ms: latencyMicros.count ? latencyMicros.percentile(50) / 1000 : Number.NaN,
      p99Ms: latencyMicros.count ? latencyMicros.percentile(99) / 1000 : Number.NaN,
      meanMs: latencyMicros.count ? latencyMicros.mean / 1000 : Number.NaN,
      requests: completed,
      sent:
        (result.totalRequests ??
          (typeof result.requests === 'object' ? result.requests.sent : undefined) ??
          completed) - rateOvercount(options),
      failures: result.errors + result.timeouts + result.non2xx + result.mismatches + checkedMismatches,
      tolerated,
      statusCodes,
      durationSeconds: result.duration,
    };
  } finally {
    clearTimeout(guard);
    signal?.removeEventListener('abort', stop);
  }
}

/**
 * autocannon (9.0) counts each connection's first request, which it sends before it listens for
 * its own `request` events, as `max(pipelining, rate)` instead of `pipelining` (1): with
 * `overallRate` above the connections, its count of requests sent is too high by
 * `overallRate − connections`.
 */
function rateOvercount(options: LoadOptions): number {
  return options.overallRate ? Math.max(0, options.overallRate - options.connections) : 0;
}

/**
 * Runs `runLoad` on a worker thread, for a server that runs on this thread
 * (`--server in-process`): load generator and server then do not share one event loop.
 */
export function runLoadInWorker(
  target: LoadTarget,
  options: LoadOptions,
  signal?: AbortSignal,
): Promise<LoadResult> {
  const worker = new Worker(new URL('./load-worker.ts', import.meta.url), {
    workerData: { target, options },
  });
  const stop = () => worker.postMessage('stop');
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  const guard = setTimeout(
    () => void worker.terminate(),
    (options.durationSeconds + REQUEST_TIMEOUT_SECONDS + 15) * 1000,
  );
  return new Promise<LoadResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`load worker exited (code ${code}) without a result`)));
  }).finally(() => {
    clearTimeout(guard);
    signal?.removeEventListener('abort', stop);
    void worker.terminate();
  });
}
