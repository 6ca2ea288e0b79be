/**
 * How input is refused, for every edge alike (GraphQL, MCP, chat tools): a ValidationError whose
 * message is a sentence for a person and whose `field` is the path of the input as the client
 * sent it (`partySizeMin`, `socialHandles.0.handle`), so a form can show the message next to the
 * control. Rules that deserve their own sentence say it where the rule is declared (a zod
 * `error`); every other rule gets one of the sentences below, never zod's own wording.
 */
import { z } from 'zod';
import { ValidationError } from '../platform/errors.ts';

type Issue = z.core.$ZodRawIssue;

const FORMATS: Record<string, string> = {
  email: 'Enter a valid email address',
  url: 'Use a web address such as https://example.com',
  uuid: 'This is not a valid id',
  guid: 'This is not a valid id',
  date: 'Use a date such as 2026-12-24',
  datetime: 'Use a date and time such as 2026-12-24T19:30:00Z',
  time: 'Use a time of day such as 18:30',
  e164: 'Use an international number such as +351212345678',
};

const TYPES: Record<string, string> = {
  number: 'Use a number',
  int: 'Use a whole number',
  string: 'Use text',
  boolean: 'Use true or false',
  array: 'Use a list',
  object: 'Give the fields of this item',
  date: 'Use a date and time',
};

const quantity = (n: number | bigint, one: string, many: string) => `${n} ${Number(n) === 1 ? one : many}`;

/** The sentence for a rule that has none of its own. */
function sentenceFor(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'This is required';
      if (issue.input === null) return 'This cannot be empty';
      return TYPES[issue.expected] ?? 'This is not the right kind of value';
    case 'too_small':
      if (issue.origin === 'string')
        return Number(issue.minimum) <= 1
          ? 'This cannot be empty'
          : `Use at least ${quantity(issue.minimum, 'character', 'characters')}`;
      if (issue.origin === 'array' || issue.origin === 'set')
        return Number(issue.minimum) <= 1 ? 'Give at least one' : `Give at least ${issue.minimum}`;
      return issue.inclusive === false ? `Use more than ${issue.minimum}` : `Use ${issue.minimum} or more`;
    case 'too_big':
      if (issue.origin === 'string')
        return `Use at most ${quantity(issue.maximum, 'character', 'characters')}`;
      if (issue.origin === 'array' || issue.origin === 'set') return `Give at most ${issue.maximum}`;
      return issue.inclusive === false ? `Use less than ${issue.maximum}` : `Use ${issue.maximum} or less`;
    case 'invalid_format':
      return FORMATS[issue.format] ?? 'This is not in the expected form';
    case 'invalid_value':
      return issue.values.length === 1
        ? `Use ${String(issue.values[0])}`
        : `Use one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `There is no field ${issue.keys.join(', ')}`;
    case 'not_multiple_of':
      return `Use a multiple of ${issue.divisor}`;
    default:
      return 'This is not valid';
  }
}

// One error map for the whole process: schemas that name their own sentence keep it.
z.config({ customError: sentenceFor });

/**
 * The path of the input as the client sent it, for a zod issue. `at` is where the parsed value
 * sits in that input (`clearDates` when only that list was parsed); an unknown key names itself.
 */
export function inputPath(issue: z.core.$ZodIssue, at?: string): string | null {
  const path: PropertyKey[] = [...(at ? at.split('.') : []), ...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys[0]) path.push(issue.keys[0]);
  return path.length > 0 ? path.map(String).join('.') : null;
}

/**
 * Parses domain input with a zod schema. The first problem becomes a ValidationError with a
 * person's sentence and the input path (see `inputPath`), which GraphQL returns as a typed error
 * and MCP as an error result.
 */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown, at?: string): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new ValidationError(issue.message, inputPath(issue, at));
}

/** A whole number in a range, with the sentence a person reads for each end. */
export function wholeNumber(min: number, max: number, messages: { min: string; max: string }) {
  return z.number().int().min(min, messages.min).max(max, messages.max);
}

/**
 * Degrees of latitude (`-90`..`90`) or longitude (`-180`..`180`), kept to 7 decimals (about a
 * centimetre): a value too small to compute with (5e-324) is 0, where PostgreSQL's trigonometry
 * refused it ("value out of range: underflow"), and a venue that held one failed every search
 * measuring distances.
 */
export function degrees(axis: 'latitude' | 'longitude') {
  const [limit, name] = axis === 'latitude' ? [90, 'Latitude'] : [180, 'Longitude'];
  const message = `${name} is between -${limit} and ${limit}`;
  return z
    .number()
    .min(-limit, message)
    .max(limit, message)
    .transform((value) => Math.round(value * 1e7) / 1e7);
}

/**
 * The years a date may fall in. PostgreSQL has no year 0 (a date in year 1 less a day was "out of
 * range"); nothing anyone books, opens or searches for lies outside these.
 */
export const CALENDAR_YEARS = { earliest: 1900, latest: 9999 } as const;

/** What a date outside CALENDAR_YEARS is refused with. */
export const CALENDAR_MESSAGE = `Give a date between the years ${CALENDAR_YEARS.earliest} and ${CALENDAR_YEARS.latest}`;

/** Whether a year is one of CALENDAR_YEARS. */
export function isCalendarYear(year: number): boolean {
  return year >= CALENDAR_YEARS.earliest && year <= CALENDAR_YEARS.latest;
}

/** Whether an instant falls within CALENDAR_YEARS (UTC). */
export function withinCalendar(date: Date): boolean {
  return isCalendarYear(date.getUTCFullYear());
}

/**
 * A caller's idempotency key: the same key from the same caller is the same request (a booking
 * made once, a credits adjustment made once).
 */
export const clientKeySchema = z
  .string()
  .trim()
  .min(8, 'The key is at least 8 characters')
  .max(200, 'The key is at most 200 characters');
