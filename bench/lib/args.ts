/** The command line of `npm run bench -- [options]`. */
import { parseArgs } from 'node:util';
import type { ServerMode } from './server.ts';

export interface BenchOptions {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Scenario names to run; undefined runs them all. */
  only: string[] | undefined;
  server: ServerMode;
  /** jobs-throughput: jobs added per measurement, in batches of `jobBatch`, per worker concurrency. */
  jobs: number;
  jobBatch: number;
  /** Each worker is measured this many times per concurrency, in alternating order. */
  jobRounds: number;
  workerConcurrency: number[];
  /** subscription-fanout: graphql-ws subscribers, events measured, milliseconds between events. */
  subscribers: number;
  events: number;
  eventIntervalMs: number;
  /** webhook-ingest: connections of every load, the fixed rate, chats, server roles, provider. */
  webhookConnections: number;
  webhookRate: number;
  webhookChats: number;
  webhookRoles: WebhookRole[];
  webhookProvider: WebhookProvider;
  /** crash-recovery: updates per second, SIGKILLs (one every `crashEverySeconds`), chats. */
  crashRate: number;
  crashKills: number;
  crashEverySeconds: number;
  crashChats: number;
  /** a2a-booking: bookings in flight at once, and the venues of the spread variant. */
  a2aConcurrency: number;
  a2aVenues: number;
  json: boolean;
  help: boolean;
}

/** The roles `webhook-ingest` can run the server in. */
export type WebhookRole = 'api' | 'all';

/** Whose webhook `webhook-ingest` posts to. */
export type WebhookProvider = 'telegram' | 'stripe';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `Usage: npm run bench -- [options]

  --duration <s>      seconds measured per scenario (default 10, at most 600)
  --warmup <s>        seconds of load before measuring, not counted (default 3, 0 to skip)
  --connections <n>   concurrent keep-alive connections (default 10)
  --only <names>      run only these scenarios (comma-separated, or repeat the option)
  --server <mode>     child (default): each server in a child process, load from this one;
                      in-process: the server on this process's main thread, load from a worker
  --json              print the results as JSON instead of tables
  --help              show this help and the scenarios

  jobs-throughput:
  --jobs <n>                 no-op jobs added per measurement (default 20000)
  --job-batch <n>            jobs per transaction or statement (default 500)
  --job-rounds <n>           measurements of each worker per concurrency (default 3)
  --worker-concurrency <n,…> worker concurrencies to measure (default 10,24)
  subscription-fanout:
  --subscribers <n>          graphql-ws subscribers, split over two API processes (default 1000)
  --events <n>               booking changes measured (default 50)
  --event-interval <ms>      time between two changes (default 250)
  webhook-ingest (measured for --duration after --warmup, like the request scenarios):
  --webhook-connections <n>  connections of every load: closed loop, and the most in flight
                             at the fixed rate (default 50)
  --webhook-rate <n>         requests per second of the fixed-rate runs (default 1000)
  --webhook-chats <n>        chats the updates are spread over (default 10000)
  --webhook-roles <r,…>      server roles to measure, each on a fresh server: api, all
                             (default api,all)
  --webhook-provider <p>     telegram (default): Telegram updates to /webhooks/telegram/<bot>;
                             stripe: signed Stripe events to /webhooks/stripe
  crash-recovery (a soak: the all role killed with SIGKILL and restarted under load):
  --crash-rate <n>           signed updates per second (default 150)
  --crash-kills <n>          SIGKILLs, one every --crash-every seconds (default 5)
  --crash-every <s>          seconds between two kills (default 7)
  --crash-chats <n>          chats the updates are spread over (default 500)
  a2a-booking (request → CONFIRMED through the venue's agent, for --duration after --warmup):
  --a2a-concurrency <n>      bookings in flight at once, each guest waiting for its answer
                             before the next (default 10)
  --a2a-venues <n>           venues of the spread variant (default 50)

Environment: BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432),
BENCH_REDIS_URL (default redis://127.0.0.1:6379).`;

export function parseBenchArgs(argv: string[], scenarioNames: string[]): BenchOptions {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(argv));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const only = values.only
    ?.flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  const unknown = only?.filter((name) => !scenarioNames.includes(name)) ?? [];
  if (unknown.length) {
    throw new UsageError(`unknown scenario ${unknown.join(', ')} (scenarios: ${scenarioNames.join(', ')})`);
  }
  const webhookRoles = (values['webhook-roles'] ?? 'api,all').split(',').map((role) => role.trim());
  const badRole = webhookRoles.find((role) => role !== 'api' && role !== 'all');
  if (badRole !== undefined || !webhookRoles.length) {
    throw new UsageError(`--webhook-roles takes api and/or all, not "${values['webhook-roles']}"`);
  }
  const webhookProvider = values['webhook-provider'] ?? 'telegram';
  if (webhookProvider !== 'telegram' && webhookProvider !== 'stripe') {
    throw new UsageError(`--webhook-provider takes telegram or stripe, not "${webhookProvider}"`);
  }
  const server = values.server ?? 'child';
  if (server !== 'child' && server !== 'in-process') {
    throw new UsageError(`--server must be child or in-process, not "${server}"`);
  }
  return {
    durationSeconds: integer('--duration', values.duration, 10, 1, 600),
    warmupSeconds: integer('--warmup', values.warmup, 3, 0, 60),
    connections: integer('--connections', values.connections, 10, 1, 1000),
    only: only?.length ? only : undefined,
    server,
    jobs: integer('--jobs', values.jobs, 20_000, 1, 1_000_000),
    jobBatch: integer('--job-batch', values['job-batch'], 500, 1, 10_000),
    jobRounds: integer('--job-rounds', values['job-rounds'], 3, 1, 20),
    workerConcurrency: integerList('--worker-concurrency', values['worker-concurrency'], [10, 24], 1, 200),
    subscribers: integer('--subscribers', values.subscribers, 1000, 2, 20_000),
    events: integer('--events', values.events, 50, 1, 10_000),
    eventIntervalMs: integer('--event-interval', values['event-interval'], 250, 0, 60_000),
    webhookConnections: integer('--webhook-connections', values['webhook-connections'], 50, 1, 1000),
    webhookRate: integer('--webhook-rate', values['webhook-rate'], 1000, 1, 100_000),
    webhookChats: integer('--webhook-chats', values['webhook-chats'], 10_000, 1, 10_000_000),
    webhookRoles: [...new Set(webhookRoles as WebhookRole[])],
    webhookProvider,
    crashRate: integer('--crash-rate', values['crash-rate'], 150, 1, 2_000),
    crashKills: integer('--crash-kills', values['crash-kills'], 5, 1, 50),
    crashEverySeconds: integer('--crash-every', values['crash-every'], 7, 3, 300),
    crashChats: integer('--crash-chats', values['crash-chats'], 500, 1, 1_000_000),
    a2aConcurrency: integer('--a2a-concurrency', values['a2a-concurrency'], 10, 1, 500),
    a2aVenues: integer('--a2a-venues', values['a2a-venues'], 50, 2, 1000),
    json: values.json ?? false,
    help: values.help ?? false,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string', multiple: true },
      server: { type: 'string' },
      jobs: { type: 'string' },
      'job-batch': { type: 'string' },
      'job-rounds': { type: 'string' },
      'worker-concurrency': { type: 'string' },
      subscribers: { type: 'string' },
      events: { type: 'string' },
      'event-interval': { type: 'string' },
      'webhook-connections': { type: 'string' },
      'webhook-rate': { type: 'string' },
      'webhook-chats': { type: 'string' },
      'webhook-roles': { type: 'string' },
      'webhook-provider': { type: 'string' },
      'crash-rate': { type: 'string' },
      'crash-kills': { type: 'string' },
      'crash-every': { type: 'string' },
      'crash-chats': { type: 'string' },
      'a2a-concurrency': { type: 'string' },
      'a2a-venues': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function integer(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, not "${raw}"`);
  }
  return value;
}

function integerList(
  flag: string,
  raw: string | undefined,
  fallback: number[],
  min: number,
  max: number,
): number[] {
  if (raw === undefined) return fallback;
  const values = raw.split(',').map((part) => integer(flag, part.trim(), Number.NaN, min, max));
  if (!values.length) throw new UsageError(`${flag} needs at least one value`);
  return values;
}
