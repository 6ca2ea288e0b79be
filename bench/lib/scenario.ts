/**
 * What a benchmark scenario is. A scenario is one file under `bench/scenarios/` whose default
 * export is `defineScenario(import.meta.url, {...})`; `bench/run.ts` lists it once.
 *
 * A scenario has two halves because the server under test runs in a process of its own:
 * `prepare()` runs in the bench process (it owns databases and tokens, so it can always clean
 * them up, even when the server crashes), and `serve()` runs wherever the server runs, which is
 * a child process by default. The two halves meet only through `params`, which therefore must
 * survive structured cloning (plain data: no functions, no class instances).
 */

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
}

/** The bodies a request sends in turn: `bodies`, or its one `body`. */
export function requestBodies(request: LoadRequest): (string | undefined)[] {
  return request.bodies?.length ? request.bodies : [request.body];
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
  /** Drops what `prepare()` created. Runs after the server stopped, also after a failure. */
  cleanup(): Promise<void>;
}

/** A server listening on 127.0.0.1. */
export interface Served {
  port: number;
  stop(): Promise<void>;
}

export interface Scenario<Params = unknown> {
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
