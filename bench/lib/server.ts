/**
 * Runs a scenario's server, in a child process (the default) or in this process.
 *
 * In a child, the server has an event loop, a V8 heap and a garbage collector of its own, and
 * autocannon keeps the bench process's loop: neither one's pauses show up as the other's
 * latency. In this process (`--server in-process`) the load generator moves to a worker thread
 * instead (see load.ts); README.md compares the two.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Scenario, Served } from './scenario.ts';
import type { ChildMessage, ParentMessage, ServerSample } from './server-protocol.ts';

export type ServerMode = 'child' | 'in-process';

export interface RunningServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Counters of the server's process since it started; compare two with `serverLoad()`. */
  sample(): Promise<ServerSample>;
  stop(): Promise<void>;
}

/** Bounds every wait on the child, so a hung server never hangs the bench. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const SAMPLE_TIMEOUT_MS = 5_000;

/** What starting a server needs of a scenario, request or custom. */
type Servable<Params> = Pick<Scenario<Params>, 'module' | 'serve'>;

export async function startServer<Params>(
  scenario: Servable<Params>,
  params: Params,
  mode: ServerMode,
): Promise<RunningServer> {
  return mode === 'child' ? startChild(scenario, params) : startInProcess(scenario, params);
}

async function startInProcess<Params>(scenario: Servable<Params>, params: Params): Promise<RunningServer> {
  const served: Served = await scenario.serve(params);
  return {
    origin: `http://127.0.0.1:${served.port}`,
    // process.cpuUsage() would count the load generator's worker thread too: left out.
    sample: async () => ({ ...loopSample(), cpuMicros: null }),
    stop: () => served.stop(),
  };
}

async function startChild<Params>(scenario: Servable<Params>, params: Params): Promise<RunningServer> {
  const child = fork(new URL('./server-child.ts', import.meta.url), [scenario.module], {
    // A deployment runs with NODE_ENV=production (graphql-js drops its development checks).
    env: { ...process.env, NODE_ENV: 'production' },
    // With the product's own Node flags, if its start script has any: as deployed.
    execArgv: [...process.execArgv, ...serverNodeFlags()],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    send(child, { type: 'serve', params });
    const listening = await nextMessage(child, 'listening', START_TIMEOUT_MS);
    return {
      origin: `http://127.0.0.1:${listening.port}`,
      async sample() {
        send(child, { type: 'sample' });
        return (await nextMessage(child, 'sample', SAMPLE_TIMEOUT_MS)).sample;
      },
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        send(child, { type: 'stop' });
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}

/**
 * The Node flags the product's processes run with (package.json's `start` script: `node <flags>
 * src/main.ts all`), then `BENCH_SERVER_NODE_FLAGS`: a server the bench starts runs as deployed.
 */
export function serverNodeFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const start = /^node (?<flags>.*?) ?src\/main\.ts all$/.exec(scripts.start);
  if (!start?.groups) {
    throw new Error(`package.json's start script is not "node <flags> src/main.ts all": ${scripts.start}`);
  }
  return [start.groups.flags, process.env.BENCH_SERVER_NODE_FLAGS ?? ''].join(' ').split(' ').filter(Boolean);
}

/** The calling thread's event-loop delays, sampled every LOOP_DELAY_RESOLUTION_MS, from its first sample on. */
let loopDelay: ReturnType<typeof monitorEventLoopDelay> | undefined;
const LOOP_DELAY_RESOLUTION_MS = 2;

/**
 * Event-loop counters of the calling thread (milliseconds since the thread started), and the
 * longest the loop was held up since the previous sample (a garbage collection's pause, a long
 * task): the window's when samples are taken at its start and end only.
 */
export function loopSample(): Omit<ServerSample, 'cpuMicros'> {
  const { active, idle } = performance.eventLoopUtilization();
  let loopDelayMaxMs: number | null = null;
  if (loopDelay) {
    // The histogram's delay counts the timer's own period: less it, the time the loop was held.
    loopDelayMaxMs = loopDelay.count > 0 ? Math.max(0, loopDelay.max / 1e6 - LOOP_DELAY_RESOLUTION_MS) : 0;
    loopDelay.reset();
  } else {
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    loopDelay.enable();
  }
  return { loopActiveMs: active, loopIdleMs: idle, loopDelayMaxMs };
}

export interface ServerLoad {
  /** Share of wall time the server's event loop was busy, 0..1. */
  loopUtilization: number;
  /** The longest the server's event loop was held up in the window, ms; null for the first window. */
  loopDelayMaxMs: number | null;
  /** CPU time of the server process per wall time, in cores (1 = one core fully used). */
  cpuCores: number | null;
}

/** The server's load between two samples. */
export function serverLoad(before: ServerSample, after: ServerSample): ServerLoad {
  const active = after.loopActiveMs - before.loopActiveMs;
  const wallMs = active + (after.loopIdleMs - before.loopIdleMs);
  const cpu =
    after.cpuMicros !== null && before.cpuMicros !== null
      ? (after.cpuMicros - before.cpuMicros) / 1000
      : null;
  return {
    loopUtilization: wallMs > 0 ? active / wallMs : 0,
    loopDelayMaxMs: after.loopDelayMaxMs,
    cpuCores: cpu !== null && wallMs > 0 ? cpu / wallMs : null,
  };
}

function send(child: ChildProcess, message: ParentMessage): void {
  child.send(message);
}

/** Waits for the child's next message of `type`; a `failed` message, an exit or the timeout rejects. */
function nextMessage<T extends ChildMessage['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'failed') {
        done();
        reject(new Error(`server process failed: ${message.error}`));
      } else if (message.type === type) {
        done();
        resolve(message as Extract<ChildMessage, { type: T }>);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`server process exited (${signal ?? `code ${code}`}) while we waited for "${type}"`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`server process sent no "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
