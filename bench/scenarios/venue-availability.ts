/**
 * The question every booking starts with: which times can a party of two have at this venue on
 * this date? One published restaurant with lunch and dinner every day, confirmed booking rules
 * (15-minute slots, 90-minute turns, 16 covers per slot) and ten tables, asked through
 * `node(id)` for a date a week ahead in the venue's own zone. Per request: the venue behind the
 * global id, then `availability()` (the venue again, its hours, that date's exceptions and its
 * tables), and the slot grid computed with Temporal. No bookings exist yet, so every slot that
 * fits the hours is offered.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { runMigrations } from 'graphile-worker';
import { createVenueAgent } from '../../src/domain/agents/agents.ts';
import { loadKeyring } from '../../src/wiring/services.ts';
import {
  AGNT_METRICS_PATH,
  type AgntParams,
  consumerAuthorization,
  prepareAgnt,
  serveAgnt,
} from '../lib/agnt.ts';
import { defineScenario } from '../lib/scenario.ts';

const TIME_ZONE = 'Europe/Lisbon';
const PARTY_SIZE = 2;
/** Far enough ahead that the lead time never removes a slot while the run lasts. */
const DAYS_AHEAD = 7;

/** Lunch 12:00–15:00 and dinner 19:00–23:00, every day (weekday 0 is Sunday). */
const HOURS = [0, 1, 2, 3, 4, 5, 6].flatMap((weekday) => [
  { weekday, opensAt: '12:00', closesAt: '15:00' },
  { weekday, opensAt: '19:00', closesAt: '23:00' },
]);
/** 90-minute turns every 15 minutes: 12:00–13:30 and 19:00–21:30. */
const EXPECTED_SLOTS = 7 + 11;

const TABLES = [
  { name: 'T1', seats: 2, combinable: true },
  { name: 'T2', seats: 2, combinable: true },
  { name: 'T3', seats: 2, combinable: true },
  { name: 'T4', seats: 2, combinable: true },
  { name: 'T5', seats: 4, combinable: false },
  { name: 'T6', seats: 4, combinable: false },
  { name: 'T7', seats: 4, combinable: false },
  { name: 'T8', seats: 6, combinable: false },
  { name: 'Window', seats: 2, combinable: false },
  { name: 'Terrace', seats: 8, combinable: false },
];

const QUERY = `query VenueAvailability($id: ID!, $date: String!, $partySize: Int!) {
  node(id: $id) {
    ... on Venue {
      availability(date: $date, partySize: $partySize) {
        ... on Availability { slots { startsAt } }
        ... on ValidationError { message }
      }
    }
  }
}`;

export default defineScenario<AgntParams>(import.meta.url, {
  name: 'venue-availability',
  description: `AGNT, \`node(id) { ... on Venue { availability(date, partySize: ${PARTY_SIZE}) } }\`, 10 tables`,
  baseline: 'yoga-bare',
  async prepare() {
    const agnt = await prepareAgnt();
    try {
      const { prisma } = agnt.database;
      const organization = await prisma.organization.create({ data: { name: 'Bench Bistro Group' } });
      const now = new Date();
      const venue = await prisma.venue.create({
        data: {
          organizationId: organization.id,
          name: 'Bench Bistro',
          slug: 'bench-bistro',
          category: 'RESTAURANT',
          cuisines: ['portuguese', 'seafood'],
          priceLevel: 2,
          description: 'Grilled fish and petiscos by the river.',
          addressLine1: 'Rua da Prata 10',
          city: 'Lisboa',
          countryCode: 'PT',
          latitude: 38.7107,
          longitude: -9.1368,
          timeZone: TIME_ZONE,
          phone: '+351210000001',
          status: 'CLAIMED',
          partySizeMin: 1,
          partySizeMax: 8,
          slotMinutes: 15,
          turnMinutes: 90,
          leadTimeMinutes: 60,
          bookingHorizonDays: 60,
          coversPerSlot: 16,
          bookingRulesConfirmedAt: now,
          publishedAt: now,
          hours: { create: HOURS },
          tables: { create: TABLES },
        },
      });
      // The agent's registration is a job: the queue's schema must exist (no worker runs in `api`).
      await runMigrations({ connectionString: agnt.database.url });
      await createVenueAgent(prisma, await loadKeyring(agnt.config), venue);
      const authorization = await consumerAuthorization(agnt);
      const date = Temporal.Now.plainDateISO(TIME_ZONE).add({ days: DAYS_AHEAD }).toString();
      return {
        params: agnt.params,
        request: {
          method: 'POST',
          path: '/graphql',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({
            query: QUERY,
            operationName: 'VenueAvailability',
            variables: { id: encodeGlobalID('Venue', venue.id), date, partySize: PARTY_SIZE },
          }),
        },
        check: ({ status, body }) => {
          const slots = (body as { data?: { node?: { availability?: { slots?: { startsAt: string }[] } } } })
            .data?.node?.availability?.slots;
          return status === 200 && slots?.length === EXPECTED_SLOTS
            ? undefined
            : `expected 200 with ${EXPECTED_SLOTS} slots on ${date}, got ${status} ${JSON.stringify(body).slice(0, 500)}`;
        },
        sameBodyEveryTime: true,
        metricsPath: AGNT_METRICS_PATH,
        cleanup: () => agnt.cleanup(),
      };
    } catch (error) {
      await agnt.cleanup();
      throw error;
    }
  },
  serve: serveAgnt,
});
