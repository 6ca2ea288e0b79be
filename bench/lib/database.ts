/**
 * A throwaway PostgreSQL database per scenario, on the server named by BENCH_DATABASE_URL
 * (default postgresql://postgres@127.0.0.1:5432). Its name starts with `agnt_bench_` so a
 * leftover from a killed run is easy to spot and drop.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../../src/platform/db.ts';
import { migrate } from '../../src/platform/migrate.ts';

export interface BenchDatabase {
  name: string;
  url: string;
  /** Drops the database, disconnecting whoever is still connected. */
  drop(): Promise<void>;
}

/** The PostgreSQL server the bench may create databases on. */
export function benchServerUrl(): string {
  return process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432';
}

/** Creates `agnt_bench_<random>` and applies every migration to it. */
export async function createMigratedDatabase(): Promise<BenchDatabase> {
  const name = `agnt_bench_${randomBytes(6).toString('hex')}`;
  const url = databaseUrl(name);
  await adminQuery(`CREATE DATABASE ${quoteIdent(name)}`);
  const drop = () => adminQuery(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  try {
    await migrate(url);
  } catch (error) {
    await drop();
    throw error;
  }
  return { name, url, drop };
}

function databaseUrl(name: string): string {
  const url = new URL(benchServerUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl('postgres'), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
