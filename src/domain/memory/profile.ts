/**
 * A person's profile: what they told their agent about themselves that every conversation needs
 * (home area, dietary needs, usual party size, preferred times, notes), kept as JSON in
 * `users.profile`, beside the columns the rest of the platform reads (language, position, time zone).
 *
 * Written only by `updateProfile`, which merges a patch: a field left out stays, null (or an empty
 * text or list) removes it, anything else replaces it. The whole patch is checked before anything
 * is written, and written in one statement, so a bad patch changes nothing and two patches at once
 * both land (each merges into what the other wrote).
 *
 * Beside the fields, the JSON keeps the dietary needs the person took off (`dietaryTakenOff`, not
 * part of the Profile): deep dreaming fills the list from memories, and must not put back what the
 * person removed because an older memory still says it. Giving an entry again takes it off that list.
 */
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { NotFoundError, ValidationError } from '../../platform/errors.ts';
import { degrees, parseInput } from '../validation.ts';
import { isValidTimeZone } from '../venues/hours.ts';
import { cleanText } from './text.ts';

export interface Profile {
  /** What they are called: shown to venues with their bookings and questions, and in invitations. */
  displayName: string | null;
  /** Where they live or usually go out ("Alfama, Lisbon"). */
  homeArea: string | null;
  /** Dietary needs and allergies, lower-cased ("vegetarian", "halal", "nut allergy"). */
  dietary: string[];
  usualPartySize: number | null;
  /** When they like to go out, in their words ("Friday evenings", "lunch around 13:00"). */
  preferredTimes: string[];
  notes: string | null;
  /** BCP 47, canonical ("pt-BR"). */
  language: string | null;
  latitude: number | null;
  longitude: number | null;
  /** IANA ("Europe/Lisbon"). */
  timeZone: string | null;
}

/** What `updateProfile` takes: every field optional; null removes it. */
export type ProfilePatch = { [K in keyof Profile]?: Profile[K] | null };

/** The fields kept in the `profile` JSON; the others are columns of `users`. */
const JSON_FIELDS = ['homeArea', 'dietary', 'usualPartySize', 'preferredTimes', 'notes'] as const;
type JsonField = (typeof JSON_FIELDS)[number];
const COLUMN_FIELDS = ['displayName', 'language', 'latitude', 'longitude', 'timeZone'] as const;
const FIELDS: readonly string[] = [...JSON_FIELDS, ...COLUMN_FIELDS];

/** The JSON key of the dietary needs the person took off (see the top). */
const TAKEN_OFF = 'dietaryTakenOff';

export const PROFILE_LIMITS = {
  displayNameMaxChars: 100,
  homeAreaMaxChars: 120,
  dietaryMaxItems: 20,
  dietaryItemMaxChars: 40,
  preferredTimesMaxItems: 10,
  preferredTimeMaxChars: 60,
  notesMaxChars: 1000,
  partySizeMax: 50,
  /** Dietary needs remembered as taken off, at most (the longest-standing are let go). */
  dietaryTakenOffMaxItems: 50,
} as const;

/** One line of text; empty (after cleaning) means "remove". */
const text = (max: number) =>
  z
    .string()
    .transform((value) => cleanText(value) || null)
    .pipe(z.string().max(max, `At most ${max} characters`).nullable());

/** A list of short texts, cleaned, without repeats; empty means "remove". */
const list = (maxItems: number, maxChars: number, lowerCase: boolean) =>
  z
    .array(
      z
        .string()
        .transform((value) => (lowerCase ? cleanText(value).toLowerCase() : cleanText(value)))
        .pipe(z.string().min(1, 'Empty entry').max(maxChars, `At most ${maxChars} characters each`)),
    )
    .max(maxItems, `At most ${maxItems} entries`)
    .transform((items) => (items.length ? [...new Set(items)] : null));

const language = z
  .string()
  .trim()
  .max(35, 'Not a language tag')
  .transform((tag, ctx) => {
    if (!tag) return null;
    try {
      // Canonical form ("pt-br" → "pt-BR"); throws RangeError for what is not BCP 47.
      return Intl.getCanonicalLocales(tag)[0] ?? null;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'Not a BCP 47 language tag (like "en" or "pt-BR")' });
      return z.NEVER;
    }
  });

const timeZone = z
  .string()
  .trim()
  .transform((zone, ctx) => {
    if (!zone) return null;
    // IANA names only (isValidTimeZone refuses fixed offsets, which know no summer time).
    if (isValidTimeZone(zone)) {
      return Temporal.Now.zonedDateTimeISO(zone).timeZoneId;
    }
    ctx.addIssue({ code: 'custom', message: 'Unknown time zone: use an IANA name such as Europe/Lisbon' });
    return z.NEVER;
  });

const patchSchema = z.object({
  displayName: text(PROFILE_LIMITS.displayNameMaxChars).nullish(),
  homeArea: text(PROFILE_LIMITS.homeAreaMaxChars).nullish(),
  dietary: list(PROFILE_LIMITS.dietaryMaxItems, PROFILE_LIMITS.dietaryItemMaxChars, true).nullish(),
  usualPartySize: z
    .number()
    .int('Use a whole number')
    .min(1, 'A party is at least 1 guest')
    .max(PROFILE_LIMITS.partySizeMax, `A party is at most ${PROFILE_LIMITS.partySizeMax} guests`)
    .nullish(),
  preferredTimes: list(
    PROFILE_LIMITS.preferredTimesMaxItems,
    PROFILE_LIMITS.preferredTimeMaxChars,
    false,
  ).nullish(),
  notes: text(PROFILE_LIMITS.notesMaxChars).nullish(),
  language: language.nullish(),
  latitude: degrees('latitude').nullish(),
  longitude: degrees('longitude').nullish(),
  timeZone: timeZone.nullish(),
});

/** A stored profile, read leniently: a field that does not pass today's rules is left out. */
const storedSchema = z.object({
  homeArea: patchSchema.shape.homeArea.catch(null),
  dietary: patchSchema.shape.dietary.catch(null),
  usualPartySize: patchSchema.shape.usualPartySize.catch(null),
  preferredTimes: patchSchema.shape.preferredTimes.catch(null),
  notes: patchSchema.shape.notes.catch(null),
} satisfies Record<JsonField, z.ZodType>);

export interface ProfileRow {
  profile: unknown;
  displayName: string | null;
  language: string | null;
  latitude: number | null;
  longitude: number | null;
  timeZone: string | null;
}

/** The columns a Profile is read from (for callers that load the user themselves). */
export const profileSelect = {
  profile: true,
  displayName: true,
  language: true,
  latitude: true,
  longitude: true,
  timeZone: true,
} as const satisfies Prisma.UserSelect;

/** A Profile from a user's row. */
export function toProfile(row: ProfileRow): Profile {
  const stored = isObject(row.profile) ? storedSchema.parse(row.profile) : {};
  return {
    displayName: row.displayName,
    homeArea: stored.homeArea ?? null,
    dietary: stored.dietary ?? [],
    usualPartySize: stored.usualPartySize ?? null,
    preferredTimes: stored.preferredTimes ?? [],
    notes: stored.notes ?? null,
    language: row.language,
    latitude: row.latitude,
    longitude: row.longitude,
    timeZone: row.timeZone,
  };
}

export async function getProfile(db: DbOrTx, userId: string): Promise<Profile> {
  const user = await db.user.findUnique({ where: { id: userId }, select: profileSelect });
  if (!user) throw new NotFoundError('No such person');
  return toProfile(user);
}

/**
 * Merges `patch` into the person's profile and returns the result. ValidationError (naming the
 * field) for a field it does not know or a value out of bounds, and then nothing is written.
 * Latitude and longitude are set or removed together.
 */
export async function updateProfile(db: DbOrTx, userId: string, rawPatch: ProfilePatch): Promise<Profile> {
  if (!isObject(rawPatch)) throw new ValidationError('Give the fields to change', null);
  const unknown = Object.keys(rawPatch).find((key) => !FIELDS.includes(key));
  if (unknown) throw new ValidationError(`The profile has no field ${unknown}`, unknown);
  const parsed = parseInput(patchSchema, rawPatch);
  // Given (even as null) versus left out: only given fields change.
  const given = (field: keyof Profile) => Object.hasOwn(rawPatch, field) && rawPatch[field] !== undefined;

  if (given('latitude') !== given('longitude') || (parsed.latitude == null) !== (parsed.longitude == null)) {
    const missing = parsed.latitude == null ? 'latitude' : 'longitude';
    throw new ValidationError('Give latitude and longitude together', missing);
  }

  const set: Record<string, unknown> = {};
  const remove: string[] = [];
  for (const field of JSON_FIELDS) {
    if (!given(field)) continue;
    const value = parsed[field];
    if (value == null) remove.push(field);
    else set[field] = value;
  }
  // A new dietary list: what was on the old one and is not on the new one is taken off; what is on
  // the new one is no longer taken off. Worked out from the row as it is under the update's lock.
  const takenOff = given('dietary')
    ? Prisma.sql`- ${TAKEN_OFF}::text || jsonb_strip_nulls(jsonb_build_object(${TAKEN_OFF}::text, (
        SELECT jsonb_agg(diet ORDER BY since) FROM (
          SELECT diet, min(since) AS since FROM (
            SELECT diet, ordinality AS since FROM jsonb_array_elements_text(
              CASE WHEN jsonb_typeof(profile->'dietary') = 'array' THEN profile->'dietary' ELSE '[]' END
            ) WITH ORDINALITY AS d(diet, ordinality)
            UNION ALL
            SELECT diet, 1000 + ordinality FROM jsonb_array_elements_text(
              CASE WHEN jsonb_typeof(profile->${TAKEN_OFF}::text) = 'array' THEN profile->${TAKEN_OFF}::text ELSE '[]' END
            ) WITH ORDINALITY AS t(diet, ordinality)
          ) AS everything
          WHERE diet <> ALL(${parsed.dietary ?? []}::text[])
          GROUP BY diet ORDER BY min(since) LIMIT ${PROFILE_LIMITS.dietaryTakenOffMaxItems}
        ) AS kept)))`
    : Prisma.empty;
  const column = (field: (typeof COLUMN_FIELDS)[number], sqlName: string, type: string) =>
    given(field)
      ? Prisma.sql`${Prisma.raw(sqlName)} = ${parsed[field] ?? null}::${Prisma.raw(type)}`
      : Prisma.sql`${Prisma.raw(sqlName)} = ${Prisma.raw(sqlName)}`;

  const [row] = await db.$queryRaw<ProfileRow[]>`
    UPDATE users SET
      profile = (CASE WHEN jsonb_typeof(profile) = 'object' THEN profile ELSE '{}'::jsonb END
                 ${takenOff} || ${JSON.stringify(set)}::jsonb) - ${remove}::text[],
      ${column('displayName', 'display_name', 'text')},
      ${column('language', 'language', 'text')},
      ${column('latitude', 'latitude', 'float8')},
      ${column('longitude', 'longitude', 'float8')},
      ${column('timeZone', 'time_zone', 'text')},
      updated_at = now()
    WHERE id = ${userId}::uuid
    RETURNING profile, display_name AS "displayName", language, latitude, longitude, time_zone AS "timeZone"`;
  if (!row) throw new NotFoundError('No such person');
  return toProfile(row);
}

/** The dietary needs the person took off their profile (see the top), most recent first. */
export async function dietaryTakenOff(db: DbOrTx, userId: string): Promise<string[]> {
  const user = await db.user.findUnique({ where: { id: userId }, select: { profile: true } });
  const list = isObject(user?.profile) ? user.profile[TAKEN_OFF] : null;
  return Array.isArray(list) ? list.filter((diet): diet is string => typeof diet === 'string') : [];
}

/**
 * The profile as the system prompt shows it: only what is set, under readable names (language
 * and position are shown elsewhere or not at all).
 */
export function profileForPrompt(profile: Profile): Record<string, string> {
  const lines: Record<string, string> = {};
  if (profile.homeArea) lines['Home area'] = profile.homeArea;
  if (profile.dietary.length) lines['Dietary needs'] = profile.dietary.join(', ');
  if (profile.usualPartySize) lines['Usual party size'] = String(profile.usualPartySize);
  if (profile.preferredTimes.length) lines['Preferred times'] = profile.preferredTimes.join('; ');
  if (profile.notes) lines.Notes = profile.notes;
  if (profile.timeZone) lines['Time zone'] = profile.timeZone;
  return lines;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
