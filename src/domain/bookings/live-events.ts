/**
 * The live events bookings publish. Topics are named here once; the GraphQL subscriptions listen
 * on the same names. A payload carries ids and statuses only: subscribers load what they may see.
 * deps.ts publishes them after each committed change.
 */
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { BookingEvent } from './effects.ts';

export interface BookingChangedPayload {
  bookingId: string;
  venueId: string;
  status: BookingStatus;
  from: BookingStatus | null;
  /** When the change committed, for measuring delivery latency. */
  at: string;
}

export const bookingTopics = {
  venue: (venueId: string) => `venue-bookings:${venueId}`,
  booking: (bookingId: string) => `booking:${bookingId}`,
};

export function toPayload(event: BookingEvent, at: Date): BookingChangedPayload {
  return {
    bookingId: event.booking.id,
    venueId: event.booking.venueId,
    status: event.booking.status,
    from: event.from,
    at: at.toISOString(),
  };
}
