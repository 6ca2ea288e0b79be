/** Bookings: how long each state lasts, and how many a person or an API key may ask for. */
import { z } from 'zod';
import { positiveInt } from './parse.ts';

export const bookingsEnv = z.object({
  BOOKING_HOLD_MINUTES: positiveInt.default(10),
  BOOKING_REQUEST_MINUTES: positiveInt.default(120),
  BOOKING_NO_SHOW_GRACE_MINUTES: positiveInt.default(30),
  BOOKING_COMPLETE_AFTER_MINUTES: positiveInt.default(60),
  BOOKING_FEEDBACK_AFTER_MINUTES: positiveInt.default(120),
  BOOKING_MAX_PENDING_PER_VENUE: positiveInt.default(2),
  BOOKING_MAX_PENDING_TOTAL: positiveInt.default(5),
  BOOKING_LIMIT_PER_PERSON: positiveInt.default(20),
  BOOKING_LIMIT_PER_API_KEY: positiveInt.default(200),
  BOOKING_LIMIT_WINDOW_SECONDS: positiveInt.default(600),
});

export function bookingsConfig(e: z.output<typeof bookingsEnv>) {
  return {
    /** Minutes a HELD booking keeps its table unconfirmed. */
    holdMinutes: e.BOOKING_HOLD_MINUTES,
    /** Minutes a venue has to answer a REQUESTED booking (never past its start). */
    requestMinutes: e.BOOKING_REQUEST_MINUTES,
    noShowGraceMinutes: e.BOOKING_NO_SHOW_GRACE_MINUTES,
    completeAfterMinutes: e.BOOKING_COMPLETE_AFTER_MINUTES,
    feedbackAfterMinutes: e.BOOKING_FEEDBACK_AFTER_MINUTES,
    /** A person's own bookings still waiting for a venue (HELD, REQUESTED): at one venue, in all. */
    maxPendingPerVenue: e.BOOKING_MAX_PENDING_PER_VENUE,
    maxPendingTotal: e.BOOKING_MAX_PENDING_TOTAL,
    /** Bookings asked for per window, counted per person and per API key. */
    createLimitPerPerson: e.BOOKING_LIMIT_PER_PERSON,
    createLimitPerApiKey: e.BOOKING_LIMIT_PER_API_KEY,
    createLimitWindowSeconds: e.BOOKING_LIMIT_WINDOW_SECONDS,
  };
}
