/**
 * Notices to guests about their bookings. They are queued in the same transaction as the change
 * they report, in the guest's language, to their chat or else their email (src/domain/notices);
 * the texts live in src/domain/notices/templates.ts. Each has a dedupe key, so a job that runs
 * twice queues one notice.
 */
import type { Booking, Venue } from '../../generated/prisma/client.ts';
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { queueNotice } from '../notices/notices.ts';
import type { BookingNoticeParams, NoticeKind } from '../notices/templates.ts';

/** The moves a guest is told of, and the notice each one is. */
const STATUS_NOTICE: Partial<Record<BookingStatus, NoticeKind & `booking.${string}`>> = {
  CONFIRMED: 'booking.confirmed',
  DECLINED: 'booking.declined',
  CANCELLED_BY_VENUE: 'booking.cancelled_by_venue',
  EXPIRED: 'booking.expired',
};

/** What the booking notices say about a booking. */
export function bookingNoticeParams(booking: Booking, venue: Venue): BookingNoticeParams {
  return {
    venue: venue.name,
    partySize: booking.partySize,
    startsAt: booking.startsAt,
    timeZone: venue.timeZone,
  };
}

/** Queues the notice a guest gets when their booking moves to `event` (if that move is news to them). */
export async function queueGuestMessage(
  db: DbOrTx,
  input: { booking: Booking; venue: Venue; event: BookingStatus; alternatives?: readonly Date[] },
): Promise<void> {
  const kind = STATUS_NOTICE[input.event];
  if (!kind) return;
  // A decline names the other times on offer, when there are some.
  const alternatives =
    input.event === 'DECLINED' && input.alternatives?.length ? [...input.alternatives] : null;
  await queueNotice(db, {
    userId: input.booking.guestId,
    bookingId: input.booking.id,
    kind: kind as 'booking.declined',
    params: { ...bookingNoticeParams(input.booking, input.venue), ...(alternatives ? { alternatives } : {}) },
    dedupeKey: `booking:${input.booking.id}:${input.event.toLowerCase()}`,
    data: {
      venueId: input.venue.id,
      startsAt: input.booking.startsAt.toISOString(),
      ...(alternatives ? { alternatives: alternatives.map((at) => at.toISOString()) } : {}),
    },
  });
}

/**
 * Tells the guest that someone else (the venue's team) changed their booking's time or party:
 * once per change (keyed by the change's time of writing).
 */
export async function queueChangeNotice(
  db: DbOrTx,
  input: { booking: Booking; venue: Venue; was: { startsAt: Date; partySize: number } },
): Promise<void> {
  const { booking, venue, was } = input;
  await queueNotice(db, {
    userId: booking.guestId,
    bookingId: booking.id,
    kind: 'booking.changed',
    params: { ...bookingNoticeParams(booking, venue), was },
    dedupeKey: `booking:${booking.id}:changed:${booking.updatedAt.toISOString()}`,
    data: {
      venueId: venue.id,
      startsAt: booking.startsAt.toISOString(),
      partySize: booking.partySize,
      was: { startsAt: was.startsAt.toISOString(), partySize: was.partySize },
    },
  });
}

export async function queueReminder(db: DbOrTx, booking: Booking, venue: Venue, before: '24h' | '2h') {
  await queueNotice(db, {
    userId: booking.guestId,
    bookingId: booking.id,
    kind: before === '24h' ? 'booking.reminder_24h' : 'booking.reminder_2h',
    params: bookingNoticeParams(booking, venue),
    // Keyed by the start time too: a booking moved to another day is reminded again.
    dedupeKey: `booking:${booking.id}:reminder-${before}:${booking.startsAt.toISOString()}`,
    data: { venueId: venue.id, startsAt: booking.startsAt.toISOString() },
  });
}

export async function queueFeedbackRequest(db: DbOrTx, booking: Booking, venue: Venue) {
  await queueNotice(db, {
    userId: booking.guestId,
    bookingId: booking.id,
    kind: 'booking.feedback',
    params: { venue: venue.name },
    dedupeKey: `booking:${booking.id}:feedback`,
    data: { venueId: venue.id },
  });
}
