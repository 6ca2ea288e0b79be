/**
 * Bookings: creating one against live capacity, moving it through the status machine, changing
 * its time or party size. Capacity is checked and the booking written while the venue's row is
 * held (`SELECT … FOR UPDATE`), so concurrent requests for the last table are served one at a
 * time and exactly one gets it. A person's own bookings still waiting for a venue are capped, per
 * venue and in all, so one account cannot tie up a venue's tables; creating bookings is rate
 * limited per person and per API key.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  type Booking,
  type HoursException,
  type OpeningHours,
  Prisma,
  type Venue,
  type VenueTable,
} from '../../generated/prisma/client.ts';
import type { BookingSource, BookingStatus, VenueStatus } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import {
  ConflictError,
  NotAllowedError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
} from '../../platform/errors.ts';
import { addJobColumns, type JobToAdd } from '../../platform/jobs.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import { VENUE_AGENT_POLICY_SELECT, type VenueAgentPolicy, venueAgentPolicy } from '../agents/agents.ts';
import { findOrCreateUserByEmail, normalizeEmail } from '../identity/email.ts';
import { type Access, ANY_ROLE } from '../organizations/access.ts';
import { clientKeySchema, parseInput, wholeNumber } from '../validation.ts';
import {
  availability,
  type LiveBooking,
  overlapsWindow,
  sharingCapacityWith,
} from '../venues/availability.ts';
import { holdVenueOfTeam, PUBLIC_STATUSES, venueChangedHands } from '../venues/venues.ts';
import type { BookingChange, BookingEffects } from './effects.ts';
import { BookingLimitError, IllegalTransitionError, SlotFullError } from './errors.ts';
import { type BookingActorKind, canTransition, LIVE_STATUSES, nextStatuses } from './status.ts';

export interface BookingDeps {
  db: Db;
  now: () => Date;
  effects: BookingEffects;
  /** Minutes a HELD booking keeps its table unconfirmed. */
  holdMinutes: number;
  /** Minutes a venue has to answer a REQUESTED booking (never past its start). */
  requestMinutes: number;
  limiter: RateLimiter;
  limits: BookingLimits;
  /**
   * What making a booking costs the caller, paid in the booking's transaction (a refusal rolls
   * the booking back): with billing on, a booking made with an API key is a paid call
   * (src/domain/usage/paid-calls.ts). Absent: bookings cost nothing.
   */
  payForCreation?: (tx: Tx, access: Access, booking: Booking) => Promise<void>;
  /**
   * Whether an API key may book at a venue that is not its organisation's (as a guest, the way a
   * developer's agent books): the developer tier's rule (src/domain/developer/tiers.ts), the same
   * over GraphQL as over MCP and A2A. Throws when it may not. Absent: any key may.
   */
  mayBookAsGuest?: (access: Access) => Promise<void>;
}

export interface BookingLimits {
  /** A person's own HELD and REQUESTED bookings at one venue. */
  maxPendingPerVenue: number;
  /** The same across every venue. */
  maxPendingTotal: number;
  /** Bookings asked for per window by one person, and through one API key. */
  createPerPerson: number;
  createPerApiKey: number;
  createWindowSeconds: number;
}

/** Statuses of a booking still waiting for the venue's answer, which the per-person caps count. */
const PENDING_STATUSES: readonly BookingStatus[] = ['HELD', 'REQUESTED'];

/** The largest party any booking takes (a venue sets its own, up to this). */
export const MAX_PARTY_SIZE = 500;

const partySize = wholeNumber(1, MAX_PARTY_SIZE, {
  min: 'A party is at least 1 guest',
  max: `A party is at most ${MAX_PARTY_SIZE} guests: call the venue for a larger group`,
});

const createSchema = z.object({
  venueId: z.uuid(),
  partySize,
  startsAt: z.date(),
  /** DASHBOARD from anyone but the venue's team is recorded as API (see `createBooking`). */
  source: z.enum(['CHAT', 'DASHBOARD', 'MCP', 'A2A']),
  guestEmail: z.string().optional(),
  notes: z.string().trim().max(2000).optional(),
  specialRequests: z.string().trim().max(2000).optional(),
  clientKey: clientKeySchema.optional(),
  hold: z.boolean().optional(),
});

export type CreateBookingInput = z.input<typeof createSchema>;

/**
 * Books a table. A person books for themselves (REQUESTED, or HELD with `hold`, until the venue
 * confirms); the venue's team books for a guest by email and the booking is CONFIRMED at once.
 * The same `clientKey` from the same requester returns the booking it made the first time.
 * Every new booking counts against the requester's rate limit (RateLimitedError); a person's own
 * waiting bookings are capped per venue and in all (BookingLimitError), which a venue's team
 * booking for a guest is not.
 */
export async function createBooking(
  deps: BookingDeps,
  access: Access,
  input: CreateBookingInput,
): Promise<CreatedBooking> {
  const requesterId = access.requireUserId();
  access.requireWrite();
  const parsed = parseInput(createSchema, input);
  // The venue with all that deciding the booking reads of it but its live bookings, before any
  // lock: the lock is then held over as few round trips as can be.
  const venue = await deps.db.venue.findUnique({
    where: { id: parsed.venueId },
    include: venueForBookingInclude(requesterId, parsed.startsAt, parsed.clientKey ?? null),
  });
  if (venue?.organizationId && venue.organization) {
    access.knowRole(venue.organizationId, venue.organization.memberships[0]?.role ?? null);
  }
  const forSomeoneElse = parsed.guestEmail !== undefined;
  const asVenue = venue?.organizationId
    ? await access.has(venue.organizationId, ANY_ROLE)
    : access.isPlatformAdmin;
  if (!venue) throw new NotFoundError('Venue not found');
  // Not found first; whether the venue may write to a guest only once their address is known good.
  refuseUnlessBookable(venue.status, asVenue, false);
  if (forSomeoneElse && !asVenue) throw new NotAllowedError('Only the venue’s team books for someone else');
  if (parsed.notes !== undefined && !asVenue) {
    throw new ValidationError('Notes are the venue’s own; leave a special request instead', 'notes');
  }
  // The address is checked before anything is written (its person is found or made, in the
  // booking's transaction, once the booking will be written).
  const guestEmail = forSomeoneElse ? normalizeEmail(parsed.guestEmail!, 'guestEmail') : null;
  refuseUnlessBookable(venue.status, asVenue, forSomeoneElse);
  const owner = { venue: { organizationId: venue.organizationId } };

  // A replay: the booking this requester made here with this client key, read with the venue.
  // A key they used at another venue is found by its unique index when the booking is written
  // (the catch below), and answered the same way.
  const [earlier] = venue.bookings;
  if (earlier) return { ...sameRequestOrConflict(earlier, parsed), ...owner };
  if (access.actor.kind === 'apiKey' && !asVenue) await deps.mayBookAsGuest?.(access);
  await limitCreation(deps, access);

  const now = deps.now();
  const status: BookingStatus = forSomeoneElse ? 'CONFIRMED' : parsed.hold ? 'HELD' : 'REQUESTED';
  const endsAt = new Date(parsed.startsAt.getTime() + venue.turnMinutes * 60_000);
  const expiresAt =
    status === 'HELD'
      ? new Date(now.getTime() + deps.holdMinutes * 60_000)
      : status === 'REQUESTED'
        ? new Date(Math.min(now.getTime() + deps.requestMinutes * 60_000, parsed.startsAt.getTime()))
        : null;

  let holder = venue.organizationId;
  try {
    const booking = await deps.db.$transaction(async (tx) => {
      // The guest's lock comes first, the venue's second, in every transaction that takes both.
      const locked = await lockForBooking(tx, venue, forSomeoneElse ? null : requesterId, parsed.startsAt);
      // The venue's status and rules as they are under its lock: suspended, taken off the network
      // or its rules changed while this request waited for the lock.
      const held = { ...venue, ...locked.venue };
      // The team's own booking is theirs to make only while the venue is still theirs: a takeover
      // the lock waited behind hands it to the new team.
      if (asVenue && !access.isPlatformAdmin && held.organizationId !== venue.organizationId) {
        throw venueChangedHands();
      }
      refuseUnlessBookable(held.status, asVenue, forSomeoneElse);
      if (!forSomeoneElse) requireRoomInCaps(deps.limits, locked);
      requireRoomIn(held, held, locked.live, {
        startsAt: parsed.startsAt,
        partySize: parsed.partySize,
        now,
      });
      // The guest a team books for by address is found or made only now, once the booking will be
      // written: a refused one leaves no account behind for a stranger's address.
      const guestId =
        guestEmail !== null ? (await findOrCreateUserByEmail(tx, guestEmail)).user.id : requesterId;
      const booking = newBooking({
        venueId: venue.id,
        guestId,
        requestedById: requesterId,
        partySize: parsed.partySize,
        startsAt: parsed.startsAt,
        endsAt,
        status,
        // Over the API, only the venue's team books as the venue (DASHBOARD, no fee); a
        // developer's key or a person booking for themselves books through AGNT.
        source: (parsed.source === 'DASHBOARD' && !asVenue ? 'API' : parsed.source) as BookingSource,
        notes: parsed.notes ?? null,
        specialRequests: parsed.specialRequests ?? null,
        clientKey: parsed.clientKey ?? null,
        expiresAt,
      });
      // The booking, its history row and the jobs it needs (its expiry) in one statement.
      const created = await insertBooking(
        tx,
        booking,
        { actorKind: asVenue && forSomeoneElse ? 'venue' : 'guest', actorId: requesterId, reason: 'created' },
        deps.effects.jobsFor({ booking, from: null }),
      );
      if (deps.payForCreation) await deps.payForCreation(tx, access, created);
      // Taken over while this waited for the lock: the new holder's webhooks hear of it, read
      // here, not the former's read with the venue.
      holder = held.organizationId;
      await deps.effects.inTransaction(tx, {
        booking: created,
        venue: held,
        from: null,
        ...(holder === venue.organizationId
          ? {
              known: {
                agent: venue.agent,
                webhookSubscriptions: venue.organization?.webhookSubscriptions ?? [],
              },
            }
          : {}),
        jobsAdded: true,
      });
      return created;
    });
    await deps.effects.afterCommit({ booking, from: null });
    return { ...booking, venue: { organizationId: holder } };
  } catch (error) {
    // Two requests with one client key at once: the loser returns the winner's booking.
    if (parsed.clientKey && isUniqueViolation(error)) {
      const earlier = await deps.db.booking.findUniqueOrThrow({
        where: { requestedById_clientKey: { requestedById: requesterId, clientKey: parsed.clientKey } },
      });
      return { ...sameRequestOrConflict(earlier, parsed), ...owner };
    }
    throw error;
  }
}

/**
 * Refuses a booking at a venue in `status`: one not on the network is not found but by its team
 * (`asVenue`), who try it out there; and a booking for someone else (`forSomeoneElse`), CONFIRMED
 * at once and written to the guest in the venue's name, is made only at a published venue, since
 * anyone can make an organisation and a DRAFT venue called anything.
 */
function refuseUnlessBookable(status: VenueStatus, asVenue: boolean, forSomeoneElse: boolean): void {
  if (!PUBLIC_STATUSES.includes(status) && !asVenue) throw new NotFoundError('Venue not found');
  if (forSomeoneElse && !PUBLIC_STATUSES.includes(status)) {
    throw new ConflictError(
      'A booking for a guest by email is made only at a published venue: publish the venue first',
    );
  }
}

/** A booking just made, with its venue's organisation (whose team may see it). */
export type CreatedBooking = Booking & { venue: { organizationId: string | null } };

/**
 * What createBooking reads with the venue: its hours and tables, the hours exceptions of every
 * date the start can fall on in any zone (roomIn keeps the two it needs), its agent, of its
 * organisation the requester's membership and the enabled webhook subscriptions, and the
 * requester's booking here with the request's client key (none without one).
 */
function venueForBookingInclude(requesterId: string, startsAt: Date, clientKey: string | null) {
  return {
    bookings: {
      where: clientKey ? { requestedById: requesterId, clientKey } : { id: { in: [] } },
      take: 1,
    },
    hours: true,
    tables: true,
    exceptions: exceptionsAround(startsAt),
    agent: { select: VENUE_AGENT_POLICY_SELECT },
    organization: {
      select: {
        memberships: { where: { userId: requesterId }, select: { role: true } },
        webhookSubscriptions: ENABLED_WEBHOOK_SUBSCRIPTIONS,
      },
    },
  } satisfies Prisma.VenueInclude;
}

/** The hours exceptions of every date a start can fall on in any zone (roomIn keeps the two it needs). */
function exceptionsAround(startsAt: Date) {
  const day = Date.UTC(startsAt.getUTCFullYear(), startsAt.getUTCMonth(), startsAt.getUTCDate());
  return {
    where: { date: { gte: new Date(day - 2 * 86_400_000), lte: new Date(day + 86_400_000) } },
  } satisfies Prisma.Venue$exceptionsArgs;
}

/** An organisation's enabled webhook subscriptions, as the booking effects' hook takes them (`known`). */
const ENABLED_WEBHOOK_SUBSCRIPTIONS = {
  where: { enabled: true },
  select: { id: true, events: true },
  orderBy: { id: 'asc' },
} satisfies Prisma.Organization$webhookSubscriptionsArgs;

/** A new booking's row as insertBooking writes it (every column, as Prisma would return it). */
function newBooking(
  fields: Omit<Booking, 'id' | 'valueMinor' | 'valueRecordedAt' | 'createdAt' | 'updatedAt'>,
): Booking {
  const at = new Date();
  return {
    ...fields,
    id: randomUUID(),
    valueMinor: null,
    valueRecordedAt: null,
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * Inserts a new booking, the first row of its history and the jobs it needs (`jobs`, added as
 * `enqueue` adds them) in one statement, and returns the booking as written.
 */
async function insertBooking(
  tx: Tx,
  booking: Booking,
  transition: { actorKind: BookingActorKind; actorId: string; reason: string },
  jobs: readonly JobToAdd[],
): Promise<Booking> {
  const b = booking;
  const values: unknown[] = [
    b.id,
    b.venueId,
    b.guestId,
    b.requestedById,
    b.partySize,
    b.startsAt,
    b.endsAt,
    b.status,
    b.source,
    b.notes,
    b.specialRequests,
    b.clientKey,
    b.expiresAt,
    b.createdAt,
    b.updatedAt,
    randomUUID(),
    transition.actorKind,
    transition.actorId,
    transition.reason,
  ];
  // Each job's id, in the statement's one row; the history's insert is its row source, so the
  // jobs are added once, after the booking and its history row were.
  const added = addJobColumns(jobs, values);
  await tx.$executeRawUnsafe(
    `
    WITH booking AS (
      INSERT INTO bookings (id, venue_id, guest_id, requested_by_id, party_size, starts_at, ends_at,
        status, source, notes, special_requests, client_key, expires_at, value_minor,
        value_recorded_at, created_at, updated_at)
      VALUES ($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::int, $6::timestamptz, $7::timestamptz,
        $8::"BookingStatus", $9::"BookingSource", $10::text, $11::text, $12::text, $13::timestamptz,
        NULL, NULL, $14::timestamptz, $15::timestamptz)
      RETURNING id, status, created_at
    ),
    history AS (
      INSERT INTO booking_transitions (id, booking_id, from_status, to_status, actor_kind, actor_id,
        reason, created_at)
      SELECT $16::uuid, id, NULL, status, $17::text, $18::uuid, $19::text, created_at
      FROM booking
      RETURNING 1
    )
    SELECT ${['1 AS written', ...added].join(', ')}
    FROM history`,
    ...values,
  );
  return booking;
}

/** A unique constraint refused the write, through the Prisma client or raw SQL. */
function isUniqueViolation(error: unknown): boolean {
  const { code, meta } = error as {
    code?: string;
    meta?: { driverAdapterError?: { cause?: { kind?: string; originalCode?: string } } };
  };
  const cause = meta?.driverAdapterError?.cause;
  return code === 'P2002' || cause?.kind === 'UniqueConstraintViolation' || cause?.originalCode === '23505';
}

/** What lockForBooking read once its locks were held. */
interface BookingLocks {
  /** The venue's holder, status and booking rules under its row lock. */
  venue: LockedVenueRules & Pick<Venue, 'organizationId'>;
  /** The guest's bookings waiting for an answer (HELD, REQUESTED), here and in all. */
  pendingHere: number;
  pendingTotal: number;
  /**
   * The venue's live bookings around the start (as liveBookingsAround reads them) that can share
   * its capacity (capacityRead): what roomIn needs to decide that one start.
   */
  live: LiveBooking[];
}

/**
 * Takes a new booking's locks, the guest's advisory lock (unless `guestId` is null: the venue's
 * team booking for a guest is not capped) and then the venue's row, and reads what deciding it
 * needs under them, in one round trip (the SQL function `lock_for_booking`). Lock order as
 * lockVenue says.
 */
async function lockForBooking(
  tx: Tx,
  venue: Pick<Venue, 'id' | 'slotMinutes' | 'turnMinutes'> & { tables: readonly unknown[] },
  guestId: string | null,
  startsAt: Date,
): Promise<BookingLocks> {
  const { from, startsBefore, runningAt } = capacityRead(venue, startsAt);
  const [row] = await tx.$queryRaw<{ read: BookingLocksRow }[]>`
    SELECT lock_for_booking(
      ${venue.id}::uuid, ${guestId}::uuid, ${guestId ? guestLockKey(guestId) : null}::text,
      ${[...PENDING_STATUSES]}::text[], ${[...LIVE_STATUSES]}::text[],
      ${from}::timestamptz, ${startsBefore}::timestamptz, ${runningAt}::timestamptz) AS read`;
  const read = row!.read;
  return {
    venue: read.venue,
    pendingHere: Number(read.pendingHere),
    pendingTotal: Number(read.pendingTotal),
    live: liveBookingsOf(read.live),
  };
}

/**
 * Which of the venue's live bookings around a start deciding it reads (as the locking functions
 * take them: starting in [from, startsBefore), still running at runningAt or starting after it):
 * without tables only those that can share its capacity (sharingCapacityWith), with tables every
 * one of the window (a chain of overlapping turns decides who sits where).
 */
function capacityRead(
  venue: Pick<Venue, 'slotMinutes' | 'turnMinutes'> & { tables: readonly unknown[] },
  startsAt: Date,
): { from: Date; startsBefore: Date; runningAt: Date } {
  const { from, to } = liveWindow(startsAt);
  if (venue.tables.length > 0) return { from, startsBefore: to, runningAt: from };
  return { from, ...sharingCapacityWith(venue, startsAt) };
}

/** The live bookings a locking function returned as JSON (lock_for_booking, lock_for_decision). */
function liveBookingsOf(rows: readonly LiveBookingRow[]): LiveBooking[] {
  return rows.map((b) => ({
    startsAt: new Date(b.startsAt),
    endsAt: new Date(b.endsAt),
    partySize: b.partySize,
  }));
}

interface LiveBookingRow {
  startsAt: string;
  endsAt: string;
  partySize: number;
}

/** What readForDecision reads of the venue before any lock. */
function venueForDecisionInclude(bookingId: string, startsAt: Date) {
  return {
    bookings: { where: { id: bookingId }, take: 1 },
    hours: true,
    tables: true,
    exceptions: exceptionsAround(startsAt),
    agent: { select: VENUE_AGENT_POLICY_SELECT },
    organization: { select: { webhookSubscriptions: ENABLED_WEBHOOK_SUBSCRIPTIONS } },
  } satisfies Prisma.VenueInclude;
}

export type VenueForDecision = Prisma.VenueGetPayload<{
  include: ReturnType<typeof venueForDecisionInclude>;
}>;

/** What readForDecision read. */
export interface DecisionRead {
  /** The venue, with its hours, tables, hours exceptions around the start, agent and organisation's enabled webhook subscriptions. */
  venue: VenueForDecision;
  /**
   * The booking, its status, guest, times and party size as they are under its lock; null when it
   * is not this venue's (or no longer exists).
   */
  booking: Booking | null;
  /**
   * roomAt's answer for the booking at the start readForDecision was given, from what was read
   * under the locks (the booking itself left out): ask it only once the booking's start is known
   * to be that one.
   */
  room(request: { partySize: number; now: Date }): RoomAt;
}

/**
 * What a venue's agent deciding a booking request needs, in two statements: the venue with all
 * that deciding reads of it but its live bookings, and the booking if it is this venue's, before
 * any lock; then, when it is, the venue's row and the booking's locked (lockVenue's order), the
 * venue's status and booking rules and the booking as they now are, and the venue's other live
 * bookings that can share capacity with `startsAt` (the SQL function `lock_for_decision`). As in
 * createBooking, its hours, tables and exceptions are those read before the lock. null when the
 * venue does not exist.
 */
export async function readForDecision(
  tx: Tx,
  input: { venueId: string; bookingId: string; startsAt: Date },
): Promise<DecisionRead | null> {
  const venue = await tx.venue.findUnique({
    where: { id: input.venueId },
    include: venueForDecisionInclude(input.bookingId, input.startsAt),
  });
  if (!venue) return null;
  const [before] = venue.bookings;
  if (!before) return { venue, booking: null, room: () => 'not_bookable' };
  const { from, startsBefore, runningAt } = capacityRead(venue, input.startsAt);
  const [row] = await tx.$queryRaw<{ read: DecisionLocksRow }[]>`
    SELECT lock_for_decision(
      ${venue.id}::uuid, ${before.id}::uuid, ${[...LIVE_STATUSES]}::text[],
      ${from}::timestamptz, ${startsBefore}::timestamptz, ${runningAt}::timestamptz) AS read`;
  const { venue: rules, booking: locked, live } = row!.read;
  const others = liveBookingsOf(live);
  // The venue's status and rules as they are under its lock (suspended or changed meanwhile).
  const held = { ...venue, ...rules };
  return {
    venue: held,
    booking: locked && {
      ...before,
      status: locked.status,
      guestId: locked.guestId,
      startsAt: new Date(locked.startsAt),
      endsAt: new Date(locked.endsAt),
      partySize: locked.partySize,
    },
    room: ({ partySize, now }) => roomIn(held, held, others, { startsAt: input.startsAt, partySize, now }),
  };
}

/** A venue's status and booking rules as the locking functions read them under its row lock. */
type LockedVenueRules = Pick<
  Venue,
  | 'status'
  | 'timeZone'
  | 'partySizeMin'
  | 'partySizeMax'
  | 'slotMinutes'
  | 'turnMinutes'
  | 'leadTimeMinutes'
  | 'bookingHorizonDays'
  | 'coversPerSlot'
>;

interface DecisionLocksRow {
  venue: LockedVenueRules;
  booking: {
    status: BookingStatus;
    guestId: string;
    startsAt: string;
    endsAt: string;
    partySize: number;
  } | null;
  live: LiveBookingRow[];
}

interface BookingLocksRow {
  venue: LockedVenueRules & Pick<Venue, 'organizationId'>;
  pendingHere: number;
  pendingTotal: number;
  live: LiveBookingRow[];
}

/** The advisory lock that counts one guest's waiting bookings one transaction at a time. */
function guestLockKey(guestId: string): string {
  return `booking-guest:${guestId}`;
}

/**
 * Counts one booking request against the caller's window: per API key when a key calls (a venue's
 * system entering phone bookings makes many), else per person.
 */
async function limitCreation(deps: BookingDeps, access: Access): Promise<void> {
  const { actor } = access;
  if (actor.kind === 'anonymous') return;
  const limits = deps.limits;
  const [key, max] =
    actor.kind === 'apiKey'
      ? [`booking:create:key:${actor.apiKeyId}`, limits.createPerApiKey]
      : [`booking:create:user:${actor.userId}`, limits.createPerPerson];
  const result = await deps.limiter.hit(key, max, limits.createWindowSeconds);
  if (!result.allowed) {
    throw new RateLimitedError(
      `Too many bookings asked for in a short time: try again in ${result.retryAfterSeconds} seconds`,
      result.retryAfterSeconds,
    );
  }
}

/**
 * Refuses a booking that would give the guest more waiting bookings than allowed. The counts were
 * read while the transaction held an advisory lock keyed by the guest (lockForBooking), so
 * concurrent requests of one person (each locking a different venue) are counted one at a time.
 */
function requireRoomInCaps(limits: BookingLimits, locks: Pick<BookingLocks, 'pendingHere' | 'pendingTotal'>) {
  if (locks.pendingHere >= limits.maxPendingPerVenue)
    throw new BookingLimitError('VENUE', limits.maxPendingPerVenue);
  if (locks.pendingTotal >= limits.maxPendingTotal)
    throw new BookingLimitError('TOTAL', limits.maxPendingTotal);
}

function sameRequestOrConflict(
  earlier: Booking,
  request: { venueId: string; startsAt: Date; partySize: number },
) {
  if (
    earlier.venueId !== request.venueId ||
    earlier.startsAt.getTime() !== request.startsAt.getTime() ||
    earlier.partySize !== request.partySize
  ) {
    throw new ConflictError('This client key was already used for a different booking');
  }
  return earlier;
}

/**
 * Who the caller is to this booking: its guest, its venue's team, or nobody. For the team (not a
 * platform admin), `team` is the venue and the organisation they were found a member of: their
 * write goes on only while the venue is still that organisation's (holdVenueOfTeam).
 */
async function bookingActor(
  db: DbOrTx,
  access: Access,
  booking: Booking,
): Promise<{ kind: BookingActorKind; team?: { venueId: string; organizationId: string } } | null> {
  const venue = await db.venue.findUniqueOrThrow({
    where: { id: booking.venueId },
    select: { organizationId: true },
  });
  if (access.isPlatformAdmin) return { kind: 'venue' };
  if (venue.organizationId && (await access.has(venue.organizationId, ANY_ROLE))) {
    return { kind: 'venue', team: { venueId: booking.venueId, organizationId: venue.organizationId } };
  }
  if (access.actor.kind !== 'anonymous' && access.actor.userId === booking.guestId) return { kind: 'guest' };
  return null;
}

/**
 * Whether the caller is the booking's own guest. Someone on the venue's team (or a platform admin)
 * who booked a table for themselves moves it as its guest where a guest may (their cancellation is
 * CANCELLED_BY_GUEST: the venue did not cancel, and they are not told it did), and never cancels it
 * as the venue; every other move of theirs is the team's (callerMoves, sideFor).
 */
function isOwnBooking(access: Access, booking: Booking): boolean {
  return access.actor.kind !== 'anonymous' && access.actor.userId === booking.guestId;
}

/** The moves a caller on `side` may make from `status`, their own booking's cancellation as its guest. */
function callerMoves(status: BookingStatus, side: BookingActorKind, own: boolean): BookingStatus[] {
  const moves = nextStatuses(status, side);
  if (!own || side === 'guest') return moves;
  const asGuest = nextStatuses(status, 'guest').filter((to) => !moves.includes(to));
  return [...moves.filter((to) => to !== 'CANCELLED_BY_VENUE'), ...asGuest];
}

/**
 * Who the caller is for a move to `to` (bookingActor, but the booking's own guest makes a guest's
 * move as its guest); refuses the venue's cancellation of one's own booking.
 */
async function sideFor(db: DbOrTx, access: Access, booking: Booking, to: BookingStatus) {
  const own = isOwnBooking(access, booking);
  if (own && to === 'CANCELLED_BY_VENUE') {
    throw new IllegalTransitionError(booking.status, to, 'Your own booking is cancelled as its guest');
  }
  if (own && canTransition(booking.status, to, 'guest')) return { kind: 'guest' as const };
  return (await bookingActor(db, access, booking))!;
}

async function actorKindFor(db: DbOrTx, access: Access, booking: Booking): Promise<BookingActorKind | null> {
  return (await bookingActor(db, access, booking))?.kind ?? null;
}

/** Whether the caller may see the booking: its guest, its venue's team, platform admins. */
export async function canSeeBooking(db: DbOrTx, access: Access, booking: Booking): Promise<boolean> {
  return (await actorKindFor(db, access, booking)) !== null;
}

/** The organisation that owns a booking's venue, or null (for authorising before the real work). */
export async function organizationOfBooking(db: DbOrTx, bookingId: string): Promise<string | null> {
  if (!z.uuid().safeParse(bookingId).success) return null;
  const booking = await db.booking.findUnique({
    where: { id: bookingId },
    select: { venue: { select: { organizationId: true } } },
  });
  return booking?.venue.organizationId ?? null;
}

/**
 * A person's own bookings: the upcoming ones soonest first (started ones not at all), or, with
 * `upcoming: false`, all of them latest first. `query` is the page and selection (a Prisma
 * select or include with cursor, take and skip).
 */
export function guestBookings(
  db: DbOrTx,
  guestId: string,
  filter: { upcoming: boolean; now: Date },
  query: Omit<Prisma.BookingFindManyArgs, 'where' | 'orderBy'> = {},
) {
  return db.booking.findMany({
    ...query,
    where: { guestId, ...(filter.upcoming ? { startsAt: { gte: filter.now } } : {}) },
    orderBy: [{ startsAt: filter.upcoming ? 'asc' : 'desc' }, { id: 'asc' }],
  });
}

/** A booking by id with what `query` selects; throws when there is none. No access check: the caller has one. */
export function findBookingOrThrow(db: DbOrTx, bookingId: string, query: Prisma.BookingDefaultArgs = {}) {
  return db.booking.findUniqueOrThrow({ ...query, where: { id: bookingId } });
}

/** A booking with its venue's owner (what deciding who may read it needs); throws when there is none. */
export function findBookingWithOwnerOrThrow(db: DbOrTx, bookingId: string) {
  return db.booking.findUniqueOrThrow({
    where: { id: bookingId },
    include: { venue: { select: { organizationId: true } } },
  });
}

/** A booking the caller may see (its guest, its venue's team, platform admins), or NotFoundError. */
export async function requireBooking(db: DbOrTx, access: Access, bookingId: string): Promise<Booking> {
  const booking = z.uuid().safeParse(bookingId).success
    ? await db.booking.findUnique({ where: { id: bookingId } })
    : null;
  if (!booking || !(await canSeeBooking(db, access, booking))) throw new NotFoundError('Booking not found');
  return booking;
}

/**
 * Moves a booking to `to` if the status machine lets this caller do it. The venue's team and the
 * guest are told apart by who is asking; `reason` is kept in the history.
 */
export async function transitionBooking(
  deps: BookingDeps,
  access: Access,
  input: { bookingId: string; to: BookingStatus; reason?: string | null },
): Promise<Booking> {
  access.requireWrite();
  const booking = await requireBooking(deps.db, access, input.bookingId);
  const actor = await sideFor(deps.db, access, booking, input.to);
  const actorId = access.actor.kind === 'anonymous' ? null : access.actor.userId;
  requireRightTime(booking, input.to, deps.now());
  return moveBooking(deps, {
    bookingId: booking.id,
    to: input.to,
    actorKind: actor.kind,
    actorId,
    reason: input.reason ?? null,
    team: actor.team,
  });
}

/** Cancels a booking: as the guest (CANCELLED_BY_GUEST) or as the venue (CANCELLED_BY_VENUE). */
export async function cancelBooking(
  deps: BookingDeps,
  access: Access,
  input: { bookingId: string; reason?: string | null },
): Promise<Booking> {
  access.requireWrite();
  const booking = await requireBooking(deps.db, access, input.bookingId);
  const actorId = access.actor.kind === 'anonymous' ? null : access.actor.userId;
  // Someone on the venue's team cancelling their own booking cancels as its guest (sideFor).
  const to: BookingStatus = isOwnBooking(access, booking) ? 'CANCELLED_BY_GUEST' : 'CANCELLED_BY_VENUE';
  const actor = await sideFor(deps.db, access, booking, to);
  requireRightTime(booking, to, deps.now());
  return moveBooking(deps, {
    bookingId: booking.id,
    to,
    actorKind: actor.kind,
    actorId,
    reason: input.reason ?? null,
    team: actor.team,
  });
}

/**
 * The statuses the caller may move this booking to now, for a dashboard's buttons: those its
 * status and the caller's side allow, less those its time does not (timeRefusal).
 */
export async function allowedTransitions(
  deps: { db: DbOrTx; now: () => Date },
  access: Access,
  booking: Booking,
): Promise<BookingStatus[]> {
  const actorKind = await actorKindFor(deps.db, access, booking);
  if (!actorKind) return [];
  const now = deps.now();
  return callerMoves(booking.status, actorKind, isOwnBooking(access, booking)).filter(
    (to) => timeRefusal(booking, to, now) === null,
  );
}

/** How early a party may be seated before its booked time. */
const EARLIEST_SEATING_MS = 2 * 3_600_000;

/**
 * Why a guest may not cancel their booking now, or null when they may: a confirmed booking whose
 * time has come is the venue's to settle (seated late, or a no-show), not the guest's to cancel.
 */
export function guestCancelRefusal(booking: Pick<Booking, 'status' | 'startsAt'>, now: Date): string | null {
  return isTheVenuesNow(booking, now)
    ? 'A confirmed booking cannot be cancelled by its guest once its time has come: tell the venue'
    : null;
}

/**
 * A confirmed booking whose time has come: the venue's to settle (seated late, or a no-show), not
 * its guest's to cancel or change (guestCancelRefusal, guestChangeRefusal).
 */
function isTheVenuesNow(booking: Pick<Booking, 'status' | 'startsAt'>, now: Date): boolean {
  return booking.status === 'CONFIRMED' && now.getTime() >= booking.startsAt.getTime();
}

/**
 * A party is not a no-show before its time, nor seated hours ahead of it; a guest does not cancel
 * a confirmed booking once its time has come.
 */
function requireRightTime(booking: Booking, to: BookingStatus, now: Date) {
  const refusal = timeRefusal(booking, to, now);
  if (refusal) throw new IllegalTransitionError(booking.status, to, refusal);
}

/** Why `booking` may not move to `to` at `now` (requireRightTime), or null when its time allows. */
function timeRefusal(
  booking: Pick<Booking, 'status' | 'startsAt'>,
  to: BookingStatus,
  now: Date,
): string | null {
  const start = booking.startsAt.getTime();
  if (to === 'CANCELLED_BY_GUEST') return guestCancelRefusal(booking, now);
  if (to === 'NO_SHOW' && now.getTime() < start) return 'A booking cannot be a no-show before its time';
  if (to === 'SEATED' && now.getTime() < start - EARLIEST_SEATING_MS) {
    return 'A party cannot be seated more than two hours early';
  }
  return null;
}

/** What a scheduled job reads of a booking, under its lock, to judge whether its time has come. */
export interface BookingTimes {
  status: BookingStatus;
  startsAt: Date;
  endsAt: Date;
  expiresAt: Date | null;
}

/**
 * A move made by the system (a job): none when the booking has moved on since the job was queued
 * (`onlyFrom`), or when `due` says its time has not come. `due` reads the booking under its row
 * lock, so a change landing between a job's first look and the move (a later start, a new
 * deadline) is judged, not overwritten.
 */
export async function systemTransition(
  deps: BookingDeps,
  input: {
    bookingId: string;
    to: BookingStatus;
    reason: string;
    onlyFrom?: readonly BookingStatus[];
    due?: (booking: BookingTimes) => boolean;
  },
): Promise<Booking | null> {
  const { due, ...move } = input;
  try {
    const moved = await deps.db.$transaction(async (tx) => {
      if (due) {
        const [row] = await tx.$queryRaw<BookingTimes[]>`
          SELECT status, starts_at AS "startsAt", ends_at AS "endsAt", expires_at AS "expiresAt"
          FROM bookings WHERE id = ${input.bookingId}::uuid FOR UPDATE`;
        if (!row || !due(row)) return null;
      }
      return moveBookingOn(tx, deps.effects, { ...move, actorKind: 'system', actorId: null });
    });
    if (!moved) return null;
    await moved.afterCommit();
    return moved.booking;
  } catch (error) {
    // A job that finds the booking already moved on has nothing to do.
    if (error instanceof IllegalTransitionError && input.onlyFrom && !input.onlyFrom.includes(error.from))
      return null;
    throw error;
  }
}

/** One move through the status machine: to where, by whom, why. */
export interface BookingMove {
  bookingId: string;
  to: BookingStatus;
  actorKind: BookingActorKind;
  actorId: string | null;
  reason: string | null;
  onlyFrom?: readonly BookingStatus[];
  /** A decline's other times on offer, which the guest's notice names. */
  alternatives?: readonly Date[];
  /**
   * The organisation whose team makes the move (bookingActor): it is made only while the venue is
   * still theirs (holdVenueOfTeam, before the booking's row). Not with `locked`, whose caller holds
   * the venue's row already.
   */
  team?: { venueId: string; organizationId: string };
  /**
   * The caller holds the venue's row and the booking's (in that order) and read them under the
   * locks: the booking's status now, the venue, and what the effects' hooks would read of it.
   * moveBookingOn then locks and reads none of them again.
   */
  locked?: { status: BookingStatus; venue: Venue; known?: BookingChange['known'] };
}

async function moveBooking(deps: BookingDeps, input: BookingMove): Promise<Booking> {
  const moved = await deps.db.$transaction((tx) => moveBookingOn(tx, deps.effects, input));
  await moved.afterCommit();
  return moved.booking;
}

/** A booking change made on a caller's transaction, and what to do once that transaction commits. */
export interface BookingChangeOnTx {
  booking: Booking;
  /** The status before. */
  from: BookingStatus;
  /** The live update (pub/sub): run it after the caller's transaction commits, never inside it. */
  afterCommit: () => Promise<void>;
}

/**
 * Moves a booking through the status machine on the caller's transaction `tx` (moveBooking's
 * rules, IllegalTransitionError when they refuse). The effects that belong to the transaction
 * (jobs, the guest's message) are written on `tx`; the live update is returned as `afterCommit`
 * for the caller to run once its transaction has committed. A caller that also checks capacity
 * locks the venue's row (lockVenue) before calling, as createBooking does.
 */
export async function moveBookingOn(
  tx: Tx,
  effects: BookingEffects,
  input: BookingMove,
): Promise<BookingChangeOnTx> {
  if (input.team && !input.locked) await holdVenueOfTeam(tx, input.team.venueId, input.team.organizationId);
  const [current] = input.locked
    ? [input.locked]
    : await tx.$queryRaw<{ status: BookingStatus }[]>`
        SELECT status FROM bookings WHERE id = ${input.bookingId}::uuid FOR UPDATE`;
  if (!current) throw new NotFoundError('Booking not found');
  if (input.onlyFrom && !input.onlyFrom.includes(current.status)) {
    throw new IllegalTransitionError(current.status, input.to);
  }
  if (!canTransition(current.status, input.to, input.actorKind)) {
    throw new IllegalTransitionError(current.status, input.to);
  }
  // A live booking no longer waits on a deadline (a HELD one keeps its hold's).
  const set =
    LIVE_STATUSES.includes(input.to) && input.to !== 'HELD'
      ? Prisma.sql`status = ${input.to}::"BookingStatus", expires_at = NULL`
      : Prisma.sql`status = ${input.to}::"BookingStatus"`;
  const updated = await updateWithHistory(tx, input.bookingId, set, {
    from: current.status,
    to: input.to,
    actorKind: input.actorKind,
    actorId: input.actorId,
    reason: input.reason,
  });
  const venue = input.locked?.venue ?? (await tx.venue.findUniqueOrThrow({ where: { id: updated.venueId } }));
  await effects.inTransaction(tx, {
    booking: updated,
    venue,
    from: current.status,
    alternatives: input.alternatives,
    ...(input.locked?.known ? { known: input.locked.known } : {}),
  });
  return {
    booking: updated,
    from: current.status,
    afterCommit: () => effects.afterCommit({ booking: updated, from: current.status }),
  };
}

const modifySchema = z.object({
  bookingId: z.uuid(),
  startsAt: z.date().optional(),
  partySize: partySize.optional(),
});

/** Changes the time or the party size of a live booking, if the venue has room for the change. */
export async function modifyBooking(
  deps: BookingDeps,
  access: Access,
  input: z.input<typeof modifySchema> & { reason?: string | null },
): Promise<Booking> {
  access.requireWrite();
  const parsed = parseInput(modifySchema, input);
  const booking = await requireBooking(deps.db, access, parsed.bookingId);
  const actor = (await bookingActor(deps.db, access, booking))!;
  const actorKind = actor.kind;
  if (!CHANGEABLE_STATUSES.includes(booking.status)) {
    throw new IllegalTransitionError(
      booking.status,
      booking.status,
      `A ${booking.status.toLowerCase()} booking cannot be changed`,
    );
  }
  const startsAt = parsed.startsAt ?? booking.startsAt;
  const partySize = parsed.partySize ?? booking.partySize;
  const now = deps.now();
  const updated = await deps.db.$transaction(async (tx) => {
    const venue = await lockVenue(tx, booking.venueId);
    // Taken over while the change waited for the lock: the venue is no longer this team's.
    if (actor.team && venue.organizationId !== actor.team.organizationId) throw venueChangedHands();
    // The booking as read before the locks is what the change starts from: changed meanwhile (a
    // status, or another change of time or party), this one would undo that one.
    const [current] = await tx.$queryRaw<{ status: BookingStatus; starts_at: Date; party_size: number }[]>`
      SELECT status, starts_at, party_size FROM bookings WHERE id = ${booking.id}::uuid FOR UPDATE`;
    if (
      current?.status !== booking.status ||
      current.starts_at.getTime() !== booking.startsAt.getTime() ||
      current.party_size !== booking.partySize
    )
      throw new ConflictError('The booking changed meanwhile; try again');
    if (actorKind === 'guest') await requireGuestMayChange(tx, venue, booking, { startsAt, partySize }, now);
    await requireRoom(tx, venue, { startsAt, partySize, now, exceptBookingId: booking.id });
    return changeBookingOn(tx, deps.effects, {
      booking,
      venue,
      startsAt,
      partySize,
      actorKind,
      actorId: access.actor.kind === 'anonymous' ? null : access.actor.userId,
      reason: input.reason ?? null,
      requestMinutes: deps.requestMinutes,
    });
  });
  await updated.afterCommit();
  return updated.booking;
}

/**
 * What keeps a guest from changing a booking (its team may change anything); null when the change
 * is the guest's to make. The same whether the guest asks in the app or the chat (modifyBooking)
 * or through the agents (booking.modify, venue-agent.ts):
 *
 * - a confirmed booking whose time has come (moved to another day, tonight's no-show would never
 *   be marked, and it could then be cancelled; `field` null);
 * - the venue's booking policy, whether or not its agent is running (a paused agent's blackouts
 *   and staff threshold are still the venue's rules; only who answers changes): a new time in a
 *   blackout window, a party grown above the size its staff decide;
 * - a confirmed booking's new time or larger party where the venue decides bookings by hand (no
 *   agent running, no policy, or one that does not accept within its rules). The same as a new
 *   request would go to its staff, the change would: it is not made confirmed without them.
 */
export function guestChangeRefusal(
  agent: VenueAgentPolicy | null,
  venue: Pick<Venue, 'turnMinutes'>,
  booking: Pick<Booking, 'status' | 'startsAt' | 'partySize'>,
  change: { startsAt: Date; partySize: number },
  now: Date,
): { field: 'startsAt' | 'partySize' | null; message: string } | null {
  if (isTheVenuesNow(booking, now)) {
    return {
      field: null,
      message: 'A confirmed booking cannot be changed by its guest once its time has come: tell the venue',
    };
  }
  const start = change.startsAt.getTime();
  const moved = start !== booking.startsAt.getTime();
  const grown = change.partySize > booking.partySize;
  if (moved && overlapsWindow(agent?.blackouts ?? [], start, start + venue.turnMinutes * 60_000)) {
    return {
      field: 'startsAt',
      message: "The venue takes no bookings at that time as a rule: ask the venue's team",
    };
  }
  const threshold = agent?.policy?.askStaffAbovePartySize ?? null;
  if (threshold !== null && change.partySize > threshold && grown) {
    return {
      field: 'partySize',
      message: `Parties above ${threshold} are decided by the venue's staff: ask the venue's team for this change`,
    };
  }
  // A booking still waiting for the venue (REQUESTED, HELD) is decided by its staff whatever it
  // asks, so it may change. A confirmed one stays confirmed through a change: there is no place
  // for a change waiting on staff beside the table the guest holds, and sending the booking back
  // to REQUESTED would put that table at risk, so the guest keeps it and asks the venue. A smaller
  // party at the same time takes nothing the venue has not already agreed to.
  if (booking.status === 'CONFIRMED' && (moved || grown) && !acceptsWithinRules(agent)) {
    return {
      field: moved ? 'startsAt' : 'partySize',
      message: "The venue confirms every booking itself: ask the venue's team for this change",
    };
  }
  return null;
}

/**
 * Whether the venue's agent confirms, on its own, what is inside the venue's rules: running, and
 * its policy says so (decideBookingRequest escalates everything else to staff).
 */
function acceptsWithinRules(agent: VenueAgentPolicy | null): boolean {
  return agent?.active === true && agent.policy?.autoAcceptWithinRules === true;
}

async function requireGuestMayChange(
  tx: Tx,
  venue: Venue,
  booking: Booking,
  change: { startsAt: Date; partySize: number },
  now: Date,
): Promise<void> {
  const refusal = guestChangeRefusal(await venueAgentPolicy(tx, venue.id), venue, booking, change, now);
  if (!refusal) return;
  if (refusal.field === null)
    throw new IllegalTransitionError(booking.status, booking.status, refusal.message);
  throw new ValidationError(refusal.message, refusal.field);
}

/**
 * Writes a change of time or party size on the caller's transaction, once the caller has locked
 * the venue's row and the booking's, checked the booking's status and found room (modifyBooking's
 * rules): the booking, its history line, the effects that belong to the transaction, and the live
 * update to run after the commit.
 */
export async function changeBookingOn(
  tx: Tx,
  effects: BookingEffects,
  input: {
    /** The booking as it was before the change. */
    booking: Booking;
    venue: Venue;
    startsAt: Date;
    partySize: number;
    actorKind: BookingActorKind;
    actorId: string | null;
    reason: string | null;
    /** BOOKING_REQUEST_MINUTES, for a REQUESTED booking's deadline (see below). */
    requestMinutes?: number;
  },
): Promise<BookingChangeOnTx> {
  const { booking, venue, startsAt, partySize } = input;
  const endsAt = new Date(startsAt.getTime() + venue.turnMinutes * 60_000);
  const what = [
    startsAt.getTime() !== booking.startsAt.getTime()
      ? `time ${booking.startsAt.toISOString()} → ${startsAt.toISOString()}`
      : null,
    partySize !== booking.partySize ? `party ${booking.partySize} → ${partySize}` : null,
  ].filter(Boolean);
  // A booking waiting for an answer (or a hold) never waits past its start: moved earlier, its
  // deadline comes with it (and its expiry job, rescheduled by the effects). A request's deadline
  // is worked out again as createBooking works it (`requestMinutes` from its making, never past the
  // start) when the caller knows it: moved later, one cut short by its old start gets its time.
  const deadline =
    booking.status === 'REQUESTED' && input.requestMinutes !== undefined
      ? Prisma.sql`, expires_at = LEAST(created_at + ${input.requestMinutes} * interval '1 minute', ${startsAt}::timestamptz)`
      : booking.status === 'REQUESTED' || booking.status === 'HELD'
        ? Prisma.sql`, expires_at = LEAST(expires_at, ${startsAt}::timestamptz)`
        : Prisma.empty;
  const changed = await updateWithHistory(
    tx,
    booking.id,
    Prisma.sql`starts_at = ${startsAt}::timestamptz, ends_at = ${endsAt}::timestamptz, party_size = ${partySize}::int${deadline}`,
    {
      from: booking.status,
      to: booking.status,
      actorKind: input.actorKind,
      actorId: input.actorId,
      // What changed is always written; the caller's reason, when given, after it.
      reason: `changed ${what.join(', ') || 'nothing'}${input.reason ? ` (${input.reason})` : ''}`,
    },
  );
  // Changed by someone else (the venue's team), the guest is told what it is now.
  const changedForGuest =
    what.length && input.actorId !== booking.guestId
      ? { startsAt: booking.startsAt, partySize: booking.partySize }
      : undefined;
  await effects.inTransaction(tx, {
    booking: changed,
    venue,
    from: booking.status,
    modified: true,
    ...(changedForGuest ? { changedForGuest } : {}),
  });
  return {
    booking: changed,
    from: booking.status,
    afterCommit: () => effects.afterCommit({ booking: changed, from: booking.status }),
  };
}

/**
 * Every column of `bookings` under its field's name, as Prisma returns a `Booking`, for a raw
 * statement that returns the row it wrote (test/integration/booking-row.test.ts compares the two).
 */
export const BOOKING_FIELDS = Prisma.raw(`id, venue_id AS "venueId", guest_id AS "guestId",
  requested_by_id AS "requestedById", party_size AS "partySize", starts_at AS "startsAt",
  ends_at AS "endsAt", status::text AS status, source::text AS source, notes,
  special_requests AS "specialRequests", client_key AS "clientKey", expires_at AS "expiresAt",
  value_minor AS "valueMinor", value_recorded_at AS "valueRecordedAt", created_at AS "createdAt",
  updated_at AS "updatedAt"`);

/**
 * Changes one booking (`set`, the columns' new values) and writes its line of history, in one
 * statement; returns the booking as written. `updated_at` and the line's time are `now`, as the
 * Prisma client would have set them.
 */
async function updateWithHistory(
  tx: Tx,
  bookingId: string,
  set: Prisma.Sql,
  line: {
    from: BookingStatus;
    to: BookingStatus;
    actorKind: BookingActorKind;
    actorId: string | null;
    reason: string | null;
  },
  now: Date = new Date(),
): Promise<Booking> {
  const [written] = await tx.$queryRaw<Booking[]>`
    WITH updated AS (
      UPDATE bookings SET ${set}, updated_at = ${now}::timestamptz
      WHERE id = ${bookingId}::uuid
      RETURNING *
    ),
    history AS (
      INSERT INTO booking_transitions (id, booking_id, from_status, to_status, actor_kind, actor_id,
        reason, created_at)
      SELECT ${randomUUID()}::uuid, id, ${line.from}::"BookingStatus", ${line.to}::"BookingStatus",
        ${line.actorKind}, ${line.actorId}::uuid, ${line.reason}, ${now}::timestamptz
      FROM updated
    )
    SELECT ${BOOKING_FIELDS} FROM updated`;
  if (!written) throw new NotFoundError('Booking not found');
  return written;
}

/** The statuses whose time or party size may still change. */
export const CHANGEABLE_STATUSES: readonly BookingStatus[] = ['REQUESTED', 'HELD', 'CONFIRMED'];

/**
 * Holds the venue's row for the rest of the transaction (capacity is checked and changed one
 * transaction at a time per venue). Lock order: a guest's advisory lock first where taken
 * (lockForBooking), the venue's row second, a booking's row last.
 */
export async function lockVenue(tx: Tx, venueId: string): Promise<Venue> {
  await tx.$queryRaw`SELECT id FROM venues WHERE id = ${venueId}::uuid FOR UPDATE`;
  return tx.venue.findUniqueOrThrow({ where: { id: venueId } });
}

/** Live bookings of a venue that could share capacity with anything on `around`'s service days. */
export async function liveBookingsAround(
  db: DbOrTx,
  venueId: string,
  around: Date,
  exceptBookingId: string | null = null,
) {
  const rows = await db.booking.findMany({
    where: { venueId, ...liveBookingsAroundWhere(around, exceptBookingId) },
    select: LIVE_BOOKING_SELECT,
  });
  return rows satisfies LiveBooking[];
}

/** The start times of the bookings that could share capacity with anything on `around`'s service days. */
function liveWindow(around: Date): { from: Date; to: Date } {
  return {
    from: new Date(around.getTime() - 2 * 86_400_000),
    to: new Date(around.getTime() + 2 * 86_400_000),
  };
}

/** What liveBookingsAround reads of each booking. */
export const LIVE_BOOKING_SELECT = { startsAt: true, endsAt: true, partySize: true } as const;

/** liveBookingsAround's condition, less the venue (to select them with their venue). */
export function liveBookingsAroundWhere(
  around: Date,
  exceptBookingId: string | null = null,
): Prisma.BookingWhereInput {
  const { from, to } = liveWindow(around);
  return {
    status: { in: [...LIVE_STATUSES] },
    startsAt: { gte: from, lt: to },
    ...(exceptBookingId ? { id: { not: exceptBookingId } } : {}),
  };
}

/** What a venue's capacity says of a start time for a party. */
export type RoomAt = 'free' | 'full' | 'not_bookable';

/**
 * Refuses a start time that is not bookable (ValidationError on `startsAt`) or that has no room
 * left for the party (SlotFullError); NotAllowedError when the venue is not taking bookings.
 */
async function requireRoom(
  tx: Tx,
  venue: Venue,
  request: { startsAt: Date; partySize: number; now: Date; exceptBookingId: string | null },
) {
  if (!takesBookings(venue)) throw new NotAllowedError('This venue is not taking bookings');
  refuseUnlessFree(await roomAt(tx, venue, request));
}

function takesBookings(venue: Venue): boolean {
  return PUBLIC_STATUSES.includes(venue.status) || venue.status === 'DRAFT';
}

/**
 * Whether a start time has room for the party (`free`), is offered but taken (`full`), or is not a
 * bookable time at all, or the venue is not taking bookings (`not_bookable`), for a change of the
 * booking `exceptBookingId` (null: none). Bookings holding a table count, except that one. A time
 * after midnight may belong to the previous day's service, so both local dates are asked.
 *
 * A change that keeps the booking's start (its party, say) is not asked whether that start would
 * be offered to a new booking now: it was when booked, and the rules about times (notice, the slot
 * grid, opening hours, how far ahead) have nothing to say of a table already held. Otherwise at
 * 19:15 a 20:00 booking's party could not change, not even down, with an hour's notice, and no
 * booking could change once the venue changed its hours. Only a larger party is asked, of what it
 * takes: covers and a table (roomToGrow). Read on `tx`: a caller that acts on the answer holds the
 * venue's row first (lockVenue), and the booking's.
 */
export async function roomAt(
  tx: DbOrTx,
  venue: Venue,
  request: { startsAt: Date; partySize: number; now: Date; exceptBookingId: string | null },
): Promise<RoomAt> {
  if (!takesBookings(venue)) return 'not_bookable';
  const dates = serviceDates(venue, request.startsAt);
  const [hours, tables, around, exceptions] = await Promise.all([
    tx.openingHours.findMany({ where: { venueId: venue.id } }),
    tx.venueTable.findMany({ where: { venueId: venue.id } }),
    // The booking being changed is read with the others (same statement), to tell a kept start.
    tx.booking.findMany({
      where: { venueId: venue.id, ...liveBookingsAroundWhere(request.startsAt) },
      select: { id: true, ...LIVE_BOOKING_SELECT },
    }),
    tx.hoursException.findMany({
      where: { venueId: venue.id, date: { in: dates.map((d) => new Date(`${d.toString()}T00:00:00Z`)) } },
    }),
  ]);
  const changing = around.find((b) => b.id === request.exceptBookingId);
  const bookings = around.filter((b) => b.id !== request.exceptBookingId);
  if (changing && changing.startsAt.getTime() === request.startsAt.getTime()) {
    return roomToGrow(venue, tables, bookings, { ...request, was: changing.partySize });
  }
  return roomIn(venue, { hours, tables, exceptions }, bookings, request);
}

/**
 * roomAt for a booking keeping its start (`startsAt`) with a party of `partySize` instead of `was`:
 * a party no larger takes nothing more and is `free`; a larger one is asked only whether the covers
 * starting in its slot and the tables over its turn take it, with the other live bookings. A party
 * the venue does not take at all is the ValidationError availability gives.
 */
function roomToGrow(
  venue: Venue,
  tables: readonly VenueTable[],
  others: readonly LiveBooking[],
  request: { startsAt: Date; partySize: number; was: number },
): RoomAt {
  const { startsAt, partySize } = request;
  if (partySize === request.was) return 'free';
  if (partySize < venue.partySizeMin || partySize > venue.partySizeMax) {
    throw new ValidationError(
      `This venue takes parties of ${venue.partySizeMin} to ${venue.partySizeMax}`,
      'partySize',
    );
  }
  if (partySize < request.was) return 'free';
  // availability decides covers and tables; asked of a day whose one opening is exactly this turn
  // (in UTC, where a wall-clock time is the instant itself), with no notice and no horizon, it
  // offers this start if and only if the covers and the tables take the party. An opening time is
  // a whole minute: a start between two (written by hand, say) is asked with every booking moved
  // back by the same few seconds, which changes nothing of who overlaps whom.
  const shift = startsAt.getTime() % 60_000;
  const back = (at: Date) => new Date(at.getTime() - shift);
  const start = back(startsAt);
  const opens = Temporal.Instant.fromEpochMilliseconds(start.getTime()).toZonedDateTimeISO('UTC');
  const closes = opens.add({ minutes: venue.turnMinutes });
  const time = (at: Temporal.ZonedDateTime) => at.toPlainTime().toString({ smallestUnit: 'minute' });
  const date = opens.toPlainDate().toString();
  const offered = availability({
    timeZone: 'UTC',
    rules: { ...venue, leadTimeMinutes: 0, bookingHorizonDays: 1 },
    hours: [],
    exceptions: [{ date, closed: false, opensAt: time(opens), closesAt: time(closes) }],
    tables,
    bookings: others.map((b) => ({ ...b, startsAt: back(b.startsAt), endsAt: back(b.endsAt) })),
    date,
    partySize,
    now: start,
    only: start,
  });
  return offered.length > 0 ? 'free' : 'full';
}

/** The local dates whose services a start time can belong to: the day before, and its own. */
function serviceDates(venue: Pick<Venue, 'timeZone'>, startsAt: Date) {
  const local = Temporal.Instant.fromEpochMilliseconds(startsAt.getTime())
    .toZonedDateTimeISO(venue.timeZone)
    .toPlainDate();
  return [local.subtract({ days: 1 }), local];
}

/** roomAt, from what it reads (exceptions of other dates than the start's two are left out). */
function roomIn(
  venue: Venue,
  read: { hours: OpeningHours[]; tables: VenueTable[]; exceptions: HoursException[] },
  bookings: readonly LiveBooking[],
  request: { startsAt: Date; partySize: number; now: Date },
): RoomAt {
  if (!takesBookings(venue)) return 'not_bookable';
  const dates = serviceDates(venue, request.startsAt);
  const wanted = new Set(dates.map((d) => d.toString()));
  const exceptions = read.exceptions
    .map((e) => ({ ...e, date: e.date.toISOString().slice(0, 10) }))
    .filter((e) => wanted.has(e.date));
  const common = {
    timeZone: venue.timeZone,
    rules: venue,
    hours: read.hours,
    exceptions,
    tables: read.tables,
    partySize: request.partySize,
    now: request.now,
  };
  const at = request.startsAt.getTime();
  const offered = (withBookings: readonly LiveBooking[]) =>
    dates.some((date) =>
      availability({
        ...common,
        bookings: withBookings,
        date: date.toString(),
        only: request.startsAt,
      }).some((s) => s.startsAt.getTime() === at),
    );
  if (offered(bookings)) return 'free';
  if (offered([])) return 'full';
  return 'not_bookable';
}

/** requireRoom, from what it reads: the venue's hours, tables and exceptions, and live bookings. */
function requireRoomIn(
  venue: Venue,
  read: { hours: OpeningHours[]; tables: VenueTable[]; exceptions: HoursException[] },
  bookings: readonly LiveBooking[],
  request: { startsAt: Date; partySize: number; now: Date },
) {
  if (!takesBookings(venue)) throw new NotAllowedError('This venue is not taking bookings');
  refuseUnlessFree(roomIn(venue, read, bookings, request));
}

function refuseUnlessFree(room: RoomAt) {
  if (room === 'full') throw new SlotFullError('That time is full for this party size; pick another slot');
  if (room === 'not_bookable')
    throw new ValidationError('That is not a bookable time at this venue', 'startsAt');
}
