/**
 * Personal ranking of a page of venue search results: venues the person's taste graph favours
 * move up, venues it holds against move down, within the page. Nothing is added or removed, and
 * the boost is bounded so taste never outweighs a clearly better match:
 *
 *   affinity a = tanh((venue + Σ its cuisines + its area) / AFFINITY_SCALE)  ∈ (−1, 1),
 *   by relevance: relevance × (1 + PERSONAL_BOOST × a), highest first;
 *   by distance:  distance × (1 − PERSONAL_BOOST × a), nearest first.
 *
 * With PERSONAL_BOOST 0.2 a venue can pass another only if the other's relevance is less than
 * 1.2 / 0.8 = 1.5 times its own (or its distance less than 1.5 times shorter): a venue matching
 * the words by name (weight A) against one matching by description (weight C) is never passed.
 * A search with neither words nor a point (filters only, otherwise alphabetical) has no match to
 * respect, and is ordered by affinity, ties keeping their order. A person with no taste yet, or
 * no one signed in, gets the page exactly as the search returned it.
 */
import type { DbOrTx } from '../../platform/db.ts';
import { termKey } from './build.ts';
import { decayed } from './weights.ts';

export const PERSONAL_BOOST = 0.2;
/** The summed weight at which affinity is tanh(1) ≈ 0.76: about two good visits. */
export const AFFINITY_SCALE = 6;

/** What the search was ordered by: RELEVANCE, DISTANCE, or NONE (filters only, by name by default). */
export type RankBasis = 'RELEVANCE' | 'DISTANCE' | 'NONE';

export interface RankableHit {
  id: string;
  relevance: number;
  distanceMeters: number | null;
  /** What the person's taste is matched on: the venue's cuisines and city. */
  cuisines: readonly string[];
  city: string | null;
}

/** One of a person's taste edges, as ranking reads it. */
export interface TasteEdge {
  kind: string;
  key: string;
  weight: number;
  evidenceAt: Date;
}

/**
 * A person's taste edges, all of them (a build keeps at most MAX_EDGES): where ranking reads them,
 * so a caller may remember them for a while (the API does, TASTE_CACHE_MS).
 */
export type TasteEdgesOf = (userId: string) => Promise<readonly TasteEdge[]>;

/** A person's taste edges, read from the database: one statement. */
export function tasteEdgesFrom(db: DbOrTx): TasteEdgesOf {
  return (userId) =>
    db.$queryRaw<TasteEdge[]>`
      SELECT kind::text AS kind, key, weight, evidence_at AS "evidenceAt"
      FROM taste_edges WHERE user_id = ${userId}::uuid`;
}

/**
 * Each venue's affinity for the person, from −1 to 1 (0 for venues their edges say nothing of):
 * its own edge, its cuisines' and its city's, summed with their decay.
 */
export function venueAffinities(
  edges: readonly TasteEdge[],
  venues: readonly Pick<RankableHit, 'id' | 'cuisines' | 'city'>[],
  now: Date = new Date(),
): Map<string, number> {
  const weight = new Map(
    edges.map((edge) => [`${edge.kind}:${edge.key}`, decayed(edge.weight, edge.evidenceAt, now)]),
  );
  const affinities = new Map<string, number>();
  for (const venue of venues) {
    let sum = weight.get(`VENUE:${venue.id}`) ?? 0;
    for (const cuisine of new Set(venue.cuisines.map(termKey))) sum += weight.get(`CUISINE:${cuisine}`) ?? 0;
    if (venue.city) sum += weight.get(`AREA:${termKey(venue.city)}`) ?? 0;
    affinities.set(venue.id, Math.tanh(sum / AFFINITY_SCALE));
  }
  return affinities;
}

/**
 * The page of `hits` re-ordered for the person `userId` (see the top of this file); unchanged
 * for null (nobody signed in) and for a person whose graph says nothing about these venues.
 */
export async function personalRank<H extends RankableHit>(
  edgesOf: TasteEdgesOf,
  userId: string | null,
  hits: H[],
  basis: RankBasis,
  now?: Date,
): Promise<H[]> {
  if (!userId || hits.length < 2) return hits;
  const affinity = venueAffinities(await edgesOf(userId), hits, now);
  if (![...affinity.values()].some((a) => a !== 0)) return hits;
  const scored = hits.map((hit, index) => {
    const a = affinity.get(hit.id) ?? 0;
    const score =
      basis === 'RELEVANCE'
        ? hit.relevance * (1 + PERSONAL_BOOST * a)
        : basis === 'DISTANCE'
          ? -(hit.distanceMeters ?? Number.POSITIVE_INFINITY) * (1 - PERSONAL_BOOST * a)
          : a;
    return { hit, index, score };
  });
  // Higher score first; equal scores keep the search's order.
  scored.sort((x, y) => y.score - x.score || x.index - y.index);
  return scored.map((s) => s.hit);
}
