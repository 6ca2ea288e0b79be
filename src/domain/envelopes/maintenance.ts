/**
 * The two schedules that keep the envelope tables honest: the reaper (every 15 minutes) and the
 * orphaned-response sweep (every 30 minutes).
 */
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';
import { statesBefore } from './states.ts';

/**
 * Outbound envelopes past `expires_at` still PENDING, SENT or DELIVERED (never sent, or sent and
 * never answered) → EXPIRED. Inbound rows are not reaped: an accepted envelope is handled however
 * late (the person is told when the answer comes), and its handling is `handled_at`, not a state.
 * Returns how many expired.
 */
export async function reapStaleEnvelopes(db: Db, now: Date): Promise<number> {
  const { count } = await db.a2aEnvelope.updateMany({
    where: { direction: 'OUTBOUND', state: { in: statesBefore('EXPIRED') }, expiresAt: { lt: now } },
    data: { state: 'EXPIRED', nextAttemptAt: null },
  });
  return count;
}

/** A reply left unhandled this long is looked at by the orphan sweep (its job had its chance). */
export const ORPHAN_AFTER_MS = 30 * 60_000;

/**
 * Closes inbound replies nobody is waiting for: accepted (DELIVERED), still unhandled after
 * `ORPHAN_AFTER_MS`, with an `in_reply_to`, and either
 * - answering none of our outbound envelopes to their sender ("orphaned: answers no envelope of
 *   ours"), or
 * - about a booking (`payload.bookingId`) that no longer exists ("orphaned: booking gone").
 * Closing sets `handled_at` and the reason as `handled_note`, so no handler ever acts on them (a
 * handler holding the row finishes first; the sweep then finds it handled). Their state stays
 * DELIVERED: they did arrive. Returns how many were closed.
 */
export async function sweepOrphanedResponses(db: Db, now: Date): Promise<number> {
  const before = new Date(now.getTime() - ORPHAN_AFTER_MS);
  return db.$executeRaw(Prisma.sql`
    UPDATE a2a_envelopes AS reply
    SET handled_at = ${now},
        updated_at = ${now},
        handled_note = CASE
          WHEN NOT EXISTS (
            SELECT FROM a2a_envelopes AS ours
            WHERE ours.direction = 'OUTBOUND' AND ours.envelope_id = reply.in_reply_to
              AND ours.to_agent = reply.from_agent)
          THEN 'orphaned: answers no envelope of ours'
          ELSE 'orphaned: booking gone'
        END
    WHERE reply.direction = 'INBOUND' AND reply.state = 'DELIVERED' AND reply.handled_at IS NULL
      AND reply.in_reply_to IS NOT NULL AND reply.created_at < ${before}
      AND (
        NOT EXISTS (
          SELECT FROM a2a_envelopes AS ours
          WHERE ours.direction = 'OUTBOUND' AND ours.envelope_id = reply.in_reply_to
            AND ours.to_agent = reply.from_agent)
        OR (
          reply.payload ? 'bookingId'
          AND NOT EXISTS (SELECT FROM bookings WHERE bookings.id::text = reply.payload->>'bookingId'))
      )`);
}
