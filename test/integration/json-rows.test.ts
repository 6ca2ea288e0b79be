/**
 * A page of rows built as JSON by PostgreSQL (src/platform/json-rows.ts) is what Prisma's client
 * returns for the same selection: every field of a venue alone, every relation of a venue whole,
 * the selections GraphQL plans for a search page, counts, orders and limits; and a selection it
 * does not compile is left to Prisma.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { venuesByIds } from '../../src/domain/venues/search.ts';
import dmmf from '../../src/generated/dmmf.json' with { type: 'json' };
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { directReads } from '../../src/platform/db.ts';
import { compileRowsById } from '../../src/platform/json-rows.ts';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization, createPerson, tag } from '../factories/people.ts';
import { createBookableVenue, createVenue } from '../factories/venues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
let ids: string[];

const venueFields = (
  dmmf as unknown as {
    datamodel: { models: { name: string; fields: { name: string; kind: string; isList: boolean }[] }[] };
  }
).datamodel.models.find((model) => model.name === 'Venue')!.fields;

beforeAll(async () => {
  database = await createTestDatabase();
  const db = database.prisma;
  const organization = await createOrganization(db);
  const guest = await createPerson(db);
  const full = await createBookableVenue(db, {
    organizationId: organization.id,
    name: `Full ${tag()}`,
    cuisines: ['grill', "o'clock"],
    priceLevel: 3,
    description: 'Line one\nline "two" \\ ünïcödé 🍣',
    latitude: 38.7139123,
    longitude: -9.1394,
    socialHandles: [{ network: 'instagram', handle: '@full' }],
    photos: ['https://example.test/a.jpg'],
    currency: 'EUR',
    publishedAt: new Date('2026-03-01T10:11:12.345Z'),
  });
  await db.openingHours.create({
    data: { venueId: full.id, weekday: 5, opensAt: '23:00', closesAt: '02:00' },
  });
  await db.hoursException.createMany({
    data: [
      { venueId: full.id, date: new Date('2026-12-24'), closed: true, reason: 'Christmas Eve' },
      { venueId: full.id, date: new Date('2026-12-31'), closed: false, opensAt: '20:00', closesAt: '03:00' },
    ],
  });
  await db.agent.create({
    data: {
      venueId: full.id,
      organizationId: organization.id,
      kind: 'VENUE',
      name: 'Full agent',
      status: 'ACTIVE',
      dna: { tone: 'warm', nested: { list: [1, 2.5, null, 'x'] } },
      registeredAt: new Date('2026-01-02T03:04:05.006Z'),
    },
  });
  await createBooking(db, {
    venueId: full.id,
    guestId: guest.id,
    startsAt: new Date('2026-12-10T19:00:00.000Z'),
    valueMinor: 9_007_199_254_740_993n,
  });
  const bare = await createVenue(db, { name: `Bare ${tag()}` });
  const other = await createVenue(db, {
    organizationId: organization.id,
    status: 'LISTED',
    open: ['09:00', '17:00'],
  });
  ids = [full.id, bare.id, other.id];
});

afterAll(async () => {
  await database.drop();
});

/** Both answers, by id: the JSON-built one and Prisma's. */
async function both(query: Prisma.VenueDefaultArgs) {
  const compiled = compileRowsById('Venue', query);
  expect(compiled, JSON.stringify(query)).not.toBeNull();
  const direct = await venuesByIds(database.prisma, ids, query);
  const prisma = await database.prisma.venue.findMany({ ...query, where: { id: { in: ids } } });
  const byId = (rows: unknown[]) =>
    Object.fromEntries((rows as { id?: string }[]).map((row, i) => [row.id ?? String(i), row]));
  return { direct: byId(direct), prisma: byId(prisma) };
}

describe('rows built as JSON by PostgreSQL', () => {
  it('reads through the direct path outside a transaction only', async () => {
    expect(directReads(database.prisma)).toBeDefined();
    await database.prisma.$transaction(async (tx) => {
      expect(directReads(tx)).toBeUndefined();
    });
  });

  it('returns every field of a venue alone as Prisma does', async () => {
    for (const field of venueFields.filter((f) => f.kind === 'scalar' || f.kind === 'enum')) {
      const { direct, prisma } = await both({ select: { id: true, [field.name]: true } });
      expect(direct, field.name).toEqual(prisma);
    }
  });

  it('returns every relation of a venue whole as Prisma does', async () => {
    for (const field of venueFields.filter((f) => f.kind === 'object')) {
      const query = { select: { id: true, [field.name]: true } };
      const { direct, prisma } = await both(query);
      if (field.isList) {
        // No order asked: compare each list's rows in one order.
        const sorted = (rows: Record<string, Record<string, unknown>>) =>
          Object.fromEntries(
            Object.entries(rows).map(([id, row]) => [
              id,
              (row[field.name] as { id?: string }[]).map((r) => JSON.stringify(r, bigints)).sort(),
            ]),
          );
        expect(sorted(direct), field.name).toEqual(sorted(prisma));
      } else {
        expect(direct, field.name).toEqual(prisma);
      }
    }
  });

  it('returns what a search page plans, counts, orders and limits as Prisma does', async () => {
    const queries: Prisma.VenueDefaultArgs[] = [
      {},
      {
        select: {
          id: true,
          status: true,
          organizationId: true,
          name: true,
          cuisines: true,
          hours: {
            select: { weekday: true, opensAt: true, closesAt: true },
            orderBy: [{ weekday: 'asc' }, { opensAt: 'asc' }],
          },
          agent: {
            select: {
              name: true,
              id: true,
              kind: true,
              organizationId: true,
              userId: true,
              venue: { select: { status: true, organizationId: true } },
            },
          },
        },
      },
      {
        select: {
          id: true,
          timeZone: true,
          hours: { orderBy: [{ weekday: 'desc' }, { closesAt: 'asc' }] },
          exceptions: { orderBy: { date: 'desc' } },
          _count: { select: { hours: true, tables: true } },
        },
      },
      {
        select: {
          id: true,
          tables: { select: { name: true, seats: true }, orderBy: { name: 'desc' }, take: 2 },
        },
      },
      {
        select: {
          id: true,
          organization: { select: { name: true, createdAt: true, _count: { select: { venues: true } } } },
          bookings: { select: { valueMinor: true, startsAt: true, guest: { select: { email: true } } } },
        },
      },
    ];
    for (const query of queries) {
      const { direct, prisma } = await both(query);
      expect(direct, JSON.stringify(query)).toEqual(prisma);
    }
  });

  it('leaves to Prisma what it does not compile, with the same answer', async () => {
    const queries = [
      { include: { hours: true } },
      { select: { id: true, exceptions: { where: { closed: true } } } },
      { select: { id: true, hours: { skip: 1 } } },
      { select: { id: true, tables: { take: -1 } } },
      { select: { id: true, searchDocument: true } },
      { select: { id: true, nothing: true } },
      { select: { id: true, bookings: { where: { valueMinor: { gt: 1n } } } } },
      // What Prisma refuses or orders on its own: an empty selection or count, an order entry of
      // two fields, a first few rows without an order (Prisma's are by the primary key).
      { select: {} },
      { select: { id: true, _count: { select: {} } } },
      { select: { id: true, hours: { orderBy: { opensAt: 'asc', weekday: 'desc' } } } },
      { select: { id: true, tables: { take: 2 } } },
    ];
    for (const query of queries) {
      expect(compileRowsById('Venue', query), JSON.stringify(query, bigints)).toBeNull();
    }
    const query = { select: { id: true, exceptions: { where: { closed: true } } } };
    const direct = await venuesByIds(database.prisma, ids, query);
    const prisma = await database.prisma.venue.findMany({ ...query, where: { id: { in: ids } } });
    expect(new Set(direct)).toEqual(new Set(prisma));
  });
});

function bigints(_key: string, value: unknown) {
  return typeof value === 'bigint' ? `${value}n` : value;
}
