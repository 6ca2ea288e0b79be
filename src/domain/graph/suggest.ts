/**
 * "Places like the ones you liked": venues on the network the person has not been to, sharing a
 * cuisine or an area with the strongest likes of their taste graph, each with one sentence
 * saying why ("Because you liked Sushi Tei and booked Japanese twice in Seminyak.").
 *
 * A candidate scores the faded weights of its cuisines and area in the person's graph (one they
 * hold against counts against; a venue scoring nothing or less is left out). Venues the
 * person already knows (any venue edge, liked or not) are left out, and so is a venue whose name
 * looks like one they know (lookalikes.ts: another branch of the same place is not a discovery).
 */
import type { Venue } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { parseInput } from '../validation.ts';
import { namesLookAlike } from '../venues/lookalikes.ts';
import { termKey } from './build.ts';
import { firstSchema, inWords, type TasteEdgeView, tasteEdges, times } from './profile.ts';

export const SUGGESTIONS_MAX = 20;
/** Liked cuisines and areas a suggestion may share, the strongest first. */
const TOP_CUISINES = 5;
const TOP_AREAS = 3;
/** Candidates scored per call: the most recently published first. */
const CANDIDATES = 200;

export interface VenueSuggestion {
  venue: Venue;
  /** One sentence: why this venue. */
  explanation: string;
  /** The faded weight of what it shares with the person's likes. */
  score: number;
}

/** Up to `first` venues like the ones the person liked (see the top of this file), best first. */
export async function suggestVenues(
  db: DbOrTx,
  userId: string,
  options: { first?: number | null; now?: Date } = {},
): Promise<VenueSuggestion[]> {
  const first = parseInput(firstSchema(SUGGESTIONS_MAX), { first: options.first }).first ?? 5;
  const edges = await tasteEdges(db, userId, { now: options.now });
  const liked = edges.filter((edge) => edge.weight > 0);
  const cuisines = liked.filter((edge) => edge.kind === 'CUISINE').slice(0, TOP_CUISINES);
  const areas = liked.filter((edge) => edge.kind === 'AREA').slice(0, TOP_AREAS);
  if (cuisines.length === 0 && areas.length === 0) return [];

  const known = edges.filter((edge) => edge.kind === 'VENUE');
  const cuisineWeight = new Map(
    edges.filter((edge) => edge.kind === 'CUISINE').map((edge) => [edge.key, edge.weight]),
  );
  const likedVenues = await db.venue.findMany({
    where: { id: { in: liked.filter((edge) => edge.kind === 'VENUE').map((edge) => edge.key) } },
    select: { id: true, cuisines: true, city: true },
  });
  const candidateIds = await db.$queryRaw<{ id: string }[]>`
    SELECT v.id FROM venues v
     WHERE v.status IN ('LISTED', 'CLAIMED')
       AND NOT (v.id = ANY(${known.map((edge) => edge.key)}::uuid[]))
       AND (EXISTS (SELECT 1 FROM unnest(v.cuisines) AS c WHERE lower(trim(c)) = ANY(${cuisines.map((e) => e.key)}::text[]))
            OR lower(trim(coalesce(v.city, ''))) = ANY(${areas.map((e) => e.key)}::text[]))
     ORDER BY v.published_at DESC NULLS LAST, v.id
     LIMIT ${CANDIDATES}`;
  const candidates = await db.venue.findMany({ where: { id: { in: candidateIds.map((row) => row.id) } } });

  const suggestions: VenueSuggestion[] = [];
  for (const venue of candidates) {
    if (known.some((edge) => namesLookAlike(edge.label, venue.name))) continue;
    const keys = new Set(venue.cuisines.map(termKey));
    const sharedCuisines = cuisines.filter((edge) => keys.has(edge.key));
    const sharedArea = areas.find((edge) => edge.key === termKey(venue.city ?? '')) ?? null;
    // Every cuisine of the venue counts, those the person holds against too ("no pizza").
    const score =
      [...keys].reduce((sum, key) => sum + (cuisineWeight.get(key) ?? 0), 0) + (sharedArea?.weight ?? 0);
    if (score <= 0) continue;
    const because = likedVenues
      .map((v) => ({
        edge: liked.find((edge) => edge.kind === 'VENUE' && edge.key === v.id)!,
        cuisine: v.cuisines.some((c) => keys.has(termKey(c))),
        area: sharedArea !== null && termKey(v.city ?? '') === sharedArea.key,
      }))
      .filter((v) => v.cuisine || v.area)
      // A venue sharing the cuisine says more than one sharing the area; then the stronger.
      .sort((a, b) => Number(b.cuisine) - Number(a.cuisine) || b.edge.weight - a.edge.weight)[0];
    suggestions.push({
      venue,
      score,
      explanation: explainSuggestion({
        venue: because?.edge ?? null,
        cuisine: sharedCuisines[0] ?? null,
        area: sharedArea,
        city: venue.city?.trim() || null,
      }),
    });
  }
  return suggestions
    .sort((a, b) => b.score - a.score || a.venue.name.localeCompare(b.venue.name))
    .slice(0, first);
}

/**
 * Why a venue is suggested, in one sentence: the liked venue it resembles, the cuisine it shares
 * (with how often the person booked it, in the venue's city when they did), and the area.
 */
export function explainSuggestion(reasons: {
  venue: TasteEdgeView | null;
  cuisine: TasteEdgeView | null;
  area: TasteEdgeView | null;
  city: string | null;
}): string {
  const parts: string[] = [];
  const { venue, cuisine, area, city } = reasons;
  const told = (memories: TasteEdgeView['evidence']['memories']) => {
    const memory = memories.find((m) => !m.against);
    return memory ? `told me “${memory.text}”` : null;
  };
  if (venue) {
    const e = venue.evidence;
    const rated = e.ratings.length > 0 && Math.max(...e.ratings) >= 4;
    parts.push(rated || e.completed > 0 ? `liked ${venue.label}` : `booked ${venue.label}`);
  }
  let saidCity = false;
  if (cuisine) {
    const e = cuisine.evidence;
    const inCity = city ? (e.areas[area?.label ?? city] ?? e.areas[city] ?? 0) : 0;
    if (inCity > 0) {
      parts.push(`booked ${cuisine.label} ${times(inCity)} in ${area?.label ?? city}`);
      saidCity = true;
    } else if (e.bookings > 0) {
      parts.push(`booked ${cuisine.label} ${times(e.bookings)}`);
    } else if (told(e.memories)) {
      parts.push(told(e.memories)!);
    } else {
      parts.push(`enjoyed ${cuisine.label}`);
    }
  }
  if (area && !saidCity) {
    const e = area.evidence;
    if (e.bookings >= 2) parts.push(`often go out in ${area.label}`);
    else if (e.bookings === 1) parts.push(`went out in ${area.label}`);
    else if (told(e.memories) && !parts.includes(told(e.memories)!)) parts.push(told(e.memories)!);
    else if (!told(e.memories)) parts.push(`liked places in ${area.label}`);
  }
  return parts.length > 0 ? `Because you ${inWords(parts)}.` : 'Because it is like places you liked.';
}
