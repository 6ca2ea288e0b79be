import { describe, expect, it } from 'vitest';
import {
  type AvailabilityInput,
  availability,
  type LiveBooking,
  sharingCapacityWith,
  type Table,
} from '../../src/domain/venues/availability.ts';
import { ValidationError } from '../../src/platform/errors.ts';

const base: AvailabilityInput = {
  timeZone: 'Europe/Lisbon',
  rules: {
    partySizeMin: 1,
    partySizeMax: 8,
    slotMinutes: 30,
    turnMinutes: 90,
    leadTimeMinutes: 60,
    bookingHorizonDays: 30,
    coversPerSlot: null,
  },
  // Monday dinner 19:00–22:00.
  hours: [{ weekday: 1, opensAt: '19:00', closesAt: '22:00' }],
  exceptions: [],
  tables: [],
  bookings: [],
  date: '2026-11-30',
  partySize: 2,
  now: new Date('2026-11-25T12:00:00Z'),
};

/** A random whole number below `n` from a seeded generator (mulberry32): a failure is the same on every run. */
function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n);
  };
}

const times = (input: AvailabilityInput) =>
  availability(input).map((s) => s.startsAt.toISOString().slice(11, 16));

describe('availability', () => {
  it('offers every slot from opening until a full turn before closing', () => {
    expect(times(base)).toEqual(['19:00', '19:30', '20:00', '20:30']);
    const [first] = availability(base);
    expect(first!.endsAt.toISOString()).toBe('2026-11-30T20:30:00.000Z');
  });

  it('needs the lead time and stays within the booking horizon', () => {
    expect(times({ ...base, now: new Date('2026-11-30T18:45:00Z') })).toEqual(['20:00', '20:30']);
    expect(times({ ...base, rules: { ...base.rules, bookingHorizonDays: 3 } })).toEqual([]);
  });

  it('is empty on a closed day and follows an exception', () => {
    expect(times({ ...base, date: '2026-12-01' })).toEqual([]);
    expect(times({ ...base, exceptions: [{ date: '2026-11-30', closed: true }] })).toEqual([]);
    expect(
      times({
        ...base,
        exceptions: [{ date: '2026-11-30', closed: false, opensAt: '12:00', closesAt: '14:00' }],
      }),
    ).toEqual(['12:00', '12:30']);
  });

  it('decides one start at a venue without tables from the bookings sharing its capacity alone, as from all of them', () => {
    const random = seeded(15);
    const day = Date.parse('2026-11-30T00:00:00Z');
    let decidedByBookings = 0;
    for (let round = 0; round < 1000; round += 1) {
      const slotMinutes = [15, 30, 60, 120][random(4)]!;
      const turnMinutes = [15, 60, 90, 150][random(4)]!;
      const input: AvailabilityInput = {
        ...base,
        rules: { ...base.rules, slotMinutes, turnMinutes, coversPerSlot: random(2) ? 4 + random(8) : null },
        hours: [{ weekday: 1, opensAt: '12:00', closesAt: '23:45' }],
        tables: [],
      };
      // Bookings of any length, none too (their venue's turn may have changed since), most on the
      // day's service and some on the days either side.
      const bookings: LiveBooking[] = Array.from({ length: random(60) }, () => {
        const startsAt = random(5)
          ? day + (11 * 60 + random(52) * 15) * 60_000
          : day - 86_400_000 + random(3 * 96) * 15 * 60_000;
        return {
          startsAt: new Date(startsAt),
          endsAt: new Date(startsAt + random(21) * 15 * 60_000),
          partySize: 1 + random(6),
        };
      });
      const only = new Date(
        day + (12 * 60 + random(Math.floor((11 * 60) / slotMinutes)) * slotMinutes) * 60_000,
      );
      const { startsBefore, runningAt } = sharingCapacityWith(input.rules, only);
      const sharing = bookings.filter(
        (b) => b.startsAt < startsBefore && (b.endsAt > runningAt || b.startsAt >= runningAt),
      );
      const partySize = 1 + random(6);
      const answer = availability({ ...input, partySize, bookings, only });
      expect(availability({ ...input, partySize, bookings: sharing, only }), `round ${round}`).toEqual(
        answer,
      );
      if (answer.length !== availability({ ...input, partySize, bookings: [], only }).length)
        decidedByBookings += 1;
    }
    // Enough of the rounds were full to make the comparison mean something.
    expect(decidedByBookings).toBeGreaterThan(100);
  });

  it('checks only the start asked for, with the same answer as the whole day', () => {
    const full = { ...base, rules: { ...base.rules, coversPerSlot: 4 } };
    const bookings = [
      {
        startsAt: new Date('2026-11-30T19:30:00Z'),
        endsAt: new Date('2026-11-30T21:00:00Z'),
        partySize: 3,
      },
    ];
    for (const at of ['19:00', '19:30', '20:00', '20:15', '21:00']) {
      const only = new Date(`2026-11-30T${at}:00Z`);
      const whole = availability({ ...full, bookings }).filter(
        (s) => s.startsAt.getTime() === only.getTime(),
      );
      expect(availability({ ...full, bookings, only })).toEqual(whole);
    }
    // 19:30 has one cover left for a party of two; 19:00 is free; 20:15 is not a slot.
    expect(times({ ...full, bookings, only: new Date('2026-11-30T19:30:00Z') })).toEqual([]);
    expect(times({ ...full, bookings, only: new Date('2026-11-30T19:00:00Z') })).toEqual(['19:00']);
    expect(times({ ...full, bookings, only: new Date('2026-11-30T20:15:00Z') })).toEqual([]);
  });

  it('offers no turn that overlaps a blackout window', () => {
    // A private event 20:00–21:00: every turn of 90 minutes that touches it is gone.
    const blackouts = [
      { startsAt: new Date('2026-11-30T20:00:00Z'), endsAt: new Date('2026-11-30T21:00:00Z') },
    ];
    expect(times({ ...base, blackouts })).toEqual([]);
    const late = [{ startsAt: new Date('2026-11-30T21:00:00Z'), endsAt: new Date('2026-11-30T23:00:00Z') }];
    // A turn ending when the window starts does not overlap it.
    expect(times({ ...base, blackouts: late })).toEqual(['19:00', '19:30']);
  });

  it('caps the covers starting in one slot', () => {
    const rules = { ...base.rules, coversPerSlot: 6 };
    const bookings = [
      { startsAt: new Date('2026-11-30T19:00:00Z'), endsAt: new Date('2026-11-30T20:30:00Z'), partySize: 5 },
    ];
    expect(times({ ...base, rules, bookings })).toEqual(['19:30', '20:00', '20:30']);
    expect(availability({ ...base, rules, bookings })[0]!.coversLeft).toBe(4);
  });

  it('seats the party at a free table, or at free combinable tables together', () => {
    const tables = [
      { id: 't1', seats: 2, combinable: true },
      { id: 't2', seats: 2, combinable: true },
      { id: 't3', seats: 4, combinable: false },
    ];
    // A party of 4 is at the 4-top from 19:00 to 20:30.
    const bookings = [
      { startsAt: new Date('2026-11-30T19:00:00Z'), endsAt: new Date('2026-11-30T20:30:00Z'), partySize: 4 },
    ];
    // Four more fit on the two 2-tops pushed together.
    expect(times({ ...base, tables, bookings, partySize: 4 })).toEqual(['19:00', '19:30', '20:00', '20:30']);
    // Five fit nowhere while the 4-top is taken, and at no time at all.
    expect(times({ ...base, tables, bookings, partySize: 5 })).toEqual([]);
    // With another couple on a 2-top from 19:30, four wait for the 4-top to free up at 20:30.
    const more = [
      ...bookings,
      { startsAt: new Date('2026-11-30T19:30:00Z'), endsAt: new Date('2026-11-30T21:00:00Z'), partySize: 2 },
    ];
    expect(times({ ...base, tables, bookings: more, partySize: 4 })).toEqual(['20:30']);
    expect(times({ ...base, tables, bookings: more, partySize: 2 })).toEqual([
      '19:00',
      '19:30',
      '20:00',
      '20:30',
    ]);
  });

  it('keeps every party at one table for its whole turn: a table freed later does not seat one already sitting', () => {
    const tables = [
      { id: 'two', seats: 2, combinable: false },
      { id: 'four', seats: 4, combinable: false },
    ];
    const at = (time: string) => new Date(`2026-11-30T${time}:00Z`);
    const turn = (from: string, to: string, partySize: number) => ({
      startsAt: at(from),
      endsAt: at(to),
      partySize,
    });
    const rules = { ...base.rules, turnMinutes: 120, slotMinutes: 60 };
    const hours = [{ weekday: 1, opensAt: '17:00', closesAt: '23:00' }];
    // Three at the 4-top 17–19; a couple at the 2-top 18–20; a couple from 19 to 21, who can only
    // sit at the 4-top (the 2-top is taken until 20).
    const bookings = [turn('17:00', '19:00', 3), turn('18:00', '20:00', 2), turn('19:00', '21:00', 2)];
    // Four at 20:00 would need the couple of 19:00 to move to the 2-top when it frees at 20:00. Seen
    // one overlap at a time it looks free (the 19:00 couple on the 2-top, four at the 4-top).
    const four = { ...base, rules, hours, tables, bookings, partySize: 4 };
    expect(times({ ...four, only: at('20:00') })).toEqual([]);
    expect(times(four)).toEqual(['21:00']);
    // Two more fit nowhere before 20:00 (both tables taken), then at the 2-top.
    expect(times({ ...four, partySize: 2 })).toEqual(['20:00', '21:00']);
  });

  it('finds the plan where the smallest free table is the wrong first choice', () => {
    const tables = [
      { id: 'two', seats: 2, combinable: false },
      { id: 'four', seats: 4, combinable: false },
    ];
    const at = (time: string) => new Date(`2026-11-30T${time}:00Z`);
    const rules = { ...base.rules, turnMinutes: 90, slotMinutes: 30 };
    const hours = [{ weekday: 1, opensAt: '17:00', closesAt: '23:00' }];
    // A couple 17:30–19:00 and another 18:30–20:00: four at 19:00 fit only if the first couple sat
    // at the 4-top (free again at 19:00) and the second at the 2-top.
    const bookings = [
      { startsAt: at('17:30'), endsAt: at('19:00'), partySize: 2 },
      { startsAt: at('18:30'), endsAt: at('20:00'), partySize: 2 },
    ];
    const input = { ...base, rules, hours, tables, bookings, partySize: 4 };
    expect(times({ ...input, only: at('19:00') })).toEqual(['19:00']);
    // And four at 18:00 cannot: both couples would need the 2-top at 18:30.
    expect(times({ ...input, only: at('18:00') })).toEqual([]);
  });

  it('never accepts a booking that leaves some party without a table for its whole turn', () => {
    const random = seeded(7);
    const day = Date.parse('2026-11-30T00:00:00Z');
    let accepted = 0;
    let refused = 0;
    for (let round = 0; round < 300; round += 1) {
      const tables = Array.from({ length: 1 + random(4) }, (_, i) => ({
        id: `t${i}`,
        seats: [2, 2, 4, 6][random(4)]!,
        combinable: random(2) === 1,
      }));
      const input: AvailabilityInput = {
        ...base,
        rules: { ...base.rules, slotMinutes: 30, turnMinutes: [60, 90, 120][random(3)]!, partySizeMax: 8 },
        hours: [{ weekday: 1, opensAt: '17:00', closesAt: '23:30' }],
        tables,
      };
      const bookings: LiveBooking[] = [];
      for (let request = 0; request < 12; request += 1) {
        const only = new Date(day + (17 * 60 + random(10) * 30) * 60_000);
        const partySize = 1 + random(6);
        const [slot] = availability({ ...input, bookings, partySize, only });
        if (!slot) {
          refused += 1;
          continue;
        }
        accepted += 1;
        bookings.push({ startsAt: slot.startsAt, endsAt: slot.endsAt, partySize });
        expect(seatedThroughout(tables, bookings), `round ${round}: ${JSON.stringify(bookings)}`).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(300);
  });

  it('does not let a booking that cannot be seated any more close the tables of everyone chained to it', () => {
    // Three 4-tops: a party of 8 booked before the 8-top was removed cannot be seated at 19:00.
    const tables = [1, 2, 3].map((n) => ({ id: `t${n}`, seats: 4, combinable: false }));
    const at = (time: string) => new Date(`2026-11-30T${time}:00Z`);
    const rules = { ...base.rules, turnMinutes: 90, slotMinutes: 60 };
    const hours = [{ weekday: 1, opensAt: '12:00', closesAt: '23:00' }];
    const bookings = [
      { startsAt: at('19:00'), endsAt: at('20:30'), partySize: 8 },
      { startsAt: at('18:00'), endsAt: at('19:30'), partySize: 2 },
    ];
    const input = { ...base, rules, hours, tables, bookings, partySize: 2 };
    // 17:00 overlaps only the couple of 18:00 (which overlaps the eight): offered, as every other
    // start that does not overlap the eight; those that do are judged as before, and refused.
    expect(times(input)).toEqual(['12:00', '13:00', '14:00', '15:00', '16:00', '17:00', '21:00']);
  });

  it('offers exactly the starts some seating of every party gives, on floors of tables that are not pushed together', () => {
    const random = seeded(11);
    const day = Date.parse('2026-11-30T00:00:00Z');
    let offered = 0;
    let refused = 0;
    for (let round = 0; round < 300; round += 1) {
      const tables = Array.from({ length: 1 + random(4) }, (_, i) => ({
        id: `t${i}`,
        seats: [2, 2, 4, 6][random(4)]!,
        combinable: false,
      }));
      const input: AvailabilityInput = {
        ...base,
        rules: { ...base.rules, slotMinutes: 30, turnMinutes: 90, partySizeMax: 8 },
        hours: [{ weekday: 1, opensAt: '17:00', closesAt: '23:30' }],
        tables,
      };
      // Bookings that can all be seated (each checked as it was added).
      const bookings: LiveBooking[] = [];
      for (let n = 0; n < 6; n += 1) {
        const startsAt = new Date(day + (17 * 60 + random(10) * 30) * 60_000);
        const booking = {
          startsAt,
          endsAt: new Date(startsAt.getTime() + (60 + random(3) * 30) * 60_000),
          partySize: 1 + random(6),
        };
        if (seatedThroughout(tables, [...bookings, booking])) bookings.push(booking);
      }
      const partySize = 1 + random(6);
      for (const slot of availability({ ...input, bookings, partySize: 1, only: undefined })) {
        const party = {
          startsAt: slot.startsAt,
          endsAt: new Date(slot.startsAt.getTime() + 90 * 60_000),
          partySize,
        };
        const fits = seatedThroughout(tables, [...bookings, party]);
        const answer = availability({ ...input, bookings, partySize, only: slot.startsAt }).length === 1;
        expect(
          answer,
          `round ${round} at ${slot.startsAt.toISOString()}: ${JSON.stringify({ tables, bookings, partySize })}`,
        ).toBe(fits);
        if (answer) offered += 1;
        else refused += 1;
      }
    }
    expect(offered).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(300);
  });

  it('refuses a party size outside the rules, naming the field', () => {
    expect(() => availability({ ...base, partySize: 9 })).toThrow(ValidationError);
    try {
      availability({ ...base, partySize: 0 });
    } catch (error) {
      expect((error as ValidationError).field).toBe('partySize');
    }
    expect(() => availability({ ...base, date: '2026-13-01' })).toThrow(/date such as/);
  });

  it('handles the night the clocks go forward', () => {
    // Saturday 2026-03-28, open 23:00–03:00 local; 01:00 local jumps to 02:00.
    const slots = availability({
      ...base,
      hours: [{ weekday: 6, opensAt: '23:00', closesAt: '03:00' }],
      date: '2026-03-28',
      now: new Date('2026-03-20T12:00:00Z'),
      rules: { ...base.rules, slotMinutes: 60, turnMinutes: 60 },
    });
    // 23:00 and 00:00 are UTC+0; the next hour is 02:00 local (01:00 UTC); closing 03:00 local is 02:00 UTC.
    expect(slots.map((s) => s.startsAt.toISOString())).toEqual([
      '2026-03-28T23:00:00.000Z',
      '2026-03-29T00:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
    ]);
  });
});

/**
 * Whether each booking can have one table, or one set of combinable tables, for its whole turn
 * with no two overlapping bookings at the same table: every choice tried (small cases only).
 */
function seatedThroughout(tables: readonly Table[], bookings: readonly LiveBooking[]): boolean {
  const options = (partySize: number) => {
    const found: number[][] = [];
    for (let mask = 1; mask < 1 << tables.length; mask += 1) {
      const chosen = tables.flatMap((_table, i) => (mask & (1 << i) ? [i] : []));
      const seats = chosen.reduce((sum, i) => sum + tables[i]!.seats, 0);
      const allowed = chosen.length === 1 || chosen.every((i) => tables[i]!.combinable);
      if (allowed && seats >= partySize) found.push(chosen);
    }
    return found;
  };
  const at: number[][] = [];
  const place = (index: number): boolean => {
    const booking = bookings[index];
    if (!booking) return true;
    for (const chosen of options(booking.partySize)) {
      const clash = bookings
        .slice(0, index)
        .some(
          (other, j) =>
            other.startsAt < booking.endsAt &&
            other.endsAt > booking.startsAt &&
            at[j]!.some((table) => chosen.includes(table)),
        );
      if (clash) continue;
      at[index] = chosen;
      if (place(index + 1)) return true;
    }
    return false;
  };
  return place(0);
}
