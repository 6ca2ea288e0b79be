import type { Venue } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ValidationError } from '../../platform/errors.ts';
import { venueAgentPolicy } from '../agents/agents.ts';
import type { Access } from '../organizations/access.ts';
import { availability, type Slot, type TimeWindow } from '../venues/availability.ts';
import { requireVenue } from '../venues/venues.ts';
import { liveBookingsAround } from './bookings.ts';

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
  if (!/^\d{4}-\d{2}-\d{2}$/.test(input.date))
    throw new ValidationError('Use a date such as 2026-12-24', 'date');
  const agent = await venueAgentPolicy(db, venue.id);
  return venueSlots(db, venue, { ...input, blackouts: agent?.blackouts ?? [] });
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
  return availability({
    timeZone: venue.timeZone,
    rules: venue,
    hours,
    exceptions: exceptions.map((e) => ({ ...e, date: e.date.toISOString().slice(0, 10) })),
    tables,
    bookings,
    date: input.date,
    partySize: input.partySize,
    now: input.now,
    blackouts: input.blackouts,
  });
}
