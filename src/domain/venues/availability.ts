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
 * The bookings `availability` can look at when it decides the one start `only` at a venue that
 * lists no tables: those starting in its slot (the covers) and those overlapping its turn, so
 * those starting before `startsBefore` that are still running at `runningAt` or start at or after
 * it. No other booking changes its answer, so a caller deciding one start may read only these.
 * With tables, a booking overlapping one that overlaps the turn matters too (it holds its table
 * while the other sits down), so the caller reads them all.
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
  const turns = input.bookings.map((b) => ({
    startMs: b.startsAt.getTime(),
    endMs: b.endsAt.getTime(),
    partySize: b.partySize,
  }));

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
      if (input.tables.length > 0 && !seats(input.tables, turns, { startMs, endMs, partySize })) continue;
      slots.push({ startsAt: new Date(startMs), endsAt: new Date(endMs), coversLeft });
    }
  }
  return slots;
}

/** Most other choices the table plan may try for one start; past them the start is not offered. */
const PLAN_STEPS = 1_000;

interface Turn {
  startMs: number;
  endMs: number;
  partySize: number;
}

/**
 * Whether every party on the floor keeps one table (or one set of combinable tables pushed
 * together) for its whole turn with this party added: a party is not moved once seated. Only the
 * bookings chained to the party's turn by overlaps can change the answer (a booking overlapping
 * one that overlaps the party holds its table while the other sits down), so those are planned:
 * in order of arrival, larger parties first at the same time, each at the smallest free table that
 * fits, else on the fewest free combinable tables, trying the other choices when a later party
 * cannot be seated. The search is bounded (PLAN_STEPS), and a plan not found within it is a no, so
 * it errs towards saying no when the floor is nearly full.
 */
function seats(tables: readonly Table[], bookings: readonly Turn[], party: Turn): boolean {
  if (!roomAtEveryArrival(tables, bookings, party)) return false;
  const cluster = chainedTo(bookings, party);
  cluster.push(party);
  cluster.sort((a, b) => a.startMs - b.startMs || b.partySize - a.partySize);
  // Smallest first; at the same size, those that cannot be combined first (keep the others for a
  // larger party).
  const floor = [...tables]
    .sort((a, b) => a.seats - b.seats || Number(a.combinable) - Number(b.combinable))
    .map((table) => ({ seats: table.seats, combinable: table.combinable, freeAtMs: -Infinity }));
  // Every party placed once, and PLAN_STEPS more for the other choices.
  const limit = cluster.length + PLAN_STEPS;
  let steps = 0;
  const place = (index: number): boolean => {
    const turn = cluster[index];
    if (!turn) return true;
    for (const chosen of choices(floor, turn)) {
      steps += 1;
      if (steps > limit) return false;
      const before = chosen.map((table) => table.freeAtMs);
      for (const table of chosen) table.freeAtMs = turn.endMs;
      if (place(index + 1)) return true;
      chosen.forEach((table, i) => {
        table.freeAtMs = before[i]!;
      });
      if (steps > limit) return false;
    }
    return false;
  };
  return place(0);
}

/**
 * A quick no, before any plan: at some moment of the party's turn (its start, or another party's
 * arrival) more parties sit than there are tables, or more guests than seats.
 */
function roomAtEveryArrival(tables: readonly Table[], bookings: readonly Turn[], party: Turn): boolean {
  const seatCount = tables.reduce((sum, table) => sum + table.seats, 0);
  const overlapping = bookings.filter((b) => b.startMs < party.endMs && b.endMs > party.startMs);
  for (const momentMs of [
    party.startMs,
    ...overlapping.map((b) => b.startMs).filter((ms) => ms > party.startMs),
  ]) {
    let parties = 1;
    let guests = party.partySize;
    for (const b of overlapping) {
      if (b.startMs <= momentMs && b.endMs > momentMs) {
        parties += 1;
        guests += b.partySize;
      }
    }
    if (parties > tables.length || guests > seatCount) return false;
  }
  return true;
}

/** The bookings linked to `party` by a chain of overlapping turns (a turn of no length holds nothing). */
function chainedTo(bookings: readonly Turn[], party: Turn): Turn[] {
  const turns = [...bookings.filter((b) => b.endMs > b.startMs), party].sort((a, b) => a.startMs - b.startMs);
  let group: Turn[] = [];
  let groupEndMs = -Infinity;
  for (const turn of turns) {
    if (group.length && turn.startMs >= groupEndMs) {
      if (group.includes(party)) break;
      group = [];
    }
    group.push(turn);
    groupEndMs = Math.max(group.length === 1 ? turn.endMs : groupEndMs, turn.endMs);
  }
  return group.filter((turn) => turn !== party);
}

/**
 * Where `turn` can sit among the tables free at its start: each size of free single table that
 * fits, smallest first, then the fewest free combinable tables that together fit. Free tables of
 * the same size and kind are alike from here on, so one of each is tried.
 */
function choices(floor: FloorTable[], turn: Turn): FloorTable[][] {
  const free = floor.filter((table) => table.freeAtMs <= turn.startMs);
  const options: FloorTable[][] = [];
  const seen = new Set<string>();
  for (const table of free) {
    const kind = `${table.seats}:${table.combinable}`;
    if (table.seats < turn.partySize || seen.has(kind)) continue;
    seen.add(kind);
    options.push([table]);
  }
  const combined: FloorTable[] = [];
  let total = 0;
  for (const table of free.filter((t) => t.combinable).sort((a, b) => b.seats - a.seats)) {
    if (total >= turn.partySize) break;
    combined.push(table);
    total += table.seats;
  }
  if (combined.length > 1 && total >= turn.partySize) options.push(combined);
  return options;
}

interface FloorTable {
  seats: number;
  combinable: boolean;
  /** When the party last seated here leaves. */
  freeAtMs: number;
}
