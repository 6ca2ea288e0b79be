/**
 * `npm run bench`: starts each scenario's server, checks one answer, warms it up, measures it
 * with autocannon, stops it and cleans up, then prints one table for the run and the ratio of
 * each scenario to its baseline. Custom scenarios (jobs, subscribers) measure in their own way
 * and print a table each after that. Options: `npm run bench -- --help`.
 *
 * A new scenario is a file in bench/scenarios/ (see lib/scenario.ts) plus one line in SCENARIOS.
 */
import './lib/production-env.ts';
import { type BenchOptions, parseBenchArgs, USAGE, UsageError } from './lib/args.ts';
import { type LoadOptions, type LoadResult, runLoad, runLoadInWorker } from './lib/load.ts';
import { describeMachine, measureCpu } from './lib/machine.ts';
import { type StatementReading, settledStatements } from './lib/metrics.ts';
import {
  type CustomScenarioResult,
  formatCustomResult,
  formatResults,
  ratios,
  type ScenarioResult,
} from './lib/report.ts';
import {
  type AnyScenario,
  bodyFiller,
  type CustomScenario,
  type LoadRequest,
  requestBodies,
  type Scenario,
} from './lib/scenario.ts';
import { type RunningServer, serverLoad, startServer } from './lib/server.ts';
import a2aBooking from './scenarios/a2a-booking.ts';
import agentTurn from './scenarios/agent-turn.ts';
import bookingCreate from './scenarios/booking-create.ts';
import crashRecovery from './scenarios/crash-recovery.ts';
import jobsThroughput from './scenarios/jobs-throughput.ts';
import ledgerTransfer from './scenarios/ledger-transfer.ts';
import mcpSearch from './scenarios/mcp-search.ts';
import subscriptionFanout from './scenarios/subscription-fanout.ts';
import venueAvailability from './scenarios/venue-availability.ts';
import venueSearch from './scenarios/venue-search.ts';
import viewer from './scenarios/viewer.ts';
import webhookIngest from './scenarios/webhook-ingest.ts';
import yogaBare from './scenarios/yoga-bare.ts';

/** In run order: a baseline runs before the scenarios compared with it. */
const SCENARIOS: AnyScenario[] = [
  yogaBare,
  viewer,
  venueSearch,
  mcpSearch,
  venueAvailability,
  bookingCreate,
  jobsThroughput,
  ledgerTransfer,
  subscriptionFanout,
  webhookIngest,
  agentTurn,
  a2aBooking,
  crashRecovery,
];

/** The first answer must come within this; a server that cannot answer once is not measured. */
const PROBE_TIMEOUT_MS = 10_000;

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(
      process.argv.slice(2),
      SCENARIOS.map((s) => s.name),
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(
      `${USAGE}\n\nScenarios:\n${SCENARIOS.map((s) => `  ${s.name.padEnd(20)}${s.description}`).join('\n')}`,
    );
    return 0;
  }

  // The first Ctrl-C ends the current measurement early and still cleans up (stops the server,
  // drops the database); a second one gives up on cleaning.
  const interrupted = new AbortController();
  process.on('SIGINT', () => {
    if (interrupted.signal.aborted) process.exit(130);
    console.error('\ninterrupted: stopping and cleaning up (Ctrl-C again to quit at once)');
    interrupted.abort();
  });

  const selected = SCENARIOS.filter((s) => !options.only || options.only.includes(s.name));
  const results: ScenarioResult[] = [];
  const customResults: CustomScenarioResult[] = [];
  let failed = false;
  progress(
    `${describeMachine()}; ${options.connections} connections, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s per scenario, server ${options.server === 'child' ? 'in a child process' : 'in this process, load from a worker'}`,
  );
  for (const scenario of selected) {
    if (interrupted.signal.aborted) break;
    if (scenario.kind === 'custom') {
      try {
        const result = await runCustomScenario(scenario, options, interrupted.signal);
        customResults.push(result);
        if (result.failures > 0) {
          failed = true;
          console.error(`${scenario.name}: ${result.failures} failures (see the notes under its table)`);
        }
      } catch (error) {
        failed = true;
        console.error(`${scenario.name}: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
      }
      continue;
    }
    try {
      const result = await runScenario(scenario, options, interrupted.signal);
      results.push(result);
      if (result.load.failures > 0) {
        failed = true;
        console.error(
          `${scenario.name}: ${result.load.failures} failed requests (status codes ${JSON.stringify(result.load.statusCodes)})`,
        );
      }
      if (result.verified?.problem) {
        failed = true;
        console.error(`${scenario.name}: ${result.verified.note}`);
      }
    } catch (error) {
      failed = true;
      console.error(`${scenario.name}: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    }
  }

  if (options.json) {
    console.log(
      JSON.stringify(
        { machine: describeMachine(), options, results, ratios: ratios(results), custom: customResults },
        null,
        2,
      ),
    );
  } else {
    if (results.length) console.log(`\n${formatResults(results)}`);
    for (const result of customResults) console.log(`\n${formatCustomResult(result)}`);
  }
  if (interrupted.signal.aborted)
    console.error('\ninterrupted: the last scenario was measured for part of its time');
  return failed || interrupted.signal.aborted ? 1 : 0;
}

async function runScenario(
  scenario: Scenario,
  options: BenchOptions,
  signal: AbortSignal,
): Promise<ScenarioResult> {
  progress(`${scenario.name}: preparing`);
  const prepared = await scenario.prepare();
  try {
    const server = await startServer(scenario, prepared.params, options.server);
    try {
      // The server's SQL statement count, when it keeps one: read around each check request (the
      // statements of one request alone) and around the measured window, never inside it.
      const { metricsPath } = prepared;
      const readStatements = metricsPath ? () => settledStatements(server.origin, metricsPath) : undefined;

      // One answer to each body the load will send, checked before any load.
      const firsts: string[] = [];
      const alone: number[] = [];
      const fill = bodyFiller(prepared.request);
      let reading = await readStatements?.();
      for (const [index, body] of requestBodies(prepared.request).entries()) {
        const first = await probe(server.origin, { ...prepared.request, body: fill(body) });
        const problem = prepared.check({ ...first, index });
        if (problem) {
          throw new Error(`the first answer${index > 0 ? ` to body ${index}` : ''} is wrong: ${problem}`);
        }
        firsts.push(first.text);
        const after = await readStatements?.();
        if (reading && after) alone.push(after.statements - reading.statements);
        reading = after;
      }

      const target = {
        origin: server.origin,
        request: prepared.request,
        expectBodies: prepared.sameBodyEveryTime ? firsts : undefined,
      };
      // The load generator must not share the server's event loop: with the server in a child,
      // it runs here; with the server on this thread, it runs on a worker thread.
      const load = (loadOptions: LoadOptions) =>
        options.server === 'child'
          ? runLoad(target, loadOptions, signal)
          : runLoadInWorker(target, loadOptions, signal);

      let sentBefore = firsts.length;
      let answeredBefore = firsts.length;
      if (options.warmupSeconds > 0) {
        progress(`${scenario.name}: warming up for ${options.warmupSeconds} s`);
        const warmup = await load({
          connections: options.connections,
          durationSeconds: options.warmupSeconds,
        });
        if (warmup.failures > 0) {
          throw new Error(
            `${warmup.failures} requests failed while warming up (status codes ${JSON.stringify(warmup.statusCodes)})`,
          );
        }
        if (signal.aborted) throw new Error('interrupted while warming up');
        sentBefore += warmup.sent;
        answeredBefore += warmup.requests;
      }
      // After the warm-up's last requests are done, so that none of their statements is counted.
      const statementsBefore = await readStatements?.();
      progress(`${scenario.name}: measuring for ${options.durationSeconds} s`);
      const serverBefore = await server.sample();
      const cpu = measureCpu();
      const measured = await load({
        connections: options.connections,
        durationSeconds: options.durationSeconds,
      });
      const cpuWindow = cpu.stop();
      const serverAfter = await server.sample();
      const statementsAfter = await readStatements?.();
      const verified = await prepared.verify?.({
        requestsAnswered: answeredBefore + measured.requests,
        requestsSent: sentBefore + measured.sent,
      });
      return {
        name: scenario.name,
        description: scenario.description,
        baseline: scenario.baseline,
        load: measured,
        server: serverLoad(serverBefore, serverAfter),
        cpu: cpuWindow,
        sql: sqlPerRequest(
          scenario.name,
          prepared.request.path,
          alone,
          statementsBefore,
          statementsAfter,
          measured,
        ),
        verified,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await prepared.cleanup();
  }
}

/**
 * A custom scenario measures itself; the bench hands it a way to start its servers in child
 * processes and stops whatever it left running, also after a failure or Ctrl-C.
 */
async function runCustomScenario(
  scenario: CustomScenario,
  options: BenchOptions,
  signal: AbortSignal,
): Promise<CustomScenarioResult> {
  progress(`${scenario.name}: starting`);
  const started: RunningServer[] = [];
  try {
    const result = await scenario.measure({
      options: {
        jobs: options.jobs,
        jobBatch: options.jobBatch,
        jobRounds: options.jobRounds,
        workerConcurrency: options.workerConcurrency,
        subscribers: options.subscribers,
        events: options.events,
        eventIntervalMs: options.eventIntervalMs,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        webhookConnections: options.webhookConnections,
        webhookRate: options.webhookRate,
        webhookChats: options.webhookChats,
        webhookRoles: options.webhookRoles,
        webhookProvider: options.webhookProvider,
        crashRate: options.crashRate,
        crashKills: options.crashKills,
        crashEverySeconds: options.crashEverySeconds,
        crashChats: options.crashChats,
        a2aConcurrency: options.a2aConcurrency,
        a2aVenues: options.a2aVenues,
      },
      signal,
      async start(params) {
        // Always a child: these scenarios run several servers, or a server beside a producer.
        const server = await startServer(scenario, params, 'child');
        started.push(server);
        return server;
      },
      progress: (message) => progress(`${scenario.name}: ${message}`),
    });
    return { name: scenario.name, description: scenario.description, ...result };
  } finally {
    for (const server of started) await server.stop();
  }
}

/**
 * SQL statements in the measured window per request sent, and of each check request alone; null
 * when the server does not count them.
 */
function sqlPerRequest(
  name: string,
  path: string,
  alone: number[],
  before: StatementReading | undefined,
  after: StatementReading | undefined,
  load: LoadResult,
): ScenarioResult['sql'] {
  if (!before || !after || load.sent === 0) return null;
  const settled = before.settled && after.settled;
  if (!settled) {
    progress(
      `${name}: the SQL statement count never stood still between runs; statements/request is approximate`,
    );
  }
  const statements = after.statements - before.statements;
  const answeredBefore = before.requestsOn(path);
  const answeredAfter = after.requestsOn(path);
  return {
    statements,
    perRequest: statements / load.sent,
    alone,
    serverRequests: answeredBefore !== null && answeredAfter !== null ? answeredAfter - answeredBefore : null,
    settled,
  };
}

/** One request outside the load, to check the scenario answers what it should. */
async function probe(
  origin: string,
  request: LoadRequest,
): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(new URL(request.path, origin), {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: the scenario's check sees the text.
  }
  return { status: response.status, body, text };
}

function progress(message: string): void {
  console.error(`[bench] ${message}`);
}

process.exitCode = await main();
