/**
 * Rights remembered by this process for a short while: whether a live subscriber may still read
 * what it subscribed to (`allowed`), and a signed-in person's user and roles as a request's
 * authentication read them (`remembered`, src/api/auth.ts).
 *
 * Auth scopes run once, when a subscription starts; its events are re-checked so that a member
 * removed from the organisation stops receiving its bookings (guests' addresses included). Each
 * answer is trusted for RECHECK_MS, so a venue with a thousand subscribers does not cost a
 * thousand membership queries per change, and a subscriber's yes is checked again in the
 * background once it is REFRESH_FROM_MS to REFRESH_BY_MS old, so its events do not wait for the
 * check. Every answer (a subscriber's, a person's roles) is forgotten at once, in every API
 * process, when a membership changes through the API (`membershipsChanged`, on the pub/sub topic
 * MEMBERSHIPS_TOPIC): the next event or request is then checked afresh, and a removed member gets
 * FORBIDDEN. A membership changed behind the API's
 * back (by hand in the database), or announced while this process could not hear the topic (Redis
 * unreachable), is noticed once its answers are as old as they may be.
 */
import type { Actor } from '../domain/identity/actor.ts';
import type { Logger } from '../platform/logger.ts';
import type { PubSub } from '../platform/pubsub.ts';

/** How long a subscriber's right to read, once checked, is trusted before it is checked again. */
export const RECHECK_MS = 15_000;

/**
 * Past an age between these two a yes still answers at once, and the event that found it that old
 * starts its check again in the background: a subscriber who hears events often enough never
 * waits for a check (a thousand dashboards of one venue would otherwise all wait on theirs at
 * once, every RECHECK_MS). Each answer draws its own age in the range, so the thousand checks are
 * spread over the events of a few seconds rather than made for one. A yes is still never trusted
 * past RECHECK_MS.
 */
export const REFRESH_FROM_MS = RECHECK_MS / 2;
export const REFRESH_BY_MS = (RECHECK_MS * 5) / 6;

/** Published after every membership change made through the API. */
export const MEMBERSHIPS_TOPIC = 'memberships-changed';

export interface LiveAccess {
  /**
   * `check`'s answer for `actor` and `resource`, from the cache while it is fresh: then `true` at
   * once, not a promise, so a subscriber allowed a moment ago takes the next event without waiting
   * a turn.
   */
  allowed(actor: Actor, resource: string, check: () => Promise<boolean>): boolean | Promise<boolean>;
  /**
   * `load`'s answer for `key`, remembered for `maxAgeMs` (0: not at all) and forgotten at once
   * when any membership changes; a failed `load`, or an answer `keep` refuses, is not remembered.
   * Requests for the same key while `load` runs share its answer.
   */
  remembered<T>(
    key: string,
    maxAgeMs: number,
    load: () => Promise<T>,
    keep?: (answer: T) => boolean,
  ): Promise<T>;
  /** Tells every API process that the memberships of `organizationId` changed. */
  membershipsChanged(organizationId: string): Promise<void>;
}

/** An answer remembered: `settled` once `value` resolved to one that is kept. */
interface Answer<T> {
  at: number;
  maxAgeMs: number;
  value: Promise<T>;
  settled?: { answer: T };
  /** The age at which `allowed` checks it again ahead of its expiry (REFRESH_FROM_MS…REFRESH_BY_MS). */
  refreshAfterMs?: number;
  /** That check, started and not yet answered. */
  refreshing?: boolean;
}

/** Most answers remembered at once; past it the oldest is forgotten first. */
const MAX_ANSWERS = 10_000;

export function createLiveAccess(services: { pubsub: PubSub; now: () => Date; logger: Logger }): LiveAccess {
  const { pubsub, now, logger } = services;
  const answers = new Map<string, Answer<unknown>>();
  let listening = false;
  let swept = Number.NEGATIVE_INFINITY;
  const listen = () => {
    if (listening) return;
    listening = true;
    (async () => {
      for await (const _change of pubsub.subscribe(MEMBERSHIPS_TOPIC)) answers.clear();
    })().catch((error) => {
      // Deaf to changes: nothing is remembered until the topic is heard again.
      listening = false;
      answers.clear();
      logger.error({ err: error }, 'stopped hearing of membership changes');
    });
  };
  const remembered = <T>(key: string, maxAgeMs: number, load: () => Promise<T>, keep = (_: T) => true) => {
    listen();
    const at = now().getTime();
    // Answers of subscribers and people gone since are dropped once they are stale.
    if (at - swept >= RECHECK_MS) {
      swept = at;
      for (const [old, answer] of answers) if (at - answer.at >= answer.maxAgeMs) answers.delete(old);
    }
    const known = answers.get(key);
    if (known && at - known.at < known.maxAgeMs) return known.value as Promise<T>;
    const value = load();
    if (maxAgeMs <= 0 || !listening) return value;
    const entry: Answer<T> = { at, maxAgeMs, value };
    if (answers.size >= MAX_ANSWERS) answers.delete(answers.keys().next().value!);
    answers.set(key, entry);
    const forget = () => {
      if (answers.get(key) === entry) answers.delete(key);
    };
    value.then((answer) => {
      if (keep(answer)) entry.settled = { answer };
      else forget();
    }, forget);
    return value;
  };
  /**
   * Checks `known` again without anyone waiting: a yes takes its place, as of `at` (when the check
   * began); a no drops it, so the next event checks afresh and is refused. An answer replaced or
   * forgotten meanwhile (a membership changed) is left alone: this check may have read the old
   * membership.
   */
  const refresh = (key: string, known: Answer<unknown>, at: number, check: () => Promise<boolean>) => {
    known.refreshing = true;
    const settle = (yes: boolean) => {
      if (answers.get(key) !== known) return;
      // Deleted first, so the answer is the newest in the map's order (the oldest go first).
      answers.delete(key);
      if (yes)
        answers.set(key, {
          at,
          maxAgeMs: known.maxAgeMs,
          value: Promise.resolve(yes),
          settled: { answer: yes },
        });
    };
    const fail = (error: unknown) => {
      // The answer stands until it expires, and is not checked ahead again (once per answer, not
      // per event, while the database is away): the first event after that waits for its check.
      logger.warn({ err: error }, 'could not check a live subscriber’s access ahead of time');
    };
    // In a later turn, once this event has gone out to every subscriber that found its answer
    // fresh; and all of that turn's checks at once, so the client batches their statements.
    if (due.length === 0) {
      setImmediate(() => {
        for (const start of due.splice(0)) start();
      });
    }
    // A check that throws at once fails like one that rejects.
    due.push(() => void Promise.resolve().then(check).then(settle, fail));
  };
  /** The background checks of this turn, not yet started. */
  const due: (() => void)[] = [];
  /** Each actor's part of a key, written once per actor (a subscription keeps its context's). */
  const actorKeys = new WeakMap<Actor, string>();
  return {
    allowed(actor, resource, check) {
      let actorKey = actorKeys.get(actor);
      if (actorKey === undefined) {
        actorKey = JSON.stringify(actor);
        actorKeys.set(actor, actorKey);
      }
      const key = `${actorKey}\n${resource}`;
      const known = answers.get(key);
      const at = now().getTime();
      if (known?.settled && at - known.at < known.maxAgeMs) {
        known.refreshAfterMs ??= REFRESH_FROM_MS + Math.random() * (REFRESH_BY_MS - REFRESH_FROM_MS);
        if (at - known.at >= known.refreshAfterMs && !known.refreshing) refresh(key, known, at, check);
        return known.settled.answer as boolean;
      }
      // Only a yes is remembered: a refusal ends the subscription anyway.
      return remembered(key, RECHECK_MS, check, (yes) => yes);
    },
    remembered: (key, maxAgeMs, load, keep) => remembered(key, maxAgeMs, load, keep),
    async membershipsChanged(organizationId) {
      answers.clear();
      await pubsub
        .publish(MEMBERSHIPS_TOPIC, { organizationId })
        .catch((error) => logger.error({ err: error }, 'could not announce a membership change'));
    },
  };
}
