// How a process gives booking functions what they need; live-events.ts names what they publish.
import type { Config } from '../../config/index.ts';
import type { Db } from '../../platform/db.ts';
import type { RateLimiter } from '../../platform/rate-limit.ts';
import type { BookingDeps } from './bookings.ts';
import { type BookingChangeHook, createBookingEffects } from './effects.ts';
import { bookingTopics, toPayload } from './live-events.ts';

/** Everything booking functions need, from a process's services. */
export function createBookingDeps(options: {
  db: Db;
  now: () => Date;
  config: Config['bookings'];
  limiter: RateLimiter;
  publish: (topic: string, payload: unknown) => Promise<void>;
  onPublishError: (error: unknown) => void;
  /**
   * What else follows a change in its transaction, from other areas: the network's booking
   * requests (src/domain/network/consumer-agent.ts `venueAgentRequests`). Required, so no
   * process builds bookings that skip a venue's agent.
   */
  hooks: readonly BookingChangeHook[];
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
      hooks: options.hooks,
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
