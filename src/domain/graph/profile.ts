/**
 * Reading a person's taste graph: their edges with weights faded to now (weights.ts), and each
 * explained in one sentence from its evidence. Only ever one person's own edges: callers pass the
 * signed-in person or the chat's person, never someone named in input.
 */
import { z } from 'zod';
import type { TasteEdgeKind } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { parseInput } from '../validation.ts';
import { decayed, type TasteEdgeData, toEvidence } from './weights.ts';

/** An edge as read: its weight faded to the reader's now. */
export type TasteEdgeView = TasteEdgeData;

/** How many to list: a whole number from 1 to `max`, or absent for the default. */
export const firstSchema = (max: number) =>
  z.object({
    first: z
      .number()
      .int(`A whole number from 1 to ${max}`)
      .min(1, `A whole number from 1 to ${max}`)
      .max(max, `A whole number from 1 to ${max}`)
      .nullish(),
  });

/** The most edges `tasteProfile` returns. */
export const TASTE_PROFILE_MAX = 50;

/**
 * The person's edges, strongest (by faded weight) first; `kinds` narrows them, `keys` to those
 * keys (lower-case cuisines and cities, venue ids).
 */
export async function tasteEdges(
  db: DbOrTx,
  userId: string,
  options: { now?: Date; kinds?: readonly TasteEdgeKind[]; keys?: readonly string[] } = {},
): Promise<TasteEdgeView[]> {
  const now = options.now ?? new Date();
  const rows = await db.tasteEdge.findMany({
    where: {
      userId,
      ...(options.kinds ? { kind: { in: [...options.kinds] } } : {}),
      ...(options.keys ? { key: { in: [...options.keys] } } : {}),
    },
  });
  return rows
    .map((row) => ({
      kind: row.kind,
      key: row.key,
      label: row.label,
      weight: decayed(row.weight, row.evidenceAt, now),
      evidence: toEvidence(row.evidence),
      evidenceAt: row.evidenceAt,
    }))
    .sort((a, b) => b.weight - a.weight || a.label.localeCompare(b.label));
}

/** The person's strongest likes (positive edges), at most `first`, for the viewer and the agent. */
export async function tasteProfile(
  db: DbOrTx,
  userId: string,
  options: { first?: number | null; now?: Date } = {},
): Promise<TasteEdgeView[]> {
  const first = parseInput(firstSchema(TASTE_PROFILE_MAX), { first: options.first }).first ?? 10;
  return (await tasteEdges(db, userId, { now: options.now }))
    .filter((edge) => edge.weight > 0)
    .slice(0, first);
}

/** "once", "twice", "3 times". */
export function times(count: number): string {
  return count === 1 ? 'once' : count === 2 ? 'twice' : `${count} times`;
}

/** A list in words: "a", "a and b", "a, b and c". */
export function inWords(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/** What an edge stands on, in one sentence ("You booked Japanese 3 times, twice in Seminyak."). */
export function describeEdge(edge: Pick<TasteEdgeView, 'kind' | 'label' | 'weight' | 'evidence'>): string {
  const e = edge.evidence;
  const parts: string[] = [];
  if (edge.kind === 'VENUE') {
    if (e.completed > 0) parts.push(`went to ${edge.label} ${times(e.completed)}`);
    else if (e.bookings > 0) parts.push(`booked ${edge.label} ${times(e.bookings)}`);
  } else if (e.bookings > 0) {
    const where = Object.entries(e.areas).sort(([a, x], [b, y]) => y - x || a.localeCompare(b))[0];
    const place = edge.kind === 'AREA' ? ` in ${edge.label}` : ` ${edge.label}`;
    parts.push(
      `booked${place} ${times(e.bookings)}${where && edge.kind === 'CUISINE' ? `, ${where[1] === e.bookings ? 'all' : times(where[1])} in ${where[0]}` : ''}`,
    );
  }
  if (e.ratings.length > 0) {
    const average = e.ratings.reduce((sum, score) => sum + score, 0) / e.ratings.length;
    parts.push(
      `rated ${edge.kind === 'VENUE' ? 'it' : 'places there'} ${Math.round(average * 10) / 10} of 5`,
    );
  }
  if (e.memories.length > 0) parts.push(`told me “${e.memories[0]!.text}”`);
  if (e.noShows > 0) parts.push(`missed ${times(e.noShows)} without cancelling`);
  else if (e.cancelled > 0 && parts.length === 0) parts.push(`cancelled ${times(e.cancelled)}`);
  const lead = edge.weight >= 0 ? '' : 'Counted against: ';
  return parts.length > 0 ? `${lead}You ${inWords(parts)}.` : `${lead}${edge.label}.`;
}
