/**
 * Work under an advisory lock (src/platform/advisory-lock.ts) as the worker's drains run it: the
 * lock held on a connection of its own while the work queries through Prisma. More lock holders
 * at once than the process has query connections must all finish, not wait on each other.
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
});
