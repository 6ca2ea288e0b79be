/**
 * The consumer agent's tools for the person's bookings: `create_booking`, `modify_booking`,
 * `cancel_booking`, `list_my_bookings` and `leave_feedback`. Each calls the same domain functions as GraphQL, as the
 * person (their own Access), so the rules are the same everywhere. The writes describe themselves in
 * words written here from the input, for when a tainted turn holds them for the person's own press
 * (tools.ts). In chat, a person's bookings are those they are the guest of; others' do not exist.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Booking, Venue } from '../../../generated/prisma/client.ts';
import type { Db } from '../../../platform/db.ts';
import { NotFoundError } from '../../../platform/errors.ts';
import {
  type BookingDeps,
  cancelBooking,
  createBooking,
  modifyBooking,
  requireBooking,
} from '../../bookings/bookings.ts';
import { FEEDBACK_COMMENT_MAX, leaveFeedback } from '../../bookings/feedback.ts';
import { LIVE_STATUSES } from '../../bookings/status.ts';
import { askedOfVenueAgent } from '../../network/consumer-agent.ts';
import type { Access } from '../../organizations/access.ts';
import { requireVenue } from '../../venues/venues.ts';
import { defineTool, personAccess, type ToolContext, text } from '../tools.ts';
import { localDate, partySize, venueId, venueInstant, venueLocal } from './venues.ts';

export interface BookingToolDeps {
  db: Db;
  bookings: BookingDeps;
}

const bookingId = z.uuid('A booking id as returned by create_booking or list_my_bookings');
const localTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'A 24-hour time such as 20:00');

function bookingSummary(booking: Booking, venue: Pick<Venue, 'name' | 'timeZone'>) {
  return {
    bookingId: booking.id,
    venue: venue.name,
    status: booking.status,
    partySize: booking.partySize,
    ...venueLocal(booking.startsAt, venue.timeZone),
    specialRequests: booking.specialRequests,
  };
}

/** `create_booking`: a table requested for the person; asking twice for one table is one booking. */
export function createBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'create_booking',
    description:
      'Request a table at a venue for the person, at a local date and time the venue has free. The venue (or its agent, within seconds) then answers, and the person is told. Asking twice for the same table returns the same booking.',
    sideEffect: 'WRITE',
    input: z.object({
      venue_id: venueId,
      date: localDate,
      time: localTime,
      party_size: partySize,
      special_requests: text(500).optional(),
    }),
    async describe(input, context) {
      const venue = await requireVenue(db, personAccess(db, context), input.venue_id);
      const requests = input.special_requests ? ` (requests: "${input.special_requests}")` : '';
      return `Request a table at ${venue.name} on ${input.date} at ${input.time} for ${input.party_size}${requests}.`;
    },
    async run(input, context) {
      const access = personAccess(db, context);
      const venue = await requireVenue(db, access, input.venue_id);
      const startsAt = venueInstant(input.date, input.time, venue.timeZone);
      // The same table asked for again (a retried turn, a repeated "book it") is the same booking.
      const clientKey = `chat:${createHash('sha256')
        .update(`${context.userId}|${venue.id}|${startsAt.toISOString()}|${input.party_size}`)
        .digest('base64url')}`;
      const booking = await createBooking(deps.bookings, access, {
        venueId: venue.id,
        partySize: input.party_size,
        startsAt,
        source: 'CHAT',
        specialRequests: input.special_requests || undefined,
        clientKey,
      });
      if (booking.status === 'REQUESTED' && (await askedOfVenueAgent(db, booking.id))) {
        return {
          ...bookingSummary(booking, venue),
          askedVenueAgent: true,
          note: `${venue.name}'s agent is being asked now; the person will be told its answer here. Say you have asked ${venue.name} (for example "I've asked ${venue.name} for the table"), not that it is booked.`,
        };
      }
      return bookingSummary(booking, venue);
    },
  });
}

/** `modify_booking`: a new date, time or party size for one of the person's live bookings. */
export function modifyBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'modify_booking',
    description: 'Change the date, time or party size of one of the person’s live bookings.',
    sideEffect: 'WRITE',
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
      const access = personAccess(db, context);
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

/** `cancel_booking`: one of the person's bookings cancelled. */
export function cancelBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'cancel_booking',
    description: 'Cancel one of the person’s bookings. Only when they asked to cancel that booking.',
    sideEffect: 'WRITE',
    input: z.object({ booking_id: bookingId, reason: text(300).optional() }),
    async describe(input, context) {
      const { booking, venue } = await ownBookingAndVenue(db, input.booking_id, context);
      const at = venueLocal(booking.startsAt, venue.timeZone);
      return `Cancel your booking at ${venue.name} on ${at.date} at ${at.time} (${booking.partySize} people).`;
    },
    async run(input, context) {
      const access = personAccess(db, context);
      const booking = await requireOwnBooking(db, access, input.booking_id, context);
      const cancelled = await cancelBooking(deps.bookings, access, {
        bookingId: booking.id,
        reason: input.reason || 'cancelled in chat',
      });
      const venue = await db.venue.findUniqueOrThrow({ where: { id: booking.venueId } });
      return bookingSummary(cancelled, venue);
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
      const access = personAccess(db, context);
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

async function ownBookingAndVenue(
  db: Db,
  id: string,
  context: ToolContext,
  access: Access = personAccess(db, context),
) {
  const booking = await requireOwnBooking(db, access, id, context);
  const venue = await db.venue.findUniqueOrThrow({ where: { id: booking.venueId } });
  return { booking, venue };
}

/** A booking of this person as its guest (others' bookings do not exist, as far as chat goes). */
async function requireOwnBooking(db: Db, access: Access, id: string, context: ToolContext): Promise<Booking> {
  const booking = await requireBooking(db, access, id).catch(() => null);
  if (!booking || booking.guestId !== context.userId) throw new NotFoundError('No such booking of yours');
  return booking;
}
