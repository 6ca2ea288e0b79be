/**
 * Who a booking still waiting for the venue's answer (REQUESTED or HELD) waits on: the venue's
 * agent, while its `booking.request` is on its way or being handled, or the venue's staff, once
 * the agent put it before them (an OPEN inbox item), the venue has no agent to ask, or the request
 * never reached it (expired, failed). Outside agents following a booking (public A2A) are told
 * "working" for the first and "waiting for the venue's people" for the second.
 */
import type { DbOrTx } from '../../platform/db.ts';

export type AnswerFrom = 'venue-agent' | 'staff';

/** Envelope states in which the venue's agent may still answer. */
const IN_FLIGHT = ['PENDING', 'SENT', 'DELIVERED'] as const;

export async function whoAnswers(db: DbOrTx, bookingId: string): Promise<AnswerFrom> {
  const [beforeStaff, inFlight] = await Promise.all([
    db.venueInboxItem.count({ where: { bookingId, kind: 'BOOKING_REQUEST', status: 'OPEN' } }),
    db.a2aEnvelope.count({
      where: {
        bookingId,
        direction: 'OUTBOUND',
        intent: 'booking.request',
        state: { in: [...IN_FLIGHT] },
      },
    }),
  ]);
  if (beforeStaff > 0) return 'staff';
  return inFlight > 0 ? 'venue-agent' : 'staff';
}
