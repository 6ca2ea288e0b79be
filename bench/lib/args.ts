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
  json: boolean;
  help: boolean;
}

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
