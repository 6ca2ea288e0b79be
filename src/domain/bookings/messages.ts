/**
 * Messages to guests about their bookings. They are written to the outbound table, in the same
 * transaction as the change they report; the channels' send queue delivers them. Each has a
 * dedupe key, so a job that runs twice queues one message.
 */
import type { Booking, Venue } from '../../generated/prisma/client.ts';
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { queueMessage } from '../channels/outbound.ts';

/** "Fri 4 Dec, 20:00" in the venue's time zone. */
export function localTime(date: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(date);
}

const STATUS_TEXT: Partial<Record<BookingStatus, (b: Booking, v: Venue) => string>> = {
  CONFIRMED: (b, v) =>
    `Your table for ${b.partySize} at ${v.name} on ${localTime(b.startsAt, v.timeZone)} is confirmed.`,
  DECLINED: (b, v) =>
    `${v.name} can't take your booking for ${localTime(b.startsAt, v.timeZone)}. Shall I look for another time or place?`,
  CANCELLED_BY_VENUE: (b, v) =>
    `${v.name} has cancelled your booking for ${localTime(b.startsAt, v.timeZone)}. Sorry! Want me to find something else?`,
  EXPIRED: (b, v) =>
    `${v.name} didn't confirm your booking for ${localTime(b.startsAt, v.timeZone)} in time, so it has lapsed.`,
};

/** Queues the message a guest gets when their booking moves to `event` (if that move is news to them). */
export async function queueGuestMessage(
  db: DbOrTx,
  input: { booking: Booking; venue: Venue; event: BookingStatus },
): Promise<void> {
  const text = STATUS_TEXT[input.event];
  if (!text) return;
  await queueMessage(db, {
    userId: input.booking.guestId,
    bookingId: input.booking.id,
    kind: `booking.${input.event.toLowerCase()}`,
    body: text(input.booking, input.venue),
    dedupeKey: `booking:${input.booking.id}:${input.event.toLowerCase()}`,
    data: { venueId: input.venue.id, startsAt: input.booking.startsAt.toISOString() },
  });
}

export async function queueReminder(db: DbOrTx, booking: Booking, venue: Venue, before: '24h' | '2h') {
  const when = before === '24h' ? 'tomorrow' : 'in two hours';
  await queueMessage(db, {
    userId: booking.guestId,
    bookingId: booking.id,
    kind: `booking.reminder_${before}`,
    body: `Reminder: your table for ${booking.partySize} at ${venue.name} is ${when}, ${localTime(booking.startsAt, venue.timeZone)}. Reply here if plans change.`,
    // Keyed by the start time too: a booking moved to another day is reminded again.
    dedupeKey: `booking:${booking.id}:reminder-${before}:${booking.startsAt.toISOString()}`,
    data: { venueId: venue.id, startsAt: booking.startsAt.toISOString() },
  });
}

export async function queueFeedbackRequest(db: DbOrTx, booking: Booking, venue: Venue) {
  await queueMessage(db, {
    userId: booking.guestId,
    bookingId: booking.id,
    kind: 'booking.feedback',
    body: `How was ${venue.name}? A word or a score from 1 to 5 helps me choose better for you next time.`,
    dedupeKey: `booking:${booking.id}:feedback`,
    data: { venueId: venue.id },
  });
}
