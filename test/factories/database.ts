/**
 * A database of the test file's own (cloned from the migrated template) for tests of domain
 * functions that need no running app.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Db } from '../../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** Creates the database before the file's tests and drops it after; returns its client. */
export function useTestDatabase(): () => Db {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());
  return () => database!.prisma;
}
