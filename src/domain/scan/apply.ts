/**
 * Applying a scan's draft: the owner picks the fields to take, and they fill a new venue of the
 * organisation or one it has. Nothing is overwritten silently: a chosen field whose venue value
 * is not empty and differs is refused unless it is also listed in `replace`. The venue's own
 * functions (createVenue, updateVenueProfile, setOpeningHours) do the writing, so their rules
 * (validation, identity changes held for review, hours that bookings depend on) apply here too.
 *
 * Everything the draft says that the venue wiki keeps, taken or not, is recorded as the venue's
 * SCAN facts (src/domain/network/venue-wiki.ts), replacing an earlier scan's: a field the owner
 * left out that differs from the record is then a conflict for the venue's staff to settle.
 */
import type { Venue } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';
import { ConflictError, ValidationError } from '../../platform/errors.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { FACT_TEXT_MAX, type FactInput, ownerFacts, recordScanFacts } from '../network/venue-wiki.ts';
import type { Access } from '../organizations/access.ts';
import { validateWeeklyHours, type WeeklyInterval } from '../venues/hours.ts';
import {
  createVenue,
  requireVenue,
  setOpeningHours,
  socialHandleList,
  updateVenueProfile,
} from '../venues/venues.ts';
import { DRAFT_FIELDS, type DraftField, type DraftFieldName } from './report.ts';
import { requireScan } from './scans.ts';

export interface ApplyDraftInput {
  scanId: string;
  /** The venue to fill; without it a new DRAFT venue is created. */
  venueId?: string | null;
  /** The draft fields to apply. */
  fields: readonly string[];
  /** Chosen fields allowed to replace a value the venue already has. */
  replace?: readonly string[] | null;
  /** A new venue's time zone (IANA), required when creating one. */
  timeZone?: string | null;
}

export interface ApplyDraftResult {
  venue: Venue;
  applied: DraftFieldName[];
  /** A new venue's agent signing secret, shown this once (null when an existing venue was filled). */
  agentSigningSecret: string | null;
}

function checkNames(names: readonly string[], field: string): DraftFieldName[] {
  names.forEach((name, i) => {
    if (!(DRAFT_FIELDS as readonly string[]).includes(name))
      throw new ValidationError(`There is no draft field ${name}`, `${field}.${i}`);
  });
  return [...new Set(names)] as DraftFieldName[];
}

/** The venue's current value of a draft field, as the draft states it; null/empty when unset. */
function currentValue(venue: Venue, hours: WeeklyInterval[], field: DraftFieldName): unknown {
  switch (field) {
    case 'location':
      return venue.latitude === null || venue.longitude === null
        ? null
        : { latitude: venue.latitude, longitude: venue.longitude };
    case 'socialHandles':
      return socialHandleList(venue.socialHandles);
    case 'openingHours':
      return hours.map((h) => ({ weekday: h.weekday, opensAt: h.opensAt, closesAt: h.closesAt }));
    case 'priceLevel':
      return venue.priceLevel;
    default:
      return (venue as unknown as Record<string, unknown>)[field] ?? null;
  }
}

function isEmpty(value: unknown): boolean {
  return (
    value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)
  );
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The draft's chosen fields as venue profile input (location split, hours apart). */
function profileOf(chosen: readonly DraftField[]): {
  profile: Record<string, unknown>;
  hours: WeeklyInterval[] | null;
} {
  const profile: Record<string, unknown> = {};
  let hours: WeeklyInterval[] | null = null;
  for (const { field, value } of chosen) {
    if (field === 'openingHours') hours = value as WeeklyInterval[];
    else if (field === 'location') {
      const { latitude, longitude } = value as { latitude: number; longitude: number };
      profile.latitude = latitude;
      profile.longitude = longitude;
    } else profile[field] = value;
  }
  return { profile, hours };
}

/**
 * What a draft says that the venue wiki keeps (hours, address, phone, email, website, price,
 * cuisine), worded by `ownerFacts` as the venue record's facts are, so the two compare equal when
 * they agree. The website gives no second address line.
 */
export function websiteFacts(draft: readonly DraftField[]): FactInput[] {
  const value = <T>(field: DraftFieldName): T | null =>
    (draft.find((d) => d.field === field)?.value as T) ?? null;
  return ownerFacts({
    name: value<string>('name') ?? '',
    addressLine1: value<string>('addressLine1'),
    addressLine2: null,
    city: value<string>('city'),
    region: value<string>('region'),
    postalCode: value<string>('postalCode'),
    phone: value<string>('phone'),
    email: value<string>('email'),
    website: value<string>('website'),
    priceLevel: value<number>('priceLevel'),
    cuisines: value<string[]>('cuisines') ?? [],
    hours: value<WeeklyInterval[]>('openingHours') ?? [],
  }).filter((fact) => fact.text.length <= FACT_TEXT_MAX);
}

/** Records the draft as the venue's SCAN facts, said when the scan read the website. */
async function recordWebsite(
  db: Db,
  venueId: string,
  scan: { url: string; finishedAt: Date | null; organizationId: string },
  draft: readonly DraftField[],
) {
  const observedAt = scan.finishedAt ?? undefined;
  await recordScanFacts(
    db,
    { venueId, organizationId: scan.organizationId },
    websiteFacts(draft).map((fact) => ({ ...fact, observedAt, sourceRef: scan.url })),
  );
}

export async function applyScanDraft(
  deps: { db: Db; keyring: SecretKeyring },
  access: Access,
  input: ApplyDraftInput,
): Promise<ApplyDraftResult> {
  const { db } = deps;
  const scan = await requireScan(db, access, input.scanId);
  if (scan.status !== 'DONE' || !scan.draft)
    throw new ConflictError('This scan has no draft yet: wait until it is done');
  const fields = checkNames(input.fields, 'fields');
  const replace = new Set(checkNames(input.replace ?? [], 'replace'));
  if (fields.length === 0) throw new ValidationError('Choose at least one field to apply', 'fields');
  const draft = scan.draft as unknown as DraftField[];
  const chosen = fields.map((name, i) => {
    const entry = draft.find((d) => d.field === name);
    if (!entry) throw new ValidationError(`The scan found no ${name}`, `fields.${i}`);
    return entry;
  });
  const { profile, hours } = profileOf(chosen);
  // Checked before anything is written, so a refusal changes nothing.
  if (hours) validateWeeklyHours(hours, 'fields');

  if (!input.venueId) {
    if (!profile.name)
      throw new ValidationError('Choose the name to create a venue from the draft', 'fields');
    if (!input.timeZone)
      throw new ValidationError('Give the new venue’s time zone, such as Europe/Lisbon', 'timeZone');
    const created = await createVenue(db, access, deps.keyring, {
      ...(profile as Record<string, never>),
      organizationId: scan.organizationId,
      name: profile.name as string,
      timeZone: input.timeZone,
    });
    const venue = hours
      ? await setOpeningHours(db, access, { venueId: created.venue.id, hours })
      : created.venue;
    await recordWebsite(db, venue.id, scan, draft);
    return { venue, applied: fields, agentSigningSecret: created.agentSigningSecret };
  }

  const venue = await requireVenue(db, access, input.venueId);
  if (venue.organizationId !== scan.organizationId) {
    throw new ValidationError('The venue belongs to another organisation than the scan', 'venueId');
  }
  const currentHours = await db.openingHours.findMany({
    where: { venueId: venue.id },
    orderBy: [{ weekday: 'asc' }, { opensAt: 'asc' }],
  });
  fields.forEach((field, i) => {
    const current = currentValue(venue, currentHours, field);
    const proposed = chosen[i]!.value;
    if (!isEmpty(current) && !same(current, proposed) && !replace.has(field)) {
      throw new ValidationError(
        `The venue already has a ${field}: list it in replace to overwrite it`,
        `fields.${i}`,
      );
    }
  });
  let updated = venue;
  if (Object.keys(profile).length > 0) {
    updated = await updateVenueProfile(db, access, {
      venueId: venue.id,
      ...(profile as Record<string, never>),
    });
  }
  if (hours) updated = await setOpeningHours(db, access, { venueId: venue.id, hours });
  await recordWebsite(db, venue.id, scan, draft);
  return { venue: updated, applied: fields, agentSigningSecret: null };
}
