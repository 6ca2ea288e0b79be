/**
 * The SQL statements of the operations `npm run bench` measures (viewer, venue-search,
 * venue-availability, booking-create), counted as the bench counts them: every statement Prisma
 * sends, heard through `Database.onQuery` (what feeds `db_queries_total`). Each operation runs
 * over HTTP, alone on the test app, with the bench's own document. A change that adds a round
 * trip fails here; one that removes one updates the number on purpose.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLANNED_EACH_RUN } from '../../src/platform/db.ts';
import { createOrganization, createPerson, tag } from '../factories/people.ts';
import { createBookableVenue, createVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

beforeAll(async () => {
  app = await startTestApp();
});

afterAll(async () => {
  await app?.close();
});

/** The statements sent while `run` ran, with their text for the failure message. */
async function statements(run: () => Promise<unknown>): Promise<string[]> {
  const sent: string[] = [];
  const stop = app.services.database.onQuery(({ query }) => void sent.push(query));
  try {
    await run();
  } finally {
    stop();
  }
  return sent;
}

/** One answer without errors; its statements. */
async function counted(
  document: string,
  variables: Record<string, unknown>,
  token: string,
  check: (data: unknown) => void,
): Promise<string[]> {
  let data: unknown;
  const sent = await statements(async () => {
    const response = await app.gql(document, variables, { token });
    expect(response.errors, JSON.stringify(response.body)).toBeUndefined();
    data = response.data;
  });
  check(data);
  return sent;
}

/** Lisbon's local date `days` from now, and an instant on it at `time`. */
function lisbon(days: number, time = '12:00') {
  const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days });
  const instant = date
    .toZonedDateTime({ timeZone: 'Europe/Lisbon', plainTime: Temporal.PlainTime.from(time) })
    .toInstant();
  return { date: date.toString(), startsAt: new Date(instant.epochMilliseconds).toISOString() };
}

/** The bench's search: a page with hours and agents. */
const SEARCH_DOCUMENT = `query VenueSearch($text: String!, $lat: Float!, $lng: Float!) {
  venues(text: $text, near: { latitude: $lat, longitude: $lng, radiusMeters: 5000 }, orderBy: DISTANCE, first: 20) {
    totalCount
    edges { distanceMeters node { name cuisines openingHours { weekday opensAt closesAt } agent { name } } }
  }
}`;

describe('SQL statements per measured operation', () => {
  it('viewer: the token’s user and roles, then the viewer with memberships and organisations', async () => {
    const { token, userId } = await app.signIn();
    await createOrganization(app.services.db, { members: [{ userId, role: 'OWNER' }] });
    const sent = await counted(
      'query Viewer { viewer { memberships { organization { name } } } }',
      {},
      token,
      (data) => expect((data as { viewer: { memberships: unknown[] } }).viewer.memberships).toHaveLength(1),
    );
    expect(sent, sent.join('\n')).toHaveLength(2);
  });

  it('venue-search: the user, the search, the person’s taste, the page with hours and agents', async () => {
    const { token } = await app.signIn();
    const organization = await createOrganization(app.services.db);
    const word = `grill${tag()}`;
    for (let i = 0; i < 3; i += 1) {
      const venue = await createVenue(app.services.db, {
        organizationId: organization.id,
        status: 'CLAIMED',
        name: `${word} ${i}`,
        cuisines: ['grill'],
        latitude: 38.7139 + i / 1000,
        longitude: -9.1394,
        open: ['12:00', '23:00'],
      });
      await app.services.db.agent.create({
        data: { venueId: venue.id, kind: 'VENUE', name: `Agent of ${venue.name}`, status: 'ACTIVE' },
      });
    }
    const sent = await counted(SEARCH_DOCUMENT, { text: word, lat: 38.7139, lng: -9.1394 }, token, (data) => {
      const venues = (data as { venues: { totalCount: number; edges: { node: { agent: unknown } }[] } })
        .venues;
      expect(venues.totalCount).toBe(3);
      expect(venues.edges.every((e) => e.node.agent)).toBe(true);
    });
    // Three for the search itself; a signed-in person’s page is ordered by their taste (one more, read
    // again here: the harness keeps no taste; test/e2e/taste-cache.test.ts has the kept case).
    expect(sent, sent.join('\n')).toHaveLength(4);
    // The page reads the venues once: who sees each agent is decided on its venue's row, not on a
    // join back to it.
    const page = sent.find((statement) => statement.includes('"agents"'));
    expect(page?.match(/"venues"/g), page).toHaveLength(1);
    // The same search again: the venues unchanged since, the page is the one this process read.
    const again = await counted(SEARCH_DOCUMENT, { text: word, lat: 38.7139, lng: -9.1394 }, token, (data) =>
      expect((data as { venues: { totalCount: number } }).venues.totalCount).toBe(3),
    );
    expect(again, again.join('\n')).toHaveLength(3);
    expect(again.some((statement) => statement.includes('"agents"'))).toBe(false);
  });

  it('venue-search: the page reads the venues it shows, not the one past it that says a next page exists', async () => {
    const { token } = await app.signIn();
    const organization = await createOrganization(app.services.db);
    const word = `sushi${tag()}`;
    for (let i = 0; i < 3; i += 1) {
      await createVenue(app.services.db, {
        organizationId: organization.id,
        status: 'CLAIMED',
        name: `${word} ${i}`,
        latitude: 38.7139 + i / 1000,
        longitude: -9.1394,
      });
    }
    const values: string[] = [];
    const stop = app.services.database.onQuery(({ query, params }) => {
      if (!query.startsWith(PLANNED_EACH_RUN) && /"venues"/.test(query)) values.push(params);
    });
    const sent = await counted(
      `query VenueSearch($text: String!, $lat: Float!, $lng: Float!) {
        venues(text: $text, near: { latitude: $lat, longitude: $lng }, orderBy: DISTANCE, first: 2) {
          totalCount
          pageInfo { hasNextPage }
          edges { node { name } }
        }
      }`,
      { text: word, lat: 38.7139, lng: -9.1394 },
      token,
      (data) => {
        const { venues } = data as {
          venues: {
            totalCount: number;
            pageInfo: { hasNextPage: boolean };
            edges: { node: { name: string } }[];
          };
        };
        expect(venues.edges.map((e) => e.node.name)).toEqual([`${word} 0`, `${word} 1`]);
        expect(venues.pageInfo.hasNextPage).toBe(true);
        expect(venues.totalCount).toBe(3);
      },
    );
    stop();
    // The page's statement reads the venues by the ids of those shown, and no other.
    expect(values, sent.join('\n')).toHaveLength(1);
    expect(values[0]?.match(UUID), values[0]).toHaveLength(2);
  });

  it('venue-availability: the user and roles, then the venue with hours, tables, agent, exceptions and bookings', async () => {
    const { token } = await app.signIn();
    const organization = await createOrganization(app.services.db);
    const venue = await createBookableVenue(app.services.db, { organizationId: organization.id });
    const sent = await counted(
      `query VenueAvailability($id: ID!, $date: String!, $partySize: Int!) {
        node(id: $id) {
          ... on Venue {
            availability(date: $date, partySize: $partySize) {
              ... on Availability { slots { startsAt } }
              ... on ValidationError { message }
            }
          }
        }
      }`,
      { id: encodeGlobalID('Venue', venue.id), date: lisbon(7).date, partySize: 2 },
      token,
      (data) => {
        const slots = (data as { node: { availability: { slots: unknown[] } } }).node.availability.slots;
        expect(slots.length).toBeGreaterThan(0);
      },
    );
    expect(sent, sent.join('\n')).toHaveLength(2);
  });

  it('booking-create: user, venue with the client key’s booking, locks with reads, booking with history and job, commit; no re-read', async () => {
    const { token } = await app.signIn();
    const owner = await createPerson(app.services.db);
    const organization = await createOrganization(app.services.db, {
      members: [{ userId: owner.id, role: 'OWNER' }],
    });
    const venue = await createBookableVenue(app.services.db, {
      organizationId: organization.id,
      open: ['10:00', '23:00'],
      slotMinutes: 15,
      tables: [],
      coversPerSlot: 1_000_000,
    });
    const { startsAt } = lisbon(3);
    const sent = await counted(
      `mutation CreateBooking($input: CreateBookingInput!) {
        createBooking(input: $input) {
          __typename
          ... on BookingPayload { booking { id status startsAt } }
          ... on Error { message }
        }
      }`,
      {
        input: {
          venueId: encodeGlobalID('Venue', venue.id),
          startsAt,
          partySize: 2,
          clientKey: `key-${tag()}`,
        },
      },
      token,
      (data) => {
        const created = (data as { createBooking: { __typename: string; booking: { status: string } } })
          .createBooking;
        expect(created.__typename).toBe('BookingPayload');
        expect(created.booking.status).toBe('REQUESTED');
      },
    );
    expect(sent, sent.join('\n')).toHaveLength(5);
  });
});
