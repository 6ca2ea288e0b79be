/**
 * Venues: profile, hours, booking rules and tables, owned by an organisation. Managers (OWNER,
 * ADMIN) edit; STAFF read; everyone else sees the public fields of LISTED and CLAIMED venues;
 * platform admins see and do everything (including listing unowned venues and suspending).
 *
 * Who a venue says it is (name, email, phone, website) is reviewed by a platform admin where
 * nobody has vouched for it yet: an organisation without a verified claim or an approved venue
 * publishes into IN_REVIEW, and a change of those fields on a venue that has been on the network
 * is held as a pending CHANGE review while the live values stay. Decisions are in reviews.ts.
 */
import { z } from 'zod';
import { Prisma, type Venue } from '../../generated/prisma/client.ts';
import type { VenueStatus } from '../../generated/prisma/enums.ts';
import { batchedLookup } from '../../platform/batch.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/uuid.ts';
import { createVenueAgent } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { type Access, ANY_ROLE, MANAGERS } from '../organizations/access.ts';
import { degrees, parseInput, wholeNumber } from '../validation.ts';
import type { BookingRules } from './availability.ts';
import {
  type DatedException,
  HOURS_LIMITS,
  isRealDate,
  isValidTimeZone,
  validateExceptions,
  validateWeeklyHours,
  type WeeklyInterval,
} from './hours.ts';
import {
  findLookalikes,
  IDENTITY_FIELDS,
  type IdentityField,
  type ReviewFlag,
  type VenueIdentity,
} from './lookalikes.ts';

export const PUBLIC_STATUSES: readonly VenueStatus[] = ['LISTED', 'CLAIMED'];

export const CATEGORIES = [
  'RESTAURANT',
  'BAR',
  'CAFE',
  'CLUB',
  'PUB',
  'BAKERY',
  'FOOD_TRUCK',
  'OTHER',
] as const;

const optionalText = (max: number) => z.string().trim().max(max).nullable().optional();

const slug = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'Use lower-case letters, digits and single hyphens')
  .min(3, 'The web address is at least 3 characters')
  .max(80);

const SOCIAL_NETWORKS = ['instagram', 'facebook', 'tiktok', 'x', 'threads'] as const;

/**
 * The venue's handles as the client sends them, a list of `{ network, handle }` with any subset
 * of the networks (the network in any case), stored as `{ instagram: "@harbour" }`. The list
 * replaces the venue's handles: a network left out, or given an empty handle, has none.
 */
const socialHandlesSchema = z
  .array(
    z.object({
      network: z
        .string()
        .trim()
        .toLowerCase()
        .pipe(z.enum(SOCIAL_NETWORKS, { error: `Use one of ${SOCIAL_NETWORKS.join(', ')}` })),
      handle: z
        .string()
        .trim()
        .regex(/^(@?[\w.]{1,60})?$/, 'Use the handle alone, such as @harbourlights'),
    }),
  )
  .max(SOCIAL_NETWORKS.length)
  .superRefine((handles, ctx) => {
    handles.forEach((h, index) => {
      if (handles.findIndex((other) => other.network === h.network) < index)
        ctx.addIssue({ code: 'custom', path: [index, 'network'], message: 'Give each network once' });
    });
  })
  .transform((handles) =>
    Object.fromEntries(handles.filter((h) => h.handle !== '').map((h) => [h.network, h.handle])),
  );

/** The stored handles as a list, in the order of SOCIAL_NETWORKS (JSON keeps no order). */
export function socialHandleList(stored: unknown): { network: string; handle: string }[] {
  const handles = (stored ?? {}) as Record<string, string>;
  return SOCIAL_NETWORKS.filter((network) => handles[network]).map((network) => ({
    network,
    handle: handles[network]!,
  }));
}

/** Profile fields: what a venue is and how to reach it. All optional on update. */
const profileShape = {
  name: z
    .string()
    .trim()
    .min(2, 'The name is at least 2 characters')
    .max(120, 'The name is at most 120 characters'),
  category: z.enum(CATEGORIES),
  cuisines: z.array(z.string().trim().toLowerCase().min(2).max(40)).max(12),
  priceLevel: wholeNumber(1, 4, {
    min: 'The price level is from 1 (inexpensive) to 4 (very expensive)',
    max: 'The price level is from 1 (inexpensive) to 4 (very expensive)',
  }).nullable(),
  description: z.string().trim().max(2000),
  addressLine1: optionalText(200),
  addressLine2: optionalText(200),
  city: optionalText(100),
  region: optionalText(100),
  postalCode: optionalText(20),
  countryCode: z
    .string()
    .regex(/^[A-Z]{2}$/, 'Use a two-letter country code such as PT')
    .nullable()
    .optional(),
  latitude: degrees('latitude').nullable().optional(),
  longitude: degrees('longitude').nullable().optional(),
  timeZone: z.string().refine(isValidTimeZone, 'Unknown time zone: use an IANA name such as Europe/Lisbon'),
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, 'Use an international number such as +351212345678')
    .nullable()
    .optional(),
  email: z.email('Enter a valid email address').nullable().optional(),
  website: z
    .url({ protocol: /^https?$/, error: 'Use a web address starting with https://' })
    .max(2048, 'At most 2048 characters')
    .nullable()
    .optional(),
  socialHandles: socialHandlesSchema.optional(),
  photos: z
    .array(
      z
        .url({ protocol: /^https$/, error: 'Photos are https:// addresses' })
        .max(2048, 'At most 2048 characters'),
    )
    .max(30),
};

const createSchema = z.object({
  organizationId: z.uuid(),
  slug: slug.optional(),
  ...profileShape,
  category: profileShape.category.default('RESTAURANT'),
  cuisines: profileShape.cuisines.default([]),
  priceLevel: profileShape.priceLevel.default(null),
  description: profileShape.description.default(''),
  photos: profileShape.photos.default([]),
});

export type VenueProfileInput = Partial<z.input<z.ZodObject<typeof profileShape>>>;

const rulesSchema = z
  .object({
    partySizeMin: wholeNumber(1, 100, {
      min: 'The smallest party is at least 1 guest',
      max: 'The smallest party is at most 100 guests',
    }),
    partySizeMax: wholeNumber(1, 500, {
      min: 'The largest party is at least 1 guest',
      max: 'The largest party is at most 500 guests',
    }),
    slotMinutes: wholeNumber(5, 240, {
      min: 'A booking slot is at least 5 minutes',
      max: 'A booking slot is at most 240 minutes (4 hours)',
    }),
    turnMinutes: wholeNumber(15, 720, {
      min: 'A party holds its table for at least 15 minutes',
      max: 'A party holds its table for at most 720 minutes (12 hours)',
    }),
    leadTimeMinutes: wholeNumber(0, 10_080, {
      min: 'The notice cannot be negative',
      max: 'The notice is at most 10080 minutes (7 days)',
    }),
    bookingHorizonDays: wholeNumber(1, 730, {
      min: 'Bookings open at least 1 day ahead',
      max: 'Bookings open at most 730 days (2 years) ahead',
    }),
    coversPerSlot: wholeNumber(1, 10_000, {
      min: 'At least 1 guest can start in a slot (leave it empty for no cap)',
      max: 'At most 10000 guests can start in a slot',
    }).nullable(),
  })
  .refine((r) => r.partySizeMin <= r.partySizeMax, {
    message: 'The smallest party cannot be larger than the largest',
    path: ['partySizeMin'],
  });

const tablesSchema = z
  .array(
    z.object({
      name: z.string().trim().min(1, 'Name the table').max(40, 'A table name is at most 40 characters'),
      seats: wholeNumber(1, 100, {
        min: 'A table seats at least 1 guest',
        max: 'A table seats at most 100 guests',
      }),
      combinable: z.boolean().default(false),
    }),
  )
  .max(500, 'A venue lists at most 500 tables')
  .superRefine((tables, ctx) => {
    tables.forEach((table, index) => {
      const name = table.name.toLowerCase();
      if (tables.findIndex((other) => other.name.toLowerCase() === name) < index)
        ctx.addIssue({ code: 'custom', path: [index, 'name'], message: 'Each table needs its own name' });
    });
  });

/** True when the caller sees the whole venue: its organisation's members and platform admins. */
export async function canManageView(access: Access, venue: Pick<Venue, 'organizationId'>): Promise<boolean> {
  if (access.isPlatformAdmin) return true;
  return venue.organizationId !== null && access.has(venue.organizationId, ANY_ROLE);
}

/** True when the caller may see the venue at all. */
export async function canSeeVenue(access: Access, venue: Pick<Venue, 'organizationId' | 'status'>) {
  return PUBLIC_STATUSES.includes(venue.status) || canManageView(access, venue);
}

/**
 * The venue at this slug, with what `query` selects, if the caller may see it. A draft of another
 * organisation answers null like a missing venue: slugs are guessable.
 */
export async function visibleVenueBySlug(
  db: DbOrTx,
  access: Access,
  slug: string,
  query: Prisma.VenueDefaultArgs = {},
) {
  const venue = await db.venue.findUnique({ ...query, where: { slug: slug.toLowerCase() } });
  return venue && (await canSeeVenue(access, venue)) ? venue : null;
}

/** A venue by id, or null. Who may read it is the caller's to decide (the GraphQL type's auth scopes). */
export function findVenue(db: DbOrTx, venueId: string) {
  return db.venue.findUnique({ where: { id: venueId } });
}

/** The organisation that owns a venue, or null (for authorising before the real work). */
export async function organizationOfVenue(db: DbOrTx, venueId: string): Promise<string | null> {
  if (!z.uuid().safeParse(venueId).success) return null;
  const venue = await db.venue.findUnique({ where: { id: venueId }, select: { organizationId: true } });
  return venue?.organizationId ?? null;
}

/**
 * `organizationOfVenue`, with the lookups made together read by one statement
 * (src/platform/batch.ts): a venue's live subscribers re-checking their access after one event.
 * Bound to the database, never to a transaction.
 */
export function batchedOrganizationOfVenue(db: Db): (venueId: string) => Promise<string | null> {
  const lookup = batchedLookup<string, string | null>(async (venueIds) => {
    const venues = await db.venue.findMany({
      where: { id: { in: venueIds } },
      select: { id: true, organizationId: true },
    });
    return new Map(venues.map((venue) => [venue.id, venue.organizationId]));
  }, null);
  // Keyed as PostgreSQL writes a uuid back (lower case), whichever case it was asked in.
  return (venueId) => (isUuid(venueId) ? lookup(venueId.toLowerCase()) : Promise.resolve(null));
}

export async function requireVenue(db: DbOrTx, access: Access, venueId: string): Promise<Venue> {
  const venue = z.uuid().safeParse(venueId).success
    ? await db.venue.findUnique({ where: { id: venueId } })
    : null;
  if (!venue || !(await canSeeVenue(access, venue))) throw new NotFoundError('Venue not found');
  return venue;
}

/** The venue, for a caller who may edit it (its organisation's managers, or a platform admin). */
async function requireEditableVenue(db: DbOrTx, access: Access, venueId: string): Promise<Venue> {
  const venue = await requireVenue(db, access, venueId);
  if (access.isPlatformAdmin) return venue;
  if (!venue.organizationId) throw new NotAllowedError('Claim this venue before editing it');
  await access.require(venue.organizationId, MANAGERS);
  return venue;
}

/**
 * Creates a DRAFT venue in an organisation, with its business agent. The agent's signing secret
 * is returned this once.
 */
export async function createVenue(
  db: Db,
  access: Access,
  keyring: SecretKeyring,
  input: z.input<typeof createSchema>,
): Promise<{ venue: Venue; agentSigningSecret: string }> {
  await access.require(input.organizationId, MANAGERS);
  const parsed = parseInput(createSchema, input);
  const chosenSlug = parsed.slug ?? (await freeSlug(db, parsed.name));
  try {
    return await db.$transaction(async (tx) => {
      const { slug: _slug, organizationId, socialHandles, ...profile } = parsed;
      const venue = await tx.venue.create({
        data: {
          ...profile,
          slug: chosenSlug,
          organizationId,
          socialHandles: (socialHandles ?? {}) as Prisma.InputJsonValue,
          status: 'DRAFT',
        },
      });
      const { signingSecret } = await createVenueAgent(tx, keyring, venue);
      return { venue, agentSigningSecret: signingSecret };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'slug'))
      throw new ValidationError(`The address "${chosenSlug}" is taken`, 'slug');
    throw error;
  }
}

/**
 * Updates profile fields; only the fields given change. On a venue that has been on the network,
 * a new name, email, phone or website is not applied but held for review (platform admins' own
 * edits apply at once); the other fields change now.
 */
export async function updateVenueProfile(
  db: Db,
  access: Access,
  input: { venueId: string; slug?: string } & VenueProfileInput,
): Promise<Venue> {
  const venue = await requireEditableVenue(db, access, input.venueId);
  const { venueId: _id, ...changes } = input;
  const parsed = parseInput(z.object({ slug: slug.optional(), ...profileShape }).partial(), changes);
  const { socialHandles, ...rest } = parsed;
  const identity = pickIdentity(rest);
  const held = !access.isPlatformAdmin && Object.keys(identity).length > 0;
  try {
    return await db.$transaction(async (tx) => {
      // Status and publication read under the lock: a publish running now either sees this
      // change or is seen by it, so a review never shows other values than the venue's.
      const locked = await lockForEdit(tx, venue);
      const current = held ? locked : venue;
      if (held && current.status === 'IN_REVIEW' && differsFrom(current, identity)) {
        throw new ConflictError(
          'This venue is waiting for review: unpublish it to change its name, email, phone or website',
        );
      }
      const reviewed = held && current.publishedAt !== null;
      if (reviewed) await proposeIdentityChange(tx, venue.id, identity, access.requireUserId());
      return tx.venue.update({
        where: { id: venue.id },
        data: {
          ...(reviewed ? omitIdentity(rest) : rest),
          ...(socialHandles ? { socialHandles: socialHandles as Prisma.InputJsonValue } : {}),
        },
      });
    });
  } catch (error) {
    if (isUniqueViolation(error, 'slug'))
      throw new ValidationError(`The address "${parsed.slug}" is taken`, 'slug');
    throw error;
  }
}

/** Replaces the weekly opening hours. */
export async function setOpeningHours(
  db: Db,
  access: Access,
  input: { venueId: string; hours: WeeklyInterval[] },
) {
  const venue = await requireEditableVenue(db, access, input.venueId);
  const hours = validateWeeklyHours(input.hours);
  return db.$transaction(async (tx) => {
    await refuseUnbookableChange(tx, venue, { hours: hours.length }, 'hours');
    await tx.openingHours.deleteMany({ where: { venueId: venue.id } });
    await tx.openingHours.createMany({ data: hours.map((h) => ({ ...h, venueId: venue.id })) });
    return tx.venue.update({ where: { id: venue.id }, data: { updatedAt: new Date() } });
  });
}

/**
 * Sets the exceptions of the given dates (closed, or special hours), replacing what those dates
 * had; other dates keep theirs. An empty list for a date (`clearDates`) removes its exceptions.
 */
export async function setHoursExceptions(
  db: Db,
  access: Access,
  input: { venueId: string; exceptions: DatedException[]; clearDates?: string[] },
) {
  const venue = await requireEditableVenue(db, access, input.venueId);
  const exceptions = validateExceptions(input.exceptions);
  const clearDates = parseInput(
    z
      .array(z.string().refine(isRealDate, 'Use a date such as 2026-12-24'))
      .max(HOURS_LIMITS.exceptionsPerCall, `At most ${HOURS_LIMITS.exceptionsPerCall} dates at a time`),
    input.clearDates ?? [],
    'clearDates',
  );
  const dates = [...new Set([...exceptions.map((e) => e.date), ...clearDates])];
  return db.$transaction(async (tx) => {
    await lockForEdit(tx, venue);
    await tx.hoursException.deleteMany({
      where: { venueId: venue.id, date: { in: dates.map((d) => new Date(`${d}T00:00:00Z`)) } },
    });
    await tx.hoursException.createMany({
      data: exceptions.map((e) => ({ ...e, date: new Date(`${e.date}T00:00:00Z`), venueId: venue.id })),
    });
    return tx.venue.update({ where: { id: venue.id }, data: { updatedAt: new Date() } });
  });
}

/** Sets the booking rules, and records that the venue confirmed them. */
export async function setBookingRules(
  db: Db,
  access: Access,
  input: { venueId: string; rules: BookingRules },
) {
  const venue = await requireEditableVenue(db, access, input.venueId);
  // The rules are the fields of the client's input itself (beside `venueId`), so paths start there.
  const rules = parseInput(rulesSchema, input.rules);
  return db.$transaction(async (tx) => {
    await refuseUnbookableChange(tx, venue, { coversPerSlot: rules.coversPerSlot }, 'coversPerSlot');
    return tx.venue.update({
      where: { id: venue.id },
      data: { ...rules, bookingRulesConfirmedAt: new Date() },
    });
  });
}

/** Replaces the venue's tables. */
export async function setTables(
  db: Db,
  access: Access,
  input: { venueId: string; tables: { name: string; seats: number; combinable?: boolean }[] },
) {
  const venue = await requireEditableVenue(db, access, input.venueId);
  const tables = parseInput(tablesSchema, input.tables, 'tables');
  return db.$transaction(async (tx) => {
    await refuseUnbookableChange(tx, venue, { tables: tables.length }, 'tables');
    await tx.venueTable.deleteMany({ where: { venueId: venue.id } });
    await tx.venueTable.createMany({ data: tables.map((t) => ({ ...t, venueId: venue.id })) });
    return tx.venue.update({ where: { id: venue.id }, data: { updatedAt: new Date() } });
  });
}

/** Why a venue on the network cannot lose a step of its checklist, by step. */
const STILL_NEEDED: Partial<Record<ChecklistItem['key'], string>> = {
  hours: 'A venue on the network needs opening hours: keep at least one, or unpublish the venue first',
  capacity:
    'A venue on the network needs its tables, or a number of guests per slot: keep one of them, or unpublish the venue first',
};

/**
 * A venue on the network stays bookable: a change that would undo a step of its checklist that
 * is done (no hours left, nowhere to seat anyone) is refused, naming `field`, until the venue is
 * unpublished. Drafts may be changed freely. Called in the writing transaction: the venue's row
 * stays locked until it commits (lockForEdit: only while the venue is still the editor's), so two
 * changes that are each fine alone (no tables; no cap per slot) cannot both pass.
 */
async function refuseUnbookableChange(
  tx: Tx,
  editing: Pick<Venue, 'id' | 'organizationId'>,
  change: { hours?: number; tables?: number; coversPerSlot?: number | null },
  field: string,
): Promise<void> {
  const venueId = editing.id;
  await lockForEdit(tx, editing);
  const venue = await tx.venue.findUniqueOrThrow({ where: { id: venueId } });
  if (!PUBLIC_STATUSES.includes(venue.status)) return;
  const [hours, tables] = await Promise.all([
    tx.openingHours.count({ where: { venueId } }),
    tx.venueTable.count({ where: { venueId } }),
  ]);
  const before = checklistOf(venue, { hours, tables });
  const after = checklistOf(
    {
      ...venue,
      coversPerSlot: change.coversPerSlot === undefined ? venue.coversPerSlot : change.coversPerSlot,
    },
    { hours: change.hours ?? hours, tables: change.tables ?? tables },
  );
  const lost = after.find((item, index) => !item.done && before[index]!.done);
  if (lost)
    throw new ValidationError(
      STILL_NEEDED[lost.key] ?? `A venue on the network cannot lose this: ${lost.hint.toLowerCase()}`,
      field,
    );
}

export interface ChecklistItem {
  key: 'profile' | 'location' | 'hours' | 'bookingRules' | 'capacity' | 'published';
  done: boolean;
  /** What is missing, in words a dashboard can show. */
  hint: string;
}

/** The steps of a venue's checklist that bookings need: hours, confirmed rules, somewhere to seat. */
export const BOOKABLE_STEPS: ReadonlySet<ChecklistItem['key']> = new Set([
  'hours',
  'bookingRules',
  'capacity',
]);

/** What a venue still needs before it can be published, and whether it is. */
export async function venueChecklist(db: DbOrTx, venue: Venue): Promise<ChecklistItem[]> {
  const [hours, tables] = await Promise.all([
    db.openingHours.count({ where: { venueId: venue.id } }),
    db.venueTable.count({ where: { venueId: venue.id } }),
  ]);
  return checklistOf(venue, { hours, tables });
}

/** Every column of a venue, as a Prisma selection: for a read that hands the whole row on as a Venue. */
export const VENUE_COLUMNS = Object.fromEntries(
  Object.values(Prisma.VenueScalarFieldEnum).map((column) => [column, true]),
) as { [C in Prisma.VenueScalarFieldEnum]: true };

export function checklistOf(venue: Venue, counts: { hours: number; tables: number }): ChecklistItem[] {
  return [
    {
      key: 'profile',
      done:
        venue.description.length > 0 && venue.cuisines.length + (venue.category === 'RESTAURANT' ? 0 : 1) > 0,
      hint: 'Describe the venue and, for a restaurant, its cuisines',
    },
    {
      key: 'location',
      done: Boolean(
        venue.addressLine1 &&
          venue.city &&
          venue.countryCode &&
          venue.latitude !== null &&
          venue.longitude !== null,
      ),
      hint: 'Add the street address, city, country and map position',
    },
    { key: 'hours', done: counts.hours > 0, hint: 'Add the weekly opening hours' },
    { key: 'bookingRules', done: venue.bookingRulesConfirmedAt !== null, hint: 'Confirm the booking rules' },
    {
      key: 'capacity',
      done: counts.tables > 0 || venue.coversPerSlot !== null,
      hint: 'List the tables, or set how many guests can start in one slot',
    },
    {
      key: 'published',
      done: PUBLIC_STATUSES.includes(venue.status),
      hint: venue.status === 'IN_REVIEW' ? 'Wait for the AGNT team to review the venue' : 'Publish the venue',
    },
  ];
}

/** ValidationError naming the first step of the venue's checklist left undone, if any. */
async function requireReadyToPublish(db: DbOrTx, venue: Venue): Promise<void> {
  const missing = (await venueChecklist(db, venue)).find((item) => item.key !== 'published' && !item.done);
  // No field of the input ({ venueId }) is at fault: the message names the step (as the checklist does).
  if (missing) throw new ValidationError(`Not ready to publish: ${missing.hint.toLowerCase()}`, null);
}

/**
 * Makes a complete DRAFT venue bookable: CLAIMED, since an organisation owns it. An organisation
 * nobody has vouched for yet (see `isOrganizationTrusted`) publishes into IN_REVIEW instead, with
 * a PUBLISH review for a platform admin; a venue that has been on the network before, or one a
 * platform admin publishes, goes straight on. An incomplete venue is a ValidationError naming the
 * first missing step.
 */
export async function publishVenue(db: Db, access: Access, input: { venueId: string }) {
  const venue = await requireEditableVenue(db, access, input.venueId);
  if (venue.status === 'SUSPENDED') throw new NotAllowedError('A suspended venue cannot be published');
  if (PUBLIC_STATUSES.includes(venue.status) || venue.status === 'IN_REVIEW') return venue;
  await requireReadyToPublish(db, venue);
  const needsReview =
    !access.isPlatformAdmin &&
    venue.publishedAt === null &&
    venue.organizationId !== null &&
    !(await isOrganizationTrusted(db, venue.organizationId));
  if (!needsReview) {
    return db.$transaction(async (tx) => {
      // Under the venue's lock, as a suspension takes it: one committed since the read above is
      // not undone, and a publish already done meanwhile is not done twice.
      const locked = await lockForEdit(tx, venue);
      if (locked.status === 'SUSPENDED') throw new NotAllowedError('A suspended venue cannot be published');
      if (locked.status !== 'DRAFT') return tx.venue.findUniqueOrThrow({ where: { id: venue.id } });
      // Again under the lock: a draft's hours or tables emptied by a change that committed while
      // this waited would otherwise go on the network unbookable (refuseUnbookableChange lets a
      // draft empty them, and takes this lock too).
      await requireReadyToPublish(tx, await tx.venue.findUniqueOrThrow({ where: { id: venue.id } }));
      return tx.venue.update({
        where: { id: venue.id },
        data: { status: venue.organizationId ? 'CLAIMED' : 'LISTED', publishedAt: new Date() },
      });
    });
  }
  const requestedById = access.requireUserId();
  return db.$transaction(async (tx) => {
    // Two publishes at once open one review: the second finds the venue no longer a draft. The
    // identity is read under the lock, so the review holds what the venue says.
    const locked = await lockForEdit(tx, venue);
    if (locked.status !== 'DRAFT') return tx.venue.findUniqueOrThrow({ where: { id: venue.id } });
    const identity = identityOf(locked);
    const flags: ReviewFlag[] = [
      { kind: 'NEW_ORGANIZATION' },
      ...(await findLookalikes(tx, venue, identity)),
    ];
    await tx.venueReview.create({
      data: {
        venueId: venue.id,
        organizationId: venue.organizationId,
        kind: 'PUBLISH',
        proposed: identity as Prisma.InputJsonValue,
        flags: flags as unknown as Prisma.InputJsonValue,
        requestedById,
      },
    });
    return tx.venue.update({ where: { id: venue.id }, data: { status: 'IN_REVIEW' } });
  });
}

/** Takes a venue off the network (back to DRAFT) without losing anything; withdraws a pending publication. */
export async function unpublishVenue(db: Db, access: Access, input: { venueId: string }) {
  const venue = await requireEditableVenue(db, access, input.venueId);
  if (venue.status === 'SUSPENDED')
    throw new NotAllowedError('A suspended venue stays suspended until reinstated');
  return db.$transaction(async (tx) => {
    // Asked again under the lock: a suspension committed since the read above stands (unpublished,
    // it would go straight back on the network at the next publish, its publishedAt being set).
    const locked = await lockForEdit(tx, venue);
    if (locked.status === 'SUSPENDED') {
      throw new NotAllowedError('A suspended venue stays suspended until reinstated');
    }
    await withdrawPublishReview(tx, venue.id, 'Unpublished by the organisation');
    return tx.venue.update({ where: { id: venue.id }, data: { status: 'DRAFT' } });
  });
}

/**
 * Whether an organisation's venues go on the network without review: it proved it runs a venue
 * (a verified or approved claim), or a platform admin approved one of its venues.
 */
export async function isOrganizationTrusted(db: DbOrTx, organizationId: string): Promise<boolean> {
  const organization = await db.organization.findUnique({
    where: { id: organizationId },
    select: { trustedAt: true },
  });
  if (organization?.trustedAt) return true;
  return (await db.venueClaim.count({ where: { organizationId, status: 'APPROVED' } })) > 0;
}

/** The identity fields of a venue, as a review stores them. */
export function identityOf(venue: Pick<Venue, IdentityField>): VenueIdentity {
  return { name: venue.name, email: venue.email, phone: venue.phone, website: venue.website };
}

/**
 * Holds a change of identity fields of a live venue for review. One CHANGE review is pending per
 * venue: a newer change is merged into it (the older row stays, WITHDRAWN, in the trail), and a
 * field set back to its live value drops out. Flags are computed for the values proposed.
 */
async function proposeIdentityChange(
  tx: Tx,
  venueId: string,
  given: VenueIdentity,
  requestedById: string,
): Promise<void> {
  await lockVenue(tx, venueId);
  const venue = await tx.venue.findUniqueOrThrow({ where: { id: venueId } });
  const pending = await tx.venueReview.findFirst({ where: { venueId, kind: 'CHANGE', status: 'PENDING' } });
  const before = (pending?.proposed ?? {}) as VenueIdentity;
  const merged: VenueIdentity = { ...before, ...given };
  const proposed = Object.fromEntries(
    Object.entries(merged).filter(([field, value]) => value !== venue[field as IdentityField]),
  ) as VenueIdentity;
  if (pending && JSON.stringify(sorted(before)) === JSON.stringify(sorted(proposed))) return;
  if (pending) {
    await tx.venueReview.update({
      where: { id: pending.id },
      data: { status: 'WITHDRAWN', reason: 'Replaced by a newer change', decidedAt: new Date() },
    });
  }
  const fields = Object.keys(proposed) as IdentityField[];
  if (fields.length === 0) return;
  const flags = await findLookalikes(tx, venue, {
    name: proposed.name,
    email: proposed.email,
    phone: proposed.phone,
    website: proposed.website,
  });
  await tx.venueReview.create({
    data: {
      venueId,
      organizationId: venue.organizationId,
      kind: 'CHANGE',
      proposed: proposed as Prisma.InputJsonValue,
      previous: Object.fromEntries(fields.map((f) => [f, venue[f]])) as Prisma.InputJsonValue,
      flags: flags as unknown as Prisma.InputJsonValue,
      requestedById,
    },
  });
}

/** Closes the venue's pending PUBLISH review, if any, without a reviewer. */
async function withdrawPublishReview(tx: Tx, venueId: string, reason: string): Promise<void> {
  await tx.venueReview.updateMany({
    where: { venueId, kind: 'PUBLISH', status: 'PENDING' },
    data: { status: 'WITHDRAWN', reason, decidedAt: new Date() },
  });
}

/**
 * Holds the venue row until the transaction ends: everything that opens or decides a review takes
 * it first, so a venue's review and status change together, one writer at a time.
 */
export async function lockVenue(
  tx: Tx,
  venueId: string,
): Promise<Pick<Venue, 'status' | 'publishedAt' | 'organizationId' | IdentityField>> {
  const [row] = await tx.$queryRaw<
    Pick<Venue, 'status' | 'publishedAt' | 'organizationId' | IdentityField>[]
  >`
    SELECT status::text AS status, published_at AS "publishedAt", organization_id AS "organizationId",
           name, email, phone, website
    FROM venues WHERE id = ${venueId}::uuid FOR UPDATE`;
  if (!row) throw new NotFoundError('Venue not found');
  return row;
}

/**
 * lockVenue for an edit decided on `venue` as read before it (requireEditableVenue): the edit
 * goes on only while the venue is still with that organisation. One taken over meanwhile (a claim
 * approved while the edit waited for the lock) is no longer the editor's to change.
 */
async function lockForEdit(tx: Tx, venue: Pick<Venue, 'id' | 'organizationId'>) {
  const locked = await lockVenue(tx, venue.id);
  if (locked.organizationId !== venue.organizationId) {
    throw new ConflictError('This venue changed hands while the change was being made: nothing was changed');
  }
  return locked;
}

/**
 * Holds the venue's row (shared) until the transaction commits, while it is still the
 * organisation's whose team the caller was checked as (before the transaction): a takeover
 * committed meanwhile hands the venue, its bookings, inbox, FAQ and wiki to the new team, and the
 * former team's write is refused (ConflictError, nothing changed); a takeover that comes after
 * waits for it. Taken before any booking's row (the venue's row comes first, as in lockForBooking).
 */
export async function holdVenueOfTeam(tx: Tx, venueId: string, organizationId: string | null): Promise<void> {
  const [venue] = await tx.$queryRaw<{ organization_id: string | null }[]>`
    SELECT organization_id FROM venues WHERE id = ${venueId}::uuid FOR SHARE`;
  if (!venue || venue.organization_id !== organizationId) throw venueChangedHands();
}

/** The refusal of a team's write to a venue that was taken over while it was being made. */
export function venueChangedHands(): ConflictError {
  return new ConflictError('This venue changed hands while the decision was being made: nothing was changed');
}

function pickIdentity(fields: Record<string, unknown>): VenueIdentity {
  const identity: VenueIdentity = {};
  for (const field of IDENTITY_FIELDS) {
    if (fields[field] !== undefined) identity[field] = fields[field] as string | null;
  }
  return identity;
}

function omitIdentity<T extends Record<string, unknown>>(fields: T): Omit<T, IdentityField> {
  const rest: Record<string, unknown> = { ...fields };
  for (const field of IDENTITY_FIELDS) delete rest[field];
  return rest as Omit<T, IdentityField>;
}

function differsFrom(venue: Pick<Venue, IdentityField>, identity: VenueIdentity): boolean {
  return Object.entries(identity).some(([field, value]) => venue[field as IdentityField] !== value);
}

function sorted(identity: VenueIdentity): [string, unknown][] {
  return Object.entries(identity).sort(([a], [b]) => a.localeCompare(b));
}

/** Platform admins: suspend a venue (hidden, unbookable) or reinstate it. */
export async function setVenueSuspended(
  db: Db,
  access: Access,
  input: { venueId: string; suspended: boolean },
) {
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins suspend venues');
  const venue = await requireVenue(db, access, input.venueId);
  if (input.suspended) {
    return db.$transaction(async (tx) => {
      const locked = await lockVenue(tx, venue.id);
      if (locked.status === 'SUSPENDED') return tx.venue.findUniqueOrThrow({ where: { id: venue.id } });
      await withdrawPublishReview(tx, venue.id, 'The venue was suspended');
      return tx.venue.update({
        where: { id: venue.id },
        data: { status: 'SUSPENDED', suspendedFrom: locked.status },
      });
    });
  }
  return db.$transaction(async (tx) => {
    // Asked under the lock: reinstated (and perhaps suspended again) meanwhile by another admin,
    // the venue is not put back on the network from what it was before.
    await lockVenue(tx, venue.id);
    const locked = await tx.venue.findUniqueOrThrow({ where: { id: venue.id } });
    if (locked.status !== 'SUSPENDED') throw new ConflictError('The venue is not suspended');
    return tx.venue.update({
      where: { id: venue.id },
      data: { status: reinstatedStatus(locked), suspendedFrom: null },
    });
  });
}

/**
 * What a suspended venue goes back to: on the network if it was (claimed or listed, as its owner
 * now says); a draft if it was one, or was waiting for review (the suspension withdrew that review:
 * publishing asks again). Suspended before the status was kept: by its publication alone.
 */
function reinstatedStatus(
  venue: Pick<Venue, 'suspendedFrom' | 'publishedAt' | 'organizationId'>,
): VenueStatus {
  const wasPublic = venue.suspendedFrom
    ? PUBLIC_STATUSES.includes(venue.suspendedFrom)
    : venue.publishedAt !== null;
  if (!wasPublic) return 'DRAFT';
  return venue.organizationId ? 'CLAIMED' : 'LISTED';
}

/**
 * Platform admins: put an unowned venue on the network (LISTED), ready to be claimed by its
 * owners. It gets its business agent like any other venue.
 */
export async function listUnownedVenue(
  db: Db,
  access: Access,
  keyring: SecretKeyring,
  input: Omit<z.input<typeof createSchema>, 'organizationId'>,
) {
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins list unowned venues');
  const parsed = parseInput(createSchema.omit({ organizationId: true }), input);
  const chosenSlug = parsed.slug ?? (await freeSlug(db, parsed.name));
  try {
    return await db.$transaction(async (tx) => {
      const { slug: _slug, socialHandles, ...profile } = parsed;
      const venue = await tx.venue.create({
        data: {
          ...profile,
          slug: chosenSlug,
          socialHandles: (socialHandles ?? {}) as Prisma.InputJsonValue,
          status: 'LISTED',
          publishedAt: new Date(),
        },
      });
      const { signingSecret } = await createVenueAgent(tx, keyring, { ...venue, organizationId: null });
      return { venue, agentSigningSecret: signingSecret };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'slug'))
      throw new ValidationError(`The address "${chosenSlug}" is taken`, 'slug');
    throw error;
  }
}

/** A slug from the name, with a number added when it is taken. */
async function freeSlug(db: DbOrTx, name: string): Promise<string> {
  const words =
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 70) || 'venue';
  // A slug is at least three characters: a shorter name ("Oz") is the base "oz-venue".
  const base = words.length >= 3 ? words : `${words}-venue`;
  const taken = new Set(
    (await db.venue.findMany({ where: { slug: { startsWith: base } }, select: { slug: true } })).map(
      (v) => v.slug,
    ),
  );
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

function isUniqueViolation(error: unknown, field: string): boolean {
  const e = error as {
    code?: string;
    meta?: { target?: unknown; driverAdapterError?: { cause?: { constraint?: { fields?: string[] } } } };
  };
  if (e.code !== 'P2002') return false;
  const target = JSON.stringify(e.meta ?? {});
  return target.includes(field);
}
