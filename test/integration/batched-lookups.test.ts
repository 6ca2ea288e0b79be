/**
 * Lookups made together, read together (src/platform/batch.ts): the roles and venue owners a
 * process's live subscribers re-check after one event. Each batch is one statement, answers every
 * caller with its own key's value (null when nothing matched), and reads afresh: a membership
 * ended between two batches is seen by the second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchedRoles, createAccess } from '../../src/domain/organizations/access.ts';
import { batchedOrganizationOfVenue } from '../../src/domain/venues/venues.ts';
import { batchedLookup } from '../../src/platform/batch.ts';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;
let statements: string[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  db.onQuery(({ query }) => statements.push(query));
});
afterAll(() => db.drop());

/** What `work` sent to the database. */
async function counted<T>(work: () => Promise<T>): Promise<{ value: T; statements: string[] }> {
  statements = [];
  const value = await work();
  return { value, statements };
}

describe('lookups made together', () => {
  it('answer each caller from one read of the distinct keys, and fail them all with it', async () => {
    const loads: string[][] = [];
    let failing = false;
    const lookup = batchedLookup<string, number | null>(async (keys) => {
      loads.push(keys);
      if (failing) throw new Error('database gone');
      return new Map(keys.filter((key) => key !== 'none').map((key) => [key, key.length]));
    }, null);
    expect(await Promise.all(['a', 'bb', 'a', 'none'].map(lookup))).toEqual([1, 2, 1, null]);
    expect(loads).toEqual([['a', 'bb', 'none']]);
    // Calls resumed in one turn after an await join one batch as well.
    const resumed = await Promise.all(
      ['ccc', 'dddd'].map(async (key) => {
        await Promise.resolve();
        return lookup(key);
      }),
    );
    expect(resumed).toEqual([3, 4]);
    expect(loads.at(-1)).toEqual(['ccc', 'dddd']);

    failing = true;
    const failed = await Promise.allSettled(['e', 'f'].map(lookup));
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    // A load that throws at once, or answers with something that is no map, fails its batch too.
    const broken = batchedLookup<string, number>(() => {
      throw new Error('no database');
    }, 0);
    await expect(broken('x')).rejects.toThrow('no database');
    const wrong = batchedLookup<string, number>(async () => null as never, 0);
    await expect(wrong('x')).rejects.toThrow();
    // The next batch reads again.
    failing = false;
    expect(await lookup('e')).toBe(1);
  });

  it('read many people’s roles in one statement, each their own, and afresh each time', async () => {
    const people = await Promise.all(Array.from({ length: 5 }, () => createPerson(db.prisma)));
    const [owner, staff, outsider] = [people[0]!, people[1]!, people[2]!];
    const organization = await createOrganization(db.prisma, {
      members: [
        { userId: owner.id, role: 'OWNER' },
        { userId: staff.id, role: 'STAFF' },
      ],
    });
    const other = await createOrganization(db.prisma, { members: [{ userId: outsider.id, role: 'ADMIN' }] });
    const roleOf = batchedRoles(db.prisma);

    const { value, statements: sent } = await counted(() =>
      Promise.all([
        roleOf(organization.id, owner.id),
        roleOf(organization.id, staff.id),
        roleOf(organization.id, outsider.id),
        roleOf(other.id, outsider.id),
        roleOf(organization.id, 'not-a-uuid'),
        roleOf('not-a-uuid', owner.id),
        roleOf(organization.id.toUpperCase(), owner.id.toUpperCase()),
      ]),
    );
    expect(value).toEqual(['OWNER', 'STAFF', null, 'ADMIN', null, null, 'OWNER']);
    expect(sent).toHaveLength(1);

    // Access made with it reads through it, one statement for every person asking at once.
    await db.prisma.membership.delete({
      where: { organizationId_userId: { organizationId: organization.id, userId: staff.id } },
    });
    const asked = await counted(() =>
      Promise.all(
        [owner, staff].map((person) =>
          createAccess(db.prisma, { kind: 'user', userId: person.id, isPlatformAdmin: false }, roleOf).roleIn(
            organization.id,
          ),
        ),
      ),
    );
    expect(asked.value).toEqual(['OWNER', null]);
    expect(asked.statements).toHaveLength(1);
  });

  it('read many venues’ organisations in one statement', async () => {
    const organization = await createOrganization(db.prisma);
    const claimed = await createVenue(db.prisma, { organizationId: organization.id });
    const unclaimed = await createVenue(db.prisma);
    const organizationOf = batchedOrganizationOfVenue(db.prisma);
    const { value, statements: sent } = await counted(() =>
      Promise.all(
        [
          claimed.id,
          unclaimed.id,
          claimed.id,
          '00000000-0000-4000-8000-000000000000',
          'nope',
          claimed.id.toUpperCase(),
        ].map(organizationOf),
      ),
    );
    expect(value).toEqual([organization.id, null, organization.id, null, null, organization.id]);
    expect(sent).toHaveLength(1);
  });
});
