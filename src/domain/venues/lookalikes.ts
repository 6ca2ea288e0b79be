/**
 * Lookalikes: the venues of other owners that a venue could be taken for. A reviewer sees them as
 * flags on the review; nothing is refused for them (two real cafés may share a name), but a
 * newcomer calling itself what the place next door is called, or giving another venue's email,
 * is exactly how someone impersonates a venue.
 *
 * Names are compared as pg_trgm does (trigrams of each word, padded; the share of trigrams the two
 * have in common), here in TypeScript over a handful of nearby candidates, so the database needs
 * no extension. Only venues that have been put forward are compared (not drafts), and never a
 * venue of the same organisation: a group's own branches are not impersonating each other.
 */
import type { Prisma } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';

/** How far apart two venues with close names are still worth a second look. */
export const LOOKALIKE_RADIUS_M = 500;
/** Trigram similarity from which two names are "close" (pg_trgm's default is a looser 0.3). */
export const SIMILAR_NAME_THRESHOLD = 0.5;

/** The fields that say who a venue is. */
export const IDENTITY_FIELDS = ['name', 'email', 'phone', 'website'] as const;
export type IdentityField = (typeof IDENTITY_FIELDS)[number];
export type VenueIdentity = Partial<Record<IdentityField, string | null>>;

export type ReviewFlag =
  | { kind: 'NEW_ORGANIZATION' }
  | {
      kind: 'SIMILAR_NAME';
      venueId: string;
      name: string;
      similarity: number;
      /** Null when compared by city (a venue without a map position). */
      distanceMeters: number | null;
    }
  | { kind: 'SAME_CONTACT'; venueId: string; name: string; field: 'email' | 'phone' | 'website' };

/** Lower case, accents and punctuation gone, single spaces: "Café  D'Ouro" → "cafe d ouro". */
export function normalizeVenueName(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The trigrams of a name, each word padded as pg_trgm pads it ("  w", " wo", "wor", "ord", "rd "). */
export function trigrams(name: string): Set<string> {
  const grams = new Set<string>();
  for (const word of normalizeVenueName(name).split(' ')) {
    if (!word) continue;
    const padded = `  ${word} `;
    for (let i = 0; i + 3 <= padded.length; i++) grams.add(padded.slice(i, i + 3));
  }
  return grams;
}

/** pg_trgm's `similarity`: shared trigrams over all trigrams of the two, from 0 to 1. */
export function nameSimilarity(a: string, b: string): number {
  const left = trigrams(a);
  const right = trigrams(b);
  if (left.size === 0 || right.size === 0) return 0;
  let shared = 0;
  for (const gram of left) if (right.has(gram)) shared += 1;
  return shared / (left.size + right.size - shared);
}

/**
 * Whether two names are close enough to flag: similar trigrams, or one name held whole in the
 * other ("Harbour Lights" in "Harbour Lights Official") when it is long enough to mean something.
 */
export function namesLookAlike(a: string, b: string): boolean {
  if (nameSimilarity(a, b) >= SIMILAR_NAME_THRESHOLD) return true;
  const [short, long] = [normalizeVenueName(a), normalizeVenueName(b)].sort((x, y) => x.length - y.length);
  return short!.length >= 6 && ` ${long} `.includes(` ${short} `);
}

/** The host of a website without a leading `www.`, lower-case; null when there is none. */
export function websiteHost(website: string | null | undefined): string | null {
  if (!website) return null;
  try {
    return (
      new URL(website).hostname
        .toLowerCase()
        .replace(/\.$/, '')
        .replace(/^www\./, '') || null
    );
  } catch {
    return null;
  }
}

interface Subject {
  id: string;
  organizationId: string | null;
  latitude: number | null;
  longitude: number | null;
  city: string | null;
  countryCode: string | null;
}

/**
 * Flags for a venue presenting itself as `identity`: venues of other owners nearby (within
 * LOOKALIKE_RADIUS_M, or in the same city when it has no map position) whose name looks alike,
 * and venues anywhere that give the same email, phone or website.
 */
export async function findLookalikes(
  db: DbOrTx,
  venue: Subject,
  identity: VenueIdentity,
): Promise<ReviewFlag[]> {
  const others: Prisma.VenueWhereInput = {
    id: { not: venue.id },
    status: { not: 'DRAFT' },
    ...(venue.organizationId
      ? { OR: [{ organizationId: null }, { organizationId: { not: venue.organizationId } }] }
      : {}),
  };
  const flags: ReviewFlag[] = [];

  if (identity.name) {
    const near = nearbyWhere(venue);
    if (near) {
      const candidates = await db.venue.findMany({
        where: { AND: [others, near] },
        select: { id: true, name: true, latitude: true, longitude: true },
        take: 500,
      });
      for (const candidate of candidates) {
        const distance = distanceBetween(venue, candidate);
        if (distance !== null && distance > LOOKALIKE_RADIUS_M) continue;
        if (!namesLookAlike(identity.name, candidate.name)) continue;
        flags.push({
          kind: 'SIMILAR_NAME',
          venueId: candidate.id,
          name: candidate.name,
          similarity: Math.round(nameSimilarity(identity.name, candidate.name) * 100) / 100,
          distanceMeters: distance === null ? null : Math.round(distance),
        });
      }
    }
  }

  const host = websiteHost(identity.website);
  const contact: Prisma.VenueWhereInput[] = [
    ...(identity.email ? [{ email: { equals: identity.email, mode: 'insensitive' as const } }] : []),
    ...(identity.phone ? [{ phone: identity.phone }] : []),
    ...(host ? [{ website: { contains: host, mode: 'insensitive' as const } }] : []),
  ];
  if (contact.length > 0) {
    const sharing = await db.venue.findMany({
      where: { AND: [others, { OR: contact }] },
      select: { id: true, name: true, email: true, phone: true, website: true },
      take: 50,
    });
    for (const other of sharing) {
      if (identity.email && other.email?.toLowerCase() === identity.email.toLowerCase())
        flags.push({ kind: 'SAME_CONTACT', venueId: other.id, name: other.name, field: 'email' });
      if (identity.phone && other.phone === identity.phone)
        flags.push({ kind: 'SAME_CONTACT', venueId: other.id, name: other.name, field: 'phone' });
      if (host && websiteHost(other.website) === host)
        flags.push({ kind: 'SAME_CONTACT', venueId: other.id, name: other.name, field: 'website' });
    }
  }
  return flags;
}

const EARTH_RADIUS_M = 6_371_000;

/** A box around the venue's position (served by the latitude, longitude index), or its city. */
function nearbyWhere(venue: Subject): Prisma.VenueWhereInput | null {
  if (venue.latitude !== null && venue.longitude !== null) {
    const dLat = LOOKALIKE_RADIUS_M / 111_320;
    const dLng = LOOKALIKE_RADIUS_M / (111_320 * Math.max(Math.cos((venue.latitude * Math.PI) / 180), 0.01));
    return {
      latitude: { gte: venue.latitude - dLat, lte: venue.latitude + dLat },
      longitude: { gte: venue.longitude - dLng, lte: venue.longitude + dLng },
    };
  }
  if (!venue.city) return null;
  return {
    city: { equals: venue.city.trim(), mode: 'insensitive' },
    ...(venue.countryCode ? { countryCode: venue.countryCode } : {}),
  };
}

function distanceBetween(
  a: Pick<Subject, 'latitude' | 'longitude'>,
  b: Pick<Subject, 'latitude' | 'longitude'>,
): number | null {
  if (a.latitude === null || a.longitude === null || b.latitude === null || b.longitude === null) return null;
  const rad = (deg: number) => (deg * Math.PI) / 180;
  const h =
    Math.sin(rad(b.latitude - a.latitude) / 2) ** 2 +
    Math.cos(rad(a.latitude)) * Math.cos(rad(b.latitude)) * Math.sin(rad(b.longitude - a.longitude) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(h));
}
