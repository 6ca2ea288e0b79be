/**
 * Builds the migrated template database once per run. Each test file then clones it
 * (`CREATE DATABASE … TEMPLATE …` copies files, far quicker than migrating again).
 * The template's name carries a hash of the migrations, so a changed migration builds a new one.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { quoteIdent } from '../src/platform/db.ts';
import { installJobSchema, JOB_SCHEMA_VERSION } from '../src/platform/jobs.ts';
import { migrate, readMigrations } from '../src/platform/migrate.ts';
import { testServerUrl } from './helpers/env.ts';

export default async function setup(project: TestProject) {
  const migrations = await readMigrations();
  // graphile-worker's queue schema is part of the template too, so its version is in the name.
  const hash = createHash('sha256')
    .update(migrations.map((m) => `${m.name}:${m.checksum}`).join('\n'))
    .update(`graphile-worker:${JOB_SCHEMA_VERSION}`)
    .digest('hex')
    .slice(0, 12);
  const template = `agnt_template_${hash}`;
  const admin = new pg.Client({ connectionString: `${testServerUrl()}/postgres` });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock(4242)');
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (!rowCount) {
      const building = `${template}_building`;
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(building)}`);
      await admin.query(`CREATE DATABASE ${quoteIdent(building)}`);
      await migrate(`${testServerUrl()}/${building}`);
      await installJobSchema(`${testServerUrl()}/${building}`);
      await admin.query(`ALTER DATABASE ${quoteIdent(building)} RENAME TO ${quoteIdent(template)}`);
    }
    await admin.query('SELECT pg_advisory_unlock(4242)');
  } finally {
    await admin.end();
  }
  project.provide('templateDatabase', template);
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
