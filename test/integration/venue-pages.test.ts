/**
 * A search's page of venues kept between searches (venuesOfHits in src/domain/venues/search.ts):
 * the venue's page version moves with every change to what a page can show of it (the migration
 * `venue_page_version`), so a kept venue is answered only while it is what a read would return,
 * and a selection the version does not cover is read every time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordInboxPoll } from '../../src/domain/agents/agents.ts';
import { gatewayAgentId } from '../../src/domain/agents/registration.ts';
import { PAGE_UNVERSIONED, searchVenues, venuesOfHits } from '../../src/domain/venues/search.ts';
import dmmf from '../../src/generated/dmmf.json' with { type: 'json' };
import type { Prisma } from '../../src/generated/prisma/client.ts';
import { quoteIdent } from '../../src/platform/db.ts';
import { createOrganization, tag } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;

interface Field {
  name: string;
  dbName?: string | null;
  kind: string;
}
const models = (
  dmmf as unknown as { datamodel: { models: { name: string; dbName: string | null; fields: Field[] }[] } }
).datamodel.models;

/** The table and stored columns of a model, by field name. */
function columnsOf(modelName: string) {
  const model = models.find((m) => m.name === modelName)!;
  return {
    table: quoteIdent(model.dbName ?? model.name),
    columns: model.fields
      .filter((f) => f.kind === 'scalar' || f.kind === 'enum')
      .map((f) => ({ field: f.name, column: quoteIdent(f.dbName ?? f.name) })),
  };
}

/** What the search page GraphQL plans selects: the venue, its week of hours and its agent. */
const PAGE: Prisma.VenueDefaultArgs = {
  select: {
    id: true,
    name: true,
    cuisines: true,
    status: true,
    organizationId: true,
    hours: {
      select: { weekday: true, opensAt: true, closesAt: true },
      orderBy: [{ weekday: 'asc' }, { opensAt: 'asc' }],
    },
    agent: { select: { id: true, kind: true, organizationId: true, userId: true, name: true } },
  },
};

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

async function pageVersion(venueId: string): Promise<number> {
  const row = await database.prisma.venuePageVersion.findUnique({ where: { venueId } });
  return row?.version ?? 0;
}

/** A venue on the network with a week of hours, an exception and an agent, found by its own word. */
async function listedVenue() {
  const db = database.prisma;
  const organization = await createOrganization(db);
  const word = `grill${tag()}`;
  const venue = await createVenue(db, {
    organizationId: organization.id,
    status: 'CLAIMED',
    name: `${word} house`,
    open: ['12:00', '23:00'],
  });
  await db.hoursException.create({ data: { venueId: venue.id, date: new Date('2026-12-24'), closed: true } });
  const agent = await db.agent.create({
    data: {
      venueId: venue.id,
      organizationId: organization.id,
      kind: 'VENUE',
      name: 'Agent',
      status: 'ACTIVE',
    },
  });
  return { venue, agent, word };
}

/** The statements sent while `run` ran, and what it returned. */
async function counted<T>(run: () => Promise<T>): Promise<{ sent: string[]; result: T }> {
  const sent: string[] = [];
  const stop = database.onQuery(({ query }) => void sent.push(query));
  try {
    return { sent, result: await run() };
  } finally {
    stop();
  }
}

async function searchedPage(word: string, query: Prisma.VenueDefaultArgs = PAGE) {
  const found = await searchVenues(database.prisma, { text: word }, { offset: 0, limit: 20 });
  expect(found.hits).toHaveLength(1);
  return counted<unknown[]>(() => venuesOfHits(database.prisma, found.hits, query));
}

describe('a venue’s page version', () => {
  it('moves with any update of the venue’s row', async () => {
    const { venue } = await listedVenue();
    const { table, columns } = columnsOf('Venue');
    for (const { field, column } of columns) {
      const before = await pageVersion(venue.id);
      await database.prisma.$executeRawUnsafe(
        `UPDATE ${table} SET ${column} = ${column} WHERE "id" = $1::uuid`,
        venue.id,
      );
      expect(await pageVersion(venue.id), field).toBe(before + 1);
    }
  });

  it('moves when its hours, exceptions or agent change, but not for the agent’s bookkeeping alone', async () => {
    const db = database.prisma;
    const { venue, agent } = await listedVenue();
    const changes: [string, () => Promise<unknown>, boolean][] = [
      [
        'an interval closing later',
        () =>
          db.openingHours.updateMany({
            where: { venueId: venue.id, weekday: 1 },
            data: { closesAt: '23:30' },
          }),
        true,
      ],
      [
        'an exception opened',
        () =>
          db.hoursException.updateMany({
            where: { venueId: venue.id },
            data: { closed: false, opensAt: '10:00', closesAt: '14:00' },
          }),
        true,
      ],
      [
        'the agent renamed',
        () => db.agent.update({ where: { id: agent.id }, data: { name: 'Renamed' } }),
        true,
      ],
      [
        'the agent paused',
        () => db.agent.update({ where: { id: agent.id }, data: { status: 'PAUSED' } }),
        true,
      ],
      ['its inbox read', () => recordInboxPoll(db, gatewayAgentId(agent)!, 'platform', new Date()), false],
      [
        'its registration recorded',
        () =>
          db.$executeRaw`UPDATE agents SET registered_at = updated_at, registered_tools_version = 99, registration_error = NULL WHERE id = ${agent.id}::uuid`,
        false,
      ],
      [
        'the same name written again',
        () => db.$executeRaw`UPDATE agents SET name = name WHERE id = ${agent.id}::uuid`,
        false,
      ],
    ];
    for (const [what, change, moves] of changes) {
      const before = await pageVersion(venue.id);
      await change();
      expect(await pageVersion(venue.id), what).toBe(moves ? before + 1 : before);
    }
  });

  it('leaves out of the agents’ trigger the columns PAGE_UNVERSIONED names, and no other', async () => {
    const [trigger] = await database.prisma.$queryRaw<{ definition: string }[]>`
      SELECT pg_get_triggerdef(oid) AS definition FROM pg_trigger WHERE tgname = 'agents_page_version_update'`;
    const call = trigger?.definition.split('EXECUTE FUNCTION')[1] ?? '';
    const args = [...call.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    const { columns } = columnsOf('Agent');
    const named = [...PAGE_UNVERSIONED.get('Agent')!].map((field) =>
      columns.find((c) => c.field === field)?.column.replaceAll('"', ''),
    );
    expect(args.sort()).toEqual(named.sort());
    for (const model of ['OpeningHours', 'HoursException', 'Venue', 'VenuePageVersion']) {
      expect(PAGE_UNVERSIONED.get(model), model).toEqual(new Set());
    }
  });

  it('moves when hours, exceptions or an agent are added or removed, and for both venues when one moves between them', async () => {
    const db = database.prisma;
    const { venue, agent } = await listedVenue();
    const other = await createVenue(db, { name: `Other ${tag()}` });
    const steps: [string, () => Promise<unknown>][] = [
      [
        'an interval added',
        () =>
          db.openingHours.create({
            data: { venueId: venue.id, weekday: 0, opensAt: '08:00', closesAt: '10:00' },
          }),
      ],
      ['the hours removed', () => db.openingHours.deleteMany({ where: { venueId: venue.id } })],
      ['an exception removed', () => db.hoursException.deleteMany({ where: { venueId: venue.id } })],
      ['the agent removed', () => db.agent.delete({ where: { id: agent.id } })],
      [
        'an agent added',
        () => db.agent.create({ data: { venueId: venue.id, kind: 'VENUE', name: 'New', status: 'ACTIVE' } }),
      ],
    ];
    for (const [what, step] of steps) {
      const before = await pageVersion(venue.id);
      await step();
      expect(await pageVersion(venue.id), what).toBeGreaterThan(before);
    }
    const [mine, theirs] = [await pageVersion(venue.id), await pageVersion(other.id)];
    await db.agent.updateMany({ where: { venueId: venue.id }, data: { venueId: other.id } });
    expect(await pageVersion(venue.id)).toBeGreaterThan(mine);
    expect(await pageVersion(other.id)).toBeGreaterThan(theirs);
  });

  it('leaves a venue that is deleted with its hours and agent deleted', async () => {
    const { venue } = await listedVenue();
    await database.prisma.venue.delete({ where: { id: venue.id } });
    expect(await database.prisma.openingHours.count({ where: { venueId: venue.id } })).toBe(0);
    expect(await database.prisma.agent.count({ where: { venueId: venue.id } })).toBe(0);
  });
});

describe('a search’s page kept between searches', () => {
  it('is answered without a statement while the version is the one the search read, and read again once it moves', async () => {
    const db = database.prisma;
    const { venue, agent, word } = await listedVenue();
    const first = await searchedPage(word);
    expect(first.sent).toHaveLength(1);
    const again = await searchedPage(word);
    expect(again.sent).toEqual([]);
    expect(again.result).toEqual(first.result);

    await db.agent.update({ where: { id: agent.id }, data: { name: 'Renamed' } });
    const renamed = await searchedPage(word);
    expect(renamed.sent).toHaveLength(1);
    expect((renamed.result[0] as { agent: { name: string } }).agent.name).toBe('Renamed');

    await db.openingHours.updateMany({
      where: { venueId: venue.id, weekday: 2 },
      data: { closesAt: '21:30' },
    });
    const shorter = await searchedPage(word);
    expect(shorter.sent).toHaveLength(1);
    const hours = (shorter.result[0] as { hours: { weekday: number; closesAt: string }[] }).hours;
    expect(hours.find((h) => h.weekday === 2)?.closesAt).toBe('21:30');
    expect(hours.find((h) => h.weekday === 3)?.closesAt).toBe('23:00');

    // Its inbox read, as the gateway's poll records it: not on the page, the kept venue stays.
    expect(await recordInboxPoll(db, gatewayAgentId(agent)!, 'platform', new Date())).toMatchObject({
      id: agent.id,
    });
    expect((await searchedPage(word)).sent).toEqual([]);
  });

  it('is read every time when it selects what the version does not cover', async () => {
    const { word } = await listedVenue();
    const bookkeeping: Prisma.VenueDefaultArgs = {
      select: { id: true, agent: { select: { id: true, lastInboxPollAt: true } } },
    };
    const tables: Prisma.VenueDefaultArgs = { select: { id: true, tables: { orderBy: { name: 'asc' } } } };
    for (const query of [bookkeeping, tables]) {
      expect((await searchedPage(word, query)).sent, JSON.stringify(query)).toHaveLength(1);
      expect((await searchedPage(word, query)).sent, JSON.stringify(query)).toHaveLength(1);
    }
  });

  it('is shared by every request, so it cannot be changed', async () => {
    const { word } = await listedVenue();
    await searchedPage(word);
    const { result } = await searchedPage(word);
    const kept = result[0] as { name: string; hours: { closesAt: string }[] };
    expect(() => {
      kept.name = 'Changed';
    }).toThrow(TypeError);
    expect(() => {
      kept.hours[0]!.closesAt = '01:00';
    }).toThrow(TypeError);
    expect((await searchedPage(word)).result[0]).toMatchObject({ name: expect.stringContaining('house') });
  });

  it('is read through Prisma inside a transaction, which the direct reads cannot see', async () => {
    const { word, venue } = await listedVenue();
    await searchedPage(word);
    await database.prisma.$transaction(async (tx) => {
      await tx.venue.update({ where: { id: venue.id }, data: { name: `${word} renamed` } });
      const found = await searchVenues(tx, { text: word }, { offset: 0, limit: 20 });
      const [row] = await venuesOfHits(tx, found.hits, PAGE);
      expect((row as { name: string }).name).toBe(`${word} renamed`);
    });
  });
});
