import { BookingLimitError, IllegalTransitionError, SlotFullError } from '../../domain/bookings/errors.ts';
import { FeedbackNotOpenError } from '../../domain/bookings/feedback.ts';
import { type BookingChangedPayload, bookingTopics } from '../../domain/bookings/live-events.ts';
import { ANY_ROLE } from '../../domain/organizations/access.ts';
import { PaymentRequiredError } from '../../domain/usage/paid-calls.ts';
import { canSeeVenue } from '../../domain/venues/venues.ts';
import type { BookingStatus as BookingStatusValue, MembershipRole } from '../../generated/prisma/enums.ts';
import { NotAllowedError, NotFoundError, RateLimitedError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { byIdCursor, idCursors } from '../cursors.ts';
import { teamOf } from '../scopes.ts';
import { holdsSelection } from '../selection.ts';
import { describedEnum } from './enums.ts';
import { commonErrors, errorType } from './errors.ts';
import { mutation } from './mutation.ts';
import { Venue } from './venue.ts';

export const BookingStatus = builder.enumType('BookingStatus', {
  values: {
    REQUESTED: { description: 'Asked for; the venue has not answered yet. Holds the table.' },
    HELD: { description: 'Held for a short while, awaiting confirmation.' },
    CONFIRMED: { description: 'The venue confirmed it.' },
    DECLINED: { description: 'The venue could not take it.' },
    CANCELLED_BY_GUEST: {},
    CANCELLED_BY_VENUE: {},
    EXPIRED: { description: 'Nobody confirmed it in time.' },
    SEATED: { description: 'The party has arrived and sits at its table.' },
    COMPLETED: {},
    NO_SHOW: { description: 'The party did not come.' },
  } as const,
});

const BookingSource = builder.enumType('BookingSource', {
  values: {
    CHAT: { description: 'Through a person’s agent in a chat.' },
    DASHBOARD: { description: 'By the venue’s own team over the API (its dashboard, its keys).' },
    MCP: { description: 'By a developer’s agent over MCP.' },
    A2A: { description: 'By an agent over A2A.' },
    API: {
      description:
        'Over the API by anyone but the venue’s team: a developer’s key, a person booking for themselves.',
    },
  } as const,
});

errorType(SlotFullError, 'SlotFullError', 'The time asked for has no room left for the party.');

errorType(
  IllegalTransitionError,
  'IllegalTransitionError',
  "The booking's status does not allow this change, or not by you.",
  (t) => ({
    from: t.field({ type: BookingStatus, resolve: (e) => e.from }),
    to: t.field({ type: BookingStatus, resolve: (e) => e.to }),
  }),
);

const BookingLimitScope = describedEnum('BookingLimitScope', {
  VENUE: 'Your bookings waiting at this venue.',
  TOTAL: 'Your bookings waiting at every venue.',
});

errorType(
  BookingLimitError,
  'BookingLimitError',
  'You already have as many bookings waiting for a venue’s answer (HELD or REQUESTED) as one account may: `limit` of them, at this venue or in all (`scope`).',
  (t) => ({
    scope: t.field({ type: BookingLimitScope, resolve: (e) => e.scope }),
    limit: t.exposeInt('limit'),
  }),
);

export const bookingErrors = [...commonErrors, SlotFullError, IllegalTransitionError];

errorType(
  FeedbackNotOpenError,
  'FeedbackNotOpenError',
  'The visit is not over yet (or never happened): feedback opens once the booking is completed.',
);

builder.prismaObject('BookingFeedback', {
  description:
    "The guest's answer to the feedback request. One per booking; a second answer replaces the first.",
  fields: (t) => ({
    score: t.exposeInt('score', { description: '1 (poor) to 5 (excellent).' }),
    comment: t.exposeString('comment', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.prismaObject('BookingTransition', {
  fields: (t) => ({
    from: t.expose('fromStatus', { type: BookingStatus, nullable: true }),
    to: t.expose('toStatus', { type: BookingStatus }),
    by: t.exposeString('actorKind', { description: 'guest, venue or system' }),
    reason: t.exposeString('reason', { nullable: true }),
    at: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

/**
 * An API key with scope `read` only. It acts as a STAFF member of its organisation would, and STAFF
 * move bookings; but a read key reads ("Read what the organisation may read"), so every booking
 * write refuses it before the role is even asked.
 */
export function readOnlyKey(ctx: Context): boolean {
  return ctx.actor.kind === 'apiKey' && !ctx.actor.scopes.includes('write');
}

type BookingReaders = { guestId: string; venue: { organizationId: string | null } };

/** Who reads a booking: its guest, its venue's team, platform admins. */
function bookingScopes(booking: BookingReaders, ctx: Context) {
  // The guest, signed in or through a key they made (a key acts as its creator: the domain's
  // requireBooking lets it read and move its creator's bookings, as MCP's get_booking does).
  if (ctx.actor.kind !== 'anonymous' && ctx.actor.userId === booking.guestId) return true;
  return teamOf(booking.venue.organizationId);
}

/**
 * Whether the caller reads `booking` (bookingScopes, asked of a field that answers null rather
 * than refusing: a booking fee's, once its venue has changed hands).
 */
export async function readsBooking(booking: BookingReaders, ctx: Context): Promise<boolean> {
  const scopes = bookingScopes(booking, ctx);
  if (scopes === true) return true;
  const { orgRole } = scopes;
  return orgRole ? ctx.access.has(orgRole.organizationId, orgRole.roles) : ctx.access.isPlatformAdmin;
}

export const Booking = builder.prismaNode('Booking', {
  id: { field: 'id' },
  description: "A table booked at a venue. Seen by its guest and the venue's team.",
  select: { id: true, guestId: true, venue: { select: { organizationId: true } } },
  authScopes: (booking, ctx) => bookingScopes(booking, ctx),
  fields: (t) => ({
    venue: t.field({
      type: Venue,
      nullable: true,
      description:
        'The venue booked; null once it is no longer visible to you (taken off the network), so a guest keeps the rest of their bookings.',
      select: (_args, _ctx, nestedSelection) => ({ venue: nestedSelection(true) }),
      resolve: async (booking, _args, ctx) =>
        (await canSeeVenue(ctx.access, booking.venue)) ? booking.venue : null,
    }),
    partySize: t.exposeInt('partySize'),
    startsAt: t.expose('startsAt', { type: 'DateTime' }),
    endsAt: t.expose('endsAt', { type: 'DateTime' }),
    status: t.expose('status', { type: BookingStatus }),
    source: t.expose('source', { type: BookingSource }),
    specialRequests: t.exposeString('specialRequests', { nullable: true }),
    notes: t.exposeString('notes', {
      nullable: true,
      description: "The venue's own notes. Its team only.",
      authScopes: (b) => teamOf(b.venue.organizationId),
      unauthorizedResolver: () => null,
    }),
    guestName: t.string({
      nullable: true,
      select: { guest: { select: { displayName: true, email: true } } },
      resolve: (b) => b.guest.displayName ?? b.guest.email,
    }),
    guestEmail: t.string({
      nullable: true,
      description: "The guest's address, for the venue's team.",
      select: { guest: { select: { email: true } } },
      resolve: (b) => b.guest.email,
    }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    history: t.relation('transitions', { query: { orderBy: { createdAt: 'asc' } } }),
    feedback: t.relation('feedback', {
      nullable: true,
      description: "The guest's feedback once they gave it. Its guest and the venue's team.",
    }),
    allowedTransitions: t.field({
      type: [BookingStatus],
      description: 'Where you may move this booking now (for buttons).',
      select: { status: true, venueId: true, startsAt: true },
      resolve: async (b, _args, ctx) =>
        readOnlyKey(ctx) ? [] : ctx.domain.bookings.allowedTransitions(ctx.access, b as never),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

// --- reads ---

builder.prismaObjectField(Venue, 'bookings', (t) =>
  t.relatedConnection('bookings', {
    description: "The venue's bookings in a time range, by start. Its team only.",
    authScopes: (v) => teamOf(v.organizationId),
    args: {
      from: t.arg({ type: 'DateTime', required: false, description: 'Starting at or after (default: now).' }),
      to: t.arg({ type: 'DateTime', required: false, description: 'Starting before.' }),
      statuses: t.arg({ type: [BookingStatus], required: false }),
    },
    cursor: 'id',
    totalCount: true,
    query: (args, ctx) =>
      idCursors(args, {
        where: {
          startsAt: { gte: args.from ?? ctx.services.now(), ...(args.to ? { lt: args.to } : {}) },
          ...(args.statuses?.length ? { status: { in: args.statuses } } : {}),
        },
        orderBy: [{ startsAt: 'asc' }, { id: 'asc' }],
      }),
  }),
);

const FeedbackSummary = builder
  .objectRef<{ average: number | null; count: number }>('FeedbackSummary')
  .implement({
    description: 'What guests said of a venue, in numbers.',
    fields: (t) => ({
      average: t.exposeFloat('average', {
        nullable: true,
        description: 'The mean score, 1 to 5; null before any.',
      }),
      count: t.exposeInt('count', { description: 'How many bookings have feedback.' }),
    }),
  });

builder.prismaObjectField(Venue, 'feedbackSummary', (t) =>
  t.field({
    type: FeedbackSummary,
    nullable: true,
    description: "Guests' feedback on the venue: average score and count. Its team only (null for others).",
    authScopes: (v) => teamOf(v.organizationId),
    unauthorizedResolver: () => null,
    resolve: (v, _args, ctx) => ctx.domain.bookings.feedbackSummary(v.id),
  }),
);

builder.queryField('myBookings', (t) =>
  t.prismaConnection({
    type: Booking,
    cursor: 'id',
    description:
      "The signed-in person's own bookings: soonest first, or with `upcoming: false` latest first.",
    authScopes: { person: true },
    args: {
      upcoming: t.arg.boolean({ required: false, description: 'Only those not yet started (default true).' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.domain.bookings.guestBookings(
        ctx.access.requireUserId(),
        { upcoming: args.upcoming !== false, now: ctx.services.now() },
        byIdCursor(query, args),
      ),
  }),
);

// --- writes ---

/**
 * `booking` answers from the booking row the mutation returned (as written in its transaction,
 * with its venue's organisation) when that holds all the selection needs; otherwise it reads the
 * booking with the selection.
 */
const BookingPayload = builder.objectRef<{ booking: BookingRow }>('BookingPayload').implement({
  fields: (t) => ({
    booking: t.prismaField({
      type: Booking,
      resolve: (query, payload, _args, ctx) =>
        holdsSelection(payload.booking, query)
          ? payload.booking
          : ctx.domain.bookings.findBookingOrThrow(payload.booking.id, query),
    }),
  }),
});

mutation('createBooking', {
  description: 'Books a table at one of the venue’s free slots.',
  input: (t) => ({
    venueId: t.globalID({ for: Venue }),
    startsAt: t.field({ type: 'DateTime', description: 'One of the venue’s availability slots.' }),
    partySize: t.int(),
    guestEmail: t.string({
      required: false,
      description:
        "The venue's team books for a guest by email (CONFIRMED at once). Leave out to book for yourself.",
    }),
    specialRequests: t.string({ required: false }),
    notes: t.string({ required: false, description: "The venue's own notes." }),
    clientKey: t.string({
      required: false,
      description: 'Your idempotency key: sending the same key again returns the same booking.',
    }),
    hold: t.boolean({
      required: false,
      description: 'Hold the table briefly (HELD) instead of requesting it.',
    }),
  }),
  payload: BookingPayload,
  errors: [...bookingErrors, BookingLimitError, RateLimitedError, PaymentRequiredError],
  authScopes: (_input, ctx) => !readOnlyKey(ctx) && { authenticated: true },
  resolve: async (input, ctx) => {
    const { venueId, guestEmail, specialRequests, notes, clientKey, hold, ...rest } = input;
    // Answered from the rows just written: nothing is read again after the commit.
    return {
      booking: await ctx.domain.bookings.createBooking(ctx.access, {
        ...rest,
        venueId: venueId.id,
        source: 'DASHBOARD',
        ...(guestEmail ? { guestEmail } : {}),
        ...(specialRequests ? { specialRequests } : {}),
        ...(notes ? { notes } : {}),
        ...(clientKey ? { clientKey } : {}),
        ...(hold ? { hold } : {}),
      }),
    };
  },
});

mutation('modifyBooking', {
  description: 'Changes the time or party size of a live booking, if there is room.',
  input: (t) => ({
    bookingId: t.globalID({ for: Booking }),
    startsAt: t.field({ type: 'DateTime', required: false }),
    partySize: t.int({ required: false }),
    reason: t.string({ required: false }),
  }),
  payload: BookingPayload,
  errors: bookingErrors,
  authScopes: (input, ctx) => !readOnlyKey(ctx) && { seesBooking: input.bookingId.id },
  resolve: (input, ctx) =>
    bookingPayload(
      ctx,
      ctx.domain.bookings.modifyBooking(ctx.access, {
        bookingId: input.bookingId.id,
        ...(input.startsAt ? { startsAt: input.startsAt } : {}),
        ...(input.partySize != null ? { partySize: input.partySize } : {}),
        reason: input.reason ?? null,
      }),
    ),
});

const BookingActionInput = builder.inputType('BookingActionInput', {
  fields: (t) => ({
    bookingId: t.globalID({ for: Booking }),
    reason: t.string({ required: false, description: 'Kept in the booking’s history.' }),
  }),
});

/** One mutation per move a dashboard makes; all go through the same status machine. */
const VENUE_MOVES: [name: string, to: BookingStatusValue, description: string][] = [
  ['confirmBooking', 'CONFIRMED', 'Confirms a requested or held booking.'],
  ['declineBooking', 'DECLINED', 'Turns down a requested or held booking.'],
  ['holdBooking', 'HELD', 'Marks a requested booking as held while the venue decides.'],
  ['seatBooking', 'SEATED', 'The party has arrived.'],
  ['completeBooking', 'COMPLETED', 'The party has left.'],
  ['markBookingNoShow', 'NO_SHOW', 'The party did not come.'],
];

for (const [name, to, description] of VENUE_MOVES) {
  mutation(name, {
    description: `${description} The venue's team.`,
    input: BookingActionInput,
    payload: BookingPayload,
    errors: bookingErrors,
    authScopes: (input, ctx) =>
      !readOnlyKey(ctx) && { bookingVenueRole: { bookingId: input.bookingId.id, roles: ANY_ROLE } },
    resolve: (input, ctx) =>
      bookingPayload(
        ctx,
        ctx.domain.bookings.transitionBooking(ctx.access, {
          bookingId: input.bookingId.id,
          to,
          reason: input.reason ?? null,
        }),
      ),
  });
}

mutation('cancelBooking', {
  description: 'Cancels a booking, as its guest or as the venue.',
  input: BookingActionInput,
  payload: BookingPayload,
  errors: bookingErrors,
  authScopes: (input, ctx) => !readOnlyKey(ctx) && { seesBooking: input.bookingId.id },
  resolve: (input, ctx) =>
    bookingPayload(
      ctx,
      ctx.domain.bookings.cancelBooking(ctx.access, {
        bookingId: input.bookingId.id,
        reason: input.reason ?? null,
      }),
    ),
});

mutation('leaveBookingFeedback', {
  description:
    'The guest scores a visit that is over (1 to 5) with an optional comment; a second answer replaces the first.',
  input: (t) => ({
    bookingId: t.globalID({ for: Booking }),
    score: t.int({ description: '1 (poor) to 5 (excellent).' }),
    comment: t.string({ required: false, description: 'At most 2000 characters.' }),
  }),
  payload: BookingPayload,
  errors: [...commonErrors, FeedbackNotOpenError],
  authScopes: (input, ctx) => !readOnlyKey(ctx) && { seesBooking: input.bookingId.id },
  resolve: async (input, ctx) => {
    await ctx.domain.bookings.leaveFeedback(
      ctx.access,
      { bookingId: input.bookingId.id, score: input.score, comment: input.comment ?? null },
      ctx.services.now(),
    );
    return { booking: await ctx.domain.bookings.findBookingWithOwnerOrThrow(input.bookingId.id) };
  },
});

/** The payload of a booking write: the booking read again with what the `Booking` type's auth scopes read. */
async function bookingPayload(ctx: Context, written: Promise<{ id: string }>) {
  const { id } = await written;
  return { booking: await ctx.domain.bookings.findBookingWithOwnerOrThrow(id) };
}

export type BookingRow = Awaited<ReturnType<Context['domain']['bookings']['findBookingWithOwnerOrThrow']>>;

// --- live updates ---

builder.subscriptionType({});

/** Yielded once, instead of the event, when the subscriber may no longer read its topic. */
export const REVOKED = Symbol('access revoked');

/**
 * The topic's events while the subscriber may still read them, checked before each event
 * (`allowed`, answered from the process's cache of src/api/live-access.ts). Auth scopes run once,
 * when the subscription starts, and the context (its memberships, Pothos' scope cache) lives as
 * long as the subscription: without this, a member removed from the organisation would go on
 * receiving its bookings, guests' addresses included, until they hang up. The first refusal
 * stops listening and ends the stream with FORBIDDEN.
 *
 * Hand-written rather than an async generator: a generator waiting for the next event cannot be
 * returned until one arrives, and the Redis subscription would outlive the subscriber.
 */
export function whileAllowed(
  events: AsyncIterableIterator<unknown>,
  allowed: () => boolean | Promise<boolean>,
): AsyncIterableIterator<unknown> {
  let revoked = false;
  const stop = async () => {
    await events.return?.();
    return { done: true as const, value: undefined };
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (revoked) return stop();
      const event = await events.next();
      if (event.done) return event;
      // An answer the cache holds comes without a promise: no turn spent waiting for it.
      const answer = allowed();
      if (answer === true || (answer !== false && (await answer))) return event;
      revoked = true;
      await events.return?.();
      return { done: false, value: REVOKED };
    },
    return: stop,
  };
}

/**
 * Whether the subscriber still holds one of `roles` in `organizationId` (null: none may), and the
 * very role its subscription started with: the subscription's context keeps the roles read then,
 * and its fields are judged by them, so a member demoted (or promoted) since is ended with
 * FORBIDDEN, to subscribe again under the new role. Platform admins always may.
 */
export async function stillInRole(
  ctx: Context,
  organizationId: string | null,
  roles: readonly MembershipRole[],
): Promise<boolean> {
  // On a fresh reading of the memberships.
  const access = ctx.domain.organizations.createAccess(ctx.actor);
  if (access.isPlatformAdmin) return true;
  if (organizationId === null) return false;
  const now = await access.roleIn(organizationId);
  return now !== null && roles.includes(now) && now === (await ctx.access.roleIn(organizationId));
}

/**
 * A live subscription's check (`whileAllowed`) of its right to `resource`, something of
 * `organizationOf()`'s, answered by `check` and remembered (src/api/live-access.ts) under the role
 * the subscription started with as well: the answer depends on it (stillInRole), so two
 * subscriptions of one person started under different roles never share one.
 */
export function allowedInRole(
  ctx: Context,
  resource: string,
  organizationOf: () => Promise<string | null>,
  check: () => Promise<boolean>,
): () => boolean | Promise<boolean> {
  let key: string | undefined;
  let keying: Promise<string> | undefined;
  const ask = (known: string) => ctx.liveAccess.allowed(ctx.actor, known, check);
  return () => {
    if (key !== undefined) return ask(key);
    keying ??= organizationOf().then(
      async (organizationId) =>
        `${resource}@${organizationId ? ((await ctx.access.roleIn(organizationId)) ?? '-') : '-'}`,
    );
    return keying.then((known) => {
      key = known;
      return ask(known);
    });
  };
}

/** A venue's events while the subscriber is still on its team in the role it started with. */
export function venueEvents(ctx: Context, venueId: string, events: AsyncIterableIterator<unknown>) {
  const organizationOf = () => ctx.domain.venues.organizationOfVenue(venueId);
  return whileAllowed(
    events,
    // The `venueRole` scope again.
    allowedInRole(ctx, `venue:${venueId}`, organizationOf, async () =>
      stillInRole(ctx, await organizationOf(), ANY_ROLE),
    ),
  );
}

/** The booking an event is about, or FORBIDDEN once the subscriber lost the right to read it. */
function loadEventBooking(query: object, payload: unknown, ctx: Context) {
  if (payload === REVOKED) throw new NotAllowedError();
  return ctx.domain.bookings.findBookingOrThrow((payload as BookingChangedPayload).bookingId, query);
}

builder.subscriptionField('bookingChanged', (t) =>
  t.prismaField({
    type: Booking,
    description: "Every change to the venue's bookings, as it happens. The venue's team.",
    args: { venueId: t.arg.globalID({ for: Venue, required: true }) },
    authScopes: (_root, args) => ({ venueRole: { venueId: args.venueId.id, roles: ANY_ROLE } }),
    subscribe: (_root, args, ctx) =>
      venueEvents(ctx, args.venueId.id, ctx.services.pubsub.subscribe(bookingTopics.venue(args.venueId.id))),
    resolve: (query, payload, _args, ctx) => loadEventBooking(query, payload, ctx),
  }),
);

builder.subscriptionField('booking', (t) =>
  t.prismaField({
    type: Booking,
    description: 'Changes to one booking, for its guest or its venue’s team.',
    args: { id: t.arg.globalID({ for: Booking, required: true }) },
    authScopes: (_root, args) => ({ seesBooking: args.id.id }),
    subscribe: (_root, args, ctx) =>
      whileAllowed(
        ctx.services.pubsub.subscribe(bookingTopics.booking(args.id.id)),
        allowedInRole(
          ctx,
          `booking:${args.id.id}`,
          async () => {
            const booking = await ctx.domain.bookings
              .findBookingOrThrow(args.id.id, { select: { venueId: true } })
              .catch(() => null);
            return booking ? ctx.domain.venues.organizationOfVenue(booking.venueId) : null;
          },
          async () => {
            // The `seesBooking` scope again, on a fresh reading of the memberships.
            try {
              const access = ctx.domain.organizations.createAccess(ctx.actor);
              const booking = await ctx.domain.bookings.requireBooking(access, args.id.id);
              // One of the venue's team, in the role it started with (the guest has none there).
              const organizationId = await ctx.domain.venues.organizationOfVenue(booking.venueId);
              if (access.isPlatformAdmin || organizationId === null) return true;
              return (await access.roleIn(organizationId)) === (await ctx.access.roleIn(organizationId));
            } catch (error) {
              if (error instanceof NotFoundError) return false;
              throw error;
            }
          },
        ),
      ),
    resolve: (query, payload, _args, ctx) => loadEventBooking(query, payload, ctx),
  }),
);
