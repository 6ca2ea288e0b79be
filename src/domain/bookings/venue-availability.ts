import type {
  Agent,
  HoursException,
  OpeningHours,
  Venue,
  VenueTable,
} from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { VENUE_AGENT_POLICY_SELECT, venueAgentPolicy, venueAgentPolicyOf } from '../agents/agents.ts';
import type { Access } from '../organizations/access.ts';
import { availability, type LiveBooking, type Slot, type TimeWindow } from '../venues/availability.ts';
import { isRealDate } from '../venues/hours.ts';
import { canSeeVenue, requireVenue } from '../venues/venues.ts';
import { LIVE_BOOKING_SELECT, liveBookingsAround, liveBookingsAroundWhere } from './bookings.ts';

/**
 * Bookable slots of a venue on one of its local dates, for a party size. Only venues on the
 * network (LISTED or CLAIMED) are bookable; their own organisation may preview a draft. Bookings
 * that hold a table (requested, held, confirmed, seated) take their room, and the venue agent's
 * blackout windows are not offered.
 * `liveBookings` are the bookings that hold capacity on and around that date.
 */
export async function venueAvailability(
  db: DbOrTx,
  access: Access,
  input: {
    venueId: string;
    date: string;
    partySize: number;
    now: Date;
  },
): Promise<Slot[]> {
  const venue = await requireVenue(db, access, input.venueId);
  if (venue.status === 'SUSPENDED') return [];
  if (!isRealDate(input.date)) throw new ValidationError('Use a date such as 2026-12-24', 'date');
  const agent = await venueAgentPolicy(db, venue.id);
  return venueSlots(db, venue, { ...input, blackouts: agent?.blackouts ?? [] });
}

/**
 * What venueAvailability reads besides the venue's columns, for one local date, as relations to
 * select with the venue in the statement that loads it; null for a date it would refuse.
 */
export function availabilityRelations(date: string) {
  if (!isRealDate(date)) return null;
  const day = new Date(`${date}T00:00:00Z`);
  return {
    hours: true,
    exceptions: { where: { date: day } },
    tables: true,
    agent: { select: VENUE_AGENT_POLICY_SELECT },
    bookings: { where: liveBookingsAroundWhere(day), select: LIVE_BOOKING_SELECT },
  } as const;
}

/** A venue read with availabilityRelations for the date asked about. */
export type VenueWithAvailability = Venue & {
  hours: OpeningHours[];
  exceptions: HoursException[];
  tables: VenueTable[];
  agent: Pick<Agent, 'id' | 'kind' | 'status' | 'dna'> | null;
  bookings: LiveBooking[];
};

/**
 * venueAvailability of a venue already read, with availabilityRelations(input.date) when the
 * caller could select them (then nothing more is read); otherwise as venueAvailability.
 */
export async function loadedVenueAvailability(
  db: DbOrTx,
  access: Access,
  venue: Venue | VenueWithAvailability,
  input: { date: string; partySize: number; now: Date },
): Promise<Slot[]> {
  if (!('bookings' in venue) || !availabilityRelations(input.date)) {
    return venueAvailability(db, access, { ...input, venueId: venue.id });
  }
  if (!(await canSeeVenue(access, venue))) throw new NotFoundError('Venue not found');
  if (venue.status === 'SUSPENDED') return [];
  const agent = venueAgentPolicyOf(venue.agent);
  return slotsOf(venue, venue, { ...input, blackouts: agent?.blackouts ?? [] });
}

/**
 * A venue's bookable slots on one of its local dates (YYYY-MM-DD) for a party size, with no access
 * check (the caller has one, or is the venue's own agent): bookings that hold a table take their
 * room, except `exceptBookingId` (the booking being decided or changed), and `blackouts` are not
 * offered.
 */
export async function venueSlots(
  db: DbOrTx,
  venue: Venue,
  input: {
    date: string;
    partySize: number;
    now: Date;
    blackouts: readonly TimeWindow[];
    exceptBookingId?: string | null;
  },
): Promise<Slot[]> {
  // A date's slots are those of the services that start on it (a bar's 00:30 belongs to the night
  // before), so only that date's exceptions matter.
  const day = new Date(`${input.date}T00:00:00Z`);
  const [hours, exceptions, tables, bookings] = await Promise.all([
    db.openingHours.findMany({ where: { venueId: venue.id } }),
    db.hoursException.findMany({ where: { venueId: venue.id, date: day } }),
    db.venueTable.findMany({ where: { venueId: venue.id } }),
    liveBookingsAround(db, venue.id, day, input.exceptBookingId ?? null),
  ]);
  return slotsOf(venue, { hours, exceptions, tables, bookings }, input);
}

/** The slots, from what venueSlots reads. */
function slotsOf(
  venue: Venue,
  read: {
    hours: OpeningHours[];
    exceptions: HoursException[];
    tables: VenueTable[];
    bookings: LiveBooking[];
  },
  input: { date: string; partySize: number; now: Date; blackouts: readonly TimeWindow[] },
): Slot[] {
  return availability({
    timeZone: venue.timeZone,
    rules: venue,
    hours: read.hours,
    exceptions: read.exceptions.map((e) => ({ ...e, date: e.date.toISOString().slice(0, 10) })),
    tables: read.tables,
    bookings: read.bookings,
    date: input.date,
    partySize: input.partySize,
    now: input.now,
    blackouts: input.blackouts,
  });
}
