/**
 * The guest's answer to the feedback request: a score from 1 to 5 and an optional comment, for a
 * visit that is over (COMPLETED, or SEATED past its end, before the completion job has run). Only
 * the booking's guest answers, once per booking: a second answer replaces the first (a person who
 * said "4" and then "actually 5" means 5), and the row keeps when it was first given. The venue's
 * team reads it on the booking and as an average per venue.
 *
 * The same rules for chat (`leave_feedback`) and GraphQL (`leaveBookingFeedback`).
 */
import type { BookingFeedback } from '../../generated/prisma/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, ValidationError } from '../../platform/errors.ts';
import type { Access } from '../organizations/access.ts';
import { requireBooking } from './bookings.ts';

export const FEEDBACK_COMMENT_MAX = 2000;

/** The visit is not over yet (or never happened): there is nothing to give feedback on. */
export class FeedbackNotOpenError extends ConflictError {
  override name = 'FeedbackNotOpenError';
}

export interface FeedbackInput {
  bookingId: string;
  score: number;
  comment?: string | null;
}

/** Stores (or replaces) the guest's feedback on their booking. */
export async function leaveFeedback(
  db: DbOrTx,
  access: Access,
  input: FeedbackInput,
  now: Date,
): Promise<BookingFeedback> {
  access.requireWrite();
  // The input first, so a form hears about its fields whatever the booking's state.
  if (!Number.isInteger(input.score) || input.score < 1 || input.score > 5) {
    throw new ValidationError('A score is a whole number from 1 to 5', 'score');
  }
  const comment = input.comment?.trim() || null;
  if (comment && comment.length > FEEDBACK_COMMENT_MAX) {
    throw new ValidationError(`A comment is at most ${FEEDBACK_COMMENT_MAX} characters`, 'comment');
  }
  // Someone who cannot see the booking gets NotFound, as everywhere; its venue's team sees it but
  // did not eat there.
  const booking = await requireBooking(db, access, input.bookingId);
  if (access.actor.kind !== 'user' || access.actor.userId !== booking.guestId) {
    throw new NotAllowedError("Only the booking's guest can leave feedback on it");
  }
  const over = booking.status === 'COMPLETED' || (booking.status === 'SEATED' && booking.endsAt <= now);
  if (!over) {
    throw new FeedbackNotOpenError(
      `Feedback opens once the visit is over; this booking is ${booking.status.toLowerCase().replaceAll('_', ' ')}`,
    );
  }
  return db.bookingFeedback.upsert({
    where: { bookingId: booking.id },
    create: {
      bookingId: booking.id,
      guestId: booking.guestId,
      venueId: booking.venueId,
      score: input.score,
      comment,
    },
    update: { score: input.score, comment },
  });
}

/** A venue's feedback in numbers: the mean score (null with none) and how many answered. */
export async function feedbackSummary(
  db: DbOrTx,
  venueId: string,
): Promise<{ average: number | null; count: number }> {
  const result = await db.bookingFeedback.aggregate({
    where: { venueId },
    _avg: { score: true },
    _count: { _all: true },
  });
  return { average: result._avg.score, count: result._count._all };
}
