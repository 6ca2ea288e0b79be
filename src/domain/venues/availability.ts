/**
 * Bookable start times for one venue, local date and party size.
 *
 * A start time is offered when: it lies on the venue's slot grid inside an opening interval, the
 * party can stay a full turn before closing, it is at least the lead time away and within the
 * booking horizon, the covers already starting in that slot leave room for the party, and (when
 * the venue lists tables) a free table, or free combinable tables together, seat the party for the
 * whole turn, and no blackout window of the venue's agent (a private event, a renovation) overlaps
 * the turn. Live bookings are passed in, so the bookings issue subtracts them through this same
 * function.
 */
import { ValidationError } from '../../platform/errors.ts';
import { type DatedException, intervalsStartingOn, type WeeklyInterval } from './hours.ts';

export interface BookingRules {
  partySizeMin: number;
  partySizeMax: number;
  /** Minutes between offered start times. */
  slotMinutes: number;
  /** Minutes a party holds its table. */
  turnMinutes: number;
  /** Minutes of notice the venue needs. */
  leadTimeMinutes: number;
  /** How many days ahead bookings open. */
  bookingHorizonDays: number;
  /** Most guests whose booking starts in one slot; null for no cap beyond the tables. */
  coversPerSlot: number | null;
}

export interface Table {
  id: string;
  seats: number;
  combinable: boolean;
}

/** A booking that holds capacity (requested, held, confirmed, seated). */
export interface LiveBooking {
  startsAt: Date;
  endsAt: Date;
  partySize: number;
}

export interface AvailabilityInput {
  timeZone: string;
  rules: BookingRules;
  hours: readonly WeeklyInterval[];
  exceptions: readonly DatedException[];
  tables: readonly Table[];
  bookings: readonly LiveBooking[];
  /** The venue's local date, YYYY-MM-DD. */
  date: string;
  partySize: number;
  now: Date;
  /** Times the venue takes no booking (its agent's blackout windows); none when absent. */
  blackouts?: readonly TimeWindow[];
  /** Only this start is wanted (a booking being decided): the other slots are not checked. */
  only?: Date;
}

export interface TimeWindow {
  startsAt: Date;
  endsAt: Date;
}

/** Whether `[startMs, endMs)` overlaps any of the windows. */
export function overlapsWindow(windows: readonly TimeWindow[], startMs: number, endMs: number): boolean {
  return windows.some((w) => w.startsAt.getTime() < endMs && w.endsAt.getTime() > startMs);
}

export interface Slot {
  startsAt: Date;
  endsAt: Date;
  /** Guests who could still start in this slot after this party (null when uncapped). */
  coversLeft: number | null;
}

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

/**
 * The bookings `availability` can look at when it decides the one start `only`: those starting in
 * its slot (the covers) and those overlapping its turn (the tables), so those starting before
 * `startsBefore` that are still running at `runningAt` or start at or after it. No other booking
 * changes its answer, so a caller deciding one start may read only these.
 */
export function sharingCapacityWith(
  rules: Pick<BookingRules, 'slotMinutes' | 'turnMinutes'>,
  start: Date,
): { startsBefore: Date; runningAt: Date } {
  const reach = Math.max(rules.slotMinutes, rules.turnMinutes) * MINUTE_MS;
  return { startsBefore: new Date(start.getTime() + reach), runningAt: start };
}

export function availability(input: AvailabilityInput): Slot[] {
  const { rules, partySize } = input;
  if (!Number.isInteger(partySize) || partySize < rules.partySizeMin || partySize > rules.partySizeMax) {
    throw new ValidationError(
      `This venue takes parties of ${rules.partySizeMin} to ${rules.partySizeMax}`,
      'partySize',
    );
  }
  let date: Temporal.PlainDate;
  try {
    date = Temporal.PlainDate.from(input.date, { overflow: 'reject' });
  } catch {
    throw new ValidationError('Use a date such as 2026-12-24', 'date');
  }
  // Instants have no calendar: a slot, a turn, the lead time and the horizon are fixed lengths
  // of time, so past the intervals (which follow the zone's calendar) this is arithmetic in ms.
  const nowMs = input.now.getTime();
  const earliestMs = nowMs + rules.leadTimeMinutes * MINUTE_MS;
  const latestMs = nowMs + rules.bookingHorizonDays * DAY_MS;
  const slotMs = rules.slotMinutes * MINUTE_MS;
  const turnMs = rules.turnMinutes * MINUTE_MS;
  const onlyMs = input.only?.getTime();
  const slots: Slot[] = [];

  for (const interval of intervalsStartingOn(input, date)) {
    const closesMs = interval.end.epochMilliseconds;
    for (let startMs = interval.start.epochMilliseconds; startMs + turnMs <= closesMs; startMs += slotMs) {
      if (startMs < earliestMs || startMs > latestMs) continue;
      if (onlyMs !== undefined && onlyMs !== startMs) continue;
      const endMs = startMs + turnMs;
      if (input.blackouts && overlapsWindow(input.blackouts, startMs, endMs)) continue;
      const startingHere = input.bookings
        .filter((b) => b.startsAt.getTime() >= startMs && b.startsAt.getTime() < startMs + slotMs)
        .reduce((sum, b) => sum + b.partySize, 0);
      let coversLeft: number | null = null;
      if (rules.coversPerSlot !== null) {
        coversLeft = rules.coversPerSlot - startingHere - partySize;
        if (coversLeft < 0) continue;
      }
      if (input.tables.length > 0) {
        const overlapping = input.bookings.filter(
          (b) => b.startsAt.getTime() < endMs && b.endsAt.getTime() > startMs,
        );
        if (!seats(input.tables, overlapping, partySize)) continue;
      }
      slots.push({ startsAt: new Date(startMs), endsAt: new Date(endMs), coversLeft });
    }
  }
  return slots;
}

/**
 * Whether the party can be seated with the tables left after seating the overlapping bookings.
 * Bookings are seated largest first, each at the smallest table that fits, or else on the fewest
 * combinable tables that fit; the party then needs the same. It is a greedy plan, not an optimal
 * one, so it errs towards saying no when the floor is nearly full.
 */
function seats(tables: readonly Table[], bookings: readonly LiveBooking[], partySize: number): boolean {
  const free = [...tables].sort((a, b) => a.seats - b.seats);
  for (const booking of [...bookings].sort((a, b) => b.partySize - a.partySize)) {
    if (!take(free, booking.partySize)) return false;
  }
  return take(free, partySize);
}

function take(free: Table[], party: number): boolean {
  const single = free.findIndex((t) => t.seats >= party);
  if (single >= 0) {
    free.splice(single, 1);
    return true;
  }
  const combinable = free.filter((t) => t.combinable).sort((a, b) => b.seats - a.seats);
  const chosen: Table[] = [];
  let total = 0;
  for (const table of combinable) {
    if (total >= party) break;
    chosen.push(table);
    total += table.seats;
  }
  if (total < party) return false;
  for (const table of chosen) free.splice(free.indexOf(table), 1);
  return true;
}
