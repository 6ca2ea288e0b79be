/**
 * A guest's booking request waits for the venue's agent; when no answer has come within the
 * envelope's TTL, the guest is told once that the venue has not answered yet (the later CONFIRMED
 * or DECLINED notice tells them again). The check is a job scheduled in the booking's own
 * transaction for that moment, so it is never lost and never runs for a booking that rolled back.
 */
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import { bookingNoticeParams } from '../bookings/messages.ts';
import { queueNotice } from '../notices/notices.ts';

/** Checks, when the request's TTL is over, whether its answer came. */
export const a2aAnswerDueTask = defineTask({
  name: 'a2a-answer-due',
  schema: z.object({ bookingId: z.uuid(), envelopeRowId: z.uuid() }),
  maxAttempts: 5,
});

export function answerDueKey(bookingId: string): string {
  return `a2a-answer-due:${bookingId}`;
}

export type AnswerDueOutcome = 'told' | 'answered' | 'moved_on' | 'escalated' | 'told_before';

/**
 * Tells the guest "not answered yet" if the request `envelopeRowId` is not ANSWERED, the booking is
 * still REQUESTED and the venue's agent has not handed it to its staff (which the guest was told
 * of). Safe to run twice: the notice's dedupe key is per booking.
 */
export async function tellIfNotAnswered(
  db: Db,
  input: { bookingId: string; envelopeRowId: string },
): Promise<AnswerDueOutcome> {
  return db.$transaction(async (tx) => {
    const request = await tx.a2aEnvelope.findUnique({ where: { id: input.envelopeRowId } });
    if (!request || request.state === 'ANSWERED') return 'answered';
    const booking = await tx.booking.findUnique({ where: { id: input.bookingId }, include: { venue: true } });
    if (booking?.status !== 'REQUESTED') return 'moved_on';
    // Escalated: by a venue agent of ours (its staff inbox) or by its answer to the guest's agent.
    const escalated =
      (await tx.venueInboxItem.count({ where: { bookingId: booking.id, kind: 'BOOKING_REQUEST' } })) > 0 ||
      (await tx.a2aEnvelope.count({
        where: {
          bookingId: booking.id,
          direction: 'INBOUND',
          intent: 'booking.escalated',
          state: { not: 'REJECTED' },
        },
      })) > 0;
    if (escalated) return 'escalated';
    const { queued } = await queueNotice(tx, {
      userId: booking.guestId,
      bookingId: booking.id,
      kind: 'booking.not_answered_yet',
      params: bookingNoticeParams(booking, booking.venue),
      dedupeKey: `booking:${booking.id}:not-answered-yet`,
      data: { venueId: booking.venueId, envelopeId: request.envelopeId },
    });
    return queued ? 'told' : 'told_before';
  });
}
