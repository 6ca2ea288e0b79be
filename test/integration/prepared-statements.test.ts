/**
 * Prisma's statements are prepared once per connection (DATABASE_PREPARED_STATEMENTS): a
 * statement run again is only bound and executed, and the number of texts prepared is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchVenues } from '../../src/domain/venues/search.ts';
import { connectDatabase, PLANNED_EACH_RUN, statementNames } from '../../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

/** The statements the one connection of `db` holds prepared, with how often each ran. */
async function prepared(db: ReturnType<typeof connectDatabase>) {
  const rows = await db.pool.query<{ name: string; statement: string }>(
    'SELECT name, statement FROM pg_prepared_statements ORDER BY name',
  );
  return rows.rows;
}

describe('prepared statements', () => {
  it('prepares a statement once per connection and reuses it with other values', async () => {
    const db = connectDatabase(database.url, 1, { preparedStatements: 10 });
    try {
      const first = await db.prisma.user.create({ data: { email: 'prepared-a@example.test' } });
      const second = await db.prisma.user.create({ data: { email: 'prepared-b@example.test' } });
      const found = await db.prisma.user.findUnique({ where: { email: 'prepared-b@example.test' } });
      expect(found?.id).toBe(second.id);
      expect(await db.prisma.user.findUnique({ where: { email: 'prepared-a@example.test' } })).toMatchObject({
        id: first.id,
      });
      const statements = await prepared(db);
      // One insert and one lookup, each prepared once for both values.
      expect(statements.filter((s) => s.statement.startsWith('INSERT INTO "public"."users"'))).toHaveLength(
        1,
      );
      expect(
        statements.filter(
          (s) => s.statement.startsWith('SELECT') && s.statement.includes('"public"."users"'),
        ),
      ).toHaveLength(1);
      expect(statements.every((s) => s.name.startsWith('agnt_'))).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('prepares nothing when turned off', async () => {
    const db = connectDatabase(database.url, 1, { preparedStatements: 0 });
    try {
      await db.prisma.user.findMany({ where: { email: 'nobody@example.test' } });
      expect(await prepared(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('never prepares a venue search, so each is planned for its own words and place', async () => {
    const db = connectDatabase(database.url, 1, { preparedStatements: 10 });
    try {
      const texts: string[] = [];
      db.onQuery(({ query }) => texts.push(query));
      // More runs than PostgreSQL waits for before it would switch a prepared statement to a generic plan.
      for (let run = 0; run < 8; run++) {
        const near = { latitude: 38.7 + run / 100, longitude: -9.14, radiusMeters: 5_000 };
        await searchVenues(db.prisma, { text: run % 2 ? 'grill' : 'sushi', near }, { offset: 0, limit: 20 });
      }
      // Past the end, the count is its own statement, planned each run too.
      await searchVenues(db.prisma, { text: 'grill' }, { offset: 40, limit: 20 });
      const searches = texts.filter((text) => text.includes('search_document'));
      expect(searches).toHaveLength(10);
      expect(searches.every((text) => text.startsWith(PLANNED_EACH_RUN))).toBe(true);
      expect((await prepared(db)).filter((s) => s.statement.includes('search_document'))).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('names no text that begins as planned each run', () => {
    const name = statementNames(10);
    expect(name({ sql: `${PLANNED_EACH_RUN} SELECT 1` })).toBeUndefined();
    expect(name({ sql: 'SELECT 1' })).toBeDefined();
  });

  it('names at most the first `limit` texts, each the same name every time', () => {
    const name = statementNames(2);
    const a = name({ sql: 'SELECT 1' });
    const b = name({ sql: 'SELECT 2' });
    expect(a).not.toBe(b);
    expect(name({ sql: 'SELECT 1' })).toBe(a);
    // A third text runs unnamed (pg parses it every time), so a connection holds at most two.
    expect(name({ sql: 'SELECT 3' })).toBeUndefined();
    expect(name({ sql: 'SELECT 2' })).toBe(b);
  });
});
