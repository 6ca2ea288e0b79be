import { describe, expect, it } from 'vitest';
import {
  intervalsStartingOn,
  isOpenAt,
  type Schedule,
  validateExceptions,
  validateWeeklyHours,
} from '../../src/domain/venues/hours.ts';
import { ValidationError } from '../../src/platform/errors.ts';

const bar: Schedule = {
  timeZone: 'Europe/Lisbon',
  // Friday and Saturday till 02:00; Sunday afternoon.
  hours: [
    { weekday: 5, opensAt: '18:00', closesAt: '02:00' },
    { weekday: 6, opensAt: '18:00', closesAt: '02:00' },
    { weekday: 0, opensAt: '12:00', closesAt: '16:00' },
  ],
  exceptions: [
    { date: '2026-12-25', closed: true },
    { date: '2026-12-31', closed: false, opensAt: '20:00', closesAt: '04:00', reason: 'New Year party' },
  ],
};

const at = (iso: string) => Temporal.Instant.from(iso);

function fieldOf(fn: () => unknown): string | null {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error.field;
    throw error;
  }
  return 'no error';
}

describe('opening hours', () => {
  it('keeps a Friday night open past midnight into Saturday', () => {
    // 2026-11-27 is a Friday; Lisbon is UTC+0 in winter.
    expect(isOpenAt(bar, at('2026-11-27T23:30:00Z'))).toBe(true);
    expect(isOpenAt(bar, at('2026-11-28T01:59:00Z'))).toBe(true);
    expect(isOpenAt(bar, at('2026-11-28T02:00:00Z'))).toBe(false);
    expect(isOpenAt(bar, at('2026-11-28T12:00:00Z'))).toBe(false);
  });

  it('runs Saturday night into Sunday morning across the end of the week', () => {
    expect(isOpenAt(bar, at('2026-11-29T01:00:00Z'))).toBe(true);
    expect(isOpenAt(bar, at('2026-11-29T13:00:00Z'))).toBe(true);
  });

  it('uses the venue time zone, daylight saving included', () => {
    // 2026-07-03 is a Friday; Lisbon is UTC+1 in summer, so 18:00 local is 17:00 UTC.
    expect(isOpenAt(bar, at('2026-07-03T16:59:00Z'))).toBe(false);
    expect(isOpenAt(bar, at('2026-07-03T17:00:00Z'))).toBe(true);
  });

  it('lets a dated exception close a day or replace its hours', () => {
    // 2026-12-25 is a Friday: closed. The night of the 24th (a Thursday) was never open.
    expect(isOpenAt(bar, at('2026-12-25T19:00:00Z'))).toBe(false);
    // 2026-12-31 is a Thursday, normally closed: open 20:00–04:00 for the party.
    expect(isOpenAt(bar, at('2026-12-31T21:00:00Z'))).toBe(true);
    expect(isOpenAt(bar, at('2027-01-01T03:59:00Z'))).toBe(true);
    expect(isOpenAt(bar, at('2027-01-01T04:00:00Z'))).toBe(false);
  });

  it('turns wall-clock hours into the right instants on daylight-saving days', () => {
    const lateNight: Schedule = {
      timeZone: 'Europe/Lisbon',
      hours: [{ weekday: 6, opensAt: '22:00', closesAt: '03:00' }],
      exceptions: [],
    };
    // Night of Sat 2026-03-28: clocks jump 01:00 → 02:00, so the night is 4 hours long.
    const [spring] = intervalsStartingOn(lateNight, Temporal.PlainDate.from('2026-03-28'));
    expect(spring!.start.toString()).toBe('2026-03-28T22:00:00Z');
    expect(spring!.end.toString()).toBe('2026-03-29T02:00:00Z');
    // Night of Sat 2026-10-24: clocks fall back 02:00 → 01:00, so it is 6 hours long.
    const [autumn] = intervalsStartingOn(lateNight, Temporal.PlainDate.from('2026-10-24'));
    expect(autumn!.start.toString()).toBe('2026-10-24T21:00:00Z');
    expect(autumn!.end.toString()).toBe('2026-10-25T03:00:00Z');
  });

  it('refuses overlapping, malformed and impossible hours, naming the field', () => {
    expect(fieldOf(() => validateWeeklyHours(bar.hours))).toBe('no error');
    expect(
      fieldOf(() =>
        validateWeeklyHours([
          { weekday: 1, opensAt: '12:00', closesAt: '15:00' },
          { weekday: 1, opensAt: '14:00', closesAt: '18:00' },
        ]),
      ),
    ).toBe('hours.1.opensAt');
    // Saturday night spilling into Sunday lunch.
    expect(
      fieldOf(() =>
        validateWeeklyHours([
          { weekday: 0, opensAt: '01:00', closesAt: '05:00' },
          { weekday: 6, opensAt: '20:00', closesAt: '02:00' },
        ]),
      ),
    ).toBe('hours.1.opensAt');
    expect(fieldOf(() => validateWeeklyHours([{ weekday: 7, opensAt: '12:00', closesAt: '15:00' }]))).toBe(
      'hours.0.weekday',
    );
    expect(fieldOf(() => validateWeeklyHours([{ weekday: 1, opensAt: '24:00', closesAt: '15:00' }]))).toBe(
      'hours.0.opensAt',
    );
    expect(fieldOf(() => validateWeeklyHours([{ weekday: 1, opensAt: '12:00', closesAt: '9:00' }]))).toBe(
      'hours.0.closesAt',
    );
  });

  it('refuses exceptions that are not real dates, or both closed and open', () => {
    expect(fieldOf(() => validateExceptions(bar.exceptions))).toBe('no error');
    expect(fieldOf(() => validateExceptions([{ date: '2026-02-30', closed: true }]))).toBe(
      'exceptions.0.date',
    );
    expect(fieldOf(() => validateExceptions([{ date: '2026-12-24', closed: true, opensAt: '10:00' }]))).toBe(
      'exceptions.0.opensAt',
    );
    expect(
      fieldOf(() =>
        validateExceptions([
          { date: '2026-12-24', closed: true },
          { date: '2026-12-24', closed: false, opensAt: '10:00', closesAt: '12:00' },
        ]),
      ),
    ).toBe('exceptions.1.closed');
  });
});
