/**
 * Job throughput, end to end: no-op jobs added in batches while a worker process drains them,
 * from the first add to the queue being empty, in jobs per second. Beside it, graphile-worker on
 * its own, measured the same way in the same run on the same PostgreSQL.
 *
 * graphile-worker's npm package ships no perfTest (its repository's `perfTest/` adds 200,000 jobs
 * in one PL/pgSQL loop of `add_job`, then times `graphile-worker --once` processes draining them,
 * minus their start-up time). Its method is reproduced here, with the worker already running:
 *
 * 1. a fresh database (every migration of ours applied; graphile-worker's schema installed by the
 *    worker as it starts), and the worker in a child process, started and idle;
 * 2. the clock starts; the bench process adds `--jobs` jobs (default 20,000) in batches of
 *    `--job-batch` (500), one after another, while the worker is already taking them;
 * 3. the clock stops when the adds are done and `graphile_worker._private_jobs` is empty (every
 *    job ran and its completion was written), polled every 10 ms on a connection of its own;
 * 4. the worker's own count of successful jobs must equal the jobs added.
 *
 * Besides jobs per second, the CPU time per job of the worker process and of the PostgreSQL
 * backends serving the measurement's database (read from /proc, so other programs on the machine
 * do not count): steadier than the rates on a shared machine, and they say where the time goes.
 *
 * For each worker concurrency (`--worker-concurrency`, default 10 and 24), `--job-rounds` (3)
 * rounds of the first three measurements below, ours and theirs in alternating order (the
 * machine is shared; a disturbance of a few seconds then falls on one round, not on one side),
 * reported as medians, then the fourth once:
 *
 * - **AGNT worker, batched SQL**: `node src/main.ts worker` as deployed (`buildApp(services,
 *   'worker')`, WORKER_CONCURRENCY set, WORKER_LOCAL_QUEUE_SIZE=500, the other settings at their defaults:
 *   its own pool of concurrency + 3, 1 s poll interval, batched completions of
 *   src/worker/runner.ts, crontab loaded), running the `noop` task through our task wrapper
 *   (payload checked against its zod schema: the empty payload passes without a parse; the
 *   slow-job measurement; job metrics). Jobs are added with one
 *   `graphile_worker.add_jobs(array of 500 job_spec)` statement per batch.
 * - **graphile-worker, same settings**: a bare `run()` in a child process with a task list of one
 *   no-op function, the same concurrency, pool, poll interval, local queue and completion
 *   batching (`batching()` of our runner with those settings); jobs added the same way. **ours /
 *   theirs** is the first row's jobs per second over this one: the cost of our layer.
 * - **graphile-worker, perfTest preset**: the same, with the preset of its perfTest
 *   (`localQueue: { size: 500, refetchDelay: 10 ms }`, completions batched, a pool of
 *   concurrency + 1). **ours / perfTest** is the first row's jobs per second over this one.
 *   (The perfTest runs four such processes at once; on two cores one is measured.)
 * - **AGNT worker, enqueue()**: the first row's worker, with jobs added the way the application
 *   adds them: `enqueue(tx, noopTask, {})` (payload checked, one `add_job` statement each) inside
 *   a Prisma transaction per batch of 500. This includes the producer's cost, on the same two
 *   cores; the add rate alone is shown too. The producer is the limit here (a round trip per
 *   job), so this is measured at the first concurrency only.
 */
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, run, type WorkerEvents } from 'graphile-worker';
import pg from 'pg';
import { workerConfig, workerEnv } from '../../src/config/worker.ts';
import { connectDatabase } from '../../src/platform/db.ts';
import { enqueue, noopTask } from '../../src/platform/jobs.ts';
import { batching } from '../../src/worker/runner.ts';
import { AGNT_METRICS_PATH, type AgntParams, prepareAgnt, serveAgnt } from '../lib/agnt.ts';
import { createMigratedDatabase } from '../lib/database.ts';
import { measureCpu } from '../lib/machine.ts';
import { counterValue, METRICS_HEADERS } from '../lib/metrics.ts';
import { backendCpu, cpuBetween } from '../lib/postgres-cpu.ts';
import { type CustomRun, defineCustomScenario, type Served, type StartedServer } from '../lib/scenario.ts';
import { serverLoad } from '../lib/server.ts';
import { fmt, summarize } from '../lib/stats.ts';

/** The local queue the AGNT worker is measured with: README's setting for many short jobs (perfTest's size). */
const LOCAL_QUEUE_SIZE = 500;
/** Our runner's default poll interval, and graphile-worker's perfTest's. */
const POLL_INTERVAL_MS = 1000;
/** graphile-worker's perfTest preset (its repository's perfTest/graphile.config.js). */
const PERFTEST_PRESET: GraphileConfig.WorkerOptions = {
  localQueue: { size: 500, refetchDelay: { durationMs: 10 } },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};

/** Our runner's batching (src/worker/runner.ts) as the AGNT worker is measured, for the bare worker's `same` row. */
function ourBatching(concurrency: number): GraphileConfig.WorkerOptions {
  return batching(
    workerConfig(
      workerEnv.parse({
        WORKER_CONCURRENCY: String(concurrency),
        WORKER_LOCAL_QUEUE_SIZE: String(LOCAL_QUEUE_SIZE),
      }),
    ),
  );
}
/** How often the bench asks whether the queue is empty. */
const EMPTY_POLL_MS = 10;
/** The slowest drain the bench waits for: 50 jobs a second, and at least a minute. */
const minDrainRate = 50;

type JobsParams =
  | { kind: 'agnt'; agnt: AgntParams }
  | {
      kind: 'graphile';
      databaseUrl: string;
      concurrency: number;
      poolSize: number;
      /** graphile-worker's batching options: our runner's (`same`) or its perfTest preset's. */
      worker: GraphileConfig.WorkerOptions;
    };

type Worker = 'agnt' | 'graphile-same' | 'graphile-perftest';
type Adding = 'sql' | 'enqueue';

interface Measurement {
  concurrency: number;
  worker: Worker;
  adding: Adding;
  round: number;
  jobs: number;
  /** Seconds from the first add to the last add's commit. */
  addSeconds: number;
  /** Seconds from the first add to the queue being empty. */
  totalSeconds: number;
  jobsPerSecond: number;
  /** The worker's own count of successful jobs (must equal `jobs`). */
  succeeded: number;
  /** Jobs the worker counted as failed (any attempt). */
  failed: number;
  workerCpuCores: number | null;
  /** CPU time of the worker process per job, milliseconds. */
  workerCpuMsPerJob: number | null;
  /**
   * CPU time of the PostgreSQL backends serving this measurement's database (the worker's pool,
   * the producer, the poller) per job, milliseconds; null when /proc cannot tell (PostgreSQL on
   * another machine or in a container).
   */
  postgresCpuMsPerJob: number | null;
  workerLoopPercent: number;
  benchCpuCores: number;
  restCpuCores: number;
}

const WORKER_LABEL: Record<Worker, string> = {
  agnt: 'AGNT worker',
  'graphile-same': 'graphile-worker, same settings',
  'graphile-perftest': 'graphile-worker, perfTest preset',
};
const ADDING_LABEL: Record<Adding, string> = {
  sql: 'add_jobs, one statement per batch',
  enqueue: 'enqueue() in one transaction per batch',
};

export default defineCustomScenario<JobsParams>(import.meta.url, {
  name: 'jobs-throughput',
  description:
    'no-op jobs added in batches and drained by one worker process, first add to empty queue, beside bare graphile-worker',
  async serve(params) {
    return params.kind === 'agnt' ? serveAgnt(params.agnt) : serveGraphile(params);
  },
  async measure(run) {
    const { jobs, jobBatch, jobRounds, workerConcurrency } = run.options;
    const measurements: Measurement[] = [];
    const measure = async (step: { worker: Worker; adding: Adding; concurrency: number; round: number }) => {
      run.progress(
        `concurrency ${step.concurrency}, round ${step.round}: ${WORKER_LABEL[step.worker]}, ${jobs} jobs by ${ADDING_LABEL[step.adding]}`,
      );
      const measurement = await measureOne(run, { ...step, jobs, jobBatch });
      run.progress(
        `  ${fmt(measurement.jobsPerSecond, 0)} jobs/s (${fmt(measurement.totalSeconds, 2)} s; adds took ${fmt(measurement.addSeconds, 2)} s)`,
      );
      measurements.push(measurement);
    };
    for (const [index, concurrency] of workerConcurrency.entries()) {
      // Rounds, each worker once per round, ours and theirs in alternating order: the machine
      // is shared, and a disturbance lasting a few seconds then falls on one round, not one side.
      for (let round = 1; round <= jobRounds && !run.signal.aborted; round += 1) {
        const workers: Worker[] =
          round % 2 === 1
            ? ['agnt', 'graphile-same', 'graphile-perftest']
            : ['graphile-same', 'agnt', 'graphile-perftest'];
        for (const worker of workers) {
          if (!run.signal.aborted) await measure({ worker, adding: 'sql', concurrency, round });
        }
      }
      // The producer is the limit there, whatever the concurrency: measured once, at the first.
      if (index === 0 && !run.signal.aborted) {
        await measure({ worker: 'agnt', adding: 'enqueue', concurrency, round: 1 });
      }
    }
    return report(measurements, jobBatch);
  },
});

async function measureOne(
  run: CustomRun<JobsParams>,
  step: {
    worker: Worker;
    adding: Adding;
    concurrency: number;
    round: number;
    jobs: number;
    jobBatch: number;
  },
): Promise<Measurement> {
  // A fresh database for each measurement: no dead rows or bloat left by the one before.
  const database =
    step.worker === 'agnt'
      ? await prepareAgnt().then((agnt) => ({
          url: agnt.params.env.DATABASE_URL!,
          params: {
            kind: 'agnt',
            agnt: {
              role: 'worker',
              env: {
                ...agnt.params.env,
                WORKER_CONCURRENCY: String(step.concurrency),
                WORKER_LOCAL_QUEUE_SIZE: String(LOCAL_QUEUE_SIZE),
              },
            },
          } satisfies JobsParams as JobsParams,
          cleanup: () => agnt.cleanup(),
        }))
      : await createMigratedDatabase().then((bench) => ({
          url: bench.url,
          params: {
            kind: 'graphile',
            databaseUrl: bench.url,
            concurrency: step.concurrency,
            poolSize: step.worker === 'graphile-perftest' ? step.concurrency + 1 : step.concurrency + 3,
            worker: step.worker === 'graphile-perftest' ? PERFTEST_PRESET : ourBatching(step.concurrency),
          } satisfies JobsParams as JobsParams,
          cleanup: () => bench.drop(),
        }));
  let server: StartedServer | undefined;
  const poller = new pg.Client({ connectionString: database.url });
  const producer =
    step.adding === 'sql'
      ? new pg.Client({ connectionString: database.url })
      : connectDatabase(database.url, 1);
  try {
    server = await run.start(database.params);
    await poller.connect();
    if (producer instanceof pg.Client) await producer.connect();
    else await producer.prisma.$queryRaw`SELECT 1`;

    const before = await server.sample();
    const postgresBefore = await backendCpu(poller);
    const cpu = measureCpu();
    const started = performance.now();
    for (let added = 0; added < step.jobs && !run.signal.aborted; added += step.jobBatch) {
      const count = Math.min(step.jobBatch, step.jobs - added);
      if (producer instanceof pg.Client) {
        await producer.query(
          `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
             SELECT ROW('noop', '{}'::json, NULL, NULL, $2::int, NULL, NULL, NULL)::graphile_worker.job_spec
             FROM generate_series(1, $1::int)))`,
          [count, noopTask.maxAttempts],
        );
      } else {
        await producer.prisma.$transaction(
          async (tx) => {
            for (let i = 0; i < count; i += 1) await enqueue(tx, noopTask, {});
          },
          { timeout: 120_000, maxWait: 10_000 },
        );
      }
    }
    const addsDone = performance.now();
    const deadline = addsDone + Math.max(60_000, (step.jobs / minDrainRate) * 1000);
    for (;;) {
      const { rows } = await poller.query<{ pending: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS pending',
      );
      if (!rows[0]?.pending || run.signal.aborted) break;
      if (performance.now() > deadline)
        throw new Error(`the queue was not empty ${deadline - started} ms after the first add`);
      await sleep(EMPTY_POLL_MS);
    }
    const finished = performance.now();
    const window = cpu.stop();
    const after = await server.sample();
    const postgresAfter = await backendCpu(poller);
    const load = serverLoad(before, after);
    const workerCpuMs =
      after.cpuMicros !== null && before.cpuMicros !== null
        ? (after.cpuMicros - before.cpuMicros) / 1000
        : null;
    const postgresCpuMs = cpuBetween(postgresBefore, postgresAfter);
    const counts = await workerCounts(server, step.worker);
    const totalSeconds = (finished - started) / 1000;
    return {
      concurrency: step.concurrency,
      worker: step.worker,
      adding: step.adding,
      round: step.round,
      jobs: step.jobs,
      addSeconds: (addsDone - started) / 1000,
      totalSeconds,
      jobsPerSecond: step.jobs / totalSeconds,
      succeeded: counts.succeeded,
      failed: counts.failed,
      workerCpuCores: load.cpuCores,
      workerCpuMsPerJob: workerCpuMs === null ? null : workerCpuMs / step.jobs,
      postgresCpuMsPerJob: postgresCpuMs === null ? null : postgresCpuMs / step.jobs,
      workerLoopPercent: load.loopUtilization * 100,
      benchCpuCores: window.benchCores,
      restCpuCores: Math.max(0, window.machineCores - window.benchCores - (load.cpuCores ?? 0)),
    };
  } finally {
    await poller.end().catch(() => {});
    if (producer instanceof pg.Client) await producer.end().catch(() => {});
    else await producer.close().catch(() => {});
    await server?.stop();
    await database.cleanup();
  }
}

/** The worker's own counts: `jobs_total` on our `/metrics`, or the bare worker's counter. */
async function workerCounts(
  server: StartedServer,
  worker: Worker,
): Promise<{ succeeded: number; failed: number }> {
  if (worker === 'agnt') {
    const response = await fetch(new URL(AGNT_METRICS_PATH, server.origin), {
      headers: METRICS_HEADERS,
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    const count = (outcome: string) => {
      try {
        return counterValue(text, 'jobs_total', { task: 'noop', outcome });
      } catch {
        return 0;
      }
    };
    return { succeeded: count('success'), failed: count('error') + count('permanent_failure') };
  }
  const response = await fetch(new URL('/counts', server.origin), { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as { succeeded: number; failed: number };
}

/**
 * graphile-worker alone, in the server child: `run()` with one no-op task and nothing of ours,
 * and a tiny HTTP server on 127.0.0.1 that answers its counts of finished jobs.
 */
async function serveGraphile(params: Extract<JobsParams, { kind: 'graphile' }>): Promise<Served> {
  const pool = new pg.Pool({ connectionString: params.databaseUrl, max: params.poolSize });
  // As src/platform/db.ts does for ours: an idle client's error must not crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const counts = { succeeded: 0, failed: 0 };
  const events = new EventEmitter() as WorkerEvents;
  events.on('job:success', () => {
    counts.succeeded += 1;
  });
  events.on('job:error', () => {
    counts.failed += 1;
  });
  const runner = await run({
    pgPool: pool,
    concurrency: params.concurrency,
    taskList: { noop: async () => {} },
    noHandleSignals: true,
    pollInterval: POLL_INTERVAL_MS,
    logger: new Logger(() => () => {}),
    events,
    preset: { worker: params.worker },
  });
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(counts));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: (http.address() as AddressInfo).port,
    async stop() {
      await runner.stop();
      await pool.end();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}

function report(measurements: Measurement[], jobBatch: number) {
  const groups = new Map<string, Measurement[]>();
  for (const m of measurements) {
    const key = `${m.concurrency}|${m.worker}|${m.adding}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  // ours / theirs per round, from the two measurements of that round (made back to back).
  const ratios = (concurrency: number, baseline: Worker) =>
    measurements
      .filter((m) => m.concurrency === concurrency && m.worker === 'agnt' && m.adding === 'sql')
      .flatMap((ours) => {
        const theirs = measurements.find(
          (m) =>
            m.concurrency === concurrency &&
            m.worker === baseline &&
            m.adding === 'sql' &&
            m.round === ours.round,
        );
        return theirs ? [ours.jobsPerSecond / theirs.jobsPerSecond] : [];
      });
  const rows = [...groups.values()].map((group) => {
    const first = group[0]!;
    const rates = group.map((m) => m.jobsPerSecond);
    const ours = first.worker === 'agnt' && first.adding === 'sql';
    const ratio = ours ? ratios(first.concurrency, 'graphile-same') : [];
    const perfTestRatio = ours ? ratios(first.concurrency, 'graphile-perftest') : [];
    const range = (values: number[]) =>
      values.length
        ? `${fmt(median(values), 2)}× (${fmt(Math.min(...values), 2)}–${fmt(Math.max(...values), 2)})`
        : '';
    const median = (values: (number | null)[]) => {
      const known = values.filter((v): v is number => v !== null);
      return known.length ? summarize(known).p50 : Number.NaN;
    };
    return [
      String(first.concurrency),
      WORKER_LABEL[first.worker],
      ADDING_LABEL[first.adding],
      String(group.length),
      fmt(median(group.map((m) => m.jobs / m.addSeconds)), 0),
      fmt(median(rates), 0),
      `${fmt(Math.min(...rates), 0)}–${fmt(Math.max(...rates), 0)}`,
      range(ratio),
      range(perfTestRatio),
      `${group.reduce((sum, m) => sum + m.succeeded, 0)}/${group.reduce((sum, m) => sum + m.jobs, 0)}`,
      fmt(median(group.map((m) => m.workerCpuMsPerJob)), 3),
      fmt(median(group.map((m) => m.postgresCpuMsPerJob)), 3),
      fmt(median(group.map((m) => m.workerLoopPercent)), 0),
      fmt(median(group.map((m) => m.restCpuCores)), 2),
    ];
  });
  const failures = measurements.reduce((sum, m) => sum + m.failed + Math.max(0, m.jobs - m.succeeded), 0);
  return {
    header: [
      'concurrency',
      'worker',
      'jobs added by',
      'rounds',
      'adds/s',
      'jobs/s',
      'jobs/s range',
      'ours / theirs',
      'ours / perfTest',
      'succeeded',
      'worker CPU ms/job',
      'PostgreSQL CPU ms/job',
      'worker loop %',
      'rest CPU',
    ],
    rows,
    notes: [
      `Batches of ${jobBatch}. Medians over the rounds. adds/s: jobs added per second while adding (the producer ` +
        'alone; the worker is already draining). jobs/s: jobs over the time from the first add to the queue being ' +
        'empty. ours / theirs: AGNT worker over graphile-worker with the same settings (our runner’s local queue and ' +
        'batching at their defaults), both fed by add_jobs, per round (median and range); ours / perfTest: over ' +
        'graphile-worker with its perfTest preset in the same round. succeeded: the workers’ own counts of successful jobs, all rounds. CPU per job: ' +
        'the worker process, and the PostgreSQL backends of the measurement’s database (from /proc). rest CPU: ' +
        'cores used by everything but the worker and the bench, PostgreSQL included.',
    ],
    failures,
    data: measurements,
  };
}
