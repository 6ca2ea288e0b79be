// autocannon ships no types; this declares the part of its API that bench/lib/load.ts uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    /** Seconds a request may take before it counts as a timeout. */
    timeout?: number;
    pipelining?: number;
    /**
     * Requests per second over all connections: each connection may send
     * `overallRate / connections` per second of its own timer, back to back, then waits.
     */
    overallRate?: number;
    /** Not together with `requests`. */
    expectBody?: string;
    /** Sent in turn by each connection; fields left out come from the options above. */
    requests?: RequestOptions[];
  }

  interface RequestOptions {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Called with each answer to this request (its whole body as text). */
    onResponse?: (status: number, body: string) => void;
    /**
     * Called before each sending of this request with a copy of it (body as given); returns the
     * request to send. Its presence makes autocannon build the request anew every time.
     */
    setupRequest?: (request: { body?: string }) => { body?: string };
  }

  /**
   * The fields that are the same whether autocannon aggregated its result (main thread) or not
   * (on a worker thread it returns the raw counters and encoded histograms).
   */
  interface Result {
    /** Seconds. */
    duration: number;
    errors: number;
    timeouts: number;
    mismatches: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
    /** Requests sent, in the raw result (worker thread). */
    totalRequests?: number;
    /** In the aggregated result (main thread), `sent` is the requests sent; raw, a histogram. */
    requests?: { sent?: number } | string;
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
    on(
      event: 'response',
      listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void,
    ): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  function autocannon(options: Options): Instance;
  export default autocannon;
}
