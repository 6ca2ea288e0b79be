/**
 * What a benchmark scenario is. A scenario is one file under `bench/scenarios/` whose default
 * export is `defineScenario(import.meta.url, {...})` (requests per second under autocannon) or
 * `defineCustomScenario(import.meta.url, {...})` (anything else: jobs, subscribers); `bench/run.ts`
 * lists it once.
 *
 * A scenario has two halves because the server under test runs in a process of its own:
 * `prepare()` runs in the bench process (it owns databases and tokens, so it can always clean
 * them up, even when the server crashes), and `serve()` runs wherever the server runs, which is
 * a child process by default. The two halves meet only through `params`, which therefore must
 * survive structured cloning (plain data: no functions, no class instances).
 */
import type { ServerSample } from './server-protocol.ts';

/** One HTTP request, sent over and over by every connection. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  /** Path on the server, e.g. `/graphql`. The host is always 127.0.0.1. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * Several bodies instead of `body`, for a scenario whose requests vary (other words, another
   * point): every connection sends them in turn, over and over, with the same method, path and
   * headers. Each one is checked once before the load (see `Prepared.check`).
   */
  bodies?: string[];
  /**
   * Parts of the body that change with every request: each `token` in the body is replaced, in
   * every request sent (the check requests too), by the next of `values` (in turn, over the
   * run), or by the next whole number of `integers` (`first`, `first + 1`, …, and with `count`,
   * back to `first` after `count` of them), or, without either, by a string no other request of
   * the run has sent (an idempotency key). Requests are then built one by one, which costs the
   * load generator a little. Each load run (warm-up, measurement) and each check builds its own
   * sequence, so `integers` start again at `first` in each: a scenario whose numbers must never
   * repeat gives each run a request with a `first` of its own.
   */
  vary?: { token: string; values?: string[]; integers?: { first: number; count?: number } }[];
  /**
   * Headers computed from each request's body as sent (`vary` filled in): a signature over it.
   * For the in-process loads only (lib/load.ts `runLoad`, lib/paced.ts): a function does not
   * cross to a worker thread.
   */
  headersFor?(body: string): Record<string, string>;
  /**
   * Headers whose value changes from one request to the next: each request takes the next value
   * of each list, in turn (several guests' tokens, say). Data, so it also reaches a load worker.
   */
  rotatingHeaders?: Record<string, string[]>;
  /**
   * What a successful answer contains, for a scenario whose answers differ every time (so
   * `sameBodyEveryTime` cannot check them): a 2xx answer whose body lacks `ok` counts as a
   * failure, unless it contains one of `tolerated`'s texts, which is counted under that label
   * instead (a legitimate refusal, such as a full slot, reported beside the figures).
   */
  answers?: { ok: string; tolerated?: Record<string, string> };
}

/** The bodies a request sends in turn: `bodies`, or its one `body`. */
export function requestBodies(request: LoadRequest): (string | undefined)[] {
  return request.bodies?.length ? request.bodies : [request.body];
}

/**
 * Fills a body's `vary` tokens for one request. Call `bodyFiller(request)` once per thread and
 * the function it returns once per request: values and integers go in turn, unique strings never
 * repeat (a random prefix per filler, then a counter).
 */
export function bodyFiller(request: LoadRequest): (body: string | undefined) => string | undefined {
  const vary = request.vary ?? [];
  if (!vary.length) return (body) => body;
  const prefix = `${Math.random().toString(36).slice(2, 10)}`;
  let sequence = 0;
  return (body) => {
    if (body === undefined) return body;
    sequence += 1;
    let filled = body;
    for (const { token, values, integers } of vary) {
      const value = values?.length
        ? values[(sequence - 1) % values.length]!
        : integers
          ? String(integers.first + (integers.count ? (sequence - 1) % integers.count : sequence - 1))
          : `${prefix}-${sequence}`;
      filled = filled.replaceAll(token, value);
    }
    return filled;
  };
}

/**
 * The rotating headers of one request after another (`LoadRequest.rotatingHeaders`). Call once
 * per thread and the function it returns once per request.
 */
export function headerRotator(request: LoadRequest): () => Record<string, string> {
  const lists = Object.entries(request.rotatingHeaders ?? {}).filter(([, values]) => values.length);
  let sequence = 0;
  return () => {
    const headers: Record<string, string> = {};
    for (const [name, values] of lists) headers[name] = values[sequence % values.length]!;
    sequence += 1;
    return headers;
  };
}

/** How an answer counts under `LoadRequest.answers`: 'ok', a tolerated label, or 'failure'. */
export function classifyAnswer(request: LoadRequest, status: number, body: string): string {
  if (status < 200 || status >= 300) return 'failure';
  const answers = request.answers;
  if (!answers || body.includes(answers.ok)) return 'ok';
  for (const [label, text] of Object.entries(answers.tolerated ?? {})) {
    if (body.includes(text)) return label;
  }
  return 'failure';
}

export interface Prepared<Params> {
  /** Handed to `serve()` in the server process. */
  params: Params;
  request: LoadRequest;
  /**
   * Checks the first answer before any load is sent, so a scenario never benchmarks a 401 or a
   * GraphQL error. Returns what is wrong, or undefined when the answer is the expected one. With
   * `request.bodies`, it checks the answer to each body (`index` says which).
   */
  check(answer: { status: number; body: unknown; index: number }): string | undefined;
  /**
   * True when every answer is byte-for-byte the same; each later answer is then compared with
   * the first one and a difference counts as an error. Leave it unset for answers that change
   * (timestamps, generated ids). With `request.bodies`, each body's answers are compared with
   * that body's first answer.
   */
  sameBodyEveryTime?: boolean;
  /**
   * Path of the server's Prometheus metrics, when it counts the SQL statements it sends in
   * `db_queries_total` (the AGNT server does, at `/metrics`). The bench then reads the counter
   * around each check request and just before and just after the measurement, and reports the
   * SQL statements of one request alone and per request under load (see lib/metrics.ts).
   */
  metricsPath?: string;
  /**
   * Runs after the measurement, while the server still runs: a cross-check of what the load did
   * (for example, that every request made its own row). Gets the requests of the whole run
   * (checks, warm-up, measurement): those answered, and those sent, which also counts the one
   * per connection in flight when a load run stopped (the server may or may not have run those).
   * Returns a line for the report, and whether it found a problem (which fails the run).
   */
  verify?(run: {
    requestsAnswered: number;
    requestsSent: number;
  }): Promise<{ note: string; problem: boolean }>;
  /** Drops what `prepare()` created. Runs after the server stopped, also after a failure. */
  cleanup(): Promise<void>;
}

/** A server listening on 127.0.0.1. */
export interface Served {
  port: number;
  stop(): Promise<void>;
}

export interface Scenario<Params = unknown> {
  kind?: 'http';
  /** Short id for `--only` and the results table (kebab-case). */
  name: string;
  /** One line: what this scenario measures. */
  description: string;
  /** The scenario this one is compared with (`b / a` in the results), when both run. */
  baseline?: string;
  /** File URL of the scenario module, so the server process can import it. */
  module: string;
  prepare(): Promise<Prepared<Params>>;
  // Method syntax on purpose: it keeps Scenario<Specific> assignable to Scenario<unknown>.
  serve(params: Params): Promise<Served>;
}

export function defineScenario<Params>(
  module: string,
  scenario: Omit<Scenario<Params>, 'module'>,
): Scenario<Params> {
  return { ...scenario, module };
}

/**
 * A scenario that is not requests per second: it starts the servers it needs (any number, each
 * in a child process, through `run.start`), makes its own load and returns its own table. The
 * bench still owns the child processes (it stops them, also after a failure or Ctrl-C), and
 * `serve(params)` runs in each of them as for an HTTP scenario.
 */
export interface CustomScenario<Params = unknown> {
  kind: 'custom';
  name: string;
  description: string;
  module: string;
  serve(params: Params): Promise<Served>;
  measure(run: CustomRun<Params>): Promise<CustomResult>;
}

/** What `measure()` gets from the bench. */
export interface CustomRun<Params> {
  /** The command line's scenario options (see lib/args.ts). */
  options: {
    jobs: number;
    jobBatch: number;
    jobRounds: number;
    workerConcurrency: number[];
    subscribers: number;
    events: number;
    eventIntervalMs: number;
    /** `--duration` and `--warmup`, for a custom scenario that measures for a time. */
    durationSeconds: number;
    warmupSeconds: number;
    webhookConnections: number;
    webhookRate: number;
    webhookChats: number;
    webhookRoles: ('api' | 'all')[];
    webhookProvider: 'telegram' | 'stripe';
    crashRate: number;
    crashKills: number;
    crashEverySeconds: number;
    crashChats: number;
    a2aConcurrency: number;
    a2aVenues: number;
  };
  /** Aborted by Ctrl-C: end early, clean up, return what was measured. */
  signal: AbortSignal;
  /**
   * Starts `serve(params)` in a child process, with `NODE_ENV=production`, as an HTTP scenario's
   * server starts. Stop it yourself when done; the bench stops any left running.
   */
  start(params: Params): Promise<StartedServer>;
  progress(message: string): void;
}

/** A server child that `CustomRun.start` started. */
export interface StartedServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /**
   * The child's event-loop and CPU counters since it started, and its longest event-loop delay
   * since the previous sample (compare two with `serverLoad`).
   */
  sample(): Promise<ServerSample>;
  stop(): Promise<void>;
}

export interface CustomResult {
  /** Printed as a Markdown table after the request scenarios' table. */
  header: string[];
  rows: string[][];
  /** Lines printed under the table: what the columns mean, cross-checks. */
  notes: string[];
  /** Anything that went wrong (lost events, failed jobs, refused requests); 0 for a clean run. */
  failures: number;
  /** Everything measured, for `--json`. */
  data: unknown;
}

export function defineCustomScenario<Params>(
  module: string,
  scenario: Omit<CustomScenario<Params>, 'module' | 'kind'>,
): CustomScenario<Params> {
  return { ...scenario, kind: 'custom', module };
}

export type AnyScenario = Scenario | CustomScenario;
