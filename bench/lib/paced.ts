/**
 * An evenly paced, open-loop load: request i is due at `start + i / rate`, whatever happened to
 * the requests before it, over at most `connections` keep-alive connections (a request due while
 * all of them are busy waits in the client for one). Latency is measured **from the moment a
 * request is issued** (within about a millisecond of its due time: the scheduler's timer), not
 * from when it got a connection, so a server that falls behind pays for the queue it causes (no
 * coordinated omission); the time from getting a connection to the answer is reported beside it.
 *
 * autocannon's `overallRate` (lib/load.ts) cannot do this: it gives each connection a budget per
 * second and spends it back to back at the start of each second, so its "1,000 requests per
 * second" arrive as one burst at full concurrency a second.
 */
import { Agent, request as httpRequest } from 'node:http';
import { createHistogram, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadResult, LoadTarget } from './load.ts';
import { bodyFiller, headerRotator, requestBodies } from './scenario.ts';

export interface PacedOptions {
  /** Requests per second, evenly spaced. */
  rate: number;
  durationSeconds: number;
  /** At most this many requests in flight (keep-alive connections). */
  connections: number;
}

export interface PacedResult extends LoadResult {
  /** From getting a connection to the whole answer: the server's part, without the client's queue. */
  serviceP50Ms: number;
  serviceP99Ms: number;
  /** Requests that waited in the client for a free connection. */
  queued: number;
}

/** After the schedule, requests still unanswered get this long, then count as failures. */
const REQUEST_TIMEOUT_MS = 10_000;
/** The scheduler wakes up this often and issues every request that has fallen due since. */
const TICK_MS = 1;

export async function runPaced(
  target: LoadTarget,
  options: PacedOptions,
  signal?: AbortSignal,
): Promise<PacedResult> {
  const url = new URL(target.request.path, target.origin);
  if (url.hostname !== '127.0.0.1') throw new Error(`refusing to send load to ${url.host}: only 127.0.0.1`);
  const template = requestBodies(target.request)[0];
  const fill = bodyFiller(target.request);
  const rotate = headerRotator(target.request);
  const expected = target.expectBodies?.[0];
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const fromIssue = createHistogram({ lowest: 1, highest: 60e6, figures: 3 });
  const service = createHistogram({ lowest: 1, highest: 60e6, figures: 3 });
  const statusCodes: Record<string, number> = {};
  let sent = 0;
  let completed = 0;
  let failures = 0;
  let queued = 0;
  let lastAnswerAt = 0;
  const outstanding = new Set<ReturnType<typeof httpRequest>>();
  const record = (histogram: typeof fromIssue, ms: number) =>
    histogram.record(Math.min(60e6, Math.max(1, Math.round(ms * 1000))));

  const send = () => {
    const issuedAt = performance.now();
    const body = fill(template);
    sent += 1;
    let connectedAt: number | null = null;
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: target.request.method,
        headers: {
          ...target.request.headers,
          ...rotate(),
          ...(body === undefined
            ? {}
            : {
                'content-length': String(Buffer.byteLength(body)),
                ...target.request.headersFor?.(body),
              }),
        },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const now = performance.now();
          outstanding.delete(req);
          completed += 1;
          lastAnswerAt = now;
          const status = res.statusCode ?? 0;
          statusCodes[status] = (statusCodes[status] ?? 0) + 1;
          const ok = status >= 200 && status < 300;
          if (!ok || (expected !== undefined && Buffer.concat(chunks).toString('utf8') !== expected)) {
            failures += 1;
          }
          if (ok) {
            record(fromIssue, now - issuedAt);
            record(service, now - (connectedAt ?? issuedAt));
          }
        });
        res.on('error', () => {});
      },
    );
    req.on('socket', () => {
      connectedAt = performance.now();
    });
    req.on('error', () => {
      if (outstanding.delete(req)) failures += 1;
    });
    // Every connection busy: the agent keeps this one until a connection is free.
    if (outstanding.size >= options.connections) queued += 1;
    outstanding.add(req);
    req.end(body);
  };

  const startedAt = performance.now();
  const endAt = startedAt + options.durationSeconds * 1000;
  const interval = 1000 / options.rate;
  let next = 0;
  try {
    // Bounded by the duration (or Ctrl-C): each tick sends the requests that fell due since the last.
    while (!signal?.aborted) {
      const now = performance.now();
      if (now >= endAt) break;
      for (; startedAt + next * interval <= now; next += 1) send();
      await sleep(TICK_MS);
    }
    // Stragglers: answered within the timeout, or counted as failures.
    const deadline = performance.now() + REQUEST_TIMEOUT_MS;
    while (outstanding.size > 0 && performance.now() < deadline && !signal?.aborted) await sleep(10);
    for (const req of outstanding) {
      failures += 1;
      req.destroy();
    }
    outstanding.clear();
  } finally {
    agent.destroy();
  }
  const durationSeconds = (Math.max(lastAnswerAt, startedAt) - startedAt) / 1000;
  const ms = (h: typeof fromIssue, p: number) => (h.count ? h.percentile(p) / 1000 : Number.NaN);
  return {
    requestsPerSecond: durationSeconds > 0 ? completed / durationSeconds : 0,
    p50Ms: ms(fromIssue, 50),
    p99Ms: ms(fromIssue, 99),
    meanMs: fromIssue.count ? fromIssue.mean / 1000 : Number.NaN,
    requests: completed,
    sent,
    failures,
    tolerated: {},
    statusCodes,
    durationSeconds,
    serviceP50Ms: ms(service, 50),
    serviceP99Ms: ms(service, 99),
    queued,
  };
}
