import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganizationAs } from '../factories/organizations.ts';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { accessToken } from '../helpers/authz.ts';
import { trustOrganization } from '../helpers/venues.ts';

const CreateVenue = graphql(`
  mutation CreateVenue($input: CreateVenueInput!) {
    createVenue(input: $input) {
      __typename
      ... on CreateVenuePayload { agentSigningSecret venue { id slug status checklist { key done } } }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

const SetOpeningHours = graphql(`
  mutation SetOpeningHours($input: SetOpeningHoursInput!) {
    setOpeningHours(input: $input) {
      __typename
      ... on VenuePayload { venue { openingHours { weekday opensAt closesAt } } }
      ... on ValidationError { message field }
    }
  }
`);

const SetBookingRules = graphql(`
  mutation SetBookingRules($input: SetBookingRulesInput!) {
    setBookingRules(input: $input) {
      __typename
      ... on VenuePayload { venue { bookingRules { partySizeMin partySizeMax confirmedAt } } }
      ... on ValidationError { message field }
    }
  }
`);

const SetTables = graphql(`
  mutation SetVenueTables($input: SetVenueTablesInput!) {
    setVenueTables(input: $input) {
      __typename
      ... on VenuePayload { venue { tables { name seats combinable } } }
      ... on ValidationError { message field }
    }
  }
`);

const UpdateVenue = graphql(`
  mutation UpdateVenue($input: UpdateVenueInput!) {
    updateVenue(input: $input) {
      __typename
      ... on VenuePayload { venue { slug timeZone address { city } location { latitude longitude } } }
      ... on ValidationError { message field }
    }
  }
`);

const PublishVenue = graphql(`
  mutation PublishVenue($venueId: ID!) {
    publishVenue(input: { venueId: $venueId }) {
      __typename
      ... on VenuePayload { venue { status } }
      ... on ValidationError { message field }
    }
  }
`);

const ReadVenue = graphql(`
  query ReadVenue($id: ID!, $date: String!, $partySize: Int!) {
    node(id: $id) {
      ... on Venue {
        name
        status
        organization { id }
        availability(date: $date, partySize: $partySize) {
          __typename
          ... on Availability { timeZone slots { startsAt endsAt } }
          ... on ValidationError { field }
        }
      }
    }
  }
`);

let app: TestApp;
let owner: { token: string; userId: string };
let organizationId: string;

beforeAll(async () => {
  app = await startTestApp();
  owner = await app.signIn();
  organizationId = await createOrganizationAs(app, owner.token, 'Venue Owners');
  // An organisation the platform already approved: a new one's first venue waits for review
  // (venue-reviews.test.ts).
  await trustOrganization(app, rawId(organizationId));
});
afterAll(() => app.close());

async function newVenue(name: string) {
  const res = await app.gql(
    CreateVenue,
    {
      input: {
        organizationId,
        name,
        timeZone: 'Europe/Lisbon',
        category: 'RESTAURANT',
        cuisines: ['portuguese'],
        description: 'Fish by the river',
      },
    },
    { token: owner.token },
  );
  return member(res.data?.createVenue, 'CreateVenuePayload', res);
}

describe('venues', () => {
  it('takes a venue from draft to published, then offers its slots to everyone', async () => {
    const { venue, agentSigningSecret } = await newVenue('Rio Tejo Grill');
    expect(venue).toMatchObject({ slug: 'rio-tejo-grill', status: 'DRAFT' });
    expect(agentSigningSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(venue.checklist!.filter((c) => !c.done).map((c) => c.key)).toEqual([
      'location',
      'hours',
      'bookingRules',
      'capacity',
      'published',
    ]);

    const early = await app.gql(PublishVenue, { venueId: venue.id }, { token: owner.token });
    expect(early.body).toMatchObject({
      data: {
        publishVenue: {
          __typename: 'ValidationError',
          field: null,
          message: 'Not ready to publish: add the street address, city, country and map position',
        },
      },
    });

    await app.gql(
      UpdateVenue,
      {
        input: {
          venueId: venue.id,
          addressLine1: 'Cais do Sodré 1',
          city: 'Lisboa',
          countryCode: 'PT',
          latitude: 38.706,
          longitude: -9.144,
        },
      },
      { token: owner.token },
    );
    const hours = await app.gql(
      SetOpeningHours,
      {
        input: {
          venueId: venue.id,
          hours: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '12:00', closesAt: '23:00' })),
        },
      },
      { token: owner.token },
    );
    expect(member(hours.data?.setOpeningHours, 'VenuePayload', hours).venue.openingHours).toHaveLength(7);
    const rules = await app.gql(
      SetBookingRules,
      {
        input: {
          venueId: venue.id,
          partySizeMin: 1,
          partySizeMax: 6,
          slotMinutes: 30,
          turnMinutes: 90,
          leadTimeMinutes: 60,
          bookingHorizonDays: 60,
        },
      },
      { token: owner.token },
    );
    expect(
      member(rules.data?.setBookingRules, 'VenuePayload', rules).venue.bookingRules.confirmedAt,
    ).toBeTruthy();
    await app.gql(
      SetTables,
      {
        input: {
          venueId: venue.id,
          tables: [
            { name: 'T1', seats: 2 },
            { name: 'T2', seats: 4, combinable: true },
          ],
        },
      },
      { token: owner.token },
    );

    const published = await app.gql(PublishVenue, { venueId: venue.id }, { token: owner.token });
    expect(published.body).toMatchObject({ data: { publishVenue: { venue: { status: 'CLAIMED' } } } });

    // Someone from elsewhere sees the public venue, its slots, but not its organisation.
    const stranger = await app.signIn();
    const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 7 }).toString();
    const read = await app.gql(ReadVenue, { id: venue.id, date, partySize: 2 }, { token: stranger.token });
    expect(read.errors).toBeUndefined();
    const node = read.data?.node as { organization: unknown; availability: { slots: unknown[] } };
    expect(node.organization).toBeNull();
    // 12:00 to 21:30 every 30 minutes.
    expect(node.availability.slots).toHaveLength(20);
    const tooMany = await app.gql(ReadVenue, { id: venue.id, date, partySize: 7 }, { token: stranger.token });
    expect((tooMany.data!.node as { availability: unknown }).availability).toEqual({
      __typename: 'ValidationError',
      field: 'partySize',
    });
  });

  it('gives a short name an address of three characters or more, and a second one its own', async () => {
    const first = await newVenue('Oz');
    const second = await newVenue('Oz');
    expect(first.venue.slug).toBe('oz-venue');
    expect(second.venue.slug).toBe('oz-venue-2');
  });

  it('keeps a draft hidden from other organisations', async () => {
    const { venue } = await newVenue('Secret Supper Club');
    const stranger = await app.signIn();
    const date = '2030-01-01';
    const read = await app.gql(ReadVenue, { id: venue.id, date, partySize: 2 }, { token: stranger.token });
    expect(read.body).toEqual({ data: { node: null } });
  });

  it('answers bad input with a typed error naming the field, and changes nothing', async () => {
    const { venue } = await newVenue('Careful Cantina');
    // A zone that does not exist, and fixed offsets (no summer time; read the other way by the database).
    for (const timeZone of ['Mars/Olympus', '+05:30', '-03:00', 'T12:00+05:30', 'T12:00Z']) {
      const badZone = await app.gql(
        UpdateVenue,
        { input: { venueId: venue.id, timeZone } },
        { token: owner.token },
      );
      expect(badZone.body).toMatchObject({
        data: { updateVenue: { __typename: 'ValidationError', field: 'timeZone' } },
      });
    }

    const overlap = await app.gql(
      SetOpeningHours,
      {
        input: {
          venueId: venue.id,
          hours: [
            { weekday: 1, opensAt: '12:00', closesAt: '15:00' },
            { weekday: 1, opensAt: '14:00', closesAt: '22:00' },
          ],
        },
      },
      { token: owner.token },
    );
    expect(overlap.body).toMatchObject({
      data: { setOpeningHours: { __typename: 'ValidationError', field: 'hours.1.opensAt' } },
    });

    // Bounded: a week's intervals, a call's exceptions and dates, a reason, a web address.
    const tooManyHours = await app.gql(
      SetOpeningHours,
      {
        input: {
          venueId: venue.id,
          hours: Array.from({ length: 71 }, (_, i) => ({
            weekday: i % 7,
            opensAt: `${String(Math.floor(i / 7)).padStart(2, '0')}:00`,
            closesAt: `${String(Math.floor(i / 7)).padStart(2, '0')}:30`,
          })),
        },
      },
      { token: owner.token },
    );
    expect(tooManyHours.body).toMatchObject({
      data: { setOpeningHours: { __typename: 'ValidationError', field: 'hours' } },
    });
    const longReason = await app.gql(
      `mutation E($input: SetHoursExceptionsInput!) { setHoursExceptions(input: $input) { __typename ... on ValidationError { field } } }`,
      {
        input: {
          venueId: venue.id,
          exceptions: [{ date: '2031-12-24', closed: true, reason: 'x'.repeat(201) }],
        },
      },
      { token: owner.token },
    );
    expect(longReason.data).toEqual({
      setHoursExceptions: { __typename: 'ValidationError', field: 'exceptions.0.reason' },
    });
    const manyDates = await app.gql(
      `mutation E($input: SetHoursExceptionsInput!) { setHoursExceptions(input: $input) { __typename ... on ValidationError { field } } }`,
      {
        input: {
          venueId: venue.id,
          exceptions: [],
          clearDates: Array.from({ length: 367 }, (_, i) =>
            Temporal.PlainDate.from('2031-01-01').add({ days: i }).toString(),
          ),
        },
      },
      { token: owner.token },
    );
    expect(manyDates.data).toEqual({
      setHoursExceptions: { __typename: 'ValidationError', field: 'clearDates' },
    });
    const longSite = await app.gql(
      UpdateVenue,
      { input: { venueId: venue.id, website: `https://harbour.pt/${'x'.repeat(2040)}` } },
      { token: owner.token },
    );
    expect(longSite.body).toMatchObject({
      data: { updateVenue: { __typename: 'ValidationError', field: 'website' } },
    });
    // A date that is not one (February 30th) is refused, not read as March 2nd.
    const badFrom = await app.gql(
      `query X($id: ID!) { node(id: $id) { ... on Venue { hoursExceptions(from: "2026-02-30", days: 7) { date } } } }`,
      { id: venue.id },
      { token: owner.token },
    );
    expect(badFrom.errors?.[0]?.message).toBe('Use a date such as 2026-12-24');

    const minAboveMax = await app.gql(
      SetBookingRules,
      {
        input: {
          venueId: venue.id,
          partySizeMin: 8,
          partySizeMax: 4,
          slotMinutes: 30,
          turnMinutes: 90,
          leadTimeMinutes: 60,
          bookingHorizonDays: 60,
        },
      },
      { token: owner.token },
    );
    expect(minAboveMax.body).toMatchObject({
      data: { setBookingRules: { __typename: 'ValidationError', field: 'partySizeMin' } },
    });

    const other = await newVenue('Taken Tavern');
    const slugTaken = await app.gql(
      UpdateVenue,
      { input: { venueId: venue.id, slug: other.venue.slug } },
      { token: owner.token },
    );
    expect(slugTaken.body).toMatchObject({
      data: { updateVenue: { __typename: 'ValidationError', field: 'slug' } },
    });

    const stored = await app.services.db.venue.findFirstOrThrow({
      where: { name: 'Careful Cantina' },
      include: { hours: true },
    });
    expect(stored).toMatchObject({
      timeZone: 'Europe/Lisbon',
      slug: 'careful-cantina',
      partySizeMin: 1,
      bookingRulesConfirmedAt: null,
      hours: [],
    });
  });

  it("lists a venue's exceptions from today where the venue is, unless asked from another date", async () => {
    const { venue } = await newVenue('Dateline Diner');
    const db = app.services.db;
    const id = rawId(venue.id);
    const listed = async (args = '') => {
      const res = await app.gql(
        `query X($id: ID!) { node(id: $id) { ... on Venue { hoursExceptions${args} { date } } } }`,
        { id: venue.id },
        // Signed at the test's clock, which moves on below.
        { token: await accessToken(app, owner.userId) },
      );
      expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
      return (res.data as { node: { hoursExceptions: { date: string }[] } }).node.hoursExceptions.map(
        (e) => e.date,
      );
    };
    const utcDate = (at: Date) => at.toISOString().slice(0, 10);
    const dayAfter = (date: string, days: number) =>
      utcDate(new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000));
    // The next 05:00 UTC: evening of the day before in Los Angeles.
    const now = app.clock.now();
    const target = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 5);
    app.clock.advance((target > now.getTime() ? target : target + 86_400_000) - now.getTime());
    const today = utcDate(app.clock.now());
    const yesterday = dayAfter(today, -1);
    await db.hoursException.createMany({
      data: [dayAfter(today, -2), yesterday, today, dayAfter(today, 1)].map((date) => ({
        venueId: id,
        date: new Date(`${date}T00:00:00Z`),
        closed: true,
      })),
    });

    await db.venue.update({ where: { id }, data: { timeZone: 'America/Los_Angeles' } });
    // Still "yesterday" in UTC terms: that is today there, and its exception is listed.
    expect(await listed()).toEqual([yesterday, today, dayAfter(today, 1)]);
    expect(await listed('(days: 1)')).toEqual([yesterday]);
    expect(await listed('(from: "", days: 1)')).toEqual([yesterday]);
    // Told a date, the list starts there, wherever the venue is.
    expect(await listed(`(from: "${today}", days: 1)`)).toEqual([today]);

    // Seven hours on it is already tomorrow on Kiritimati (UTC+14): today's is in the past there.
    app.clock.advance(7 * 3_600_000);
    await db.venue.update({ where: { id }, data: { timeZone: 'Pacific/Kiritimati' } });
    expect(await listed()).toEqual([dayAfter(today, 1)]);
    await db.venue.update({ where: { id }, data: { timeZone: 'Europe/Lisbon' } });
    expect(await listed()).toEqual([today, dayAfter(today, 1)]);
  });
});
