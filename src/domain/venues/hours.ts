/**
 * Opening hours: a weekly pattern of intervals plus dated exceptions, all in the venue's own time
 * zone. Times are "HH:MM"; an interval whose closing time is at or before its opening time runs
 * past midnight into the next day ("18:00"–"02:00"). Wall-clock times become instants through
 * Temporal, so daylight-saving days are right: on a spring-forward day a time inside the gap moves
 * forward, on a fall-back day the earlier of the two instants is used.
 */
import { ValidationError } from '../../platform/errors.ts';
import { isCalendarYear } from '../validation.ts';

export interface WeeklyInterval {
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
  opensAt: string;
  closesAt: string;
}

export interface DatedException {
  /** The venue's local date, YYYY-MM-DD. */
  date: string;
  /** Closed all day. Otherwise `opensAt`/`closesAt` replace the weekly hours of that date. */
  closed: boolean;
  opensAt?: string | null;
  closesAt?: string | null;
  reason?: string | null;
}

export interface Schedule {
  timeZone: string;
  hours: readonly WeeklyInterval[];
  exceptions: readonly DatedException[];
}

export interface Interval {
  start: Temporal.Instant;
  end: Temporal.Instant;
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
const DAY = 1440;
const WEEK = 7 * DAY;

export function minutesOf(time: string): number {
  const match = TIME.exec(time);
  if (!match) throw new ValidationError(`"${time}" is not a time of day (HH:MM)`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Length of an interval in minutes; closing at or before opening crosses midnight. */
export function durationOf(opensAt: string, closesAt: string): number {
  const open = minutesOf(opensAt);
  const close = minutesOf(closesAt);
  return close > open ? close - open : close + DAY - open;
}

/**
 * Whether `timeZone` is a named (IANA) zone. Fixed offsets ("+05:30") are not: they know no summer
 * time, and PostgreSQL reads them with the opposite sign (POSIX), so search would place the venue
 * hours away from its own clock.
 */
export function isValidTimeZone(timeZone: string): boolean {
  const given = timeZone.trim();
  try {
    // Temporal also reads zones out of date-time strings ("T12:00+05:30"): only a zone's own name
    // (any case) is one, and only a named zone.
    const id = Temporal.Now.zonedDateTimeISO(given).timeZoneId;
    return !/^[+-]/.test(id) && id.toLowerCase() === given.toLowerCase();
  } catch {
    return false;
  }
}

/** Checks a weekly pattern; a ValidationError names the first bad field (`hours.2.closesAt`). */
/** Bounds on what one call sets: a week's intervals, a call's dated exceptions, a reason's length. */
export const HOURS_LIMITS = {
  weeklyIntervals: 70,
  exceptionsPerCall: 366,
  reasonMaxChars: 200,
} as const;

export function validateWeeklyHours(hours: readonly WeeklyInterval[], field = 'hours'): WeeklyInterval[] {
  if (hours.length > HOURS_LIMITS.weeklyIntervals) {
    throw new ValidationError(`At most ${HOURS_LIMITS.weeklyIntervals} opening intervals a week`, field);
  }
  const segments: { from: number; to: number; index: number }[] = [];
  hours.forEach((interval, index) => {
    if (!Number.isInteger(interval.weekday) || interval.weekday < 0 || interval.weekday > 6) {
      throw new ValidationError('Weekday must be 0 (Sunday) to 6 (Saturday)', `${field}.${index}.weekday`);
    }
    for (const key of ['opensAt', 'closesAt'] as const) {
      if (!TIME.test(interval[key])) {
        throw new ValidationError(`Use a 24-hour time such as 18:30`, `${field}.${index}.${key}`);
      }
    }
    const from = interval.weekday * DAY + minutesOf(interval.opensAt);
    const to = from + durationOf(interval.opensAt, interval.closesAt);
    // The week is a circle: Saturday night runs into Sunday morning.
    if (to <= WEEK) segments.push({ from, to, index });
    else {
      segments.push({ from, to: WEEK, index });
      segments.push({ from: 0, to: to - WEEK, index });
    }
  });
  segments.sort((a, b) => a.from - b.from);
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1]!;
    const current = segments[i]!;
    if (current.from < previous.to && current.index !== previous.index) {
      const later = Math.max(current.index, previous.index);
      throw new ValidationError(
        `These hours overlap other hours of the week (${describe(hours[previous.index]!)} and ${describe(hours[current.index]!)})`,
        `${field}.${later}.opensAt`,
      );
    }
  }
  return hours.map((h) => ({ weekday: h.weekday, opensAt: h.opensAt, closesAt: h.closesAt }));
}

/**
 * Whether `value` is a real calendar date written YYYY-MM-DD (not 2026-02-30), in the years dates
 * may fall in (CALENDAR_YEARS).
 */
export function isRealDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  try {
    const { year } = Temporal.PlainDate.from(value, { overflow: 'reject' });
    return isCalendarYear(year);
  } catch {
    return false;
  }
}

/** Checks dated exceptions: real dates, closed or an interval, no overlap within a date. */
export function validateExceptions(
  exceptions: readonly DatedException[],
  field = 'exceptions',
): DatedException[] {
  if (exceptions.length > HOURS_LIMITS.exceptionsPerCall) {
    throw new ValidationError(`At most ${HOURS_LIMITS.exceptionsPerCall} exceptions at a time`, field);
  }
  const byDate = new Map<string, { from: number; to: number; index: number }[]>();
  exceptions.forEach((exception, index) => {
    if (!isRealDate(exception.date)) {
      throw new ValidationError('Use a date such as 2026-12-24', `${field}.${index}.date`);
    }
    if ((exception.reason?.length ?? 0) > HOURS_LIMITS.reasonMaxChars) {
      throw new ValidationError(
        `At most ${HOURS_LIMITS.reasonMaxChars} characters`,
        `${field}.${index}.reason`,
      );
    }
    const open = exception.opensAt ?? null;
    const close = exception.closesAt ?? null;
    if (exception.closed) {
      if (open !== null || close !== null) {
        throw new ValidationError('A closed day has no opening times', `${field}.${index}.opensAt`);
      }
    } else {
      if (open === null || !TIME.test(open)) {
        throw new ValidationError(
          'Give the opening time (HH:MM), or mark the day closed',
          `${field}.${index}.opensAt`,
        );
      }
      if (close === null || !TIME.test(close)) {
        throw new ValidationError('Give the closing time (HH:MM)', `${field}.${index}.closesAt`);
      }
    }
    const list = byDate.get(exception.date) ?? [];
    if (exception.closed && list.length > 0) {
      throw new ValidationError(
        'A date is either closed or has opening times, not both',
        `${field}.${index}.closed`,
      );
    }
    if (!exception.closed) {
      if (list.some((s) => s.index < 0)) {
        throw new ValidationError(
          'A date is either closed or has opening times, not both',
          `${field}.${index}.closed`,
        );
      }
      const from = minutesOf(open!);
      const to = from + durationOf(open!, close!);
      if (list.some((s) => from < s.to && s.from < to)) {
        throw new ValidationError(
          'These hours overlap other hours of the same date',
          `${field}.${index}.opensAt`,
        );
      }
      list.push({ from, to, index });
    } else {
      list.push({ from: 0, to: 0, index: -1 });
    }
    byDate.set(exception.date, list);
  });
  return exceptions.map((e) => ({
    date: e.date,
    closed: e.closed,
    opensAt: e.closed ? null : (e.opensAt ?? null),
    closesAt: e.closed ? null : (e.closesAt ?? null),
    reason: e.reason ?? null,
  }));
}

/** The intervals that open on `date` (local), as instants; an exception replaces the weekly ones. */
export function intervalsStartingOn(schedule: Schedule, date: Temporal.PlainDate): Interval[] {
  const iso = date.toString();
  const exceptions = schedule.exceptions.filter((e) => e.date === iso);
  const local =
    exceptions.length > 0
      ? exceptions.filter((e) => !e.closed).map((e) => ({ opensAt: e.opensAt!, closesAt: e.closesAt! }))
      : schedule.hours.filter((h) => h.weekday === date.dayOfWeek % 7);
  return local
    .map(({ opensAt, closesAt }) => {
      const opens = Temporal.PlainTime.from(opensAt);
      const closes = Temporal.PlainTime.from(closesAt);
      const closeDate = Temporal.PlainTime.compare(closes, opens) <= 0 ? date.add({ days: 1 }) : date;
      return {
        start: date.toZonedDateTime({ timeZone: schedule.timeZone, plainTime: opens }).toInstant(),
        end: closeDate.toZonedDateTime({ timeZone: schedule.timeZone, plainTime: closes }).toInstant(),
      };
    })
    .sort((a, b) => Temporal.Instant.compare(a.start, b.start));
}

/**
 * The dates a venue's exceptions are listed for: from `from` (a date, YYYY-MM-DD; "" or none:
 * today in `timeZone`, the UTC date until the venue's zone is known) for `days` days (default 60,
 * 1 to 366); `from` as midnight UTC, as dates are stored. ValidationError for a date that is not one.
 */
export function exceptionWindow(
  args: { from?: string | null; days?: number | null },
  now: Date,
  timeZone = 'UTC',
): { from: Date; days: number } {
  const days = Math.min(Math.max(args.days ?? 60, 1), 366);
  const given = args.from || null;
  if (given && !isRealDate(given)) {
    throw new ValidationError('Use a date such as 2026-12-24', 'from');
  }
  const date =
    given ??
    Temporal.Instant.fromEpochMilliseconds(now.getTime())
      .toZonedDateTimeISO(timeZone)
      .toPlainDate()
      .toString();
  return { from: new Date(`${date}T00:00:00Z`), days };
}

/** Whether the venue is open at `instant` (intervals of the day before may still be running). */
export function isOpenAt(schedule: Schedule, instant: Temporal.Instant): boolean {
  const today = instant.toZonedDateTimeISO(schedule.timeZone).toPlainDate();
  return [today.subtract({ days: 1 }), today].some((date) =>
    intervalsStartingOn(schedule, date).some(
      (i) => Temporal.Instant.compare(i.start, instant) <= 0 && Temporal.Instant.compare(instant, i.end) < 0,
    ),
  );
}

function describe(h: WeeklyInterval): string {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][h.weekday];
  return `${day} ${h.opensAt}–${h.closesAt}`;
}
