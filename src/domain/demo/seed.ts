/**
 * A small demo network so a fresh install has something to look at: one organisation, its owner
 * (sign in as owner@demo.agnt.local; outside production the code appears in the log), three venues
 * with opening hours, and a business agent for each.
 */
import type { Db } from '../../platform/db.ts';

export const DEMO_OWNER_EMAIL = 'owner@demo.agnt.local';

const VENUES = [
  {
    name: 'Harbour Lights Bistro',
    slug: 'harbour-lights-bistro',
    timeZone: 'Europe/Lisbon',
    // Tuesday to Sunday, lunch and dinner.
    hours: [2, 3, 4, 5, 6, 0].flatMap((weekday) => [
      { weekday, opensAt: '12:00', closesAt: '15:00' },
      { weekday, opensAt: '19:00', closesAt: '23:00' },
    ]),
  },
  {
    name: 'The Night Owl',
    slug: 'the-night-owl',
    timeZone: 'Europe/Lisbon',
    // A bar that closes after midnight.
    hours: [3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '18:00', closesAt: '02:00' })),
  },
  {
    name: 'Morning Glory Café',
    slug: 'morning-glory-cafe',
    timeZone: 'Europe/Lisbon',
    hours: [1, 2, 3, 4, 5, 6, 0].map((weekday) => ({ weekday, opensAt: '08:00', closesAt: '17:00' })),
  },
];

/** Seeds the demo network when the database has no organisations. Returns whether it did. */
export async function seedDemoNetwork(db: Db): Promise<boolean> {
  return db.$transaction(async (tx) => {
    // Two processes starting at once must not both seed.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(7710)`;
    if ((await tx.organization.count()) > 0) return false;
    const owner = await tx.user.upsert({
      where: { email: DEMO_OWNER_EMAIL },
      create: { email: DEMO_OWNER_EMAIL, displayName: 'Demo Owner' },
      update: {},
    });
    const organization = await tx.organization.create({
      data: { name: 'Demo Hospitality Group', memberships: { create: { userId: owner.id, role: 'OWNER' } } },
    });
    for (const venue of VENUES) {
      await tx.venue.create({
        data: {
          name: venue.name,
          slug: venue.slug,
          timeZone: venue.timeZone,
          status: 'CLAIMED',
          organizationId: organization.id,
          hours: { create: venue.hours },
          agents: { create: { kind: 'VENUE', name: `${venue.name} concierge` } },
        },
      });
    }
    return true;
  });
}
