/**
 * Starts a process in one role: `api` (HTTP), `worker` (jobs and schedules) or `all` (both).
 * The role comes from the first argument or ROLE. SIGTERM and SIGINT stop it gracefully within
 * SHUTDOWN_TIMEOUT_MS (10 s by default): no new requests, in-flight ones finish, pools close.
 */

import { type Config, ConfigError, loadConfig } from './config/index.ts';
import { createLogger } from './platform/logger.ts';
import { startTracing } from './platform/tracing.ts';
import { buildApp, type Role } from './wiring/app.ts';
import { resolveServices } from './wiring/services.ts';

const ROLES = new Set(['api', 'worker', 'all']);

/**
 * Runs the product until SIGTERM or SIGINT. `config` is for tests that start the real process
 * with something the environment cannot say (such as where the local default database is).
 */
export async function main(given?: Config) {
  let config: Config;
  try {
    config = given ?? loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const arg = process.argv[2];
  if (arg !== undefined && !ROLES.has(arg)) {
    console.error(`Unknown role "${arg}": use api, worker or all`);
    process.exit(1);
  }
  const role = (arg ?? config.role) as Role;
  // Before the logger, which adds trace ids to its lines only when tracing is on. Without
  // OTEL_EXPORTER_OTLP_ENDPOINT this loads nothing and returns null.
  const tracing = await startTracing({
    endpoint: config.monitoring.otlpEndpoint,
    serviceName: config.monitoring.serviceName,
  });
  const logger = createLogger(config.logLevel, { role }, { prettyInTerminal: !config.production });

  let services: Awaited<ReturnType<typeof resolveServices>>;
  try {
    services = await resolveServices(config, logger);
  } catch (error) {
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(1);
  }
  // A job runner that stopped on its own stops the process, with status 1: its supervisor
  // starts a new one, rather than an `all` or `worker` process living on with no worker.
  const app = buildApp(services, role, { worker: { onFailure: () => void stop('worker failed', 1) } });
  // Signals are handled from here on, so a Ctrl-C while the process is still starting stops it
  // as gracefully as one later: the stop waits for the start to finish first.
  const started = app.start();

  let stopping = false;
  const stop = async (signal: string, status = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.http.shutdownTimeoutMs);
    deadline.unref();
    await started.catch(() => undefined);
    await app.stop();
    await services.shutdown();
    // The spans of the last requests and jobs are sent before the process exits.
    await tracing
      ?.shutdown()
      .catch((error: unknown) => logger.warn({ err: error }, 'could not send the last spans'));
    logger.info('stopped');
    // Lines still being written would otherwise land after the ones process.exit() flushes.
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    process.exit(status);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await started;
}

if (import.meta.main) await main();
