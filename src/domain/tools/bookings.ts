/**
 * The tools for a caller's own bookings: `create_booking`, `cancel_booking` and `get_booking` for
 * chat and API keys alike, and `modify_booking`, `list_my_bookings` and `leave_feedback` for people
 * in chat. Each calls the same domain functions as GraphQL, as the caller
 * (their own Access), so the rules are the same everywhere: the booking is the caller's own (in
 * chat the person's; for an API key the member who created the key, as for every write a key
 * makes), counted against their caps and the key's booking rate; a read-only key cannot book.
 * A caller's bookings here are those they are the guest of; others' do not exist. The writes
 * describe themselves in words written here from the input, for when a tainted chat turn holds
 * them for the person's own press.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Booking, Venue } from '../../generated/prisma/client.ts';
import type { BookingSource } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import { NotFoundError } from '../../platform/errors.ts';
import {
  type BookingDeps,
  cancelBooking,
  createBooking,
  modifyBooking,
  requireBooking,
} from '../bookings/bookings.ts';
import { FEEDBACK_COMMENT_MAX, leaveFeedback } from '../bookings/feedback.ts';
import { LIVE_STATUSES } from '../bookings/status.ts';
import { askedOfVenueAgent } from '../network/consumer-agent.ts';
import type { Access } from '../organizations/access.ts';
import { requireVenue } from '../venues/venues.ts';
import { callerAccess, defineTool, type ToolCaller, type ToolChannel, text } from './contract.ts';
import { localDate, partySize, venueId, venueInstant, venueLocal } from './venues.ts';

export interface BookingToolDeps {
  db: Db;
  bookings: BookingDeps;
}

export const bookingId = z.uuid('A booking id as returned by create_booking or list_my_bookings');
export const localTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d([+-]\d{2}:\d{2})?$/, 'A 24-hour time such as 20:00')
  .describe('24-hour, as check_availability gives it (with its UTC offset for a time the clocks repeat)');

const STATUSES = [
  'REQUESTED',
  'HELD',
  'CONFIRMED',
  'DECLINED',
  'CANCELLED_BY_GUEST',
  'CANCELLED_BY_VENUE',
  'EXPIRED',
  'SEATED',
  'COMPLETED',
  'NO_SHOW',
] as const;

/** A booking as the tools return it: local date and time in the venue's zone. */
export const bookingOutput = z.object({
  bookingId: z.uuid(),
  venue: z.string().describe('The venue’s name'),
  status: z
    .enum(STATUSES)
    .describe('REQUESTED waits for the venue’s answer; CONFIRMED is a table; the rest are final or past'),
  partySize: z.number().int(),
  date: z.string().describe('The venue’s local date'),
  time: z.string().describe('The venue’s local time, 24-hour'),
  weekday: z.string(),
  specialRequests: z.string().nullable(),
});

export function bookingSummary(
  booking: Booking,
  venue: Pick<Venue, 'name' | 'timeZone'>,
): z.output<typeof bookingOutput> {
  return {
    bookingId: booking.id,
    venue: venue.name,
    status: booking.status,
    partySize: booking.partySize,
    ...venueLocal(booking.startsAt, venue.timeZone),
    specialRequests: booking.specialRequests,
  };
}

const SOURCES = { chat: 'CHAT', mcp: 'MCP', a2a: 'A2A' } as const satisfies Record<
  ToolChannel,
  BookingSource
>;
const CANCELLED_VIA: Record<ToolChannel, string> = { chat: 'in chat', mcp: 'over MCP', a2a: 'over A2A' };

/** `create_booking`: a table requested for the caller; asking twice for one table is one booking. */
export function createBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'create_booking',
    description:
      'Request a table at a venue for the person, at a local date and time the venue has free. The venue (or its agent, within seconds) then answers, and the person is told. Asking twice for the same table returns the same booking.',
    sideEffect: 'WRITE',
    // A key books at another organisation's venue on the pro tier only: the booking's own rule
    // (bookings.ts, mayBookAsGuest), the same whichever way it asks.
    callers: { apiKey: true },
    input: z.object({
      venue_id: venueId,
      date: localDate,
      time: localTime,
      party_size: partySize,
      special_requests: text(500).optional(),
    }),
    output: bookingOutput.extend({
      askedVenueAgent: z.boolean().optional().describe('The venue’s agent is being asked now'),
      note: z.string().optional(),
    }),
    async describe(input, context) {
      const venue = await requireVenue(db, callerAccess(db, context), input.venue_id);
      const requests = input.special_requests ? ` (requests: "${input.special_requests}")` : '';
      return `Request a table at ${venue.name} on ${input.date} at ${input.time} for ${input.party_size}${requests}.`;
    },
    async run(input, context) {
      const access = callerAccess(db, context);
      const venue = await requireVenue(db, access, input.venue_id);
      const startsAt = venueInstant(input.date, input.time, venue.timeZone);
      const channel = context.channel ?? 'chat';
      const clientKey = await requestKey(
        db,
        access.requireUserId(),
        `${channel}:${createHash('sha256')
          .update(`${context.userId}|${venue.id}|${startsAt.toISOString()}|${input.party_size}`)
          .digest('base64url')}`,
        { startsAt, partySize: input.party_size },
      );
      const booking = await createBooking(deps.bookings, access, {
        venueId: venue.id,
        partySize: input.party_size,
        startsAt,
        source: SOURCES[channel],
        specialRequests: input.special_requests || undefined,
        clientKey,
      });
      if (booking.status === 'REQUESTED' && (await askedOfVenueAgent(db, booking.id))) {
        return {
          ...bookingSummary(booking, venue),
          askedVenueAgent: true,
          note:
            channel === 'chat'
              ? `${venue.name}'s agent is being asked now; the person will be told its answer here. Say you have asked ${venue.name} (for example "I've asked ${venue.name} for the table"), not that it is booked.`
              : channel === 'mcp'
                ? `${venue.name}'s agent is being asked now, usually for seconds: get_booking shows its answer.`
                : `${venue.name}'s agent is being asked now, usually for seconds: the booking's task (tasks/get on the A2A endpoint) or agnt.get_booking over MCP, with the same key, shows its answer.`,
        };
      }
      return bookingSummary(booking, venue);
    },
  });
}

/** `cancel_booking`: one of the caller's bookings cancelled. */
export function cancelBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'cancel_booking',
    description: 'Cancel one of the person’s bookings. Only when they asked to cancel that booking.',
    sideEffect: 'WRITE',
    destructive: true,
    callers: { apiKey: true },
    input: z.object({ booking_id: bookingId, reason: text(300).optional() }),
    output: bookingOutput,
    async describe(input, context) {
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context);
      const at = venueLocal(booking.startsAt, venue.timeZone);
      return `Cancel your booking at ${venue.name} on ${at.date} at ${at.time} (${booking.partySize} people).`;
    },
    async run(input, context) {
      const access = callerAccess(db, context);
      const booking = await requireOwnBooking(db, access, input.booking_id, context);
      // Asked again (an answer lost, a timeout that went through): the booking as it stands.
      if (booking.status === 'CANCELLED_BY_GUEST' || booking.status === 'CANCELLED_BY_VENUE') {
        return bookingSummary(booking, await db.venue.findUniqueOrThrow({ where: { id: booking.venueId } }));
      }
      const cancelled = await cancelBooking(deps.bookings, access, {
        bookingId: booking.id,
        reason: input.reason || `cancelled ${CANCELLED_VIA[context.channel ?? 'chat']}`,
      });
      const venue = await db.venue.findUniqueOrThrow({ where: { id: booking.venueId } });
      return bookingSummary(cancelled, venue);
    },
  });
}

/** `get_booking`: one of the caller's bookings as it stands now (for API keys; chat lists them). */
export function getBookingTool(deps: { db: Db }) {
  const { db } = deps;
  return defineTool({
    name: 'get_booking',
    description:
      'One of your bookings as it stands now: its status (the venue’s answer), date, time and party.',
    sideEffect: 'READ',
    callers: { person: false, apiKey: true },
    input: z.object({ booking_id: bookingId }),
    output: bookingOutput,
    async run(input, context) {
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context);
      return bookingSummary(booking, venue);
    },
  });
}

// modify_booking, list_my_bookings and leave_feedback are for people only, as the person's chat
// offers them. MCP's published surface (network.ts) is the booking round trip a developer's agent
// needs (book, read, cancel); changing a table, a history of one's visits and scoring them are
// the person's own conversation with their agent, and would be offered to keys on purpose, with
// descriptions written for developers, if ever.

/** `modify_booking`: a new date, time or party size for one of the person's live bookings. */
export function modifyBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'modify_booking',
    description: 'Change the date, time or party size of one of the person’s live bookings.',
    sideEffect: 'WRITE',
    callers: { person: true },
    output: bookingOutput,
    input: z.object({
      booking_id: bookingId,
      date: localDate.optional(),
      time: localTime.optional(),
      party_size: partySize.optional(),
    }),
    async describe(input, context) {
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context);
      const was = venueLocal(booking.startsAt, venue.timeZone);
      const to = [
        input.date && `date ${input.date}`,
        input.time && `time ${input.time}`,
        input.party_size && `party of ${input.party_size}`,
      ].filter(Boolean);
      return `Change your booking at ${venue.name} on ${was.date} at ${was.time} to: ${to.join(', ') || 'no change'}.`;
    },
    async run(input, context) {
      const access = callerAccess(db, context);
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context, access);
      const current = venueLocal(booking.startsAt, venue.timeZone);
      const startsAt =
        input.date || input.time
          ? venueInstant(input.date ?? current.date, input.time ?? current.time, venue.timeZone)
          : undefined;
      const changed = await modifyBooking(deps.bookings, access, {
        bookingId: booking.id,
        startsAt,
        partySize: input.party_size,
        reason: 'changed in chat',
      });
      return bookingSummary(changed, venue);
    },
  });
}

/** `list_my_bookings`: the person's upcoming live bookings, or recent past ones too. */
export function listMyBookingsTool(deps: { db: Db }) {
  const { db } = deps;
  return defineTool({
    name: 'list_my_bookings',
    description: 'The person’s bookings: upcoming live ones by default, or recent past ones too.',
    sideEffect: 'READ',
    callers: { person: true },
    output: z.object({ bookings: z.array(bookingOutput) }),
    input: z.object({ include_past: z.boolean().optional() }),
    async run(input, context) {
      const now = context.now();
      const bookings = await db.booking.findMany({
        where: input.include_past
          ? { guestId: context.userId }
          : { guestId: context.userId, status: { in: [...LIVE_STATUSES] }, startsAt: { gte: now } },
        include: { venue: { select: { name: true, timeZone: true } } },
        orderBy: { startsAt: input.include_past ? 'desc' : 'asc' },
        take: 10,
      });
      return { bookings: bookings.map((b) => bookingSummary(b, b.venue)) };
    },
  });
}

/** `leave_feedback`: the person's score (and a word) for a visit that is over, for the venue. */
export function leaveFeedbackTool(deps: { db: Db }) {
  const { db } = deps;
  return defineTool({
    name: 'leave_feedback',
    description:
      'Record the person’s feedback on a past visit (a completed booking of theirs): a score from 1 to 5 and, if they said one, a comment. Giving it again replaces it.',
    sideEffect: 'WRITE',
    callers: { person: true },
    output: z.object({
      bookingId: z.uuid(),
      venue: z.string(),
      score: z.number().int(),
      comment: z.string().nullable(),
    }),
    input: z.object({
      booking_id: bookingId,
      score: z.number().int().min(1).max(5).describe('1 (poor) to 5 (excellent), as the person said it'),
      comment: text(FEEDBACK_COMMENT_MAX)
        .optional()
        .describe('What the person said about the visit, in their words'),
    }),
    async describe(input, context) {
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context);
      const at = venueLocal(booking.startsAt, venue.timeZone);
      const comment = input.comment ? ` with "${input.comment}"` : '';
      return `Tell ${venue.name} your visit on ${at.date} was ${input.score} out of 5${comment}.`;
    },
    async run(input, context) {
      const access = callerAccess(db, context);
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context, access);
      const feedback = await leaveFeedback(
        db,
        access,
        { bookingId: booking.id, score: input.score, comment: input.comment ?? null },
        context.now(),
      );
      return { bookingId: booking.id, venue: venue.name, score: feedback.score, comment: feedback.comment };
    },
  });
}

export async function ownBookingAndVenue(
  db: Db,
  id: string,
  caller: ToolCaller,
  access: Access = callerAccess(db, caller),
) {
  const booking = await requireOwnBooking(db, access, id, caller);
  const venue = await db.venue.findUniqueOrThrow({ where: { id: booking.venueId } });
  return { booking, venue };
}

/** A booking of this caller as its guest (others' bookings do not exist, as far as tools go). */
export async function requireOwnBooking(
  db: Db,
  access: Access,
  id: string,
  caller: ToolCaller,
): Promise<Booking> {
  const booking = await requireBooking(db, access, id).catch(() => null);
  if (!booking || booking.guestId !== caller.userId) throw new NotFoundError('No such booking of yours');
  return booking;
}

/**
 * The client key a table asked for is booked under. The same table asked for again while its
 * booking stands (a retried turn or call, a repeated "book it") is that booking, under the key
 * made from it; once that booking has ended (cancelled, declined, expired, …) or been moved to
 * another time or party, asking again is a new request, under a key of its own after the last one
 * (`<key>:<that booking's id>`).
 */
async function requestKey(
  db: Db,
  requesterId: string,
  key: string,
  table: { startsAt: Date; partySize: number },
): Promise<string> {
  for (let next = key; ; ) {
    const earlier = await db.booking.findUnique({
      where: { requestedById_clientKey: { requestedById: requesterId, clientKey: next } },
      select: { id: true, status: true, startsAt: true, partySize: true },
    });
    const stands =
      earlier &&
      LIVE_STATUSES.includes(earlier.status) &&
      earlier.startsAt.getTime() === table.startsAt.getTime() &&
      earlier.partySize === table.partySize;
    if (!earlier || stands) return next;
    next = `${key}:${earlier.id}`;
  }
}
