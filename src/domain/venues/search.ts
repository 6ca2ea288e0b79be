/**
 * Venue search: words (name, cuisines, description; weighted in that order), category, price, open at an instant, and
 * distance from a point, ordered by relevance, distance or name. Only venues on the network
 * (LISTED, CLAIMED) are found. One SQL statement returns a page of ids with their rank, distance
 * and the total; the caller loads the venues it shows.
 *
 * "Open at" is evaluated in SQL on wall-clock times in each venue's zone, with the same rules as
 * `isOpenAt` in hours.ts (dated exceptions replace a day's hours; intervals closing at or before
 * they open run past midnight). A test checks the two agree.
 */
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { VenueCategory } from '../../generated/prisma/enums.ts';
import { type DbOrTx, directReads, PLANNED_EACH_RUN, readRows } from '../../platform/db.ts';
import { type CompiledRows, compileRowsById } from '../../platform/json-rows.ts';
import { CALENDAR_MESSAGE, degrees, parseInput, withinCalendar } from '../validation.ts';

export type VenueSearchOrder = 'RELEVANCE' | 'DISTANCE' | 'NAME';

export interface VenueSearchInput {
  text?: string | null;
  categories?: VenueCategory[] | null;
  cuisines?: string[] | null;
  priceLevelMin?: number | null;
  priceLevelMax?: number | null;
  openAt?: Date | null;
  near?: { latitude: number; longitude: number; radiusMeters?: number | null } | null;
  orderBy?: VenueSearchOrder | null;
}

export interface VenueSearchHit {
  id: string;
  /** Full-text rank; 0 without words. */
  relevance: number;
  /** Metres from `near`; null without a point or a venue position. */
  distanceMeters: number | null;
  /** The venue's cuisines and city: what a person's taste ranks the page by (graph/rank.ts). */
  cuisines: string[];
  city: string | null;
  /** The venue's page version as the search read it (see venuesOfHits). */
  pageVersion: number;
}

export interface VenueSearchPage {
  hits: VenueSearchHit[];
  totalCount: number;
}

const EARTH_RADIUS_M = 6_371_000;
const MAX_RADIUS_M = 200_000;

const inputSchema = z.object({
  text: z.string().trim().max(200).nullish(),
  categories: z.array(z.string()).max(10).nullish(),
  cuisines: z.array(z.string().trim().toLowerCase().max(40)).max(10).nullish(),
  priceLevelMin: z.number().int().min(1).max(4).nullish(),
  priceLevelMax: z.number().int().min(1).max(4).nullish(),
  openAt: z.date().refine(withinCalendar, CALENDAR_MESSAGE).nullish(),
  near: z
    .object({
      latitude: degrees('latitude'),
      longitude: degrees('longitude'),
      radiusMeters: z
        .number()
        .positive()
        .max(MAX_RADIUS_M, `At most ${MAX_RADIUS_M / 1000} km`)
        .nullish(),
    })
    .nullish(),
  orderBy: z.enum(['RELEVANCE', 'DISTANCE', 'NAME']).nullish(),
});

/** The words of a query as a prefix-matching tsquery (`gril:* & fish:*`), or null. */
export function toPrefixQuery(text: string | null | undefined): string | null {
  const words = (text ?? '').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.length
    ? words
        .slice(0, 8)
        .map((w) => `${w}:*`)
        .join(' & ')
    : null;
}

/**
 * The venues of a page of hits, with what `query` selects, in one query (in no particular order:
 * the hits give it). Built as JSON by PostgreSQL when `query` is a selection it compiles
 * (src/platform/json-rows.ts), through Prisma's client otherwise and inside a transaction.
 */
export async function venuesByIds(
  db: DbOrTx,
  venueIds: readonly string[],
  query: Prisma.VenueDefaultArgs = {},
) {
  const direct = directReads(db);
  const compiled = direct && compileRowsById('Venue', query);
  if (direct && compiled) {
    const rows = await direct.query(compiled.text, [venueIds]);
    return rows.map((r) => compiled.decode(r.row)) as Awaited<ReturnType<typeof findVenues>>;
  }
  return findVenues(db, venueIds, query);
}

function findVenues(db: DbOrTx, venueIds: readonly string[], query: Prisma.VenueDefaultArgs) {
  return db.venue.findMany({ ...query, where: { id: { in: [...venueIds] } } });
}

/**
 * What a venue's page version does not answer for, by model: the agent's bookkeeping the gateway
 * and its inbox write many times an hour. Every other column of the venue, its hours, its dated
 * exceptions and its agent moves the number (the migration `venue_page_version`, whose agents'
 * update trigger names the same columns); a page that reads another model, or one of these
 * fields, is not kept.
 */
export const PAGE_UNVERSIONED: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['Venue', new Set<string>()],
  ['VenuePageVersion', new Set<string>()],
  ['OpeningHours', new Set<string>()],
  ['HoursException', new Set<string>()],
  ['Agent', new Set(['lastInboxPollAt', 'registeredAt', 'registeredToolsVersion', 'registrationError'])],
]);

/** Venues kept between searches, each with its page version; the earliest kept goes first. */
const PAGES_KEPT = 10_000;
const keptPages = new Map<string, { venue: unknown; pageVersion: number }>();
/** Per compiled statement: a short key for its kept venues, or null when its pages are not kept. */
const keptStatements = new WeakMap<CompiledRows, string | null>();
let statementsSeen = 0;

function keptKeyOf(compiled: CompiledRows): string | null {
  let key = keptStatements.get(compiled);
  if (key === undefined) {
    const versioned = [...compiled.reads].every(([model, fields]) => {
      const unversioned = PAGE_UNVERSIONED.get(model);
      return unversioned !== undefined && ![...fields].some((field) => unversioned.has(field));
    });
    statementsSeen += 1;
    key = versioned ? `${statementsSeen}:` : null;
    keptStatements.set(compiled, key);
  }
  return key;
}

/**
 * The venues of a page of search hits, with what `query` selects (in no particular order: the
 * hits give it). A venue this process read before with the same selection is answered from that
 * read while its page version is the one the search just read: the triggers move the number in
 * the transaction that changes anything the page holds, so the kept venue is what a read now would
 * return. The rest are read in one statement, each kept at the version read with it. Kept venues
 * are frozen: every request shares them. Selections the versions do not cover are read every time.
 */
export async function venuesOfHits<Query extends Prisma.VenueDefaultArgs>(
  db: DbOrTx,
  hits: readonly Pick<VenueSearchHit, 'id' | 'pageVersion'>[],
  query: Query,
): Promise<Prisma.VenueGetPayload<Query>[]> {
  const direct = directReads(db);
  // The version read with the venue: the page may have moved since the search read it.
  const withVersion = query.select && {
    ...query,
    select: { ...query.select, pageVersion: { select: { version: true } } },
  };
  const compiled = direct && withVersion && compileRowsById('Venue', withVersion);
  const key = compiled && keptKeyOf(compiled);
  if (!direct || !compiled || !key) {
    const ids = hits.map((hit) => hit.id);
    return (await venuesByIds(db, ids, query)) as Prisma.VenueGetPayload<Query>[];
  }
  const found: unknown[] = [];
  const missing: string[] = [];
  for (const hit of hits) {
    const kept = keptPages.get(key + hit.id);
    if (kept?.pageVersion === hit.pageVersion) found.push(kept.venue);
    else missing.push(hit.id);
  }
  if (missing.length) {
    for (const { row } of await direct.query(compiled.text, [missing])) {
      const { pageVersion, ...venue } = compiled.decode(row) as {
        id: string;
        pageVersion: { version: number } | null;
      };
      deepFreeze(venue);
      const at = key + venue.id;
      keptPages.delete(at);
      if (keptPages.size >= PAGES_KEPT) keptPages.delete(keptPages.keys().next().value as string);
      keptPages.set(at, { venue, pageVersion: pageVersion?.version ?? 0 });
      found.push(venue);
    }
  }
  return found as Prisma.VenueGetPayload<Query>[];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Kept by a trigger (see the migration `venue_search_document`), with a GIN index. */
const document = Prisma.sql`v.search_document`;

export async function searchVenues(
  db: DbOrTx,
  rawInput: VenueSearchInput,
  page: { offset: number; limit: number },
): Promise<VenueSearchPage> {
  const input = parseInput(inputSchema, rawInput);
  const query = toPrefixQuery(input.text);
  const near = input.near ?? null;
  const order = input.orderBy ?? (query ? 'RELEVANCE' : near ? 'DISTANCE' : 'NAME');
  if (order === 'DISTANCE' && !near) {
    parseInput(
      z.object({ near: z.object({}, { error: 'Ordering by distance needs a point to measure from' }) }),
      {},
    );
  }
  if (order === 'RELEVANCE' && !query) {
    parseInput(
      z.object({ text: z.string({ error: 'Ordering by relevance needs words to search for' }) }),
      {},
    );
  }

  const conditions: Prisma.Sql[] = [Prisma.sql`v.status IN ('LISTED', 'CLAIMED')`];
  if (query) conditions.push(Prisma.sql`${document} @@ to_tsquery('simple', ${query})`);
  if (input.categories?.length) {
    conditions.push(Prisma.sql`v.category::text = ANY(${input.categories}::text[])`);
  }
  if (input.cuisines?.length) conditions.push(Prisma.sql`v.cuisines && ${input.cuisines}::text[]`);
  if (input.priceLevelMin) conditions.push(Prisma.sql`v.price_level >= ${input.priceLevelMin}`);
  if (input.priceLevelMax) conditions.push(Prisma.sql`v.price_level <= ${input.priceLevelMax}`);
  if (input.openAt) conditions.push(openAtCondition(input.openAt));

  let distance = Prisma.sql`NULL::double precision`;
  if (near) {
    distance = Prisma.sql`(${2 * EARTH_RADIUS_M} * asin(sqrt(
      power(sin(radians(v.latitude - ${near.latitude}) / 2), 2) +
      cos(radians(${near.latitude})) * cos(radians(v.latitude)) *
      power(sin(radians(v.longitude - ${near.longitude}) / 2), 2))))`;
    if (near.radiusMeters) {
      // A box around the circle first, which the (latitude, longitude) index can serve.
      const dLat = near.radiusMeters / 111_320;
      const dLng = near.radiusMeters / (111_320 * Math.max(Math.cos((near.latitude * Math.PI) / 180), 0.01));
      conditions.push(Prisma.sql`v.latitude BETWEEN ${near.latitude - dLat} AND ${near.latitude + dLat}`);
      const [west, east] = [near.longitude - dLng, near.longitude + dLng];
      // A box across the 180th meridian is two (Fiji, Chukotka); one round the pole, none.
      if (dLng >= 180) {
        // Every longitude is within reach: the distance alone decides.
      } else if (west < -180) {
        conditions.push(Prisma.sql`(v.longitude >= ${west + 360} OR v.longitude <= ${east})`);
      } else if (east > 180) {
        conditions.push(Prisma.sql`(v.longitude >= ${west} OR v.longitude <= ${east - 360})`);
      } else {
        conditions.push(Prisma.sql`v.longitude BETWEEN ${west} AND ${east}`);
      }
      conditions.push(Prisma.sql`${distance} <= ${near.radiusMeters}`);
    }
  }
  const relevance = query
    ? Prisma.sql`ts_rank(${document}, to_tsquery('simple', ${query}))`
    : Prisma.sql`0::real`;
  // By the page's output columns, so the page and the query around it order alike.
  const orderBy =
    order === 'RELEVANCE'
      ? Prisma.sql`relevance DESC, name ASC, id ASC`
      : order === 'DISTANCE'
        ? Prisma.sql`distance ASC NULLS LAST, name ASC, id ASC`
        : Prisma.sql`name ASC, id ASC`;

  // Read without Prisma's client where it can be (readRows): the values are converted below.
  // The page versions are read for the page alone, around the search, one key lookup a hit (a
  // join would have PostgreSQL hash every venue's version for a small table).
  const rows = await readRows(
    db,
    Prisma.sql`${Prisma.raw(PLANNED_EACH_RUN)}
    SELECT hit.*,
      coalesce((SELECT p.version FROM venue_page_versions p WHERE p.venue_id = hit.id), 0) AS page_version
    FROM (
      SELECT v.id, v.name, ${relevance} AS relevance, ${distance} AS distance, v.cuisines, v.city,
        count(*) OVER () AS total
      FROM venues v
      WHERE ${Prisma.join(conditions, ' AND ')}
      ORDER BY ${orderBy}
      LIMIT ${page.limit} OFFSET ${page.offset}
    ) hit
    ORDER BY ${orderBy}`,
  );
  let totalCount = Number(rows[0]?.total ?? 0);
  if (rows.length === 0 && page.offset > 0) {
    // Past the end, the window count is not there; count separately.
    const [count] = await readRows(
      db,
      Prisma.sql`${Prisma.raw(PLANNED_EACH_RUN)}
      SELECT count(*) AS total FROM venues v WHERE ${Prisma.join(conditions, ' AND ')}`,
    );
    totalCount = Number(count?.total ?? 0);
  }
  return {
    hits: rows.map((r) => ({
      id: r.id as string,
      relevance: Number(r.relevance),
      distanceMeters: r.distance === null ? null : Number(r.distance),
      cuisines: r.cuisines as string[],
      city: r.city as string | null,
      pageVersion: Number(r.page_version),
    })),
    totalCount,
  };
}

/** Open at `instant` in the venue's own zone, by the same rules as `isOpenAt`. */
function openAtCondition(instant: Date): Prisma.Sql {
  const local = Prisma.sql`(${instant}::timestamptz AT TIME ZONE v.time_zone)`;
  const day = Prisma.sql`(${local})::date`;
  const time = Prisma.sql`to_char(${local}, 'HH24:MI')`;
  const weekday = Prisma.sql`extract(dow FROM ${local})::int`;
  // An interval that starts on `date` covers `time` on that same day…
  const sameDay = (table: Prisma.Sql) => Prisma.sql`(
      (${table}.opens_at < ${table}.closes_at AND ${time} >= ${table}.opens_at AND ${time} < ${table}.closes_at)
      OR (${table}.opens_at >= ${table}.closes_at AND ${time} >= ${table}.opens_at))`;
  // …and one that started the day before and crosses midnight covers it until closing.
  const carriedOver = (table: Prisma.Sql) =>
    Prisma.sql`(${table}.opens_at >= ${table}.closes_at AND ${time} < ${table}.closes_at)`;
  const exceptionOn = (date: Prisma.Sql) =>
    Prisma.sql`EXISTS (SELECT 1 FROM hours_exceptions x WHERE x.venue_id = v.id AND x.date = ${date})`;
  const previous = Prisma.sql`(${day} - 1)`;
  return Prisma.sql`(
    (CASE WHEN ${exceptionOn(day)}
      THEN EXISTS (SELECT 1 FROM hours_exceptions e WHERE e.venue_id = v.id AND e.date = ${day} AND NOT e.closed AND ${sameDay(Prisma.sql`e`)})
      ELSE EXISTS (SELECT 1 FROM opening_hours h WHERE h.venue_id = v.id AND h.weekday = ${weekday} AND ${sameDay(Prisma.sql`h`)})
    END)
    OR
    (CASE WHEN ${exceptionOn(previous)}
      THEN EXISTS (SELECT 1 FROM hours_exceptions e WHERE e.venue_id = v.id AND e.date = ${previous} AND NOT e.closed AND ${carriedOver(Prisma.sql`e`)})
      ELSE EXISTS (SELECT 1 FROM opening_hours h WHERE h.venue_id = v.id AND h.weekday = (${weekday} + 6) % 7 AND ${carriedOver(Prisma.sql`h`)})
    END))`;
}
