/**
 * `npm run db:migrate`: creates the database if needed and applies pending migrations from
 * prisma/migrations, recording them as `prisma migrate deploy` would (see src/platform/migrate.ts).
 * Several processes may run it at once: applying migrations serialises on an advisory lock.
 */
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { ensureDatabaseExists } from '../src/platform/db.ts';
import { MigrationError, migrate } from '../src/platform/migrate.ts';

/** The URL without its password, fit for a terminal or a CI log. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/** Node reports a host with several addresses that all refused as an AggregateError with no message. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    return error.errors.map((e: unknown) => describe(e)).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const url = config.database.url ?? config.database.defaultUrl;
  console.log(`Migrating ${redact(url)}`);
  await ensureDatabaseExists(url);
  const result = await migrate(url);
  for (const name of result.applied) console.log(`  applied ${name}`);
  console.log(
    result.applied.length === 0
      ? `Nothing to apply; ${result.alreadyApplied.length} migration(s) already applied.`
      : `Applied ${result.applied.length} migration(s); ${result.alreadyApplied.length} were already applied.`,
  );
}

try {
  await main();
} catch (error) {
  if (error instanceof ConfigError || error instanceof MigrationError) {
    console.error(error.message);
  } else {
    // Connection failures and the like: the driver's message ("connect ECONNREFUSED …") is the
    // useful part; the stack points into pg's internals.
    console.error(`db:migrate failed: ${describe(error)}`);
  }
  // exitCode rather than exit(): lets stdout and stderr drain before the process ends.
  process.exitCode = 1;
}
