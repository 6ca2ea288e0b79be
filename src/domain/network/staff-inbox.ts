/**
 * The venue agent's inbox for people: what the agent put before the venue's staff. An item is
 * opened in the same transaction as the agent's answer to the guest's agent (`booking.escalated`),
 * once per envelope, and announced to dashboards after the commit. It is also emailed, in the same
 * transaction, to whoever the venue put before its agent: the agent's escalation contact, else the
 * venue's own address (`tellVenue`), so a request is not left to expire unseen while nobody has the
 * dashboard open.
 */

import { z } from 'zod';
import type {
  Booking,
  BookingStatus,
  InboxItemKind,
  InboxItemStatus,
  Prisma,
  VenueInboxItem,
} from '../../generated/prisma/client.ts';
import { venueAgentId } from '../../integrations/clawpulse/wire.ts';
import type { DbOrTx, Tx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { storedDna } from '../agents/dna.ts';
import { type BookingDeps, moveBookingOn } from '../bookings/bookings.ts';
import type { BookingEffects } from '../bookings/effects.ts';
import { venueAvailability } from '../bookings/venue-availability.ts';
import { queueEnvelope } from '../envelopes/outbox.ts';
import { queueEmail } from '../notices/notices.ts';
import { noticeWhen } from '../notices/templates.ts';
import { type Access, ANY_ROLE } from '../organizations/access.ts';
import { parseInput } from '../validation.ts';
import { holdVenueOfTeam } from '../venues/venues.ts';

/** The pub/sub topic a venue's new inbox items are announced on. */
export const inboxTopic = (venueId: string) => `venue:${venueId}:inbox`;

export interface OpenInboxItemInput {
  venueId: string;
  kind: InboxItemKind;
  /** The AGP id of the envelope that asked, and its sender. */
  envelopeId: string;
  fromAgent: string;
  bookingId?: string | null;
  guestId?: string | null;
  /** The guest's own words, kept as text. */
  guestText?: string | null;
  /** Why staff must decide. */
  reason: string;
}

/**
 * Opens an item for the venue's staff; a second call for the same envelope returns the first
 * item (an envelope handled twice opens one item). Returns whether it is new, so the caller
 * announces only new items.
 */
export async function openInboxItem(
  tx: Tx,
  input: OpenInboxItemInput,
): Promise<{ item: VenueInboxItem; created: boolean }> {
  const existing = await tx.venueInboxItem.findUnique({
    where: { kind_envelopeId: { kind: input.kind, envelopeId: input.envelopeId } },
  });
  if (existing) return { item: existing, created: false };
  const item = await tx.venueInboxItem.create({
    data: {
      venueId: input.venueId,
      kind: input.kind,
      envelopeId: input.envelopeId,
      fromAgent: input.fromAgent,
      bookingId: input.bookingId ?? null,
      guestId: input.guestId ?? null,
      guestText: input.guestText ?? null,
      reason: input.reason,
    },
  });
  await tellVenue(tx, item);
  return { item, created: true };
}

/**
 * Emails a new item to the venue's agent's escalation contact, or else to the venue's own address
 * (neither: the dashboard alone). Queued as a notice's email is (sent by its job, retried through
 * an outage), once per item. The email is about the guest, and is kept with their account's
 * messages; one about an item from an agent outside the network (no guest of ours) with those of
 * the venue's first owner (a venue nobody owns: the dashboard alone).
 */
async function tellVenue(tx: Tx, item: VenueInboxItem): Promise<void> {
  const venue = await tx.venue.findUnique({
    where: { id: item.venueId },
    select: {
      name: true,
      email: true,
      timeZone: true,
      organizationId: true,
      agent: { select: { kind: true, dna: true } },
    },
  });
  if (!venue) return;
  const filedUnder = item.guestId ?? (venue.organizationId && (await firstOwner(tx, venue.organizationId)));
  if (!filedUnder) return;
  const contact = venue.agent ? storedDna(venue.agent.kind, venue.agent.dna).escalationContact : null;
  const to = contact?.email ?? venue.email;
  if (!to) return;
  // Greeted by name only when it goes to them (a contact with a phone alone: the venue's address).
  const greeted = contact?.email ? contact.name : null;
  const booking = item.bookingId
    ? await tx.booking.findUnique({
        where: { id: item.bookingId },
        select: { startsAt: true, partySize: true },
      })
    : null;
  const when = booking
    ? `${noticeWhen(booking.startsAt, venue.timeZone)}, party of ${booking.partySize}`
    : null;
  const what = item.kind === 'BOOKING_REQUEST' ? 'A booking request' : "A guest's question";
  await queueEmail(tx, {
    userId: filedUnder,
    bookingId: item.bookingId,
    kind: 'venue.inbox',
    emailTo: to,
    subject: `${what} for ${venue.name} waits for you`,
    body: [
      greeted ? `Hello ${greeted},` : 'Hello,',
      '',
      `${what} came through AGNT for ${venue.name}, and its agent left it to you.`,
      `Why: ${item.reason}`,
      ...(when ? [`When: ${when}`] : []),
      ...(item.guestText ? ['', 'In their words:', item.guestText] : []),
      '',
      item.kind === 'BOOKING_REQUEST'
        ? 'Accept or decline it in the inbox of your AGNT dashboard; unanswered, the request lapses.'
        : 'Answer it in the inbox of your AGNT dashboard.',
    ].join('\n'),
    data: { venueId: item.venueId, inboxItemId: item.id },
    dedupeKey: `venue-inbox:${item.id}:${to}`,
  });
}

/** The organisation's longest-standing owner whose account is not being deleted, if any. */
async function firstOwner(tx: Tx, organizationId: string): Promise<string | null> {
  const owner = await tx.membership.findFirst({
    where: { organizationId, role: 'OWNER', user: { deletedAt: null } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { userId: true },
  });
  return owner?.userId ?? null;
}

// --- what staff see and do ---

/** What `inboxTopic(venueId)` carries: ids and the item's status; subscribers load what they may see. */
export interface InboxEventPayload {
  itemId: string;
  venueId: string;
  status: InboxItemStatus;
  /**
   * `opened`: a new item; `resolved`: staff acted on it, or it was closed. An event without it
   * (`{ itemId, venueId }` alone) announces a new item.
   */
  change: 'opened' | 'resolved';
  /** When the change committed. */
  at: string;
}

/** The event announcing a new or resolved item on `inboxTopic(item.venueId)`. */
export function inboxEvent(
  item: Pick<VenueInboxItem, 'id' | 'venueId' | 'status'>,
  at: Date,
): InboxEventPayload {
  return {
    itemId: item.id,
    venueId: item.venueId,
    status: item.status,
    change: item.status === 'OPEN' ? 'opened' : 'resolved',
    at: at.toISOString(),
  };
}

/** The item is not OPEN any more: someone acted on it first, or it was closed. */
export class InboxItemSettledError extends ConflictError {
  override name = 'InboxItemSettledError';
  readonly status: InboxItemStatus;
  constructor(status: InboxItemStatus) {
    super(
      status === 'CLOSED'
        ? 'This request was settled another way before anyone acted on it'
        : `Someone on the team already acted on this (${status.toLowerCase()})`,
    );
    this.status = status;
  }
}

/**
 * The item's booking is no longer waiting for the venue's answer (the guest cancelled, it lapsed,
 * or it was confirmed or declined from the bookings page): the item is CLOSED and nothing is sent.
 */
export class BookingRequestSettledError extends ConflictError {
  override name = 'BookingRequestSettledError';
  readonly bookingStatus: BookingStatus | null;
  constructor(bookingStatus: BookingStatus | null) {
    super(
      bookingStatus
        ? `The booking is already ${bookingStatus.toLowerCase().replaceAll('_', ' ')}; this request is closed`
        : 'The booking is gone; this request is closed',
    );
    this.bookingStatus = bookingStatus;
  }
}

/** Statuses of a booking still waiting for the venue's answer: staff may still decide it. */
const WAITING: readonly BookingStatus[] = ['REQUESTED', 'HELD'];

/** How many other times staff may offer when declining. */
export const MAX_ALTERNATIVES = 5;

/** What staff decisions need: the booking functions' dependencies and where to announce items. */
export interface StaffInboxDeps {
  bookings: Pick<BookingDeps, 'db' | 'now' | 'effects'>;
  /** Announces an inbox change after the commit; a failure is the caller's to log, never the decision's. */
  publishInbox: (event: InboxEventPayload) => Promise<void>;
}

/** Throws unless the caller is on the venue's team (any role) or, for an unowned venue, a platform admin. */
export async function requireVenueTeam(
  db: DbOrTx,
  access: Access,
  venueId: string,
): Promise<{ organizationId: string | null }> {
  const venue = z.uuid().safeParse(venueId).success
    ? await db.venue.findUnique({ where: { id: venueId }, select: { organizationId: true } })
    : null;
  if (!venue) throw new NotFoundError('Venue not found');
  const team = venue.organizationId
    ? await access.has(venue.organizationId, ANY_ROLE)
    : access.isPlatformAdmin;
  if (!team) {
    access.requireUserId();
    throw new NotAllowedError();
  }
  return venue;
}

/** The organisation that owns the item's venue, or null (for authorising before the real work). */
export async function organizationOfInboxItem(db: DbOrTx, itemId: string): Promise<string | null> {
  if (!z.uuid().safeParse(itemId).success) return null;
  const item = await db.venueInboxItem.findUnique({
    where: { id: itemId },
    select: { venue: { select: { organizationId: true } } },
  });
  return item?.venue.organizationId ?? null;
}

/** An item by id with what `query` selects; throws when there is none. No access check: the caller has one. */
export function findInboxItemOrThrow(
  db: DbOrTx,
  itemId: string,
  query: Prisma.VenueInboxItemDefaultArgs = {},
) {
  return db.venueInboxItem.findUniqueOrThrow({ ...query, where: { id: itemId } });
}

/** An item with its venue's owner (what deciding who may read it needs); throws when there is none. */
export function findInboxItemWithOwnerOrThrow(db: DbOrTx, itemId: string) {
  return db.venueInboxItem.findUniqueOrThrow({
    where: { id: itemId },
    include: { venue: { select: { organizationId: true } } },
  });
}

/**
 * The venue's inbox, oldest first (staff answer in the order guests asked), for its team: every
 * item, or those in `status`. `query` is the page and selection (a Prisma select or include with
 * cursor, take and skip).
 */
export async function venueInbox(
  db: DbOrTx,
  access: Access,
  input: { venueId: string; status?: InboxItemStatus | null },
  query: Omit<Prisma.VenueInboxItemFindManyArgs, 'where' | 'orderBy'> = {},
) {
  await requireVenueTeam(db, access, input.venueId);
  return db.venueInboxItem.findMany({
    ...query,
    where: { venueId: input.venueId, ...(input.status ? { status: input.status } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** Accepts an escalated booking request: the booking CONFIRMED and `booking.accepted` sent to the guest's agent. */
export function acceptBookingRequest(deps: StaffInboxDeps, access: Access, input: { itemId: string }) {
  return decide(deps, access, input.itemId, 'BOOKING_REQUEST', async ({ tx, item, venueAgent, ...held }) => {
    const booking = held.booking!;
    const moved = await moveBookingOn(tx, deps.bookings.effects, {
      bookingId: booking.id,
      to: 'CONFIRMED',
      actorKind: 'venue',
      actorId: resolver(access),
      reason: "accepted by the venue's staff",
      onlyFrom: WAITING,
    });
    await queueEnvelope(tx, {
      from: venueAgent,
      to: item.fromAgent,
      intent: 'booking.accepted',
      payload: { bookingId: booking.id },
      inReplyTo: item.envelopeId,
      bookingId: booking.id,
      now: deps.bookings.now(),
    });
    return { status: 'ACCEPTED', afterCommit: moved.afterCommit };
  });
}

const declineSchema = z.object({
  reason: z.string().trim().max(2000, 'Use at most 2000 characters').optional(),
  alternatives: z
    .array(z.date())
    .max(MAX_ALTERNATIVES, `Offer at most ${MAX_ALTERNATIVES} other times`)
    .default([]),
});

/**
 * Declines an escalated booking request: the booking DECLINED and `booking.declined` sent with the
 * times staff offer instead, each a bookable time of the venue for the party, in the future.
 */
export async function declineBookingRequest(
  deps: StaffInboxDeps,
  access: Access,
  input: { itemId: string; reason?: string | null; alternatives?: readonly Date[] },
) {
  const parsed = parseInput(declineSchema, {
    reason: input.reason || undefined,
    alternatives: input.alternatives ? [...input.alternatives] : undefined,
  });
  const now = deps.bookings.now();
  const alternatives = [...new Map(parsed.alternatives.map((d) => [d.getTime(), d])).values()].sort(
    (a, b) => a.getTime() - b.getTime(),
  );
  parsed.alternatives.forEach((at, i) => {
    if (at.getTime() <= now.getTime()) {
      throw new ValidationError('Offer a time in the future', `alternatives.${i}`);
    }
  });
  const reason = parsed.reason || null;
  return decide(deps, access, input.itemId, 'BOOKING_REQUEST', async ({ tx, item, venueAgent, ...held }) => {
    const booking = held.booking!;
    const moved = await moveBookingOn(tx, deps.bookings.effects, {
      bookingId: booking.id,
      to: 'DECLINED',
      actorKind: 'venue',
      actorId: resolver(access),
      reason: reason ?? "declined by the venue's staff",
      onlyFrom: WAITING,
      alternatives,
    });
    // Checked after the booking stops holding its table, so the times around it count as free.
    await requireBookable(tx, access, booking, parsed.alternatives, now);
    await queueEnvelope(tx, {
      from: venueAgent,
      to: item.fromAgent,
      intent: 'booking.declined',
      payload: {
        bookingId: booking.id,
        ...(reason ? { reason } : {}),
        ...(alternatives.length ? { alternatives: alternatives.map((d) => d.toISOString()) } : {}),
      },
      inReplyTo: item.envelopeId,
      bookingId: booking.id,
      now,
    });
    return { status: 'DECLINED', answer: reason, alternatives, afterCommit: moved.afterCommit };
  });
}

const answerSchema = z.object({
  answer: z.string().trim().min(1, 'Write an answer').max(2000, 'Use at most 2000 characters'),
});

/**
 * Answers a guest's question the venue's agent could not: `venue.answer` sent to the guest's agent.
 * With `forEveryGuest`, staff say the answer holds for anyone asking the same: the venue's agent
 * learns it (its wiki) and gives it to the next guest itself. Without, it stays this guest's (an
 * answer to one guest may name them, their table or their date).
 */
export async function answerVenueQuestion(
  deps: StaffInboxDeps,
  access: Access,
  input: { itemId: string; answer: string; forEveryGuest?: boolean },
) {
  const { answer } = parseInput(answerSchema, { answer: input.answer });
  return decide(deps, access, input.itemId, 'QUESTION', async ({ tx, item, venueAgent }) => {
    await queueEnvelope(tx, {
      from: venueAgent,
      to: item.fromAgent,
      intent: 'venue.answer',
      payload: { text: answer, questionId: item.envelopeId },
      inReplyTo: item.envelopeId,
      bookingId: item.bookingId,
      now: deps.bookings.now(),
    });
    return { status: 'ANSWERED', answer, answerForAll: input.forEveryGuest === true };
  });
}

/** Who resolved it, as recorded: the person (an API key acts as the person who made it). */
function resolver(access: Access): string {
  return access.requireUserId();
}

interface Deciding {
  tx: Tx;
  item: VenueInboxItem;
  /** A booking request's booking, held FOR UPDATE and still waiting; null for a question. */
  booking: Booking | null;
  /** The venue's agent id on the wire: the sender of the answer. */
  venueAgent: string;
}

type Resolution = {
  status: 'ACCEPTED' | 'DECLINED' | 'ANSWERED';
  answer?: string | null;
  /** A question's answer holds for every guest (answerVenueQuestion's `forEveryGuest`). */
  answerForAll?: boolean;
  alternatives?: Date[];
  /** The booking's live update, for after the commit. */
  afterCommit?: () => Promise<void>;
};

/**
 * The frame of every staff decision, in one transaction: the venue still the checked team's
 * (else ConflictError), for a booking request its booking held FOR UPDATE, then the item held and
 * OPEN (else InboxItemSettledError, nothing changes); the booking still waiting, or the item is
 * CLOSED and BookingRequestSettledError thrown after the commit; then `act` (the booking's move
 * and the answer envelope) and the item resolved. After the commit the booking's live event and
 * the inbox's are published.
 */
async function decide(
  deps: StaffInboxDeps,
  access: Access,
  itemId: string,
  kind: InboxItemKind,
  act: (deciding: Deciding) => Promise<Resolution>,
): Promise<VenueInboxItem> {
  access.requireWrite();
  const resolvedById = resolver(access);
  const db = deps.bookings.db;
  const found = z.uuid().safeParse(itemId).success
    ? await db.venueInboxItem.findUnique({ where: { id: itemId } })
    : null;
  if (!found) throw new NotFoundError('Inbox item not found');
  const checked = await requireVenueTeam(db, access, found.venueId);
  if (found.kind !== kind) {
    throw new ValidationError(
      found.kind === 'QUESTION'
        ? 'This is a question: answer it instead'
        : 'This is a booking request: accept or decline it instead',
      'itemId',
    );
  }

  const now = deps.bookings.now();
  const outcome = await db.$transaction(async (tx) => {
    // The venue still the checked team's, held until the commit; its row before any booking's, as
    // lockVenue orders them.
    await holdVenueOfTeam(tx, found.venueId, checked.organizationId);
    // The booking's row first, then the item's: the order of every booking move that closes items
    // (closingInboxItems), so a decision and a cancellation at once wait for each other, never
    // deadlock.
    const bookingId = kind === 'BOOKING_REQUEST' ? found.bookingId : null;
    if (bookingId) await tx.$queryRaw`SELECT id FROM bookings WHERE id = ${bookingId}::uuid FOR UPDATE`;
    const [locked] = await tx.$queryRaw<{ status: InboxItemStatus }[]>`
      SELECT status FROM venue_inbox_items WHERE id = ${found.id}::uuid FOR UPDATE`;
    if (!locked) throw new NotFoundError('Inbox item not found');
    if (locked.status !== 'OPEN') throw new InboxItemSettledError(locked.status);
    const item = await tx.venueInboxItem.findUniqueOrThrow({ where: { id: found.id } });
    const booking = bookingId ? await tx.booking.findUnique({ where: { id: bookingId } }) : null;
    if (kind === 'BOOKING_REQUEST' && (!booking || !WAITING.includes(booking.status))) {
      const closed = await tx.venueInboxItem.update({
        where: { id: item.id },
        data: { status: 'CLOSED', resolvedAt: now },
      });
      return { item: closed, settled: booking?.status ?? null, afterCommit: undefined };
    }
    const resolution = await act({ tx, item, booking, venueAgent: venueAgentId(item.venueId) });
    const resolved = await tx.venueInboxItem.update({
      where: { id: item.id },
      data: {
        status: resolution.status,
        resolvedAt: now,
        resolvedById,
        ...(resolution.answer !== undefined ? { answer: resolution.answer } : {}),
        ...(resolution.answerForAll !== undefined ? { answerForAll: resolution.answerForAll } : {}),
        ...(resolution.alternatives ? { alternatives: resolution.alternatives } : {}),
      },
    });
    return { item: resolved, settled: undefined, afterCommit: resolution.afterCommit };
  });

  await outcome.afterCommit?.();
  await deps.publishInbox(inboxEvent(outcome.item, deps.bookings.now()));
  if (outcome.settled !== undefined) throw new BookingRequestSettledError(outcome.settled);
  return outcome.item;
}

/**
 * Refuses an offered time that is not one of the venue's bookable times for the party (its hours,
 * rules, room and blackout windows, as the guest would be offered them). A time after midnight may
 * belong to the previous day's service, so both local dates are asked.
 */
async function requireBookable(
  tx: Tx,
  access: Access,
  booking: Booking,
  times: readonly Date[],
  now: Date,
): Promise<void> {
  if (times.length === 0) return;
  const venue = await tx.venue.findUniqueOrThrow({ where: { id: booking.venueId } });
  const slotsOn = new Map<string, Promise<Set<number>>>();
  const offered = (date: string) => {
    let slots = slotsOn.get(date);
    if (!slots) {
      slots = venueAvailability(tx, access, {
        venueId: venue.id,
        date,
        partySize: booking.partySize,
        now,
      }).then((found) => new Set(found.map((s) => s.startsAt.getTime())));
      slotsOn.set(date, slots);
    }
    return slots;
  };
  for (const [i, at] of times.entries()) {
    const local = Temporal.Instant.fromEpochMilliseconds(at.getTime())
      .toZonedDateTimeISO(venue.timeZone)
      .toPlainDate();
    const dates = [local.subtract({ days: 1 }).toString(), local.toString()];
    const free = await Promise.all(dates.map(async (d) => (await offered(d)).has(at.getTime())));
    if (!free.some(Boolean)) {
      throw new ValidationError(
        `The venue has no free table for ${booking.partySize} at that time; offer one of its free times`,
        `alternatives.${i}`,
      );
    }
  }
}

/**
 * The booking effects with the inbox kept true: when a booking stops waiting for the venue's
 * answer by any path (the guest cancels, it lapses, the team decides it from the bookings page),
 * its OPEN request items are CLOSED in the same transaction, and announced after the commit.
 * Costs nothing for a change that does not leave REQUESTED or HELD, one statement when one does
 * and had no item open (most: the venue's agent decided it), and two when it closed one. A staff
 * decision moves its own item on from CLOSED to what staff decided, in the same transaction, so
 * it is never announced as closed.
 */
export function closingInboxItems(
  effects: BookingEffects,
  deps: { db: DbOrTx; now: () => Date; publishInbox: (event: InboxEventPayload) => Promise<void> },
): BookingEffects {
  const settles = (from: BookingStatus | null, to: BookingStatus) =>
    from !== null && WAITING.includes(from) && !WAITING.includes(to);
  // The changes (their booking objects, which inTransaction and afterCommit are both given) that
  // closed no item: nothing to announce, so nothing to look for after the commit.
  const closedNone = new WeakSet<object>();
  return {
    jobsFor: (change) => effects.jobsFor(change),
    async inTransaction(tx, change) {
      await effects.inTransaction(tx, change);
      if (settles(change.from, change.booking.status)) {
        const closed = await tx.$executeRaw`
          UPDATE venue_inbox_items SET status = 'CLOSED', resolved_at = ${deps.now()}
          WHERE booking_id = ${change.booking.id}::uuid AND kind = 'BOOKING_REQUEST' AND status = 'OPEN'`;
        if (closed === 0) closedNone.add(change.booking);
        else closedNone.delete(change.booking);
      }
    },
    async afterCommit(event) {
      await effects.afterCommit(event);
      if (!settles(event.from, event.booking.status) || closedNone.has(event.booking)) return;
      const closed = await deps.db.venueInboxItem.findMany({
        where: { bookingId: event.booking.id, kind: 'BOOKING_REQUEST', status: 'CLOSED' },
        select: { id: true, venueId: true, status: true },
      });
      const at = deps.now();
      await Promise.all(closed.map((item) => deps.publishInbox(inboxEvent(item, at))));
    },
  };
}

/**
 * Booking dependencies whose effects keep the inbox true (`closingInboxItems`), announcing closed
 * items on `inboxTopic` through `publish`; a failed announcement goes to `onPublishError`.
 */
export function keepingInbox(
  bookings: BookingDeps,
  publish: (topic: string, payload: unknown) => Promise<void>,
  onPublishError: (error: unknown) => void,
): BookingDeps {
  return {
    ...bookings,
    effects: closingInboxItems(bookings.effects, {
      db: bookings.db,
      now: bookings.now,
      publishInbox: (event) => publish(inboxTopic(event.venueId), event).catch(onPublishError),
    }),
  };
}
