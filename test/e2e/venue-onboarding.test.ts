/**
 * A new owner walking through onboarding, as a dashboard would: social handles for any of the
 * networks, the organisation checklist following the venue being set up, and a venue on the
 * network that cannot lose what makes it bookable.
 */
import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOKING_RULES } from '../factories/venues.ts';
import { member, startTestApp, type TestApp } from '../helpers/app.ts';
import { waitingForLock } from '../helpers/db.ts';
import { trustOrganization } from '../helpers/venues.ts';

type Answer = { __typename: string; message?: string; field?: string | null; venue?: VenueView };
interface VenueView {
  id: string;
  status: string;
  socialHandles: { network: string; handle: string }[];
  openingHours: { weekday: number }[];
  tables: { name: string }[] | null;
  bookingRules: { coversPerSlot: number | null };
}

const VENUE = `venue { id status socialHandles { network handle } openingHours { weekday } tables { name } bookingRules { coversPerSlot } }`;
const ANSWER = `__typename ... on Error { message } ... on ValidationError { field }`;

const mutation = (name: string, inputType: string) => {
  const payload = name === 'createVenue' ? 'CreateVenuePayload' : 'VenuePayload';
  return `mutation($input: ${inputType}!) { ${name}(input: $input) { ${ANSWER} ... on ${payload} { ${VENUE} } } }`;
};

const Onboarding = `query($id: ID!) {
  organization(id: $id) { onboarding { complete next venue { id } steps { key done hint } } }
}`;

let app: TestApp;
let token: string;
let organizationId: string;

beforeAll(async () => {
  app = await startTestApp();
  token = (await app.signIn()).token;
  organizationId = await newOrganization('Harbour Group');
});
afterAll(() => app.close());

async function newOrganization(name: string): Promise<string> {
  const res = await app.gql<
    { createOrganization: { __typename: 'OrganizationPayload'; organization: { id: string } } },
    unknown
  >(
    `mutation($name: String!) { createOrganization(input: { name: $name }) { __typename ... on OrganizationPayload { organization { id } } } }`,
    { name },
    { token },
  );
  const id = member(res.data?.createOrganization, 'OrganizationPayload', res).organization.id;
  // What follows publication is tested here; a new organisation's first review is in venue-reviews.
  await trustOrganization(app, decodeGlobalID(id).id);
  return id;
}

async function call(name: string, inputType: string, input: Record<string, unknown>) {
  const res = await app.gql<Record<string, Answer>, unknown>(mutation(name, inputType), { input }, { token });
  return { answer: res.data?.[name], body: JSON.stringify(res.body, null, 2) };
}

async function ok(name: string, inputType: string, input: Record<string, unknown>): Promise<VenueView> {
  const { answer, body } = await call(name, inputType, input);
  expect(answer?.venue, body).toBeDefined();
  return answer!.venue!;
}

async function draft(org: string, name: string, extra: Record<string, unknown> = {}) {
  return ok('createVenue', 'CreateVenueInput', {
    organizationId: org,
    name,
    timeZone: 'Europe/Lisbon',
    ...extra,
  });
}

/** A venue with every step of its checklist done, published unless `publish` is false. */
async function readyVenue(org: string, name: string, options: { publish?: boolean; tables?: boolean } = {}) {
  const venue = await draft(org, name, {
    description: 'Fish by the water',
    cuisines: ['seafood'],
    addressLine1: 'Rua do Cais 1',
    city: 'Lisboa',
    countryCode: 'PT',
    latitude: 38.7,
    longitude: -9.14,
  });
  await ok('setOpeningHours', 'SetOpeningHoursInput', {
    venueId: venue.id,
    hours: [{ weekday: 5, opensAt: '18:00', closesAt: '23:00' }],
  });
  await ok('setBookingRules', 'SetBookingRulesInput', {
    venueId: venue.id,
    ...BOOKING_RULES,
    ...(options.tables === false ? { coversPerSlot: 20 } : {}),
  });
  if (options.tables !== false)
    await ok('setVenueTables', 'SetVenueTablesInput', {
      venueId: venue.id,
      tables: [{ name: 'T1', seats: 4 }],
    });
  if (options.publish === false) return venue;
  return ok('publishVenue', 'VenueIdInput', { venueId: venue.id });
}

async function onboarding(org: string) {
  const res = await app.gql<
    {
      organization: {
        onboarding: {
          complete: boolean;
          next: string | null;
          venue: { id: string } | null;
          steps: { key: string; done: boolean; hint: string }[];
        };
      };
    },
    unknown
  >(Onboarding, { id: org }, { token });
  return { ...res.data!.organization.onboarding, body: JSON.stringify(res.body, null, 2) };
}

describe('social handles', () => {
  it('takes any subset of the networks, in any case, and a list without one (or with it empty) clears it', async () => {
    const venue = await draft(organizationId, 'Instagram Only', {
      socialHandles: [{ network: 'INSTAGRAM', handle: '@harbourlights' }],
    });
    expect(venue.socialHandles).toEqual([{ network: 'instagram', handle: '@harbourlights' }]);

    const two = await ok('updateVenue', 'UpdateVenueInput', {
      venueId: venue.id,
      socialHandles: [
        { network: 'instagram', handle: '@harbourlights' },
        { network: 'tiktok', handle: 'harbour.lights' },
      ],
    });
    expect(two.socialHandles).toEqual([
      { network: 'instagram', handle: '@harbourlights' },
      { network: 'tiktok', handle: 'harbour.lights' },
    ]);

    // A change of something else leaves the handles as they are.
    const renamed = await ok('updateVenue', 'UpdateVenueInput', {
      venueId: venue.id,
      name: 'Harbour Lights',
    });
    expect(renamed.socialHandles).toHaveLength(2);

    // A form with a control per network sends the empty ones too: an empty handle is none.
    const cleared = await ok('updateVenue', 'UpdateVenueInput', {
      venueId: venue.id,
      socialHandles: [
        { network: 'instagram', handle: '' },
        { network: 'tiktok', handle: 'harbour.lights' },
        { network: 'facebook', handle: ' ' },
      ],
    });
    expect(cleared.socialHandles).toEqual([{ network: 'tiktok', handle: 'harbour.lights' }]);

    const none = await ok('updateVenue', 'UpdateVenueInput', { venueId: venue.id, socialHandles: [] });
    expect(none.socialHandles).toEqual([]);
  });

  it('refuses a network it does not know, naming that entry of the list, and changes nothing', async () => {
    const venue = await draft(organizationId, 'Handles Kept', {
      socialHandles: [{ network: 'x', handle: 'kept' }],
    });
    const { answer, body } = await call('updateVenue', 'UpdateVenueInput', {
      venueId: venue.id,
      socialHandles: [
        { network: 'x', handle: 'other' },
        { network: 'myspace', handle: 'harbour' },
      ],
    });
    expect(answer, body).toEqual({
      __typename: 'ValidationError',
      field: 'socialHandles.1.network',
      message: 'Use one of instagram, facebook, tiktok, x, threads',
    });
    const stored = await app.services.db.venue.findFirstOrThrow({ where: { name: 'Handles Kept' } });
    expect(stored.socialHandles).toEqual({ x: 'kept' });
  });
});

describe('onboarding after the first venue', () => {
  it('stays complete when a second draft is started, and follows the live venue', async () => {
    const org = await newOrganization('One Live Venue');
    const live = await readyVenue(org, 'The Live One');
    const before = await onboarding(org);
    expect(before, before.body).toMatchObject({ complete: true, next: null, venue: { id: live.id } });

    const second = await draft(org, 'The Second One');
    const after = await onboarding(org);
    expect(after, after.body).toMatchObject({ complete: true, next: null, venue: { id: live.id } });
    expect(after.steps.filter((s) => !s.done).map((s) => s.key)).toEqual(['team', 'apiKey']);

    // The second venue's own checklist says what it still needs.
    const res = await app.gql<{ node: { checklist: { key: string; done: boolean }[] } }, unknown>(
      `query($id: ID!) { node(id: $id) { ... on Venue { checklist { key done } } } }`,
      { id: second.id },
      { token },
    );
    expect(res.data?.node.checklist.find((i) => i.key === 'hours')?.done).toBe(false);
  });

  it('asks to finish a claim only while its code can still be used', async () => {
    const org = await newOrganization('Claim Under Way');
    const listed = await app.services.db.venue.create({
      data: { name: 'Listed', slug: `listed-${Date.now()}`, timeZone: 'Europe/Lisbon', status: 'LISTED' },
    });
    const requester = await app.services.db.membership.findFirstOrThrow({
      where: { organizationId: decodeGlobalID(org).id },
    });
    const claim = await app.services.db.venueClaim.create({
      data: {
        venueId: listed.id,
        organizationId: decodeGlobalID(org).id,
        requestedById: requester.userId,
        method: 'VENUE_EMAIL',
        expiresAt: new Date(Date.now() + 30 * 60_000),
      },
    });
    const venueStep = async () => (await onboarding(org)).steps.find((s) => s.key === 'venue')?.hint;
    expect(await venueStep()).toBe('Finish your venue claim (check the code we emailed), or add a venue');
    await app.services.db.venueClaim.update({
      where: { id: claim.id },
      data: { expiresAt: new Date(Date.now() - 60_000) },
    });
    expect(await venueStep()).toBe('Add your venue, or claim it if it is already listed');
  });

  it('is not complete for a venue claimed from the listings until it can take a booking', async () => {
    const org = await newOrganization('Claimed From The Listings');
    // As a claim approved leaves it: on the network, with no hours, rules or tables of its own.
    const claimed = await app.services.db.venue.create({
      data: {
        name: 'Listed Then Claimed',
        slug: `listed-then-claimed-${Date.now()}`,
        timeZone: 'Europe/Lisbon',
        status: 'CLAIMED',
        organizationId: decodeGlobalID(org).id,
      },
    });
    const checklist = await onboarding(org);
    expect(checklist, checklist.body).toMatchObject({ complete: false, next: 'venueDetails' });
    expect(checklist.steps.find((s) => s.key === 'venueDetails')?.hint).toBe('Add the weekly opening hours');
    expect(checklist.steps.find((s) => s.key === 'published')?.done).toBe(true);
    const venueId = Buffer.from(`Venue:${claimed.id}`).toString('base64');
    await ok('setOpeningHours', 'SetOpeningHoursInput', {
      venueId,
      hours: [{ weekday: 5, opensAt: '18:00', closesAt: '23:00' }],
    });
    await ok('setBookingRules', 'SetBookingRulesInput', { venueId, ...BOOKING_RULES, coversPerSlot: 20 });
    // Bookable now; its profile (no address) is not what onboarding waits for.
    expect(await onboarding(org)).toMatchObject({ complete: true, next: null });
  });

  it('before anything is live, follows the draft nearest to ready and names what it still needs', async () => {
    const org = await newOrganization('Two Drafts');
    await draft(org, 'Barely Started');
    const nearly = await readyVenue(org, 'Nearly There', { publish: false });
    await draft(org, 'Started Later');
    const checklist = await onboarding(org);
    expect(checklist, checklist.body).toMatchObject({
      complete: false,
      next: 'published',
      venue: { id: nearly.id },
    });
    expect(checklist.steps.find((s) => s.key === 'venueDetails')?.done).toBe(true);

    const fresh = await newOrganization('One Draft');
    const only = await draft(fresh, 'Just Named', { description: 'A bar', category: 'BAR' });
    const started = await onboarding(fresh);
    expect(started, started.body).toMatchObject({
      complete: false,
      next: 'venueDetails',
      venue: { id: only.id },
    });
    expect(started.steps.find((s) => s.key === 'venueDetails')?.hint).toBe(
      'Add the street address, city, country and map position',
    );
  });
});

describe('a venue on the network stays bookable', () => {
  it('refuses to empty its hours or tables, naming the field and saying to unpublish first; a draft may', async () => {
    const venue = await readyVenue(organizationId, 'Always Open');

    const noHours = await call('setOpeningHours', 'SetOpeningHoursInput', { venueId: venue.id, hours: [] });
    expect(noHours.answer, noHours.body).toEqual({
      __typename: 'ValidationError',
      field: 'hours',
      message: 'A venue on the network needs opening hours: keep at least one, or unpublish the venue first',
    });
    const noTables = await call('setVenueTables', 'SetVenueTablesInput', { venueId: venue.id, tables: [] });
    expect(noTables.answer, noTables.body).toMatchObject({ __typename: 'ValidationError', field: 'tables' });
    expect(noTables.answer?.message).toMatch(/unpublish the venue first/);

    const stored = await app.services.db.venue.findUniqueOrThrow({
      where: { id: Buffer.from(venue.id, 'base64').toString().split(':')[1]! },
      include: { hours: true, tables: true },
    });
    expect([stored.status, stored.hours.length, stored.tables.length]).toEqual(['CLAIMED', 1, 1]);

    // Other hours are a change, not a loss.
    await ok('setOpeningHours', 'SetOpeningHoursInput', {
      venueId: venue.id,
      hours: [{ weekday: 6, opensAt: '12:00', closesAt: '16:00' }],
    });

    const unpublished = await ok('unpublishVenue', 'VenueIdInput', { venueId: venue.id });
    expect(unpublished.status).toBe('DRAFT');
    const emptied = await ok('setOpeningHours', 'SetOpeningHoursInput', { venueId: venue.id, hours: [] });
    expect(emptied.openingHours).toEqual([]);
  });

  it('seats guests by tables or by a number per slot: either may go while the other stays', async () => {
    const venue = await readyVenue(organizationId, 'Counted Covers', { tables: false });
    expect(venue.bookingRules.coversPerSlot).toBe(20);
    // No tables and no cap per slot would leave nowhere to seat anyone.
    const { answer, body } = await call('setBookingRules', 'SetBookingRulesInput', {
      venueId: venue.id,
      ...BOOKING_RULES,
    });
    expect(answer, body).toMatchObject({ __typename: 'ValidationError', field: 'coversPerSlot' });

    await ok('setVenueTables', 'SetVenueTablesInput', {
      venueId: venue.id,
      tables: [{ name: 'Bar', seats: 6 }],
    });
    const uncapped = await ok('setBookingRules', 'SetBookingRulesInput', {
      venueId: venue.id,
      ...BOOKING_RULES,
    });
    expect([uncapped.status, uncapped.bookingRules.coversPerSlot, uncapped.tables]).toEqual([
      'CLAIMED',
      null,
      [{ name: 'Bar' }],
    ]);
  });

  it('does not publish a draft whose tables were emptied while the publish waited', async () => {
    const org = await newOrganization('Emptied Meanwhile');
    const venue = await readyVenue(org, 'Emptied Meanwhile', { publish: false });
    const id = decodeGlobalID(venue.id).id;
    // A change to the draft holds the venue's row (as setVenueTables does) while the publish,
    // whose first read found the tables, waits for it; then it empties them and commits.
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const emptying = app.services.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM venues WHERE id = ${id}::uuid FOR UPDATE`;
      await held;
      await tx.venueTable.deleteMany({ where: { venueId: id } });
    });
    const publishing = call('publishVenue', 'VenueIdInput', { venueId: venue.id });
    await waitingForLock(app.services.db, 'FROM venues WHERE id');
    release();
    await emptying;
    const { answer, body } = await publishing;
    expect(answer, body).toMatchObject({
      __typename: 'ValidationError',
      message: 'Not ready to publish: list the tables, or set how many guests can start in one slot',
    });
    expect((await app.services.db.venue.findUniqueOrThrow({ where: { id } })).status).toBe('DRAFT');
  });

  it('lets only one of two changes at once remove the last way to seat guests', async () => {
    const venue = await readyVenue(organizationId, 'Both Ways', { tables: false });
    await ok('setVenueTables', 'SetVenueTablesInput', {
      venueId: venue.id,
      tables: [{ name: 'T1', seats: 4 }],
    });
    const [noTables, noCap] = await Promise.all([
      call('setVenueTables', 'SetVenueTablesInput', { venueId: venue.id, tables: [] }),
      call('setBookingRules', 'SetBookingRulesInput', {
        venueId: venue.id,
        ...BOOKING_RULES,
      }),
    ]);
    expect(
      [noTables.answer?.__typename, noCap.answer?.__typename].sort(),
      noTables.body + noCap.body,
    ).toEqual(['ValidationError', 'VenuePayload']);
    const stored = await app.services.db.venue.findUniqueOrThrow({
      where: { id: Buffer.from(venue.id, 'base64').toString().split(':')[1]! },
      include: { _count: { select: { tables: true } } },
    });
    expect(stored._count.tables > 0 || stored.coversPerSlot !== null).toBe(true);
  });
});
