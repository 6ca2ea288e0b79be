/**
 * Publish/subscribe between processes, through Redis: a change made by a worker or by another API
 * process reaches every subscriber. Without Redis, a per-process stand-in (events stay in this
 * process, which `/readyz` already reports).
 *
 * One subscriber connection per process carries every topic; a topic is subscribed in Redis while
 * at least one listener in this process wants it.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import type { RedisHandle } from './redis.ts';

export interface PubSub {
  publish(topic: string, payload: unknown): Promise<void>;
  /** Messages on `topic` until the iterator is returned (the subscriber went away). */
  subscribe(topic: string, signal?: AbortSignal): AsyncIterableIterator<unknown>;
  close(): Promise<void>;
}

export function createPubSub(redis: RedisHandle, logger: Logger): PubSub {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const client = redis.client;
  if (!client) {
    return {
      publish: async (topic, payload) => void local.emit(topic, payload),
      subscribe: (topic, signal) => listen(local, topic, signal, () => {}),
      close: async () => void local.removeAllListeners(),
    };
  }

  const prefix = `${redis.keyPrefix}ps:`;
  const subscriber: Redis = client.duplicate();
  subscriber.on('error', (error) => logger.error({ err: error }, 'redis subscriber error'));
  const counts = new Map<string, number>();
  subscriber.on('message', (channel: string, message: string) => {
    try {
      local.emit(channel.slice(prefix.length), JSON.parse(message));
    } catch (error) {
      logger.warn({ err: error, 'pubsub.channel': channel }, 'dropped an unreadable pub/sub message');
    }
  });

  return {
    async publish(topic, payload) {
      await client.publish(prefix + topic, JSON.stringify(payload));
    },
    subscribe(topic, signal) {
      const count = (counts.get(topic) ?? 0) + 1;
      counts.set(topic, count);
      const ready = count === 1 ? subscriber.subscribe(prefix + topic) : Promise.resolve();
      ready.catch((error) => logger.error({ err: error, 'pubsub.topic': topic }, 'could not subscribe'));
      return listen(local, topic, signal, () => {
        const left = (counts.get(topic) ?? 1) - 1;
        if (left > 0) counts.set(topic, left);
        else {
          counts.delete(topic);
          subscriber.unsubscribe(prefix + topic).catch(() => {});
        }
      });
    },
    async close() {
      local.removeAllListeners();
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}

/**
 * An async iterator over one topic's events that runs `done` once when it ends; ending (its
 * `return`, or its signal) drops what it had not taken yet.
 *
 * Hand-written rather than `events.on`: a venue's team of a thousand people subscribed in a
 * process each take every change, and here an event is handed to a waiting `next` in one step
 * (its promise resolved with the event), where `on` took two (its promise, then a wrapper's
 * `next` mapping it to the payload), each a turn of the microtask queue for every subscriber
 * before the first of them could go on to execute the change.
 */
function listen(
  emitter: EventEmitter,
  topic: string,
  signal: AbortSignal | undefined,
  done: () => void,
): AsyncIterableIterator<unknown> {
  /** Events not yet taken, and `next` calls waiting for one: at most one of them is non-empty. */
  const queued: unknown[] = [];
  const waiting: ((result: IteratorResult<unknown>) => void)[] = [];
  let finished = false;
  const onEvent = (payload: unknown) => {
    // An emit already under way calls every listener it started with, this one after it ended too.
    if (finished) return;
    const take = waiting.shift();
    if (take) take({ done: false, value: payload });
    else queued.push(payload);
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    emitter.off(topic, onEvent);
    signal?.removeEventListener('abort', finish);
    queued.length = 0;
    for (const take of waiting.splice(0)) take({ done: true, value: undefined });
    done();
  };
  emitter.on(topic, onEvent);
  if (signal?.aborted) finish();
  else signal?.addEventListener('abort', finish, { once: true });
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (queued.length) return Promise.resolve({ done: false, value: queued.shift() });
      if (finished) return Promise.resolve({ done: true, value: undefined });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return() {
      finish();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}
