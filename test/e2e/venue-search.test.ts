import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOpenAt } from '../../src/domain/venues/hours.ts';
import { graphql } from '../generated/gql.ts';
import { rawId, startTestApp, type TestApp } from '../helpers/app.ts';

const Search = graphql(`
  query SearchVenues(
    $text: String
    $categories: [VenueCategory!]
    $priceLevelMax: Int
    $openAt: DateTime
    $near: NearInput
    $orderBy: VenueSearchOrder
    $first: Int
    $after: String
  ) {
    venues(
      text: $text
      categories: $categories
      priceLevelMax: $priceLevelMax
      openAt: $openAt
      near: $near
      orderBy: $orderBy
      first: $first
      after: $after
    ) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { distanceMeters relevance node { id name } }
    }
  }
`);

const Deep = graphql(`
  query DeepVenues($first: Int!) {
    venues(first: $first, orderBy: NAME) {
      edges {
        node {
          name
          openingHours { weekday opensAt closesAt }
          agent { name kind }
          organization { name }
        }
      }
    }
  }
`);

const OrgVenues = graphql(`
  query OrganizationVenues($id: ID!, $first: Int!) {
    organization(id: $id) {
      venues(first: $first) { edges { node { name openingHours { weekday } agent { name } organization { name } } } }
    }
  }
`);

let app: TestApp;
const tag = randomBytes(3).toString('hex');
let organizationId: string;
let ownerToken: string;

/** Lisbon-ish points: a few hundred metres to a few km apart. */
const SPOTS = [
  {
    name: `Grill do Cais ${tag}`,
    cuisines: ['portuguese', 'grill'],
    category: 'RESTAURANT',
    price: 2,
    lat: 38.7061,
    lng: -9.1444,
    description: 'Charcoal fish and sardines by the river',
  },
  {
    name: `Sushi Alfama ${tag}`,
    cuisines: ['japanese', 'sushi'],
    category: 'RESTAURANT',
    price: 3,
    lat: 38.7114,
    lng: -9.13,
    description: 'Omakase counter',
  },
  {
    name: `Bar Noturno ${tag}`,
    cuisines: [],
    category: 'BAR',
    price: 2,
    lat: 38.713,
    lng: -9.145,
    description: 'Cocktails until late',
  },
  {
    name: `Pastelaria Belém ${tag}`,
    cuisines: ['pastry'],
    category: 'CAFE',
    price: 1,
    lat: 38.6975,
    lng: -9.203,
    description: 'Custard tarts since the morning',
  },
  {
    name: `Tasca do Grill ${tag}`,
    cuisines: ['portuguese'],
    category: 'RESTAURANT',
    price: 1,
    lat: 38.72,
    lng: -9.14,
    description: 'Homely plates, grilled meat',
  },
] as const;

beforeAll(async () => {
  app = await startTestApp();
  const owner = await app.signIn();
  ownerToken = owner.token;
  const org = await app.services.db.organization.create({
    data: { name: `Search Group ${tag}`, memberships: { create: { userId: owner.userId, role: 'OWNER' } } },
  });
  organizationId = org.id;
  for (const [index, spot] of SPOTS.entries()) {
    await app.services.db.venue.create({
      data: {
        name: spot.name,
        slug: `search-${tag}-${index}`,
        category: spot.category,
        cuisines: [...spot.cuisines],
        priceLevel: spot.price,
        description: spot.description,
        latitude: spot.lat,
        longitude: spot.lng,
        timeZone: 'Europe/Lisbon',
        status: 'CLAIMED',
        organizationId: org.id,
        agent: { create: { kind: 'VENUE', name: `${spot.name} concierge`, organizationId: org.id } },
        hours: {
          create:
            spot.category === 'BAR'
              ? [4, 5, 6].map((weekday) => ({ weekday, opensAt: '20:00', closesAt: '03:00' }))
              : spot.category === 'CAFE'
                ? [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '08:00', closesAt: '19:00' }))
                : [1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '12:00', closesAt: '23:00' })),
        },
      },
    });
  }
  // A draft with matching words is never found.
  await app.services.db.venue.create({
    data: {
      name: `Grill Secreto ${tag}`,
      slug: `search-${tag}-draft`,
      timeZone: 'Europe/Lisbon',
      status: 'DRAFT',
      organizationId: org.id,
      cuisines: ['grill'],
    },
  });
});
afterAll(() => app.close());

const names = (res: { data?: { venues: { edges: { node: { name: string } }[] } } | null }) =>
  res.data?.venues.edges.map((e) => e.node.name.replace(` ${tag}`, ''));

describe('venue search', () => {
  it('finds words in names, cuisines and descriptions, best match first, prefixes included', async () => {
    const res = await app.gql(Search, { text: `grill ${tag}` });
    expect(names(res)?.sort()).toEqual(['Grill do Cais', 'Tasca do Grill']);
    const relevance = res.data!.venues.edges.map((e) => e.relevance);
    expect(relevance.every((r) => r > 0)).toBe(true);
    expect(relevance).toEqual([...relevance].sort((a, b) => b - a));
    // A word only in a description is found too.
    expect(names(await app.gql(Search, { text: `omakase ${tag}` }))).toEqual(['Sushi Alfama']);
    expect(names(await app.gql(Search, { text: `sardin ${tag}` }))).toEqual(['Grill do Cais']);
  });

  it('keeps the words index without fast update, so a written venue is merged into it at once', async () => {
    const [index] = await app.services.db.$queryRaw<{ options: string[] | null }[]>`
      SELECT reloptions AS options FROM pg_class WHERE relname = 'venues_search_document_idx'`;
    expect(index?.options).toContain('fastupdate=off');
  });

  it('filters by category and price', async () => {
    expect(names(await app.gql(Search, { text: tag, categories: ['BAR', 'CAFE'], orderBy: 'NAME' }))).toEqual(
      ['Bar Noturno', 'Pastelaria Belém'],
    );
    expect(names(await app.gql(Search, { text: tag, priceLevelMax: 1, orderBy: 'NAME' }))).toEqual([
      'Pastelaria Belém',
      'Tasca do Grill',
    ]);
  });

  it('orders by distance from a point and keeps to a radius', async () => {
    const near = { latitude: 38.7065, longitude: -9.144, radiusMeters: 1500 };
    const res = await app.gql(Search, { text: tag, near, orderBy: 'DISTANCE' });
    expect(names(res)).toEqual(['Grill do Cais', 'Bar Noturno', 'Sushi Alfama']);
    const distances = res.data!.venues.edges.map((e) => e.distanceMeters!);
    expect(distances[0]).toBeLessThan(100);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
    expect(Math.max(...distances)).toBeLessThanOrEqual(1500);
  });

  it('keeps to a radius across the 180th meridian, on either side of it', async () => {
    // Two venues on Taveuni, Fiji, either side of the meridian, about 13 km apart.
    for (const [index, longitude] of [179.93, -179.95].entries()) {
      await app.services.db.venue.create({
        data: {
          // Not named with this file's tag, which the other searches here count by.
          name: `Dateline ${index}`,
          slug: `search-${tag}-dateline-${index}`,
          latitude: -16.8,
          longitude,
          timeZone: 'Pacific/Fiji',
          status: 'LISTED',
          cuisines: ['fijian'],
        },
      });
    }
    for (const longitude of [179.93, -179.95]) {
      const near = { latitude: -16.8, longitude, radiusMeters: 20_000 };
      const res = await app.gql(Search, { text: 'dateline', near, orderBy: 'DISTANCE' });
      expect(res.data?.venues.edges).toHaveLength(2);
      expect(res.data!.venues.edges[0]!.distanceMeters).toBeLessThan(1);
      expect(res.data!.venues.edges[1]!.distanceMeters).toBeLessThan(20_000);
    }
  });

  it('finds only venues open at an instant, in their own time zone', async () => {
    // Saturday 2026-11-28 at 01:00 in Lisbon: only the bar (Friday night until 03:00).
    expect(
      names(await app.gql(Search, { text: tag, openAt: '2026-11-28T01:00:00Z', orderBy: 'NAME' })),
    ).toEqual(['Bar Noturno']);
    // Sunday 2026-11-29 at 13:00: the café; restaurants rest on Sundays.
    expect(
      names(await app.gql(Search, { text: tag, openAt: '2026-11-29T13:00:00Z', orderBy: 'NAME' })),
    ).toEqual(['Pastelaria Belém']);
  });

  it('pages with cursors and a total', async () => {
    const first = await app.gql(Search, { text: tag, orderBy: 'NAME', first: 2 });
    expect(first.data?.venues).toMatchObject({ totalCount: 5, pageInfo: { hasNextPage: true } });
    const second = await app.gql(Search, {
      text: tag,
      orderBy: 'NAME',
      first: 2,
      after: first.data!.venues.pageInfo.endCursor,
    });
    const third = await app.gql(Search, {
      text: tag,
      orderBy: 'NAME',
      first: 2,
      after: second.data!.venues.pageInfo.endCursor,
    });
    expect([...names(first)!, ...names(second)!, ...names(third)!]).toEqual([
      'Bar Noturno',
      'Grill do Cais',
      'Pastelaria Belém',
      'Sushi Alfama',
      'Tasca do Grill',
    ]);
    expect(third.data?.venues.pageInfo.hasNextPage).toBe(false);
  });

  it('serves a signed-in person a page with a venue that lists no cuisines', async () => {
    // Ranked by the person's taste, which reads each venue's cuisines: none is an empty list.
    const venue = await app.services.db.venue.create({
      data: {
        name: `Quiosque ${tag}`,
        slug: `search-${tag}-no-cuisines`,
        timeZone: 'Europe/Lisbon',
        status: 'CLAIMED',
        organizationId,
        latitude: 38.7062,
        longitude: -9.1445,
      },
    });
    try {
      const person = await app.signIn();
      const res = await app.gql(
        Search,
        {
          text: tag,
          near: { latitude: 38.7061, longitude: -9.1444, radiusMeters: 300 },
          orderBy: 'DISTANCE',
        },
        { token: person.token },
      );
      expect(res.errors).toBeUndefined();
      expect(names(res)).toEqual(['Grill do Cais', 'Quiosque']);
    } finally {
      await app.services.db.venue.delete({ where: { id: venue.id } });
    }
  });

  it('refuses a cursor it never gave, and a negative page size, as bad input', async () => {
    const cursor = (text: string) => Buffer.from(text).toString('base64');
    for (const [variables, message, field] of [
      [{ after: 'garbage' }, 'Invalid base64 string', undefined],
      [{ after: cursor('Elsewhere:3') }, 'Invalid offset cursor OffsetConnection:', undefined],
      [{ after: cursor('OffsetConnection:-100') }, 'Not a cursor of this list', 'after'],
      [{ after: cursor('OffsetConnection:many') }, 'Not a cursor of this list', 'after'],
      [{ first: -1 }, 'Argument "first" must be a non-negative integer', undefined],
    ] as const) {
      const res = await app.gql(Search, { text: tag, orderBy: 'NAME', ...variables });
      expect(res.data, JSON.stringify(variables)).toBeNull();
      expect(res.errors, JSON.stringify(variables)).toEqual([
        expect.objectContaining({
          message,
          path: ['venues'],
          extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) },
        }),
      ]);
    }
  });

  it('refuses an order it cannot follow, with a typed error naming the field', async () => {
    const res = await app.gql(Search, { orderBy: 'DISTANCE' });
    expect(res.errors).toEqual([
      {
        message: 'Ordering by distance needs a point to measure from',
        locations: [{ line: 3, column: 3 }],
        path: ['venues'],
        extensions: { code: 'BAD_USER_INPUT', field: 'near' },
      },
    ]);
  });
});

describe('statements per query', () => {
  /** SQL statements the server sends while answering one operation. */
  async function statements(run: () => Promise<unknown>): Promise<number> {
    let count = 0;
    const stop = app.services.database.onQuery(() => {
      count += 1;
    });
    try {
      await run();
    } finally {
      stop();
    }
    return count;
  }

  it('stays constant whatever the page size, for search and for an organisation’s venues', async () => {
    // Enough venues for a page of 50.
    await app.services.db.venue.createMany({
      data: Array.from({ length: 50 }, (_, i) => ({
        name: `Filler ${tag} ${String(i).padStart(2, '0')}`,
        slug: `filler-${tag}-${i}`,
        timeZone: 'Europe/Lisbon',
        status: 'CLAIMED' as const,
        organizationId,
      })),
    });
    const small = await statements(() => app.gql(Deep, { first: 2 }, { token: ownerToken }));
    const large = await statements(() => app.gql(Deep, { first: 50 }, { token: ownerToken }));
    expect(large).toBe(small);
    const page = await app.gql(Deep, { first: 50 }, { token: ownerToken });
    expect(page.errors).toBeUndefined();
    expect(page.data?.venues.edges).toHaveLength(50);

    const orgId = Buffer.from(`Organization:${organizationId}`).toString('base64');
    const orgSmall = await statements(() =>
      app.gql(OrgVenues, { id: orgId, first: 2 }, { token: ownerToken }),
    );
    const orgLarge = await statements(() =>
      app.gql(OrgVenues, { id: orgId, first: 50 }, { token: ownerToken }),
    );
    expect(orgLarge).toBe(orgSmall);
  });
});

describe('open-at in SQL agrees with the domain rule', () => {
  it('for many instants through a year, daylight-saving nights included', async () => {
    const venues = await app.services.db.venue.findMany({
      where: { slug: { startsWith: `search-${tag}-` }, status: 'CLAIMED' },
      include: { hours: true, exceptions: true },
    });
    // A few exceptions, including one that runs past midnight.
    const bar = venues.find((v) => v.category === 'BAR')!;
    await app.services.db.hoursException.createMany({
      data: [
        { venueId: bar.id, date: new Date('2026-12-31T00:00:00Z'), opensAt: '21:00', closesAt: '05:00' },
        { venueId: bar.id, date: new Date('2027-01-01T00:00:00Z'), closed: true },
      ],
    });
    const exceptions = await app.services.db.hoursException.findMany({
      where: { venueId: { in: venues.map((v) => v.id) } },
    });
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const start = Date.parse('2026-03-01T00:00:00Z');
    const instants = [
      '2026-12-31T23:30:00Z',
      '2027-01-01T04:30:00Z',
      '2027-01-02T01:00:00Z',
      ...Array.from({ length: 40 }, () =>
        new Date(start + Math.floor(random() * 365 * 96) * 15 * 60_000).toISOString(),
      ),
    ];
    for (const at of instants) {
      const res = await app.gql(Search, { text: tag, openAt: at, orderBy: 'NAME', first: 50 });
      const inSql = (res.data?.venues.edges ?? []).map((e) => rawId(e.node.id)).sort();
      const inDomain = venues
        .filter((v) =>
          isOpenAt(
            {
              timeZone: v.timeZone,
              hours: v.hours,
              exceptions: exceptions
                .filter((e) => e.venueId === v.id)
                .map((e) => ({ ...e, date: e.date.toISOString().slice(0, 10) })),
            },
            Temporal.Instant.from(at),
          ),
        )
        .map((v) => v.id)
        .sort();
      expect(inSql, at).toEqual(inDomain);
    }
  });
});
