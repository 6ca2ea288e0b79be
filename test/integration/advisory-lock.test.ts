/**
 * Work under an advisory lock (src/platform/advisory-lock.ts) as the worker's drains run it: the
 * lock held on a connection of its own while the work queries through Prisma. More lock holders
 * at once than the process has query connections must all finish, not wait on each other; one
 * that cannot get a connection in time fails rather than waits without end.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withAdvisoryLock } from '../../src/platform/advisory-lock.ts';
import { connectDatabase, type Database } from '../../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let template: TestDatabase;
let small: Database;
beforeAll(async () => {
  template = await createTestDatabase();
  // Two query connections, as a process whose jobs outnumber them.
  small = connectDatabase(template.url, 2);
});
afterAll(async () => {
  await small.close();
  await template.drop();
});

const key = () => `test:${randomBytes(6).toString('hex')}`;

describe('work under an advisory lock', () => {
  it('finishes when more jobs take locks at once than the process has query connections', async () => {
    const holders = 6;
    const results = await Promise.all(
      Array.from({ length: holders }, () =>
        withAdvisoryLock(small.locks, key(), async () => {
          // The holders let each other in before they query: with the locks held on the query
          // connections, both would be held, and every holder would wait for one forever.
          await new Promise((resolve) => setTimeout(resolve, 50));
          const [row] = await small.prisma.$queryRaw<{ one: number }[]>`SELECT 1 AS one`;
          return row?.one;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: holders }, () => ({ locked: true, value: 1 })));
  });

  it('refuses a key another session holds, and frees it when the work ends', async () => {
    const held = key();
    let release: () => void = () => {};
    const first = withAdvisoryLock(
      small.locks,
      held,
      () => new Promise<void>((resolve) => (release = resolve)),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await withAdvisoryLock(small.locks, held, async () => 'second')).toEqual({ locked: false });
    release();
    await first;
    expect(await withAdvisoryLock(small.locks, held, async () => 'third')).toEqual({
      locked: true,
      value: 'third',
    });
  });

  it('fails a lock, and a query, that wait for a connection past the timeout, and goes on once one is free', async () => {
    const one = connectDatabase(template.url, 1, { connectTimeoutMs: 300 });
    try {
      let release: () => void = () => {};
      const stuck = withAdvisoryLock(one.locks, key(), () => new Promise<void>((r) => (release = r)));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      await expect(withAdvisoryLock(one.locks, key(), async () => 'never')).rejects.toThrow(/timeout/i);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      // The same for Prisma's queries while their one connection is held.
      const query = await one.pool.connect();
      await expect(one.prisma.$queryRaw`SELECT 1`).rejects.toThrow(/timeout/i);
      query.release();
      release();
      await stuck;
      expect(await withAdvisoryLock(one.locks, key(), async () => 'then')).toEqual({
        locked: true,
        value: 'then',
      });
      expect(await one.prisma.$queryRaw`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await one.close();
    }
  });
});
