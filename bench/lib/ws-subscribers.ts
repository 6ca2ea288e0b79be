/**
 * Worker-thread entry for `subscription-fanout`: many graphql-ws clients, one WebSocket each,
 * each subscribed once, and the time each delivery arrived. On a thread of its own so that the
 * bench's main thread (which makes the changes and listens to Redis for their commit times) and
 * the subscribers do not delay each other's timestamps.
 *
 * Messages in: `{ type: 'report' }` (send what was received so far), `{ type: 'close' }`.
 * Messages out: `{ type: 'connected', … }` once every client was acknowledged or gave up,
 * `{ type: 'report', … }`, `{ type: 'closed' }`.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface SubscribersData {
  /** `ws://127.0.0.1:<port>/graphql` of each API process; subscriber i goes to endpoint i mod n. */
  endpoints: string[];
  /** One access token per subscriber. */
  tokens: string[];
  query: string;
  variables: Record<string, unknown>;
  /** Clients connecting at once while starting. */
  connectBatch: number;
  /** Each batch must be acknowledged within this. */
  connectTimeoutMs: number;
}

export interface SubscribersReport {
  type: 'report';
  /** Per booking (global id): its `updatedAt` as delivered, and the arrival time at each subscriber. */
  deliveries: { id: string; updatedAtMs: number; receivedAtMs: number[]; subscribers: number[] }[];
  /** Results that were not a booking (GraphQL errors). */
  errors: string[];
  /** Subscriptions that ended (error or complete) before `close`. */
  ended: number;
}

export type SubscribersMessage =
  | { type: 'connected'; connected: number; failed: number; firstError: string | null }
  | SubscribersReport
  | { type: 'closed' };

const data = workerData as SubscribersData;
const send = (message: SubscribersMessage) => parentPort?.postMessage(message);
/** Milliseconds since the epoch, with the sub-millisecond part (same clock as Date.now()). */
const now = () => performance.timeOrigin + performance.now();

const byBooking = new Map<string, { updatedAtMs: number; receivedAtMs: number[]; subscribers: number[] }>();
const errors: string[] = [];
let ended = 0;
let closing = false;

interface BookingResult {
  data?: { bookingChanged?: { id: string; updatedAt: string } | null } | null;
  errors?: readonly { message: string }[];
}

function onResult(subscriber: number, result: BookingResult) {
  const receivedAt = now();
  const booking = result.data?.bookingChanged;
  if (!booking) {
    if (errors.length < 20) errors.push(JSON.stringify(result.errors ?? result).slice(0, 300));
    return;
  }
  let entry = byBooking.get(booking.id);
  if (!entry) {
    entry = { updatedAtMs: Date.parse(booking.updatedAt), receivedAtMs: [], subscribers: [] };
    byBooking.set(booking.id, entry);
  }
  entry.receivedAtMs.push(receivedAt);
  entry.subscribers.push(subscriber);
}

const clients: Client[] = [];

/** Starts one client and its subscription; resolves when the server acknowledged the connection. */
function start(index: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no connection_ack within ${data.connectTimeoutMs} ms`)),
      data.connectTimeoutMs,
    );
    const client = createClient({
      url: data.endpoints[index % data.endpoints.length]!,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${data.tokens[index]}` },
      retryAttempts: 0,
      lazy: true,
      on: {
        connected: () => {
          clearTimeout(timer);
          resolve();
        },
        closed: (event) => {
          clearTimeout(timer);
          reject(new Error(`closed before the ack: ${JSON.stringify(event)}`));
        },
      },
    });
    clients.push(client);
    client.subscribe<unknown>(
      { query: data.query, variables: data.variables },
      {
        next: (result) => onResult(index, result as BookingResult),
        error: (error) => {
          if (!closing) {
            ended += 1;
            if (errors.length < 20) errors.push(describe(error));
          }
        },
        complete: () => {
          if (!closing) ended += 1;
        },
      },
    );
  });
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return `errors: ${error.map((e: { message: string }) => e.message).join('; ')}`;
  if (error && typeof error === 'object' && 'code' in error) {
    return `close ${(error as { code: number }).code} ${(error as { reason?: string }).reason ?? ''}`;
  }
  return error instanceof Error ? error.message : String(error);
}

let connected = 0;
let failed = 0;
let firstError: string | null = null;
for (let first = 0; first < data.tokens.length; first += data.connectBatch) {
  const batch = [];
  for (let i = first; i < Math.min(first + data.connectBatch, data.tokens.length); i += 1)
    batch.push(start(i));
  for (const outcome of await Promise.allSettled(batch)) {
    if (outcome.status === 'fulfilled') connected += 1;
    else {
      failed += 1;
      firstError ??= String(outcome.reason);
    }
  }
}
send({ type: 'connected', connected, failed, firstError });

parentPort?.on('message', async (message: { type: 'report' | 'close' }) => {
  if (message.type === 'report') {
    send({
      type: 'report',
      deliveries: [...byBooking].map(([id, entry]) => ({ id, ...entry })),
      errors,
      ended,
    });
  } else if (message.type === 'close') {
    closing = true;
    await Promise.allSettled(clients.map((client) => client.dispose()));
    send({ type: 'closed' });
    parentPort?.close();
  }
});
