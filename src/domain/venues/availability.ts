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
  const floor = new Floor(
    input.tables,
    input.bookings.map((b) => ({
      startMs: b.startsAt.getTime(),
      endMs: b.endsAt.getTime(),
      partySize: b.partySize,
    })),
  );

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
      if (input.tables.length > 0 && !floor.seats({ startMs, endMs, partySize })) continue;
      slots.push({ startsAt: new Date(startMs), endsAt: new Date(endMs), coversLeft });
    }
  }
  return slots;
}

/** Most other choices the table plan may try for one start; past them the start is not offered. */
const PLAN_STEPS = 1_000;
/**
 * Most parties one plan seats. A longer chain of overlapping turns (a very large floor open round
 * the clock) is judged one overlap at a time instead, as if parties could move between tables.
 */
const MAX_PLANNED = 400;

interface Turn {
  startMs: number;
  endMs: number;
  partySize: number;
}

/**
 * A venue's tables and the turns of the parties booked on them, for asking of one party after
 * another whether it can be seated. Each party keeps one table (or one set of combinable tables
 * pushed together) for its whole turn: nobody is moved once seated. Only the bookings chained to
 * the party's turn by overlaps can change the answer (a booking overlapping one that overlaps the
 * party holds its table while the other sits down), so those are planned: in order of arrival,
 * larger parties first at the same time, each at the smallest free table that fits, else on the
 * fewest free combinable tables, trying other choices when a later party cannot be seated, and
 * going back only to the parties whose tables were in its way. The search is bounded (PLAN_STEPS),
 * and a plan not found within it is a no, so it errs towards saying no when the floor is nearly
 * full. Bookings that could not all be seated even without the party (tables removed since, say)
 * are not held against everyone chained to them: the party is then judged one overlap at a time.
 */
class Floor {
  private readonly tables: readonly Table[];
  /** The turns that hold a table (a turn of no length holds nothing), in order of arrival. */
  private readonly turns: Turn[];
  /** How many tables and seats there are in all. */
  private readonly size: { tables: number; seats: number };
  /** Whether the bookings of a chain (by its first turn and length) can all be seated. */
  private readonly plannable = new Map<string, boolean>();

  constructor(tables: readonly Table[], turns: readonly Turn[]) {
    this.tables = tables;
    this.size = { tables: tables.length, seats: tables.reduce((sum, table) => sum + table.seats, 0) };
    this.turns = turns.filter((t) => t.endMs > t.startMs).sort((a, b) => a.startMs - b.startMs);
  }

  seats(party: Turn): boolean {
    const overlapping = this.turns.filter((b) => b.startMs < party.endMs && b.endMs > party.startMs);
    if (!roomAtEveryArrival(this.size, overlapping, party)) return false;
    const chain = this.chainedTo(party);
    if (chain.length >= MAX_PLANNED) return seatedTogether(this.tables, overlapping, party.partySize);
    if (plan(this.tables, [...chain, party])) return true;
    // Not with the party: with these bookings alone? If not, the floor was over-full already.
    return this.canSeat(chain) ? false : seatedTogether(this.tables, overlapping, party.partySize);
  }

  /** The bookings linked to `party` by a chain of overlapping turns, in order of arrival. */
  private chainedTo(party: Turn): Turn[] {
    let group: Turn[] = [];
    let groupEndMs = Number.NEGATIVE_INFINITY;
    let placed = false;
    const join = (turn: Turn) => {
      if (group.length && turn.startMs >= groupEndMs) {
        if (placed) return false;
        group = [];
        groupEndMs = Number.NEGATIVE_INFINITY;
      }
      group.push(turn);
      groupEndMs = Math.max(groupEndMs, turn.endMs);
      return true;
    };
    for (const turn of this.turns) {
      if (!placed && party.startMs <= turn.startMs) {
        join(party);
        placed = true;
      }
      if (!join(turn)) break;
    }
    if (!placed) join(party);
    return group.filter((turn) => turn !== party);
  }

  /** Whether these bookings (a chain, in order) can all be seated, remembered per chain. */
  private canSeat(chain: readonly Turn[]): boolean {
    // Chains of the floor's own turns are runs of its list: the first and the length name one.
    const key = `${chain.length && this.turns.indexOf(chain[0]!)}:${chain.length}`;
    let answer = this.plannable.get(key);
    if (answer === undefined) {
      answer = plan(this.tables, chain);
      this.plannable.set(key, answer);
    }
    return answer;
  }
}

/** A table in a plan: when its party leaves, and which party (by its place in the plan) that is. */
interface PlannedTable {
  seats: number;
  combinable: boolean;
  freeAtMs: number;
  holder: number;
}

class OutOfSteps extends Error {}

/**
 * Whether `turns` (in order of arrival) can each keep a table for their whole turn. A search with
 * conflict-directed backjumping: when a party cannot be seated, only the parties holding tables at
 * its arrival could have made room, so the search goes back to the latest of them, not through
 * every party in between.
 */
function plan(tables: readonly Table[], turns: readonly Turn[]): boolean {
  const order = [...turns].sort((a, b) => a.startMs - b.startMs || b.partySize - a.partySize);
  const floor = new PlannedFloor(tables);
  const limit = order.length + PLAN_STEPS;
  let steps = 0;
  // null: seated from here on; else the earlier parties whose choices could change that.
  const place = (index: number): Set<number> | null => {
    const turn = order[index];
    if (!turn) return null;
    const conflict = floor.holdersInTheWay(turn);
    for (const chosen of floor.choices(turn)) {
      steps += 1;
      if (steps > limit) throw new OutOfSteps();
      const before = chosen.map((table) => [table.freeAtMs, table.holder] as const);
      for (const table of chosen) {
        table.freeAtMs = turn.endMs;
        table.holder = index;
      }
      const failed = place(index + 1);
      if (!failed) return null;
      chosen.forEach((table, i) => {
        [table.freeAtMs, table.holder] = before[i]!;
      });
      // Another table for this party would not help the one that failed: go back further.
      if (!failed.has(index)) return failed;
      for (const earlier of failed) if (earlier !== index) conflict.add(earlier);
    }
    return conflict;
  };
  try {
    return place(0) === null;
  } catch (error) {
    if (error instanceof OutOfSteps) return false;
    throw error;
  }
}

/** The tables of a plan, by kind (size, and whether they are pushed together). */
class PlannedFloor {
  /** Smallest first; at the same size, those that cannot be combined first (kept for larger parties). */
  private readonly kinds: { seats: number; combinable: boolean; tables: PlannedTable[] }[] = [];
  /** The combinable tables, largest first. */
  private readonly combinable: PlannedTable[];
  private readonly all: PlannedTable[];

  constructor(tables: readonly Table[]) {
    this.all = tables.map((t) => ({
      seats: t.seats,
      combinable: t.combinable,
      freeAtMs: Number.NEGATIVE_INFINITY,
      holder: -1,
    }));
    for (const table of [...this.all].sort(
      (a, b) => a.seats - b.seats || Number(a.combinable) - Number(b.combinable),
    )) {
      const last = this.kinds.at(-1);
      if (last && last.seats === table.seats && last.combinable === table.combinable) last.tables.push(table);
      else this.kinds.push({ seats: table.seats, combinable: table.combinable, tables: [table] });
    }
    this.combinable = this.all.filter((t) => t.combinable).sort((a, b) => b.seats - a.seats);
  }

  /**
   * Where `turn` can sit among the tables free at its arrival: each kind of free single table that
   * fits, smallest first, then the fewest free combinable tables that together fit. Free tables of
   * one kind are alike from here on, so one of each kind is tried.
   */
  choices(turn: Turn): PlannedTable[][] {
    const options: PlannedTable[][] = [];
    for (const kind of this.kinds) {
      if (kind.seats < turn.partySize) continue;
      const free = kind.tables.find((t) => t.freeAtMs <= turn.startMs);
      if (free) options.push([free]);
    }
    const combined: PlannedTable[] = [];
    let total = 0;
    for (const table of this.combinable) {
      if (total >= turn.partySize) break;
      if (table.freeAtMs > turn.startMs) continue;
      combined.push(table);
      total += table.seats;
    }
    if (combined.length > 1 && total >= turn.partySize) options.push(combined);
    return options;
  }

  /** The parties at tables `turn` could use that are not free at its arrival. */
  holdersInTheWay(turn: Turn): Set<number> {
    const holders = new Set<number>();
    for (const table of this.all) {
      if (table.freeAtMs > turn.startMs && (table.seats >= turn.partySize || table.combinable)) {
        holders.add(table.holder);
      }
    }
    return holders;
  }
}

/**
 * A quick no, before any plan: at some moment of the party's turn (its start, or another party's
 * arrival) more parties sit than there are tables, or more guests than seats.
 */
function roomAtEveryArrival(
  floor: { tables: number; seats: number },
  overlapping: readonly Turn[],
  party: Turn,
): boolean {
  const arrivals = [party.startMs, ...overlapping.map((b) => b.startMs).filter((ms) => ms > party.startMs)];
  for (const momentMs of arrivals) {
    let parties = 1;
    let guests = party.partySize;
    for (const b of overlapping) {
      if (b.startMs <= momentMs && b.endMs > momentMs) {
        parties += 1;
        guests += b.partySize;
      }
    }
    if (parties > floor.tables || guests > floor.seats) return false;
  }
  return true;
}

/**
 * The party judged against the bookings overlapping its turn as if all sat at once and anyone
 * could move: largest first, each at the smallest free table that fits, else on the fewest free
 * combinable tables; the party then needs the same.
 */
function seatedTogether(tables: readonly Table[], overlapping: readonly Turn[], partySize: number): boolean {
  const free = [...tables].sort((a, b) => a.seats - b.seats);
  for (const booking of [...overlapping].sort((a, b) => b.partySize - a.partySize)) {
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
