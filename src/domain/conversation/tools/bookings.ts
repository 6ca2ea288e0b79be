/**
 * The consumer agent's own tools for the person's bookings: `modify_booking`, `list_my_bookings`
 * and `leave_feedback` (`create_booking` and `cancel_booking` serve API keys too:
 * src/domain/tools/bookings.ts). Each calls the same domain functions as GraphQL, as the
 * person (their own Access), so the rules are the same everywhere. The writes describe themselves in
 * words written here from the input, for when a tainted turn holds them for the person's own press
 * (tools.ts). In chat, a person's bookings are those they are the guest of; others' do not exist.
 */
import { z } from 'zod';
import type { Db } from '../../../platform/db.ts';
import { modifyBooking } from '../../bookings/bookings.ts';
import { FEEDBACK_COMMENT_MAX, leaveFeedback } from '../../bookings/feedback.ts';
import { LIVE_STATUSES } from '../../bookings/status.ts';
import {
  type BookingToolDeps,
  bookingId,
  bookingOutput,
  bookingSummary,
  localTime,
  ownBookingAndVenue,
} from '../../tools/bookings.ts';
import { localDate, partySize, venueInstant, venueLocal } from '../../tools/venues.ts';
import { defineTool, personAccess, text } from '../tools.ts';

/** `modify_booking`: a new date, time or party size for one of the person's live bookings. */
export function modifyBookingTool(deps: BookingToolDeps) {
  const { db } = deps;
  return defineTool({
    name: 'modify_booking',
    description: 'Change the date, time or party size of one of the person’s live bookings.',
    sideEffect: 'WRITE',
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

/** `list_my_bookings`: the person's upcoming live bookings, or recent past ones too. */
export function listMyBookingsTool(deps: { db: Db }) {
  const { db } = deps;
  return defineTool({
    name: 'list_my_bookings',
    description: 'The person’s bookings: upcoming live ones by default, or recent past ones too.',
    sideEffect: 'READ',
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
