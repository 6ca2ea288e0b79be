/**
 * The live events bookings publish. Topics are named here once; the GraphQL subscriptions listen
 * on the same names. A payload carries ids and statuses only: subscribers load what they may see.
 */

import type { Config } from '../../config/index.ts';
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import type { BookingDeps } from './bookings.ts';
import { type BookingEvent, createBookingEffects } from './effects.ts';

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

/** Everything booking functions need, from a process's services. */
export function createBookingDeps(options: {
  db: Db;
  now: () => Date;
  config: Config['bookings'];
  limiter: RateLimiter;
  publish: (topic: string, payload: unknown) => Promise<void>;
  onPublishError: (error: unknown) => void;
}): BookingDeps {
  const { db, now, config } = options;
  return {
    db,
    now,
    holdMinutes: config.holdMinutes,
    requestMinutes: config.requestMinutes,
    limiter: options.limiter,
    limits: {
      maxPendingPerVenue: config.maxPendingPerVenue,
      maxPendingTotal: config.maxPendingTotal,
      createPerPerson: config.createLimitPerPerson,
      createPerApiKey: config.createLimitPerApiKey,
      createWindowSeconds: config.createLimitWindowSeconds,
    },
    effects: createBookingEffects({
      now,
      timings: config,
      async publish(event) {
        const payload = toPayload(event, now());
        // The change is committed; a lost event must not turn it into an error for the caller.
        await Promise.all([
          options.publish(bookingTopics.venue(payload.venueId), payload),
          options.publish(bookingTopics.booking(payload.bookingId), payload),
        ]).catch(options.onPublishError);
      },
    }),
  };
}
