/**
 * Building a person's taste graph: their bookings, booking feedback and memories turned into
 * weighted edges to venues, cuisines and areas (weights.ts says what each is worth), stored in
 * `taste_edges`.
 *
 * A build reads the person's material whole (within MATERIAL_LIMITS) and writes the difference:
 * edges no longer supported go (a forgotten memory takes its edges, or its share of them, with
 * it), changed ones are updated, unchanged ones are not touched. The same material always gives the
 * same edges, to the stored bit (weights.ts: decay is as of the evidence, not of the build), so
 * building twice changes nothing.
 *
 * Who is due: triggers on bookings, booking_feedback and memories (see the migration
 * `taste_graph`) bump the person's `taste_graph_states.version` and set `changed_at`. The hourly
 * `graph-build` task builds at most GRAPH_BUILD_LIMIT due people, oldest change first, and a
 * build clears `changed_at` only if the version is still the one it read: a change made during
 * the build leaves the person due for the next run.
 *
 * Memories are matched to the vocabulary of the network's venues (their cuisines and cities, plus
 * a few dishes that name a cuisine: "sushi" is Japanese), deterministically, clause by clause: a
 * clause with a negative word ("no", "hates", "allergic") counts against.
 */
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { BookingStatus, TasteEdgeKind } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { canonicalJson } from '../../platform/ids.ts';
import { defineTask } from '../../platform/jobs.ts';
import {
  AREA_SHARE,
  BOOKING_WEIGHTS,
  CANCELLED_STATUSES,
  COUNTED_STATUSES,
  decayed,
  type EdgeEvidence,
  emptyEvidence,
  feedbackWeight,
  memoryWeight,
  type TasteEdgeData,
} from './weights.ts';

/** The hourly schedule (src/worker/crontab.ts); the next tick is the retry. */
export const graphBuildTask = defineTask({
  name: 'graph-build',
  schema: z.object({}),
  maxAttempts: 1,
});

/** People built per run; the rest wait for the next hour, oldest change first. */
export const GRAPH_BUILD_LIMIT = 200;

/** How much of a person's material a build reads: the newest of each. */
export const MATERIAL_LIMITS = { bookings: 200, feedback: 200, memories: 500 } as const;

/** Edges kept per person, the strongest (by absolute weight) first. */
export const MAX_EDGES = 300;

/** Below this, an edge says nothing and is not kept. */
const MIN_WEIGHT = 0.01;

/** Dishes and words that name a cuisine, for memories ("loves sushi" is a Japanese edge). */
const CUISINE_WORDS: Record<string, string> = {
  sushi: 'japanese',
  sashimi: 'japanese',
  ramen: 'japanese',
  udon: 'japanese',
  izakaya: 'japanese',
  tempura: 'japanese',
  pizza: 'italian',
  pasta: 'italian',
  risotto: 'italian',
  tacos: 'mexican',
  burritos: 'mexican',
  curry: 'indian',
  biryani: 'indian',
  'dim sum': 'chinese',
  dumplings: 'chinese',
  tapas: 'spanish',
  paella: 'spanish',
  pho: 'vietnamese',
  'banh mi': 'vietnamese',
  'pad thai': 'thai',
  'tom yum': 'thai',
  kimchi: 'korean',
  bibimbap: 'korean',
  'nasi goreng': 'indonesian',
  'babi guling': 'indonesian',
  croissants: 'french',
};

/** Words that turn a clause against what it names. */
const AGAINST = new Set([
  'no',
  'not',
  'never',
  'dont',
  'doesnt',
  'hate',
  'hates',
  'dislike',
  'dislikes',
  'avoid',
  'avoids',
  'allergic',
  'cant',
  'without',
]);

/** The network's cuisines and cities, each by its matching key (see `termKey`) with its spelling. */
export interface TasteVocabulary {
  cuisines: Map<string, string>;
  areas: Map<string, string>;
}

/** Lower case, accents and apostrophes gone, other punctuation a space: "Don't" → "dont". */
export function termKey(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/['’]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The cuisines and cities of the venues on the network, for matching memories and labelling edges. */
export async function tasteVocabulary(db: DbOrTx): Promise<TasteVocabulary> {
  // min() picks one spelling per key whatever order the venues come in.
  const rows = await db.$queryRaw<{ kind: 'CUISINE' | 'AREA'; value: string }[]>`
    SELECT 'CUISINE' AS kind, min(c) AS value
      FROM venues v, unnest(v.cuisines) AS c
     WHERE v.status IN ('LISTED', 'CLAIMED') AND trim(c) <> ''
     GROUP BY lower(trim(c))
    UNION ALL
    SELECT 'AREA', min(trim(v.city))
      FROM venues v
     WHERE v.status IN ('LISTED', 'CLAIMED') AND trim(coalesce(v.city, '')) <> ''
     GROUP BY lower(trim(v.city))`;
  const vocabulary: TasteVocabulary = { cuisines: new Map(), areas: new Map() };
  for (const row of rows) {
    const key = termKey(row.value);
    const terms = row.kind === 'CUISINE' ? vocabulary.cuisines : vocabulary.areas;
    const value = row.value.trim();
    // "Café" and "Cafe" are one key here: the smaller spelling, whatever order rows come in.
    if (key && !(terms.has(key) && terms.get(key)! <= value)) terms.set(key, value);
  }
  return vocabulary;
}

/** One piece of evidence for one edge. */
interface Contribution {
  kind: TasteEdgeKind;
  key: string;
  label: string;
  weight: number;
  at: Date;
  /** The venue it came through (for cuisine and area edges' `venues`). */
  venue?: string;
  /** Counts it adds to the edge's evidence, if any. */
  record?(evidence: EdgeEvidence): void;
  /** Newest-first lists are sorted by this after all contributions are in. */
  rating?: { at: Date; id: string; score: number };
  memory?: { at: Date; id: string; text: string; against: boolean };
}

/** An edge as a build makes it: its weight as of its newest evidence. */
export type BuiltEdge = TasteEdgeData;

interface VenueFacts {
  id: string;
  name: string;
  cuisines: string[];
  city: string | null;
}

/** The edges a venue's evidence feeds: the venue, each of its cuisines, its city (at AREA_SHARE). */
function venueTargets(venue: VenueFacts, vocabulary: TasteVocabulary) {
  const targets: { kind: TasteEdgeKind; key: string; label: string; share: number }[] = [
    { kind: 'VENUE', key: venue.id, label: venue.name, share: 1 },
  ];
  for (const cuisine of new Set(venue.cuisines.map(termKey))) {
    if (cuisine) {
      const label =
        vocabulary.cuisines.get(cuisine) ?? venue.cuisines.find((c) => termKey(c) === cuisine)!.trim();
      targets.push({ kind: 'CUISINE', key: cuisine, label, share: 1 });
    }
  }
  const city = termKey(venue.city ?? '');
  if (city) {
    const label = vocabulary.areas.get(city) ?? venue.city!.trim();
    targets.push({ kind: 'AREA', key: city, label, share: AREA_SHARE });
  }
  return targets;
}

/** What one memory says about cuisines and areas of the vocabulary. */
export function memoryTerms(
  text: string,
  vocabulary: TasteVocabulary,
): { kind: 'CUISINE' | 'AREA'; key: string; against: boolean }[] {
  const found = new Map<string, { kind: 'CUISINE' | 'AREA'; key: string; against: boolean }>();
  // Clauses: a sentence, or the part of one before or after "but".
  for (const clause of text.split(/[.;,!?]+|\bbut\b/i)) {
    const words = termKey(clause);
    if (!words) continue;
    const padded = ` ${words} `;
    const against = words.split(' ').some((word) => AGAINST.has(word));
    const has = (term: string) => padded.includes(` ${term} `);
    for (const key of vocabulary.cuisines.keys()) {
      if (has(key)) found.set(`CUISINE:${key}`, { kind: 'CUISINE', key, against });
    }
    for (const [word, cuisine] of Object.entries(CUISINE_WORDS)) {
      if (vocabulary.cuisines.has(cuisine) && has(word)) {
        found.set(`CUISINE:${cuisine}`, { kind: 'CUISINE', key: cuisine, against });
      }
    }
    for (const key of vocabulary.areas.keys()) {
      if (has(key)) found.set(`AREA:${key}`, { kind: 'AREA', key, against });
    }
  }
  return [...found.values()];
}

/** The person's material, newest first within MATERIAL_LIMITS. */
async function readMaterial(db: DbOrTx, userId: string) {
  const venue = { select: { id: true, name: true, cuisines: true, city: true } } as const;
  // An account being deleted, or purged, has no taste: its bookings stay the venues' record only.
  const deleted = { guest: { deletedAt: { not: null } } } as const;
  const [bookings, feedback, memories] = await Promise.all([
    db.booking.findMany({
      where: { guestId: userId, NOT: deleted },
      select: { id: true, status: true, startsAt: true, updatedAt: true, venue },
      orderBy: [{ startsAt: 'desc' }, { id: 'asc' }],
      take: MATERIAL_LIMITS.bookings,
    }),
    db.bookingFeedback.findMany({
      where: { guestId: userId, NOT: deleted },
      select: { id: true, score: true, updatedAt: true, venue },
      orderBy: [{ updatedAt: 'desc' }, { id: 'asc' }],
      take: MATERIAL_LIMITS.feedback,
    }),
    db.memory.findMany({
      // Memories dreaming replaced (src/domain/memory/dreaming.ts) are history, not taste.
      where: { userId, supersededAt: null, NOT: { user: { deletedAt: { not: null } } } },
      select: { id: true, content: true, importance: true, createdAt: true },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: MATERIAL_LIMITS.memories,
    }),
  ]);
  return { bookings, feedback, memories };
}

/** Bookings, feedback and memories as contributions to edges. */
function contributionsOf(material: Awaited<ReturnType<typeof readMaterial>>, vocabulary: TasteVocabulary) {
  const contributions: Contribution[] = [];
  for (const booking of material.bookings) {
    const status: BookingStatus = booking.status;
    // When it happened, or (not yet) when it was last changed: a dinner next month is not evidence
    // from next month.
    const at = new Date(Math.min(booking.startsAt.getTime(), booking.updatedAt.getTime()));
    const city = booking.venue.city?.trim() || null;
    for (const target of venueTargets(booking.venue, vocabulary)) {
      contributions.push({
        ...target,
        weight: BOOKING_WEIGHTS[status] * target.share,
        at,
        venue: booking.venue.name,
        record(evidence) {
          if (COUNTED_STATUSES.has(status)) {
            evidence.bookings += 1;
            if (target.kind === 'CUISINE' && city) {
              const area = vocabulary.areas.get(termKey(city)) ?? city;
              evidence.areas[area] = (evidence.areas[area] ?? 0) + 1;
            }
          }
          if (status === 'COMPLETED' || status === 'SEATED') evidence.completed += 1;
          if (CANCELLED_STATUSES.has(status)) evidence.cancelled += 1;
          if (status === 'NO_SHOW') evidence.noShows += 1;
        },
      });
    }
  }
  for (const answer of material.feedback) {
    for (const target of venueTargets(answer.venue, vocabulary)) {
      contributions.push({
        ...target,
        weight: feedbackWeight(answer.score) * target.share,
        at: answer.updatedAt,
        venue: answer.venue.name,
        rating: { at: answer.updatedAt, id: answer.id, score: answer.score },
      });
    }
  }
  for (const memory of material.memories) {
    for (const term of memoryTerms(memory.content, vocabulary)) {
      const label = (term.kind === 'CUISINE' ? vocabulary.cuisines : vocabulary.areas).get(term.key)!;
      contributions.push({
        kind: term.kind,
        key: term.key,
        label,
        weight: (term.against ? -1 : 1) * memoryWeight(memory.importance),
        at: memory.createdAt,
        memory: {
          at: memory.createdAt,
          id: memory.id,
          text: memory.content.slice(0, 120),
          against: term.against,
        },
      });
    }
  }
  return contributions;
}

const newestFirst = (a: { at: Date; id: string }, b: { at: Date; id: string }) =>
  b.at.getTime() - a.at.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Six decimals: enough to order by, and the same bits on every build. */
const round = (value: number) => Math.round(value * 1e6) / 1e6;

/** Contributions summed into edges (see weights.ts for the decay), strongest MAX_EDGES kept. */
export function edgesOf(contributions: Contribution[]): BuiltEdge[] {
  const groups = new Map<string, Contribution[]>();
  for (const c of contributions) {
    const id = `${c.kind}:${c.key}`;
    groups.set(id, [...(groups.get(id) ?? []), c]);
  }
  const edges: BuiltEdge[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    const evidenceAt = new Date(Math.max(...group.map((c) => c.at.getTime())));
    const evidence = emptyEvidence();
    const byVenue = new Map<string, number>();
    let weight = 0;
    for (const c of group) {
      const share = decayed(c.weight, c.at, evidenceAt);
      weight += share;
      c.record?.(evidence);
      if (c.venue && first.kind !== 'VENUE') byVenue.set(c.venue, (byVenue.get(c.venue) ?? 0) + share);
    }
    evidence.ratings = group
      .flatMap((c) => (c.rating ? [c.rating] : []))
      .sort(newestFirst)
      .slice(0, 10)
      .map((r) => r.score);
    evidence.memories = group
      .flatMap((c) => (c.memory ? [c.memory] : []))
      .sort(newestFirst)
      .slice(0, 3)
      .map(({ id, text, against }) => ({ id, text, against }));
    evidence.venues = [...byVenue]
      .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
      .slice(0, 5)
      .map(([name]) => name);
    evidence.areas = Object.fromEntries(
      Object.entries(evidence.areas).sort(([a], [b]) => a.localeCompare(b)),
    );
    weight = round(weight);
    if (Math.abs(weight) < MIN_WEIGHT) continue;
    edges.push({ kind: first.kind, key: first.key, label: first.label, weight, evidence, evidenceAt });
  }
  return edges
    .sort(
      (a, b) =>
        Math.abs(b.weight) - Math.abs(a.weight) || `${a.kind}:${a.key}`.localeCompare(`${b.kind}:${b.key}`),
    )
    .slice(0, MAX_EDGES);
}

export interface BuildOptions {
  vocabulary?: TasteVocabulary;
  now?: Date;
}

/**
 * Builds one person's graph from their material as it is now and writes what differs. Returns
 * how many edges were created, changed or deleted (0 when the graph was already current).
 */
export async function buildTasteGraph(db: Db, userId: string, options: BuildOptions = {}): Promise<number> {
  const now = options.now ?? new Date();
  // The version first: a change committed after this read makes the version differ below, and the
  // person stays due.
  const state = await db.tasteGraphState.findUnique({ where: { userId }, select: { version: true } });
  const version = state?.version ?? 0;
  const vocabulary = options.vocabulary ?? (await tasteVocabulary(db));
  const edges = edgesOf(contributionsOf(await readMaterial(db, userId), vocabulary));

  return db.$transaction(async (tx) => {
    // Two builds of one person at once (a run overlapping a manual one) write one after the other.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`taste-graph:${userId}`}))`;
    const stored = await tx.tasteEdge.findMany({ where: { userId } });
    const storedById = new Map(stored.map((edge) => [`${edge.kind}:${edge.key}`, edge]));
    const builtIds = new Set(edges.map((edge) => `${edge.kind}:${edge.key}`));
    const gone = stored.filter((edge) => !builtIds.has(`${edge.kind}:${edge.key}`));
    let changed = 0;
    for (const edge of gone) {
      await tx.tasteEdge.delete({ where: { userId_kind_key: { userId, kind: edge.kind, key: edge.key } } });
      changed += 1;
    }
    for (const edge of edges) {
      const before = storedById.get(`${edge.kind}:${edge.key}`);
      if (
        before &&
        before.label === edge.label &&
        before.weight === edge.weight &&
        before.evidenceAt.getTime() === edge.evidenceAt.getTime() &&
        canonicalJson(before.evidence) === canonicalJson(edge.evidence)
      ) {
        continue;
      }
      const data = {
        label: edge.label,
        weight: edge.weight,
        evidence: edge.evidence as unknown as Prisma.InputJsonObject,
        evidenceAt: edge.evidenceAt,
        updatedAt: now,
      };
      await tx.tasteEdge.upsert({
        where: { userId_kind_key: { userId, kind: edge.kind, key: edge.key } },
        create: { userId, kind: edge.kind, key: edge.key, ...data },
        update: data,
      });
      changed += 1;
    }
    await tx.$executeRaw`
      INSERT INTO taste_graph_states (user_id, version, built_version, changed_at, built_at)
      VALUES (${userId}::uuid, ${version}, ${version}, NULL, ${now})
      ON CONFLICT (user_id) DO UPDATE
        SET built_version = ${version},
            built_at = ${now},
            changed_at = CASE WHEN taste_graph_states.version = ${version} THEN NULL
                              ELSE taste_graph_states.changed_at END`;
    return changed;
  });
}

export interface GraphBuildResult {
  /** People whose graph was built this run. */
  people: number;
  /** Edges created, changed or deleted. */
  changed: number;
  /** People still due after this run (over the limit, changed meanwhile, or failed). */
  remaining: number;
  /** People whose build failed, with why; they stay due and the run goes on without them. */
  failed: { userId: string; error: string }[];
}

/**
 * The `graph-build` run: the graphs of at most `limit` people with new material since their last
 * build, oldest change first. A second run with nothing new finds nobody and changes nothing.
 */
export async function buildDueTasteGraphs(
  db: Db,
  options: { now?: Date; limit?: number } = {},
): Promise<GraphBuildResult> {
  const limit = options.limit ?? GRAPH_BUILD_LIMIT;
  const due = await db.tasteGraphState.findMany({
    where: { changedAt: { not: null } },
    select: { userId: true },
    orderBy: [{ changedAt: 'asc' }, { userId: 'asc' }],
    take: limit,
  });
  let changed = 0;
  const failed: GraphBuildResult['failed'] = [];
  if (due.length > 0) {
    const vocabulary = await tasteVocabulary(db);
    for (const { userId } of due) {
      // One person's failure must not hold up everyone after them, run after run.
      try {
        changed += await buildTasteGraph(db, userId, { vocabulary, now: options.now });
      } catch (error) {
        failed.push({ userId, error: error instanceof Error ? error.message : String(error) });
      }
    }
  }
  const remaining = await db.tasteGraphState.count({ where: { changedAt: { not: null } } });
  return { people: due.length - failed.length, changed, remaining, failed };
}
