/**
 * The migration runner stands in for `prisma migrate deploy`, so beyond applying SQL it must leave
 * `_prisma_migrations` exactly as Prisma would (the Prisma CLI may take over one day) and behave
 * when several processes start at once. Each test gets its own empty database; tests that need
 * other migration files work on a temporary copy of prisma/migrations.
 */
import { createHash } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MIGRATIONS_DIR,
  MigrationError,
  migrate,
  pendingMigrations,
  readMigrations,
} from '../../src/platform/migrate.ts';
import { createEmptyDatabase } from '../helpers/db.ts';

const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emptyDatabase() {
  const database = await createEmptyDatabase();
  cleanups.push(() => database.drop());
  return database;
}

/** A throwaway copy of prisma/migrations that a test may change. */
async function migrationsCopy(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'agnt-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function query<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  values?: unknown[],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

const migrationRows = (url: string) =>
  query<MigrationRow>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY started_at, migration_name');

const tableExists = async (url: string, table: string) =>
  (await query<{ exists: boolean }>(url, 'SELECT to_regclass($1) IS NOT NULL AS exists', [`"${table}"`]))[0]!
    .exists;

describe('migrate', () => {
  it('applies every migration once; running it again changes nothing', async () => {
    const db = await emptyDatabase();
    const names = (await readMigrations()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(0);

    expect(await migrate(db.url)).toEqual({ applied: names, alreadyApplied: [] });
    const before = await migrationRows(db.url);

    expect(await migrate(db.url)).toEqual({ applied: [], alreadyApplied: names });
    expect(await migrationRows(db.url)).toEqual(before);

    const pool = new pg.Pool({ connectionString: db.url });
    // The database is dropped (WITH FORCE) right after the pool ends; a connection still closing
    // then hears the server's termination, which a pool without a listener would throw.
    pool.on('error', () => {});
    cleanups.push(() => pool.end());
    expect(await pendingMigrations(pool)).toEqual([]);
  });

  it('records migrations in _prisma_migrations as `prisma migrate deploy` does', async () => {
    const db = await emptyDatabase();
    await migrate(db.url);

    // Prisma's checksum is the SHA-256 of the file's bytes, in lowercase hex.
    const expected = await Promise.all(
      (await readMigrations()).map(async ({ name }) => ({
        name,
        checksum: createHash('sha256')
          .update(await readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql')))
          .digest('hex'),
      })),
    );
    const rows = await migrationRows(db.url);
    expect(rows.map((r) => ({ name: r.migration_name, checksum: r.checksum }))).toEqual(expected);
    for (const row of rows) {
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      expect(row.rolled_back_at).toBeNull();
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }

    // Prisma stamps finished_at when the script is done; inside one transaction now() would not move.
    const [timing] = await query<{ later: boolean }>(
      db.url,
      'SELECT bool_and(finished_at > started_at) AS later FROM "_prisma_migrations"',
    );
    expect(timing!.later).toBe(true);

    // The table itself must match the one Prisma creates, or the Prisma CLI would trip over it.
    const columns = await query<{ name: string; type: string; nullable: boolean; default: string | null }>(
      db.url,
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
              pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = '"_prisma_migrations"'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
    );
    expect(columns).toEqual([
      { name: 'id', type: 'character varying(36)', nullable: false, default: null },
      { name: 'checksum', type: 'character varying(64)', nullable: false, default: null },
      { name: 'finished_at', type: 'timestamp with time zone', nullable: true, default: null },
      { name: 'migration_name', type: 'character varying(255)', nullable: false, default: null },
      { name: 'logs', type: 'text', nullable: true, default: null },
      { name: 'rolled_back_at', type: 'timestamp with time zone', nullable: true, default: null },
      { name: 'started_at', type: 'timestamp with time zone', nullable: false, default: 'now()' },
      { name: 'applied_steps_count', type: 'integer', nullable: false, default: '0' },
    ]);
  });

  it('lets concurrent runners share one database: each migration is applied once', async () => {
    const db = await emptyDatabase();
    const names = (await readMigrations()).map((m) => m.name);

    // Without the advisory lock both would try CREATE TYPE/TABLE and one would fail.
    const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url)]);

    expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
    for (const result of results) expect([...result.applied, ...result.alreadyApplied].sort()).toEqual(names);
    expect((await migrationRows(db.url)).map((r) => r.migration_name).sort()).toEqual(names);
  });

  it('refuses to continue when an applied migration was changed, naming it', async () => {
    const db = await emptyDatabase();
    const dir = await migrationsCopy();
    const [first] = await readMigrations(dir);
    await migrate(db.url, dir);
    const before = await migrationRows(db.url);

    await appendFile(path.join(dir, first!.name, 'migration.sql'), '\n-- an innocent-looking edit\n');
    const error = await migrate(db.url, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(first!.name);
    expect((error as Error).message).toMatch(/changed/);
    expect(await migrationRows(db.url)).toEqual(before);
  });

  it('rolls a failing migration back completely and names it', async () => {
    const db = await emptyDatabase();
    const dir = await migrationsCopy();
    const good = (await readMigrations(dir)).map((m) => m.name);
    const broken = '99991231000000_broken';
    await mkdir(path.join(dir, broken));
    // The first statement succeeds, so a runner without a transaction would leave the table behind.
    await writeFile(
      path.join(dir, broken, 'migration.sql'),
      'CREATE TABLE "half_applied" ("id" INTEGER);\nALTER TABLE "no_such_table" ADD COLUMN "x" INTEGER;\n',
    );

    const error = await migrate(db.url, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(broken);
    expect((error as Error).message).toContain('no_such_table');

    expect(await tableExists(db.url, 'half_applied')).toBe(false);
    const rows = await migrationRows(db.url);
    // Migrations before the broken one stay applied: each runs in its own transaction.
    expect(rows.map((r) => r.migration_name)).toEqual(good);
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);

    // Nothing was recorded for the broken migration, so fixing the file is enough to move on.
    await writeFile(path.join(dir, broken, 'migration.sql'), 'CREATE TABLE "half_applied" ("id" INTEGER);\n');
    expect(await migrate(db.url, dir)).toEqual({ applied: [broken], alreadyApplied: good });
    expect(await tableExists(db.url, 'half_applied')).toBe(true);
  });

  it('refuses to run after a migration that started and never finished, as Prisma does', async () => {
    const db = await emptyDatabase();
    const [first] = await readMigrations();
    // What a `prisma migrate deploy` that died halfway leaves behind.
    await query(
      db.url,
      `CREATE TABLE "_prisma_migrations" (
         "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
         "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
         "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0);
       INSERT INTO "_prisma_migrations" (id, checksum, migration_name)
       VALUES ('00000000-0000-4000-8000-000000000000', '${first!.checksum}', '${first!.name}')`,
    );

    const error = await migrate(db.url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toContain(first!.name);
  });
});
