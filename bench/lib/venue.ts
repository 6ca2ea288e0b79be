/**
 * A bookable restaurant for the booking scenarios: CLAIMED by an organisation, confirmed booking
 * rules, open 10:00–23:00 every day in Europe/Lisbon, and start times every 15 minutes for a
 * 90-minute turn, 90 days ahead. By default it has no tables and a cap of covers per slot so high
 * that no slot ever fills: the bench measures the write path, not refusals.
 *
 * The product gives every venue its business agent when it creates the venue (ACTIVE, default
 * DNA: accept what fits the rules). By default the bench's venue has none, so a guest's booking
 * there takes the path of a venue without an active agent; with `agent` (the run's keyring) it
 * gets one, made in the venue's transaction as the product makes it (createVenueAgent, which also
 * queues its registration with the gateway).
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { createVenueAgent } from '../../src/domain/agents/agents.ts';
import type { SecretKeyring } from '../../src/domain/agents/secrets.ts';
import type { Db, DbOrTx } from '../../src/platform/db.ts';

export const VENUE_TIME_ZONE = 'Europe/Lisbon';
const OPENS = '10:00';
const CLOSES = '23:00';
const SLOT_MINUTES = 15;
const TURN_MINUTES = 90;
const HORIZON_DAYS = 90;
/** Far more than any run books into one slot. */
const UNLIMITED_COVERS = 1_000_000;

export interface BenchVenue {
  id: string;
  /** The Relay global id GraphQL takes (`Venue:<uuid>`, base64). */
  gid: string;
}

export async function createBookableVenue(
  db: Db,
  organizationId: string,
  name: string,
  slug: string,
  options: { agent?: SecretKeyring } = {},
): Promise<BenchVenue> {
  const { agent } = options;
  const venue = agent
    ? await db.$transaction(async (tx) => {
        const made = await createVenue(tx, organizationId, name, slug);
        await createVenueAgent(tx, agent, made);
        return made;
      })
    : await createVenue(db, organizationId, name, slug);
  return { id: venue.id, gid: encodeGlobalID('Venue', venue.id) };
}

function createVenue(db: DbOrTx, organizationId: string, name: string, slug: string) {
  const now = new Date();
  return db.venue.create({
    data: {
      organizationId,
      name,
      slug,
      category: 'RESTAURANT',
      cuisines: ['portuguese'],
      description: 'A restaurant the bench books.',
      city: 'Lisboa',
      countryCode: 'PT',
      latitude: 38.7107,
      longitude: -9.1368,
      timeZone: VENUE_TIME_ZONE,
      status: 'CLAIMED',
      partySizeMin: 1,
      partySizeMax: 8,
      slotMinutes: SLOT_MINUTES,
      turnMinutes: TURN_MINUTES,
      leadTimeMinutes: 60,
      bookingHorizonDays: HORIZON_DAYS,
      coversPerSlot: UNLIMITED_COVERS,
      bookingRulesConfirmedAt: now,
      publishedAt: now,
      hours: {
        create: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: OPENS, closesAt: CLOSES })),
      },
    },
  });
}

/**
 * Every bookable start time from `firstDay` to `lastDay` days ahead (local dates in the venue's
 * zone), as ISO instants, shuffled with a fixed seed so that consecutive requests go to different
 * days and slots (as different guests' would) and every run sends the same sequence.
 */
export function startTimes(firstDay: number, lastDay: number): string[] {
  const today = Temporal.Now.plainDateISO(VENUE_TIME_ZONE);
  const opens = Temporal.PlainTime.from(OPENS);
  const lastStart = Temporal.PlainTime.from(CLOSES).subtract({ minutes: TURN_MINUTES });
  const times: string[] = [];
  for (let day = firstDay; day <= Math.min(lastDay, HORIZON_DAYS - 1); day += 1) {
    const date = today.add({ days: day });
    for (
      let time = opens;
      Temporal.PlainTime.compare(time, lastStart) <= 0;
      time = time.add({ minutes: SLOT_MINUTES })
    ) {
      const instant = date.toZonedDateTime({ timeZone: VENUE_TIME_ZONE, plainTime: time }).toInstant();
      times.push(new Date(instant.epochMilliseconds).toISOString());
    }
  }
  // Fisher–Yates with a small fixed-seed generator (mulberry32).
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = times.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [times[i], times[j]] = [times[j]!, times[i]!];
  }
  return times;
}
