/**
 * Input a client can send that is not what it should be, and that reached the database as it
 * came: each is refused as bad input (or made harmless), never answered "Unexpected error.", and
 * none is logged as an error of ours.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { guest, person } from '../helpers/authz.ts';
import { capturingLogger, type LogLine } from '../helpers/logs.ts';

let app: TestApp;
let lines: LogLine[];

beforeAll(async () => {
  const captured = capturingLogger('error');
  lines = captured.lines;
  app = await startTestApp({ logger: captured.logger });
});
afterAll(async () => {
  await app?.close();
});
afterEach(() => {
  // Bad input is the client's: nothing of it is an error of ours to look into.
  expect(lines.filter((l) => l.msg === 'unexpected error in GraphQL')).toEqual([]);
  lines.length = 0;
});

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

interface Answer {
  status: number;
  data?: unknown;
  errors?: { message: string; path?: unknown; extensions?: Record<string, unknown> }[];
}

const gql = (query: string, variables: Record<string, unknown>, token?: string) =>
  app.gql(query, variables, token ? { token } : {}) as Promise<Answer>;

/** A published venue, its owner, and someone signed in. */
async function world() {
  const db = app.services.db;
  const organization = await createOrganization(db);
  const owner = await person(app, organization.id, 'OWNER');
  const venue = await createBookableVenue(db, {
    organizationId: organization.id,
    publishedAt: new Date(),
    timeZone: 'UTC',
  });
  return { organization, owner, venue, someone: await guest(app) };
}

describe('dates that are not dates', () => {
  it("refuses a day that does not exist in a venue's availability, for anyone", async () => {
    const { venue } = await world();
    for (const date of ['2026-12-32', '2026-13-01', '2026-00-10', '2026-02-30', '0000-01-01', '0001-01-01']) {
      const answer = await gql(
        'query Free($id: ID!, $date: String!) { node(id: $id) { ... on Venue { availability(date: $date, partySize: 2) { __typename ... on ValidationError { message field } } } } }',
        { id: gid('Venue', venue.id), date },
      );
      expect(answer.errors, date).toBeUndefined();
      expect(answer.data, date).toEqual({
        node: {
          availability: {
            __typename: 'ValidationError',
            message: 'Use a date such as 2026-12-24',
            field: 'date',
          },
        },
      });
    }
  });

  it('refuses instants before the year 1900 or after 9999 as bad input, wherever they are asked for', async () => {
    const { owner, venue } = await world();
    const searched = await gql('query Open($at: DateTime) { venues(openAt: $at, first: 1) { totalCount } }', {
      at: '0000-01-01T00:00:00Z',
    });
    expect(searched.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('Give a date between the years 1900 and 9999'),
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }),
      }),
    ]);
    const booked = await gql(
      'mutation Book($input: CreateBookingInput!) { createBooking(input: $input) { __typename } }',
      { input: { venueId: gid('Venue', venue.id), startsAt: '0001-01-01T00:00:00Z', partySize: 2 } },
      owner.token,
    );
    expect(booked.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    const listed = await gql(
      'query Day($id: ID!, $from: DateTime) { node(id: $id) { ... on Venue { bookings(from: $from, first: 5) { totalCount } } } }',
      { id: gid('Venue', venue.id), from: '0000-06-01T00:00:00Z' },
      owner.token,
    );
    expect(listed.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    const cleared = await gql(
      'mutation Clear($input: SetHoursExceptionsInput!) { setHoursExceptions(input: $input) { __typename ... on ValidationError { field } } }',
      { input: { venueId: gid('Venue', venue.id), exceptions: [], clearDates: ['0000-01-01'] } },
      owner.token,
    );
    expect(cleared.data).toEqual({
      setHoursExceptions: { __typename: 'ValidationError', field: 'clearDates.0' },
    });
  });

  it('gives a variable of the wrong type its code: an enum value that is none, a number as text, an instant without its offset', async () => {
    const { owner, venue } = await world();
    for (const [query, variables] of [
      [
        'query Q($id: ID!, $s: [BookingStatus!]) { node(id: $id) { ... on Venue { bookings(statuses: $s, first: 1) { totalCount } } } }',
        { id: gid('Venue', venue.id), s: ['NOT_A_STATUS'] },
      ],
      ['query Q($n: Int) { venues(first: $n) { totalCount } }', { n: '5' }],
      [
        'query Q($id: ID!, $from: DateTime) { node(id: $id) { id } venues(openAt: $from, first: 1) { totalCount } }',
        { id: gid('Venue', venue.id), from: '2026-12-16T20:00:00' },
      ],
    ] as const) {
      const answer = await gql(query, variables, owner.token);
      expect(answer.status, query).toBe(400);
      expect(
        answer.errors?.map((e) => e.extensions?.code),
        query,
      ).toEqual(['BAD_USER_INPUT']);
    }
  });
});

describe('cursors of lists read with their parent', () => {
  it("refuses a cursor the list never gave on an organisation's venues, and pages by the ones it gave", async () => {
    const { organization, owner } = await world();
    await createBookableVenue(app.services.db, { organizationId: organization.id });
    const page = (after?: string) =>
      gql(
        'query Page($id: ID!, $after: String) { organization(id: $id) { venues(first: 1, after: $after) { edges { cursor node { id } } } } }',
        { id: gid('Organization', organization.id), after },
        owner.token,
      );
    const first = (await page()) as Answer & {
      data: { organization: { venues: { edges: { cursor: string; node: { id: string } }[] } } };
    };
    const [edge] = first.data.organization.venues.edges;
    const second = (await page(edge!.cursor)) as typeof first;
    expect(second.data.organization.venues.edges).toHaveLength(1);
    expect(second.data.organization.venues.edges[0]!.node.id).not.toBe(edge!.node.id);

    const cursor = (chunk: string) => Buffer.from(`GPC:${chunk}`).toString('base64');
    for (const after of [cursor('S:x'), cursor('N:1'), cursor('J:{}'), edge!.cursor.slice(0, -4)]) {
      const refused = await page(after);
      expect(refused.errors, after).toEqual([
        expect.objectContaining({
          message: 'Not a cursor of this list',
          extensions: { code: 'BAD_USER_INPUT', field: 'after' },
        }),
      ]);
    }
  });
});

describe('a GET whose variables are not JSON', () => {
  it('is a bad request, not an error of ours', async () => {
    const url = new URL('/graphql', app.url);
    url.searchParams.set('query', '{ __typename }');
    url.searchParams.set('variables', 'x');
    const response = await fetch(url, { headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as Answer;
    expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
  });
});

describe('coordinates too small to compute with', () => {
  it('are kept as 0: the venue is saved, and searches measuring distance go on working for everyone', async () => {
    const { owner, venue } = await world();
    const updated = await gql(
      'mutation Move($input: UpdateVenueInput!) { updateVenue(input: $input) { __typename } }',
      { input: { venueId: gid('Venue', venue.id), latitude: 5e-324, longitude: -5e-324 } },
      owner.token,
    );
    expect(updated.data).toEqual({ updateVenue: { __typename: 'VenuePayload' } });
    const saved = await app.services.db.venue.findUniqueOrThrow({ where: { id: venue.id } });
    expect([saved.latitude, saved.longitude].map((degrees) => Math.abs(degrees!))).toEqual([0, 0]);
    const near = await gql(
      'query Near($near: NearInput) { venues(near: $near, orderBy: DISTANCE, first: 5) { totalCount } }',
      { near: { latitude: 5e-324, longitude: 0 } },
    );
    expect(near.errors).toBeUndefined();
    expect(near.data).toMatchObject({ venues: { totalCount: expect.any(Number) } });
  });
});
