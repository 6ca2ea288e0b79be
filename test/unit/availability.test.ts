import { describe, expect, it } from 'vitest';
import {
  type AvailabilityInput,
  availability,
  type LiveBooking,
  sharingCapacityWith,
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

  it('decides one start from the bookings sharing its capacity alone, as from all of them', () => {
    // A seeded generator, so a failure is the same on every run.
    let seed = 15;
    const random = (n: number) => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n);
    };
    const day = Date.parse('2026-11-30T00:00:00Z');
    const tables = [
      { id: 'a', seats: 2, combinable: true },
      { id: 'b', seats: 2, combinable: true },
      { id: 'c', seats: 4, combinable: false },
      { id: 'd', seats: 6, combinable: true },
    ];
    let decidedByBookings = 0;
    for (let round = 0; round < 1000; round += 1) {
      const slotMinutes = [15, 30, 60, 120][random(4)]!;
      const turnMinutes = [15, 60, 90, 150][random(4)]!;
      const input: AvailabilityInput = {
        ...base,
        rules: { ...base.rules, slotMinutes, turnMinutes, coversPerSlot: random(2) ? 4 + random(8) : null },
        hours: [{ weekday: 1, opensAt: '12:00', closesAt: '23:45' }],
        tables: random(2) ? tables.slice(0, 1 + random(4)) : [],
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
    // Enough of the rounds were full or short of tables to make the comparison mean something.
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
