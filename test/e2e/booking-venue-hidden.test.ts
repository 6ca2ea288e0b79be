/**
 * A guest's bookings stay readable when one of their venues leaves the network (unpublished by
 * its owners, suspended by the platform): the booking answers with `venue: null` instead of its
 * whole list failing, and its venue's team still sees the venue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { guest, person } from '../helpers/authz.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

const MINE = /* GraphQL */ `
  query {
    myBookings(first: 10) { edges { node { id status venue { name } } } }
  }
`;

describe('a booking whose venue left the network', () => {
  it('answers with its venue null for the guest, the rest of the list intact; the team still sees it', async () => {
    const db = app.services.db;
    const organization = await createOrganization(db);
    const open = await createBookableVenue(db, { name: 'Still Open', organizationId: organization.id });
    const gone = await createBookableVenue(db, { name: 'Gone Quiet', organizationId: organization.id });
    const diner = await guest(app, 'diner');
    const at = (days: number) => new Date(Date.now() + days * 86_400_000);
    await createBooking(db, {
      venueId: open.id,
      guestId: diner.userId,
      startsAt: at(3),
      status: 'CONFIRMED',
    });
    const hidden = await createBooking(db, {
      venueId: gone.id,
      guestId: diner.userId,
      startsAt: at(4),
      status: 'CONFIRMED',
    });
    // Its owners take it off the network.
    await db.venue.update({ where: { id: gone.id }, data: { status: 'DRAFT' } });

    type Mine = {
      myBookings: { edges: { node: { id: string; status: string; venue: { name: string } | null } }[] };
    };
    const res = await app.gql<Mine, unknown>(MINE, {}, { token: diner.token });
    expect(res.errors).toBeUndefined();
    const venues = res.data!.myBookings.edges.map((e) => e.node.venue?.name ?? null).sort();
    expect(venues).toEqual([null, 'Still Open'].sort());

    const owner = await person(app, organization.id, 'OWNER');
    const seen = await app.gql<{ node: { venue: { name: string } | null } | null }, unknown>(
      /* GraphQL */ `query ($id: ID!) { node(id: $id) { ... on Booking { venue { name } } } }`,
      { id: Buffer.from(`Booking:${hidden.id}`).toString('base64') },
      { token: owner.token },
    );
    expect(seen.errors).toBeUndefined();
    expect(seen.data!.node).toEqual({ venue: { name: 'Gone Quiet' } });
  });
});
