/**
 * A small demo network so a fresh install has something to look at: one organisation, its owner
 * (sign in as owner@demo.agnt.local; outside production the code appears in the log), three
 * published Lisbon venues with hours, booking rules and tables, and a business agent for each.
 */
import type { VenueCategory } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import { createVenueAgent } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';

export const DEMO_OWNER_EMAIL = 'owner@demo.agnt.local';

const VENUES: {
  name: string;
  slug: string;
  category: VenueCategory;
  cuisines: string[];
  priceLevel: number;
  description: string;
  addressLine1: string;
  latitude: number;
  longitude: number;
  tables: { name: string; seats: number; combinable: boolean }[];
  coversPerSlot: number | null;
  timeZone: string;
  hours: { weekday: number; opensAt: string; closesAt: string }[];
}[] = [
  {
    name: 'Harbour Lights Bistro',
    slug: 'harbour-lights-bistro',
    category: 'RESTAURANT',
    cuisines: ['portuguese', 'seafood'],
    priceLevel: 3,
    description: 'Grilled fish and shellfish on the river front, with a long wine list.',
    addressLine1: 'Cais do Sodré 12',
    latitude: 38.7059,
    longitude: -9.1446,
    tables: [
      { name: 'T1', seats: 2, combinable: true },
      { name: 'T2', seats: 2, combinable: true },
      { name: 'T3', seats: 4, combinable: false },
      { name: 'T4', seats: 6, combinable: false },
    ],
    coversPerSlot: 12,
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
    category: 'BAR',
    cuisines: [],
    priceLevel: 2,
    description: 'Cocktails and vinyl until late in Bairro Alto.',
    addressLine1: 'Rua da Atalaia 55',
    latitude: 38.7129,
    longitude: -9.1454,
    tables: [
      { name: 'Bar', seats: 8, combinable: false },
      { name: 'Booth', seats: 6, combinable: false },
    ],
    coversPerSlot: null,
    timeZone: 'Europe/Lisbon',
    // A bar that closes after midnight.
    hours: [3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '18:00', closesAt: '02:00' })),
  },
  {
    name: 'Morning Glory Café',
    slug: 'morning-glory-cafe',
    category: 'CAFE',
    cuisines: ['breakfast', 'pastry'],
    priceLevel: 1,
    description: 'Custard tarts, eggs and good coffee from eight.',
    addressLine1: 'Rua de Belém 84',
    latitude: 38.6975,
    longitude: -9.2032,
    tables: [
      { name: 'Window', seats: 2, combinable: true },
      { name: 'Corner', seats: 4, combinable: true },
    ],
    coversPerSlot: 8,
    timeZone: 'Europe/Lisbon',
    hours: [1, 2, 3, 4, 5, 6, 0].map((weekday) => ({ weekday, opensAt: '08:00', closesAt: '17:00' })),
  },
];

/** Seeds the demo network when the database has no organisations. Returns whether it did. */
export async function seedDemoNetwork(db: Db, keyring: SecretKeyring): Promise<boolean> {
  return db.$transaction(async (tx) => {
    // Two processes starting at once must not both seed.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(7710)`;
    if ((await tx.organization.count()) > 0) return false;
    const owner = await tx.user.upsert({
      where: { email: DEMO_OWNER_EMAIL },
      create: { email: DEMO_OWNER_EMAIL, displayName: 'Demo Owner' },
      update: {},
    });
    const now = new Date();
    // The platform vouches for its own demo: its venues are live, and new ones need no review.
    const organization = await tx.organization.create({
      data: {
        name: 'Demo Hospitality Group',
        trustedAt: now,
        memberships: { create: { userId: owner.id, role: 'OWNER' } },
      },
    });
    for (const { hours, tables, ...venue } of VENUES) {
      const created = await tx.venue.create({
        data: {
          ...venue,
          city: 'Lisboa',
          countryCode: 'PT',
          phone: '+351210000000',
          status: 'CLAIMED',
          organizationId: organization.id,
          partySizeMin: 1,
          partySizeMax: 8,
          slotMinutes: 30,
          turnMinutes: 90,
          leadTimeMinutes: 60,
          bookingHorizonDays: 60,
          bookingRulesConfirmedAt: now,
          publishedAt: now,
          hours: { create: hours },
          tables: { create: tables },
        },
      });
      await createVenueAgent(tx, keyring, created);
    }
    return true;
  });
}
