/**
 * A person's habits, read from their bookings: how many they usually are, when they go out, where,
 * and what they like to eat. The agent's system prompt shows them so it can suggest the usual
 * without asking ("a table for two on Friday at eight, as usual?").
 *
 * Which bookings count: those starting in the twelve months before `now`, and the upcoming ones,
 * that are live or happened (REQUESTED, HELD, CONFIRMED, SEATED, COMPLETED). A booking asked for
 * and not yet answered says what the person wants as much as a confirmed one; one that was
 * declined, cancelled, expired or not shown up for says little about what they do.
 *
 * Something is "usual" only when at least two bookings share it: one booking is not a habit.
 * Times are the venue's local wall-clock time (where the person was), not the server's.
 *
 * One SQL statement, whatever the history's length.
 */
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';

export const COUNTED_STATUSES = [
  'REQUESTED',
  'HELD',
  'CONFIRMED',
  'SEATED',
  'COMPLETED',
] as const satisfies readonly BookingStatus[];

/** How far back bookings count. */
export const PATTERN_WINDOW_DAYS = 365;
/** How many bookings must share a value for it to be usual. */
export const MIN_OCCURRENCES = 2;

export const WEEKDAYS = [
  'SUNDAY',
  'MONDAY',
  'TUESDAY',
  'WEDNESDAY',
  'THURSDAY',
  'FRIDAY',
  'SATURDAY',
] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface BehaviourPatterns {
  /** Bookings counted (see the top of this file). */
  bookingsCount: number;
  /** The most common party size; null when no size recurs. */
  usualPartySize: number | null;
  usualTimes: {
    /** Most common days of the week (up to 3), most common first. */
    weekdays: Weekday[];
    /** Most common local starting hours, 0–23 (up to 3), most common first. */
    hours: number[];
  };
  /** Most common cities (or regions) of the venues (up to 3). */
  usualAreas: string[];
  /** Most common cuisines of the venues, lower-cased (up to 3). */
  favouriteCuisines: string[];
}

export const EMPTY_PATTERNS: BehaviourPatterns = {
  bookingsCount: 0,
  usualPartySize: null,
  usualTimes: { weekdays: [], hours: [] },
  usualAreas: [],
  favouriteCuisines: [],
};

interface PatternRow {
  total: number;
  party_sizes: number[] | null;
  weekdays: number[] | null;
  hours: number[] | null;
  areas: string[] | null;
  cuisines: string[] | null;
}

/**
 * The person's patterns. Each list holds values shared by at least MIN_OCCURRENCES bookings, most
 * frequent first; ties go to the value booked most recently.
 */
export async function behaviourPatterns(
  db: DbOrTx,
  userId: string,
  now: Date,
  options: {
    /** Only bookings made after this (dreaming: after the person's forgetAll). */
    madeAfter?: Date | null;
  } = {},
): Promise<BehaviourPatterns> {
  const since = new Date(now.getTime() - PATTERN_WINDOW_DAYS * 86_400_000);
  const madeAfter = options.madeAfter ?? null;
  // `top(values)`: the values seen at least MIN_OCCURRENCES times, most frequent (then most
  // recent) first, at most three.
  const [row] = await db.$queryRaw<PatternRow[]>`
    WITH b AS (
      SELECT bk.party_size, bk.starts_at, v.cuisines,
        coalesce(nullif(btrim(v.city), ''), nullif(btrim(v.region), '')) AS area,
        bk.starts_at AT TIME ZONE v.time_zone AS local
      FROM bookings bk JOIN venues v ON v.id = bk.venue_id
      WHERE bk.guest_id = ${userId}::uuid
        AND bk.status::text = ANY(${COUNTED_STATUSES as unknown as string[]}::text[])
        AND bk.starts_at >= ${since}::timestamptz
        AND (${madeAfter}::timestamptz IS NULL OR bk.created_at > ${madeAfter}::timestamptz)
    ),
    counted AS (
      SELECT 'party_size' AS dimension, party_size::text AS value, count(*) AS n, max(starts_at) AS last
        FROM b GROUP BY party_size
      UNION ALL
      SELECT 'weekday', extract(dow FROM local)::int::text, count(*), max(starts_at) FROM b GROUP BY 2
      UNION ALL
      SELECT 'hour', extract(hour FROM local)::int::text, count(*), max(starts_at) FROM b GROUP BY 2
      UNION ALL
      SELECT 'area', area, count(*), max(starts_at) FROM b WHERE area IS NOT NULL GROUP BY area
      UNION ALL
      SELECT 'cuisine', c.value, count(*), max(b.starts_at)
        FROM b CROSS JOIN LATERAL (SELECT DISTINCT lower(btrim(x)) AS value FROM unnest(b.cuisines) x) c
        WHERE c.value <> '' GROUP BY c.value
    ),
    ranked AS (
      SELECT dimension, value,
        row_number() OVER (PARTITION BY dimension ORDER BY n DESC, last DESC, value) AS place
      FROM counted WHERE n >= ${MIN_OCCURRENCES}
    ),
    top AS (
      SELECT dimension, array_agg(value ORDER BY place) AS "values" FROM ranked WHERE place <= 3 GROUP BY dimension
    )
    SELECT
      (SELECT count(*)::int FROM b) AS total,
      (SELECT "values"::int[] FROM top WHERE dimension = 'party_size') AS party_sizes,
      (SELECT "values"::int[] FROM top WHERE dimension = 'weekday') AS weekdays,
      (SELECT "values"::int[] FROM top WHERE dimension = 'hour') AS hours,
      (SELECT "values" FROM top WHERE dimension = 'area') AS areas,
      (SELECT "values" FROM top WHERE dimension = 'cuisine') AS cuisines`;
  if (!row || row.total === 0) return structuredClone(EMPTY_PATTERNS);
  return {
    bookingsCount: row.total,
    usualPartySize: row.party_sizes?.[0] ?? null,
    usualTimes: {
      weekdays: (row.weekdays ?? []).map((d) => WEEKDAYS[d]!),
      hours: row.hours ?? [],
    },
    usualAreas: row.areas ?? [],
    favouriteCuisines: row.cuisines ?? [],
  };
}

/**
 * The patterns in a sentence for the system prompt, or null when there is nothing usual:
 * "Usually books for 2; on Fridays and Saturdays; around 20:00; in Lisbon; likes italian and
 * japanese (from 6 recent bookings)."
 */
export function describePatterns(patterns: BehaviourPatterns): string | null {
  const parts: string[] = [];
  if (patterns.usualPartySize) parts.push(`usually books for ${patterns.usualPartySize}`);
  const { weekdays, hours } = patterns.usualTimes;
  if (weekdays.length) parts.push(`on ${and(weekdays.map((d) => `${d[0]}${d.slice(1).toLowerCase()}s`))}`);
  if (hours.length) parts.push(`around ${and(hours.map((h) => `${String(h).padStart(2, '0')}:00`))}`);
  if (patterns.usualAreas.length) parts.push(`in ${and(patterns.usualAreas)}`);
  if (patterns.favouriteCuisines.length) parts.push(`likes ${and(patterns.favouriteCuisines)}`);
  if (!parts.length) return null;
  const sentence = parts.join('; ');
  return `${sentence[0]!.toUpperCase()}${sentence.slice(1)} (from ${patterns.bookingsCount} recent bookings).`;
}

function and(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
