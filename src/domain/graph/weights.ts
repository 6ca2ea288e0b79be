/**
 * What each piece of a person's material is worth to their taste graph, and how evidence fades.
 *
 * A booking is evidence for its venue, each of the venue's cuisines and its city (the area, at
 * half weight: people go out where they are, not only where they like). A completed visit says
 * more than a request; a cancellation or a venue's refusal says little; a no-show counts against.
 * Feedback adds (score − 3) × 1.5, so a 5 is +3 and a 1 is −3. A memory naming a cuisine or a
 * city ("loves sushi", "staying in Seminyak") is worth 1 to 3 by its importance, against when it
 * says so ("no spicy food", "hates Kuta").
 *
 * Every contribution fades by half every HALF_LIFE_DAYS. An edge stores its weight as of its own
 * newest evidence (`evidenceAt`), and readers fade it from there to their own now: exponential
 * decay of a sum is the sum of the decays, so this equals fading each contribution separately,
 * and the stored value depends on the material alone, never on when the build ran. That is what
 * lets a second build of the same material change nothing.
 */
import type { BookingStatus, TasteEdgeKind } from '../../generated/prisma/enums.ts';

export const HALF_LIFE_DAYS = 180;
const DAY_MS = 86_400_000;

/** A booking's worth to its venue and cuisines, by where it ended (the area gets AREA_SHARE of it). */
export const BOOKING_WEIGHTS: Record<BookingStatus, number> = {
  COMPLETED: 3,
  SEATED: 3,
  CONFIRMED: 1.5,
  REQUESTED: 1,
  HELD: 1,
  CANCELLED_BY_GUEST: 0.25,
  CANCELLED_BY_VENUE: 0.25,
  DECLINED: 0.25,
  EXPIRED: 0.25,
  NO_SHOW: -1,
};

/** Bookings that say the person went, or means to. */
export const COUNTED_STATUSES = new Set<BookingStatus>([
  'COMPLETED',
  'SEATED',
  'CONFIRMED',
  'REQUESTED',
  'HELD',
]);
export const CANCELLED_STATUSES = new Set<BookingStatus>([
  'CANCELLED_BY_GUEST',
  'CANCELLED_BY_VENUE',
  'DECLINED',
  'EXPIRED',
]);

export const AREA_SHARE = 0.5;

/** A feedback score's worth: 5 → +3, 4 → +1.5, 3 → 0, 2 → −1.5, 1 → −3. */
export function feedbackWeight(score: number): number {
  return (score - 3) * 1.5;
}

/** A memory's worth by its importance (1–5): 1 to 3. */
export function memoryWeight(importance: number): number {
  return 0.5 + importance / 2;
}

/** `weight` as of `evidenceAt`, faded to `now` (never grown: evidence from the future is as of now). */
export function decayed(weight: number, evidenceAt: Date, now: Date): number {
  const days = Math.max(0, now.getTime() - evidenceAt.getTime()) / DAY_MS;
  return weight * 0.5 ** (days / HALF_LIFE_DAYS);
}

/** What an edge's weight stands on, stored as `evidence` and read by the explanations. */
export interface EdgeEvidence {
  /** Bookings that went ahead or are still on (requested, held, confirmed, seated, completed). */
  bookings: number;
  completed: number;
  /** Cancelled by either side, declined or expired. */
  cancelled: number;
  noShows: number;
  /** Feedback scores, newest first (at most 10). */
  ratings: number[];
  /** Cuisine and area edges: the venues behind them, strongest first (at most 5). */
  venues: string[];
  /** Cuisine edges: bookings that count, per city (as venues spell it). */
  areas: Record<string, number>;
  /** The memories that name it, newest first (at most 3). */
  memories: { id: string; text: string; against: boolean }[];
}

/** One edge of a person's graph. */
export interface TasteEdgeData {
  kind: TasteEdgeKind;
  /** VENUE: the venue's id; CUISINE and AREA: the cuisine or city, lower-case. */
  key: string;
  /** The venue's name, or the cuisine or city as venues spell it. */
  label: string;
  /** Positive for what the person likes, negative for what they avoid. */
  weight: number;
  evidence: EdgeEvidence;
  /** Its newest evidence. */
  evidenceAt: Date;
}

export function emptyEvidence(): EdgeEvidence {
  return {
    bookings: 0,
    completed: 0,
    cancelled: 0,
    noShows: 0,
    ratings: [],
    venues: [],
    areas: {},
    memories: [],
  };
}

/** Reads a stored `evidence` value (older rows may miss fields). */
export function toEvidence(value: unknown): EdgeEvidence {
  const stored = (value && typeof value === 'object' ? value : {}) as Partial<EdgeEvidence>;
  return { ...emptyEvidence(), ...stored };
}
