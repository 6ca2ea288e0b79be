/**
 * Whether a live subscriber may still read what it subscribed to, from a short-lived cache of
 * this process.
 *
 * Auth scopes run once, when a subscription starts; its events are re-checked so that a member
 * removed from the organisation stops receiving its bookings (guests' addresses included). Each
 * answer is trusted for RECHECK_MS, so a venue with a thousand subscribers does not cost a
 * thousand membership queries per change, and the answers are forgotten at once, in every API
 * process, when a membership changes through the API (`membershipsChanged`, on the pub/sub
 * topic MEMBERSHIPS_TOPIC): the next event is then checked afresh, and a removed member gets
 * FORBIDDEN instead of it. A membership changed behind the API's back (by hand in the database)
 * is noticed once its answers are RECHECK_MS old.
 */
import type { Actor } from '../domain/identity/actor.ts';
import type { Logger } from '../platform/logger.ts';
import type { PubSub } from '../platform/pubsub.ts';

/** How long a subscriber's right to read, once checked, is trusted before it is checked again. */
export const RECHECK_MS = 15_000;

/** Published after every membership change made through the API. */
export const MEMBERSHIPS_TOPIC = 'memberships-changed';

export interface LiveAccess {
  /** `check`'s answer for `actor` and `resource`, from the cache while it is fresh. */
  allowed(actor: Actor, resource: string, check: () => Promise<boolean>): Promise<boolean>;
  /** Tells every API process that the memberships of `organizationId` changed. */
  membershipsChanged(organizationId: string): Promise<void>;
}

export function createLiveAccess(services: { pubsub: PubSub; now: () => Date; logger: Logger }): LiveAccess {
  const { pubsub, now, logger } = services;
  const answers = new Map<string, { at: number; allowed: Promise<boolean> }>();
  let listening = false;
  let swept = Number.NEGATIVE_INFINITY;
  const listen = () => {
    if (listening) return;
    listening = true;
    (async () => {
      for await (const _change of pubsub.subscribe(MEMBERSHIPS_TOPIC)) answers.clear();
    })().catch((error) => {
      listening = false;
      logger.error({ err: error }, 'stopped hearing of membership changes');
    });
  };
  return {
    allowed(actor, resource, check) {
      listen();
      const key = `${JSON.stringify(actor)}\n${resource}`;
      const at = now().getTime();
      // Answers of subscribers gone since are dropped once they are stale.
      if (at - swept >= RECHECK_MS) {
        swept = at;
        for (const [old, answer] of answers) if (at - answer.at >= RECHECK_MS) answers.delete(old);
      }
      const known = answers.get(key);
      if (known && at - known.at < RECHECK_MS) return known.allowed;
      const allowed = check();
      const entry = { at, allowed };
      answers.set(key, entry);
      // Only a yes is remembered: a refusal ends the subscription anyway.
      const forget = () => {
        if (answers.get(key) === entry) answers.delete(key);
      };
      allowed.then((yes) => yes || forget(), forget);
      return allowed;
    },
    async membershipsChanged(organizationId) {
      answers.clear();
      await pubsub
        .publish(MEMBERSHIPS_TOPIC, { organizationId })
        .catch((error) => logger.error({ err: error }, 'could not announce a membership change'));
    },
  };
}
