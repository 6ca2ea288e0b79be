import { availabilityRelations } from '../../domain/bookings/venue-availability.ts';
import { ANY_ROLE, MANAGERS } from '../../domain/organizations/access.ts';
import { exceptionWindow, isOpenAt } from '../../domain/venues/hours.ts';
import { checklistOf, PUBLIC_STATUSES, socialHandleList, VENUE_COLUMNS } from '../../domain/venues/venues.ts';
import { ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { idCursors } from '../cursors.ts';
import { teamOf } from '../scopes.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';
import { Organization } from './organization.ts';

export const VenueCategory = builder.enumType('VenueCategory', {
  values: ['RESTAURANT', 'BAR', 'CAFE', 'CLUB', 'PUB', 'BAKERY', 'FOOD_TRUCK', 'OTHER'] as const,
});

export const VenueStatus = describedEnum('VenueStatus', {
  DRAFT: 'Being set up; seen only by its organisation.',
  IN_REVIEW: 'Published by a new organisation, waiting for a platform admin; seen only by its organisation.',
  LISTED: 'On the network without an owner; can be claimed.',
  CLAIMED: 'On the network, run by its organisation.',
  SUSPENDED: 'Taken off the network by the platform.',
});

const Address = builder.simpleObject('Address', {
  fields: (t) => ({
    line1: t.string({ nullable: true }),
    line2: t.string({ nullable: true }),
    city: t.string({ nullable: true }),
    region: t.string({ nullable: true }),
    postalCode: t.string({ nullable: true }),
    countryCode: t.string({ nullable: true }),
  }),
});

const GeoPoint = builder.simpleObject('GeoPoint', {
  fields: (t) => ({ latitude: t.float(), longitude: t.float() }),
});

const SocialHandle = builder.simpleObject('SocialHandle', {
  fields: (t) => ({ network: t.string(), handle: t.string() }),
});

const OpeningInterval = builder.simpleObject('OpeningInterval', {
  description:
    'Open from `opensAt` to `closesAt` (local "HH:MM"); a close at or before the open is after midnight.',
  fields: (t) => ({
    weekday: t.int({ description: '0 = Sunday … 6 = Saturday' }),
    opensAt: t.string(),
    closesAt: t.string(),
  }),
});

const HoursException = builder.simpleObject('HoursException', {
  fields: (t) => ({
    date: t.string({ description: 'Local date, YYYY-MM-DD.' }),
    closed: t.boolean(),
    opensAt: t.string({ nullable: true }),
    closesAt: t.string({ nullable: true }),
    reason: t.string({ nullable: true }),
  }),
});

const BookingRulesType = builder.simpleObject('BookingRules', {
  fields: (t) => ({
    partySizeMin: t.int(),
    partySizeMax: t.int(),
    slotMinutes: t.int({ description: 'Minutes between offered start times.' }),
    turnMinutes: t.int({ description: 'Minutes a party holds its table.' }),
    leadTimeMinutes: t.int({ description: 'Notice the venue needs, in minutes.' }),
    bookingHorizonDays: t.int({ description: 'How many days ahead bookings open.' }),
    coversPerSlot: t.int({ nullable: true, description: 'Most guests starting in one slot; null: no cap.' }),
    confirmedAt: t.field({ type: 'DateTime', nullable: true }),
  }),
});

const ChecklistKey = builder.enumType('VenueChecklistKey', {
  values: ['profile', 'location', 'hours', 'bookingRules', 'capacity', 'published'] as const,
});

const ChecklistItem = builder.simpleObject('VenueChecklistItem', {
  fields: (t) => ({
    key: t.field({ type: ChecklistKey }),
    done: t.boolean(),
    hint: t.string(),
  }),
});

const Slot = builder.simpleObject('AvailabilitySlot', {
  fields: (t) => ({
    startsAt: t.field({ type: 'DateTime' }),
    endsAt: t.field({ type: 'DateTime' }),
    coversLeft: t.int({ nullable: true, description: 'Guests who could still start then after this party.' }),
  }),
});

const AvailabilityPayload = builder.simpleObject('Availability', {
  fields: (t) => ({
    date: t.string(),
    partySize: t.int(),
    timeZone: t.string(),
    slots: t.field({ type: [Slot] }),
  }),
});

export const Venue = builder.prismaNode('Venue', {
  id: { field: 'id' },
  description:
    'A place people book. Everyone sees the public fields of venues on the network; its organisation sees it all.',
  // Select mode: each field selects what it reads (an exposed field its column), so a page of
  // venues reads only the columns its selection shows. Always: what deciding who sees a venue
  // reads (authScopes here and on fields in other files).
  select: { id: true, status: true, organizationId: true },
  authScopes: (venue) => (PUBLIC_STATUSES.includes(venue.status) ? true : teamOf(venue.organizationId)),
  fields: (t) => ({
    name: t.exposeString('name'),
    slug: t.exposeString('slug', { description: 'Unique, for addresses such as /v/harbour-lights.' }),
    category: t.expose('category', { type: VenueCategory }),
    cuisines: t.exposeStringList('cuisines'),
    priceLevel: t.exposeInt('priceLevel', { nullable: true, description: '1 (inexpensive) to 4.' }),
    description: t.exposeString('description'),
    status: t.expose('status', { type: VenueStatus }),
    timeZone: t.exposeString('timeZone', { description: 'IANA name; hours and slots are in it.' }),
    phone: t.exposeString('phone', { nullable: true }),
    email: t.exposeString('email', { nullable: true }),
    website: t.exposeString('website', { nullable: true }),
    photos: t.exposeStringList('photos'),
    address: t.field({
      type: Address,
      select: {
        addressLine1: true,
        addressLine2: true,
        city: true,
        region: true,
        postalCode: true,
        countryCode: true,
      },
      resolve: (v) => ({
        line1: v.addressLine1,
        line2: v.addressLine2,
        city: v.city,
        region: v.region,
        postalCode: v.postalCode,
        countryCode: v.countryCode,
      }),
    }),
    location: t.field({
      type: GeoPoint,
      nullable: true,
      select: { latitude: true, longitude: true },
      resolve: (v) =>
        v.latitude !== null && v.longitude !== null ? { latitude: v.latitude, longitude: v.longitude } : null,
    }),
    socialHandles: t.field({
      type: [SocialHandle],
      select: { socialHandles: true },
      resolve: (v) => socialHandleList(v.socialHandles),
    }),
    openingHours: t.field({
      type: [OpeningInterval],
      // Only the columns shown: in a page of venues each venue's hours are one JSON aggregate,
      // read from the (venue, weekday, opens, closes) index alone.
      select: {
        hours: {
          select: { weekday: true, opensAt: true, closesAt: true },
          orderBy: [{ weekday: 'asc' }, { opensAt: 'asc' }],
        },
      },
      resolve: (v) => v.hours,
    }),
    hoursExceptions: t.field({
      type: [HoursException],
      description:
        'Exceptions from `from` (default: today where the venue is) for `days` days (default 60, at most 366).',
      args: { from: t.arg.string({ required: false }), days: t.arg.int({ required: false }) },
      select: (args, ctx) => {
        const { from, days } = exceptionWindow(args, ctx.services.now());
        // Without `from` (or with ""), a day either side: the venue's today is read from its zone below.
        const reach = args.from ? 0 : 1;
        return {
          timeZone: true,
          exceptions: {
            where: {
              date: {
                gte: new Date(from.getTime() - reach * DAY_MS),
                lt: new Date(from.getTime() + (days + reach) * DAY_MS),
              },
            },
            orderBy: [{ date: 'asc' }, { opensAt: 'asc' }],
          },
        };
      },
      resolve: (v, args, ctx) => {
        const { from, days } = exceptionWindow(args, ctx.services.now(), v.timeZone);
        const first = from.toISOString().slice(0, 10);
        const end = new Date(from.getTime() + days * DAY_MS).toISOString().slice(0, 10);
        return v.exceptions
          .map((e) => ({ ...e, date: e.date.toISOString().slice(0, 10) }))
          .filter((e) => e.date >= first && e.date < end);
      },
    }),
    bookingRules: t.field({
      type: BookingRulesType,
      select: {
        partySizeMin: true,
        partySizeMax: true,
        slotMinutes: true,
        turnMinutes: true,
        leadTimeMinutes: true,
        bookingHorizonDays: true,
        coversPerSlot: true,
        bookingRulesConfirmedAt: true,
      },
      resolve: (v) => ({ ...v, confirmedAt: v.bookingRulesConfirmedAt }),
    }),
    isOpenAt: t.boolean({
      description: 'Whether the venue is open at that instant.',
      args: { at: t.arg({ type: 'DateTime', required: true }) },
      select: { timeZone: true, hours: true, exceptions: true },
      resolve: (v, { at }) =>
        isOpenAt(
          {
            timeZone: v.timeZone,
            hours: v.hours,
            exceptions: v.exceptions.map((e) => ({ ...e, date: e.date.toISOString().slice(0, 10) })),
          },
          Temporal.Instant.fromEpochMilliseconds(at.getTime()),
        ),
    }),
    availability: t.field({
      type: AvailabilityPayload,
      description: 'Bookable start times on a local date for a party size.',
      errors: { types: [ValidationError], result: { name: 'VenueAvailabilityResult' } },
      args: { date: t.arg.string({ required: true }), partySize: t.arg.int({ required: true }) },
      // The venue's columns (the domain takes the whole row), hours, tables, the agent and the
      // date's exceptions and bookings come with the venue, in the statement that loads it.
      select: (args) => ({ ...VENUE_COLUMNS, ...availabilityRelations(args.date) }),
      resolve: async (v, { date, partySize }, ctx) => ({
        date,
        partySize,
        timeZone: v.timeZone,
        slots: await ctx.domain.bookings.loadedVenueAvailability(ctx.access, v, {
          date,
          partySize,
          now: ctx.services.now(),
        }),
      }),
    }),
    organization: t.relation('organization', {
      nullable: true,
      description: 'The owning organisation; null when unowned or not yours to see.',
      authScopes: (v) =>
        v.organizationId ? { orgRole: { organizationId: v.organizationId, roles: ANY_ROLE } } : true,
      unauthorizedResolver: () => null,
    }),
    tables: t.relation('tables', {
      nullable: true,
      unauthorizedResolver: () => null,
      description: 'Tables and seats. Its organisation only (null for everyone else).',
      authScopes: (v) => teamOf(v.organizationId),
      query: { orderBy: { name: 'asc' } },
    }),
    checklist: t.field({
      type: [ChecklistItem],
      nullable: true,
      unauthorizedResolver: () => null,
      description:
        'What the venue still needs before it can be published. Its organisation only (null for everyone else).',
      authScopes: (v) => teamOf(v.organizationId),
      select: { ...VENUE_COLUMNS, _count: { select: { hours: true, tables: true } } },
      resolve: (v) => checklistOf(v, v._count),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.prismaObject('VenueTable', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    seats: t.exposeInt('seats'),
    combinable: t.exposeBoolean('combinable', {
      description: 'Can be pushed together with other combinable tables.',
    }),
  }),
});

const DAY_MS = 86_400_000;

builder.queryField('venueBySlug', (t) =>
  t.prismaField({
    type: Venue,
    nullable: true,
    args: { slug: t.arg.string({ required: true }) },
    description: 'A venue by its address; null when there is none you may see.',
    resolve: (query, _root, { slug }, ctx) => ctx.domain.venues.visibleVenueBySlug(ctx.access, slug, query),
  }),
);

builder.prismaObjectField(Organization, 'venues', (t) =>
  t.relatedConnection('venues', {
    description: "The organisation's venues, by name.",
    cursor: 'id',
    query: (args) => idCursors(args, { orderBy: [{ name: 'asc' }, { id: 'asc' }] }),
    totalCount: true,
  }),
);

// --- mutations ---

const VenuePayload = payloadType('VenuePayload', 'venue', Venue);

const CreateVenuePayload = builder.simpleObject('CreateVenuePayload', {
  fields: (t) => ({
    venue: t.field({ type: Venue }),
    agentSigningSecret: t.string({
      description: "The venue agent's A2A signing secret. Shown this once; rotate it to get a new one.",
    }),
  }),
});

const SocialHandleInput = builder.inputType('SocialHandleInput', {
  fields: (t) => ({ network: t.string(), handle: t.string() }),
});

/** Profile fields shared by create and update; on update every field is optional. */
function profileFields(
  t: Parameters<Parameters<typeof builder.inputType>[1]['fields']>[0],
  required: boolean,
) {
  return {
    name: t.string({ required }),
    category: t.field({ type: VenueCategory, required: false }),
    cuisines: t.stringList({ required: false }),
    priceLevel: t.int({ required: false }),
    description: t.string({ required: false }),
    addressLine1: t.string({ required: false }),
    addressLine2: t.string({ required: false }),
    city: t.string({ required: false }),
    region: t.string({ required: false }),
    postalCode: t.string({ required: false }),
    countryCode: t.string({ required: false }),
    latitude: t.float({ required: false }),
    longitude: t.float({ required: false }),
    timeZone: t.string({ required, description: 'IANA name such as Europe/Lisbon.' }),
    phone: t.string({ required: false }),
    email: t.string({ required: false }),
    website: t.string({ required: false }),
    socialHandles: t.field({
      type: [SocialHandleInput],
      required: false,
      description:
        'Any of instagram, facebook, tiktok, x, threads. Replaces the handles: a network left out, or with an empty handle, has none.',
    }),
    photos: t.stringList({ required: false }),
    slug: t.string({ required: false }),
  };
}

const CreateVenueInput = builder.inputType('CreateVenueInput', {
  fields: (t) => ({ organizationId: t.globalID({ for: Organization }), ...profileFields(t, true) }),
});

const UpdateVenueInput = builder.inputType('UpdateVenueInput', {
  fields: (t) => ({ venueId: t.globalID({ for: Venue }), ...profileFields(t, false) }),
});

const ListVenueInput = builder.inputType('ListVenueInput', {
  fields: (t) => profileFields(t, true),
});

/** GraphQL nulls mean "not given" for optional fields, except where a field may be cleared. */
function profileInput<T extends Record<string, unknown>>(input: T) {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) if (value !== undefined) out[key] = value;
  for (const key of [
    'name',
    'category',
    'cuisines',
    'description',
    'timeZone',
    'photos',
    'slug',
    'socialHandles',
  ])
    if (out[key] === null) delete out[key];
  return out;
}

/** Owners and admins of the venue's organisation. */
const venueManagers = (venueId: string) => ({ venueRole: { venueId, roles: MANAGERS } });

mutation('createVenue', {
  description: 'Creates a DRAFT venue with its business agent. Owners and admins of the organisation.',
  input: CreateVenueInput,
  payload: CreateVenuePayload,
  authScopes: (input) => ({ orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } }),
  resolve: (input, ctx) => {
    const { organizationId, ...profile } = input;
    return ctx.domain.venues.createVenue(ctx.access, {
      organizationId: organizationId.id,
      ...(profileInput(profile) as { name: string; timeZone: string }),
    });
  },
});

mutation('listVenue', {
  description: 'Platform admins: puts an unowned venue on the network, ready to be claimed.',
  input: ListVenueInput,
  payload: CreateVenuePayload,
  authScopes: { platformAdmin: true },
  resolve: (input, ctx) =>
    ctx.domain.venues.listUnownedVenue(ctx.access, profileInput(input) as { name: string; timeZone: string }),
});

mutation('updateVenue', {
  description:
    "Changes a venue's profile; only the fields given change. A new name, email, phone or website of a venue that has been on the network waits for review (`Venue.pendingReview`).",
  input: UpdateVenueInput,
  payload: VenuePayload,
  authScopes: (input) => venueManagers(input.venueId.id),
  resolve: async (input, ctx) => {
    const { venueId, ...profile } = input;
    return {
      venue: await ctx.domain.venues.updateVenueProfile(ctx.access, {
        venueId: venueId.id,
        ...profileInput(profile),
      }),
    };
  },
});

const OpeningIntervalInput = builder.inputType('OpeningIntervalInput', {
  fields: (t) => ({ weekday: t.int(), opensAt: t.string(), closesAt: t.string() }),
});

mutation('setOpeningHours', {
  description: 'Replaces the weekly opening hours.',
  input: (t) => ({ venueId: t.globalID({ for: Venue }), hours: t.field({ type: [OpeningIntervalInput] }) }),
  payload: VenuePayload,
  authScopes: (input) => venueManagers(input.venueId.id),
  resolve: async (input, ctx) => ({
    venue: await ctx.domain.venues.setOpeningHours(ctx.access, {
      venueId: input.venueId.id,
      hours: input.hours,
    }),
  }),
});

const HoursExceptionInput = builder.inputType('HoursExceptionInput', {
  fields: (t) => ({
    date: t.string(),
    closed: t.boolean(),
    opensAt: t.string({ required: false }),
    closesAt: t.string({ required: false }),
    reason: t.string({ required: false }),
  }),
});

mutation('setHoursExceptions', {
  description:
    'Sets the exceptions of the dates given (closed, or special hours), replacing what those dates had; `clearDates` removes them.',
  input: (t) => ({
    venueId: t.globalID({ for: Venue }),
    exceptions: t.field({ type: [HoursExceptionInput] }),
    clearDates: t.stringList({ required: false }),
  }),
  payload: VenuePayload,
  authScopes: (input) => venueManagers(input.venueId.id),
  resolve: async (input, ctx) => ({
    venue: await ctx.domain.venues.setHoursExceptions(ctx.access, {
      venueId: input.venueId.id,
      exceptions: input.exceptions,
      clearDates: input.clearDates ?? [],
    }),
  }),
});

mutation('setBookingRules', {
  description: 'Sets and confirms the booking rules.',
  input: (t) => ({
    venueId: t.globalID({ for: Venue }),
    partySizeMin: t.int(),
    partySizeMax: t.int(),
    slotMinutes: t.int(),
    turnMinutes: t.int(),
    leadTimeMinutes: t.int(),
    bookingHorizonDays: t.int(),
    coversPerSlot: t.int({ required: false }),
  }),
  payload: VenuePayload,
  authScopes: (input) => venueManagers(input.venueId.id),
  resolve: async (input, ctx) => {
    const { venueId, ...rules } = input;
    return {
      venue: await ctx.domain.venues.setBookingRules(ctx.access, {
        venueId: venueId.id,
        rules: { ...rules, coversPerSlot: rules.coversPerSlot ?? null },
      }),
    };
  },
});

const VenueTableInput = builder.inputType('VenueTableInput', {
  fields: (t) => ({ name: t.string(), seats: t.int(), combinable: t.boolean({ required: false }) }),
});

mutation('setVenueTables', {
  description: "Replaces the venue's tables.",
  input: (t) => ({ venueId: t.globalID({ for: Venue }), tables: t.field({ type: [VenueTableInput] }) }),
  payload: VenuePayload,
  authScopes: (input) => venueManagers(input.venueId.id),
  resolve: async (input, ctx) => ({
    venue: await ctx.domain.venues.setTables(ctx.access, {
      venueId: input.venueId.id,
      tables: input.tables.map((table) => ({ ...table, combinable: table.combinable ?? false })),
    }),
  }),
});

const VenueIdInput = builder.inputType('VenueIdInput', {
  fields: (t) => ({ venueId: t.globalID({ for: Venue }) }),
});

// Each mutation is named after the domain operation it calls.
for (const [name, description] of [
  [
    'publishVenue',
    "Puts a complete venue on the network; a new organisation's venue waits IN_REVIEW for a platform admin. An incomplete one answers which step is missing.",
  ],
  ['unpublishVenue', 'Takes a venue off the network (back to DRAFT).'],
] as const) {
  mutation(name, {
    description,
    input: VenueIdInput,
    payload: VenuePayload,
    authScopes: (input) => venueManagers(input.venueId.id),
    resolve: async (input, ctx) => ({
      venue: await ctx.domain.venues[name](ctx.access, { venueId: input.venueId.id }),
    }),
  });
}

mutation('setVenueSuspended', {
  description: 'Platform admins: suspend a venue, or reinstate it.',
  input: (t) => ({ venueId: t.globalID({ for: Venue }), suspended: t.boolean() }),
  payload: VenuePayload,
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    venue: await ctx.domain.venues.setVenueSuspended(ctx.access, {
      venueId: input.venueId.id,
      suspended: input.suspended,
    }),
  }),
});
