/**
 * Lalamove over the wire: the signed client against the loopback fake (which recomputes every
 * signature), the webhook signature check, and `POST /webhooks/lalamove` on the real server
 * (deliveries arriving together recorded in one transaction by the webhooks' group commit).
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseConfirmation } from '../../src/domain/confirmations/confirmations.ts';
import { confirmButtonPayload } from '../../src/domain/delivery/confirmation.ts';
import type { DeliveryDeps } from '../../src/domain/delivery/deps.ts';
import { confirmDelivery, deliveryStatus } from '../../src/domain/delivery/order.ts';
import { quoteDelivery } from '../../src/domain/delivery/quote.ts';
import { createLalamoveClient, LalamoveError } from '../../src/integrations/lalamove/client.ts';
import { rawMember, verifyLalamoveWebhook } from '../../src/integrations/lalamove/webhook.ts';
import { driverAssigned, type FakeLalamove, startFakeLalamove, statusChanged } from '../fakes/lalamove.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { eventTransactions, holdBatchOf } from '../helpers/batches.ts';
import { metric, runDueJobs } from '../helpers/jobs.ts';
import {
  API_KEY,
  API_SECRET,
  confirmedQuote,
  createPerson,
  deliveryDeps,
  quoteRequest,
  refused,
} from './support.ts';

let fake: FakeLalamove;
let app: TestApp;
let deps: DeliveryDeps;
let hook: string;

beforeAll(async () => {
  fake = await startFakeLalamove({ apiKey: API_KEY, apiSecret: API_SECRET });
  app = await startTestApp({
    env: {
      LALAMOVE_API_KEY: API_KEY,
      LALAMOVE_API_SECRET: API_SECRET,
      LALAMOVE_API_URL: fake.url,
      // While a batch commits, the next gathers for up to a second or until it holds 3 events.
      WEBHOOK_BATCH_WINDOW_MS: '1000',
      WEBHOOK_BATCH_MAX: '3',
    },
  });
  deps = deliveryDeps(app.services.db, fake.url).deps;
  hook = `${app.url}/webhooks/lalamove`;
});
afterAll(async () => {
  await app.close();
  await fake.close();
});

const client = (overrides: Partial<Parameters<typeof createLalamoveClient>[0]> = {}) =>
  createLalamoveClient({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    apiUrl: fake.url,
    market: 'HK',
    ...overrides,
  });

const stops = [
  { coordinates: { lat: '22.33547351186244', lng: '114.17615807116502' }, address: 'Innocentre' },
  { coordinates: { lat: '22.29553167157697', lng: '114.16885175766998' }, address: 'Canton Rd' },
];

describe('the Lalamove client', () => {
  it('signs every request as Lalamove checks it, with the Market and Request-ID headers', async () => {
    const from = fake.requests.length;
    const quotation = await client().quote({ serviceType: 'MOTORCYCLE', stops });
    expect(quotation.priceBreakdown).toMatchObject({ total: '140', currency: 'HKD' });
    expect(quotation.stops.map((s) => s.stopId)).toHaveLength(2);
    const order = await client().placeOrder({
      quotationId: quotation.quotationId,
      sender: { stopId: quotation.stops[0]!.stopId, name: 'A', phone: '+85211112222' },
      recipients: [{ stopId: quotation.stops[1]!.stopId, name: 'B', phone: '+85233334444' }],
    });
    expect(order.status).toBe('ASSIGNING_DRIVER');
    expect((await client().getOrder(order.orderId)).orderId).toBe(order.orderId);
    await client().cancelOrder(order.orderId);

    const sent = fake.requests.slice(from);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v3/quotations',
      'POST /v3/orders',
      `GET /v3/orders/${order.orderId}`,
      `DELETE /v3/orders/${order.orderId}`,
    ]);
    for (const request of sent) {
      expect(request.authorized).toBe(true);
      expect(request.headers.authorization).toMatch(new RegExp(`^hmac ${API_KEY}:\\d{13}:[0-9a-f]{64}$`));
      expect(request.headers.market).toBe('HK');
      expect(request.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(sent[0]!.data).toMatchObject({ serviceType: 'MOTORCYCLE', language: 'en_HK', stops });
    expect(new Set(sent.map((r) => r.headers['request-id'])).size).toBe(sent.length);
  });

  it("turns Lalamove's refusals into LalamoveErrors with its error id", async () => {
    const wrongSecret = await client({ apiSecret: 'sk_test_not_the_secret' })
      .quote({ serviceType: 'MOTORCYCLE', stops })
      .catch((e) => e);
    expect(wrongSecret).toBeInstanceOf(LalamoveError);
    expect(wrongSecret).toMatchObject({ status: 401, errorId: 'ERR_UNAUTHORIZED', refused: true });
    expect(fake.requests.at(-1)!.authorized).toBe(false);

    const wrongMarket = await client({ market: 'SG' })
      .quote({ serviceType: 'MOTORCYCLE', stops })
      .catch((e) => e);
    expect(wrongMarket).toMatchObject({ status: 422, errorId: 'ERR_INVALID_MARKET' });

    const missing = await client()
      .getOrder('1234567890123456789')
      .catch((e) => e);
    expect(missing).toMatchObject({ status: 404, errorId: 'ERR_ORDER_NOT_FOUND', reason: 'Order not found' });
  });

  it('gives up after its timeout, and says Lalamove may have acted', async () => {
    fake.respond(() => ({ status: 201, body: { data: {} }, delayMs: 300 }));
    const error = await client({ timeoutMs: 50 })
      .quote({ serviceType: 'MOTORCYCLE', stops })
      .catch((e) => e);
    expect(error).toBeInstanceOf(LalamoveError);
    expect(error).toMatchObject({ status: null, refused: false });
    expect(error.message).toMatch(/did not answer/);

    fake.failNext(503);
    expect(
      await client()
        .getOrder('1')
        .catch((e) => e),
    ).toMatchObject({ status: 503, refused: false });
  });
});

describe('the webhook signature', () => {
  const sign = (timestamp: string, path: string, body: string, secret = API_SECRET) =>
    createHmac('sha256', secret).update(`${timestamp}\r\nPOST\r\n${path}\r\n\r\n${body}`).digest('hex');
  /** The deliveries below were signed at 1764064800000; they are checked as if just received. */
  const check = (rawBody: string, paths = ['/webhooks/lalamove'], now = 1764064800000 + 1000) =>
    verifyLalamoveWebhook({ apiKey: API_KEY, apiSecret: API_SECRET, rawBody, paths, now: new Date(now) });

  it("accepts Lalamove's own bytes of data, even where another encoder escapes differently", () => {
    // A Go or Java encoder writes & as \u0026; JSON.stringify would not.
    const data =
      '{"order":{"orderId":"107900701184","shareLink":"https://share.lalamove.com/?HK1\\u0026lang=en_HK","status":"ON_GOING"},"updatedAt":"2026-11-25T10:00:00.00Z"}';
    const body = `{"apiKey":"${API_KEY}","timestamp":1764064800000,"signature":"${sign('1764064800000', '/webhooks/lalamove', data)}","eventId":"E1","eventType":"ORDER_STATUS_CHANGED","eventVersion":"v3","data":${data}}`;
    const result = check(body);
    expect(result.ok).toBe(true);
    expect(result.ok && result.body.data).toMatchObject({
      order: { orderId: '107900701184', status: 'ON_GOING' },
    });
  });

  it('refuses a changed body, another key, another path, another secret, or no signature', () => {
    const data = { order: { orderId: '1', status: 'COMPLETED' } };
    const make = (over: Record<string, unknown> = {}, signed = JSON.stringify(data), secret = API_SECRET) =>
      JSON.stringify({
        apiKey: API_KEY,
        timestamp: 1764064800000,
        signature: sign('1764064800000', '/webhooks/lalamove', signed, secret),
        eventId: 'E2',
        eventType: 'ORDER_STATUS_CHANGED',
        data,
        ...over,
      });
    expect(check(make()).ok).toBe(true);
    expect(check(make({ data: { order: { orderId: '1', status: 'CANCELED' } } }))).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(check(make({ timestamp: 1764064800001 }))).toMatchObject({ reason: 'bad_signature' });
    expect(check(make({ apiKey: 'pk_test_someone_else' }))).toMatchObject({ reason: 'wrong_api_key' });
    expect(check(make(), ['/webhooks/other'])).toMatchObject({ reason: 'bad_signature' });
    expect(check(make({}, JSON.stringify(data), 'sk_test_guess'))).toMatchObject({ reason: 'bad_signature' });
    expect(check(make({ signature: undefined }))).toMatchObject({ reason: 'no_signature' });
    expect(check('not json')).toMatchObject({ reason: 'not_json' });
    expect(check('[1]')).toMatchObject({ reason: 'not_json' });
  });

  it('refuses a delivery whose signed timestamp is more than five minutes from now, either way', () => {
    const data = { order: { orderId: '1', status: 'COMPLETED' } };
    const signedAt = (timestamp: number) =>
      JSON.stringify({
        apiKey: API_KEY,
        timestamp,
        signature: sign(String(timestamp), '/webhooks/lalamove', JSON.stringify(data)),
        eventId: 'E3',
        eventType: 'ORDER_STATUS_CHANGED',
        data,
      });
    const now = 1764064800000;
    const minute = 60_000;
    // The year 2000, and just outside the window on either side.
    expect(check(signedAt(946684800000), undefined, now)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(check(signedAt(now - 5 * minute - 1), undefined, now)).toMatchObject({
      reason: 'stale_timestamp',
    });
    expect(check(signedAt(now + 5 * minute + 1), undefined, now)).toMatchObject({
      reason: 'stale_timestamp',
    });
    // A clock a little off either way is fine.
    expect(check(signedAt(now - 5 * minute), undefined, now).ok).toBe(true);
    expect(check(signedAt(now + 4 * minute), undefined, now).ok).toBe(true);
    // A timestamp that is no number at all is refused too.
    expect(
      check(signedAt(now).replace(`"timestamp":${now}`, '"timestamp":"soon"'), undefined, now),
    ).toMatchObject({
      ok: false,
    });
  });

  it('finds the exact text of a member, braces and quotes inside strings included', () => {
    const text =
      ' { "a" : "}\\"{" , "data":{"x":["]",{"y":"\\\\"}],"z":-1.5e3} ,"b":null, "data" : {"last":true} }';
    expect(rawMember(text, 'data')).toBe('{"last":true}');
    expect(rawMember('{"data":{"x":["]",{"y":"\\\\"}]}}', 'data')).toBe('{"x":["]",{"y":"\\\\"}]}');
    expect(rawMember('{"a":1}', 'data')).toBeNull();
  });
});

describe('POST /webhooks/lalamove', () => {
  /** A person's delivery booked through the whole flow; returns our order and Lalamove's. */
  async function booked() {
    const userId = await createPerson(app.services.db);
    const { quote, confirmation } = await quoteDelivery(deps, userId, quoteRequest());
    await releaseConfirmation(
      app.services.db,
      userId,
      { buttonPayload: confirmButtonPayload(confirmation.token), text: null },
      new Date(Date.now() + 1000),
    );
    const placed = await confirmDelivery(deps, userId, { quoteId: quote.id });
    const row = await app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id: placed.orderId! } });
    return { userId, quoteId: quote.id, row, remote: fake.orders.get(row.externalOrderId)! };
  }
  const stored = (id: string) => app.services.db.deliveryOrder.findUniqueOrThrow({ where: { id } });
  /** Lalamove's delivery, then the jobs it left, run as the worker runs them, so their effect shows. */
  const delivered = async (...args: Parameters<FakeLalamove['postWebhook']>) => {
    const response = await fake.postWebhook(...args);
    await runDueJobs(app, ['lalamove-event']);
    return response;
  };

  it("answers Lalamove's empty registration call with 200 and changes nothing", async () => {
    for (const body of ['', '{}', ' \n']) {
      const response = await fetch(hook, { method: 'POST', body });
      expect(response.status, JSON.stringify(body)).toBe(200);
    }
  });

  it('refuses a bad or missing signature with 401 and changes nothing', async () => {
    const { row, remote } = await booked();
    fake.setStatus(remote.orderId, 'COMPLETED');
    const event = { eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') };
    const attempts = [
      await delivered(hook, event, { secret: 'sk_test_a_guess_at_the_secret' }),
      await delivered(hook, event, { apiKey: 'pk_test_another_account' }),
      await delivered(hook, event, { signature: '0'.repeat(64) }),
      await delivered(hook, event, { path: '/somewhere/else' }),
      await fetch(hook, {
        method: 'POST',
        body: JSON.stringify({ apiKey: API_KEY, timestamp: Date.now(), ...event }),
      }),
      await fetch(hook, { method: 'POST', body: 'status=COMPLETED' }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401]);
    await runDueJobs(app, ['lalamove-event']);
    const after = await stored(row.id);
    expect(after.status).toBe('ASSIGNING_DRIVER');
    expect(after.updatedAt).toEqual(row.updatedAt);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_requests_total\{platform="lalamove",outcome="unauthorized"\} [6-9]/);
  });

  it('refuses a delivery signed with an old timestamp with 401, and changes nothing', async () => {
    const { row, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING');
    const event = { eventType: 'ORDER_STATUS_CHANGED', data: statusChanged(remote, 'ASSIGNING_DRIVER') };
    const attempts = [
      // Signed correctly, in the year 2000.
      await delivered(hook, { ...event, timestamp: Date.UTC(2000, 0, 1) }),
      await delivered(hook, { ...event, timestamp: Date.now() - 6 * 60_000 }),
      await delivered(hook, { ...event, timestamp: Date.now() + 6 * 60_000 }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401]);
    const after = await stored(row.id);
    expect(after.status).toBe('ASSIGNING_DRIVER');
    expect(after.driver).toBeNull();
    expect(after.updatedAt).toEqual(row.updatedAt);
  });

  it('acts on what Lalamove signed and reports, not on the eventType outside the signature', async () => {
    const { row, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING');
    // A status change Lalamove signed whose order also carries a price (a figure other than the
    // order's total), sent again with its eventType swapped to an amount change.
    const data = {
      ...statusChanged(remote, 'ASSIGNING_DRIVER'),
      order: {
        ...statusChanged(remote, 'ASSIGNING_DRIVER').order,
        price: { total: '1.00', currency: 'HKD' },
      },
    };
    const swapped = await delivered(hook, { eventType: 'ORDER_AMOUNT_CHANGED', data });
    expect(swapped.status).toBe(200);
    const after = await stored(row.id);
    expect(after).toMatchObject({ status: 'ON_GOING', priceTotal: row.priceTotal, currency: row.currency });

    // Swapped to a replacement: the signed data names no order it replaces, so nothing is replaced.
    await delivered(hook, { eventType: 'ORDER_REPLACED', data });
    expect(await stored(row.id)).toMatchObject({
      externalOrderId: remote.orderId,
      status: 'ON_GOING',
      driver: { driverId: remote.driverId },
    });

    // A real change of amount is taken, as Lalamove's order states it.
    remote.priceBreakdown = { ...remote.priceBreakdown, total: '188.00' };
    const amount = await delivered(hook, {
      eventType: 'ORDER_AMOUNT_CHANGED',
      data: { order: { orderId: remote.orderId, price: { total: '188.00', currency: 'HKD' } } },
    });
    expect(amount.status).toBe(200);
    expect((await stored(row.id)).priceTotal).toBe('188.00');
  });

  it('follows an order Lalamove replaced, from the previous order id it signed', async () => {
    const { row, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING');
    await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(remote, 'ASSIGNING_DRIVER'),
    });
    expect((await stored(row.id)).status).toBe('ON_GOING');
    const replacement = {
      ...remote,
      // Another id: the last digit changed (to 9, or to 8 when it already was 9).
      orderId: `${remote.orderId.slice(0, -1)}${remote.orderId.endsWith('9') ? '8' : '9'}`,
      status: 'ASSIGNING_DRIVER',
      driverId: '',
    };
    fake.orders.set(replacement.orderId, replacement);
    // The label says a status change; what is signed says a replacement, and that is what counts.
    const response = await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: { order: { orderId: replacement.orderId }, prevOrderId: remote.orderId },
    });
    expect(response.status).toBe(200);
    expect(await stored(row.id)).toMatchObject({
      externalOrderId: replacement.orderId,
      status: 'ASSIGNING_DRIVER',
      driver: null,
    });
  });

  it('applies a signed status change, the driver, and shows them in the status', async () => {
    const { userId, row, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING');
    const moved = await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(remote, 'ASSIGNING_DRIVER'),
    });
    expect(moved.status).toBe(200);
    expect(await stored(row.id)).toMatchObject({ status: 'ON_GOING', driver: { driverId: remote.driverId } });

    expect(
      (await delivered(hook, { eventType: 'DRIVER_ASSIGNED', data: driverAssigned(remote) })).status,
    ).toBe(200);
    expect((await stored(row.id)).driver).toEqual({
      driverId: remote.driverId,
      name: 'Chan Tai Man',
      phone: '+85290001111',
      plateNumber: 'AB 1234',
    });
    // Lalamove's own answer agrees, so the status the person sees is the same.
    const status = await deliveryStatus({ ...deps, lalamove: undefined }, userId, { orderId: row.id });
    expect(status).toMatchObject({ status: 'ON_GOING', driver: { name: 'Chan Tai Man' } });
  });

  it('answers once the event is recorded; a job applies it, once per event id, and again when Lalamove did not answer', async () => {
    const { row, remote } = await booked();
    fake.setStatus(remote.orderId, 'ON_GOING');
    const event = {
      eventId: `E-${row.id}`,
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(remote, 'ASSIGNING_DRIVER'),
    };
    const jobs = () =>
      app.services.db.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM graphile_worker.jobs WHERE task_identifier = 'lalamove-event'`;
    const before = new Set((await jobs()).map((j) => j.id));
    expect((await fake.postWebhook(hook, event)).status).toBe(200);
    expect((await fake.postWebhook(hook, event)).status).toBe(200);
    // Nothing applied before the answer; one event kept, one job for it.
    expect((await stored(row.id)).status).toBe('ASSIGNING_DRIVER');
    expect(
      await app.services.db.providerEvent.count({ where: { provider: 'lalamove', eventId: event.eventId } }),
    ).toBe(1);
    // Other tests' jobs may still be queued: this event's job is the one that was not there before.
    const added = (await jobs()).filter((j) => !before.has(j.id));
    expect(added).toHaveLength(1);

    // Lalamove does not answer the job's read: the job fails, stays queued, and applies later.
    fake.failNext(503);
    await runDueJobs(app, ['lalamove-event']);
    expect((await stored(row.id)).status).toBe('ASSIGNING_DRIVER');
    const [job] = await app.services.db.$queryRaw<{ id: string; attempts: number }[]>`
      SELECT id::text AS id, attempts FROM graphile_worker.jobs WHERE id = ${added[0]!.id}::bigint`;
    expect(job?.attempts).toBe(1);
    await app.services.db
      .$executeRaw`SELECT graphile_worker.reschedule_jobs(ARRAY[${job!.id}::bigint], run_at => now())`;
    await runDueJobs(app, ['lalamove-event']);
    expect((await stored(row.id)).status).toBe('ON_GOING');
    expect(
      await app.services.db.providerEvent.findFirstOrThrow({ where: { eventId: event.eventId } }),
    ).toMatchObject({ outcome: 'applied', processedAt: expect.any(Date) });
  });

  it('is idempotent: a redelivery or a late, older event changes nothing', async () => {
    const { row, remote } = await booked();
    fake.setStatus(remote.orderId, 'PICKED_UP');
    const event = {
      eventId: 'A1B2C3',
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(remote, 'ON_GOING'),
    };
    expect((await delivered(hook, event)).status).toBe(200);
    const first = await stored(row.id);
    expect(first.status).toBe('PICKED_UP');

    expect((await delivered(hook, event)).status).toBe(200);
    expect(await stored(row.id)).toEqual(first);

    // Sent earlier, arriving later: ON_GOING after PICKED_UP.
    const older = { ...remote, status: 'ON_GOING' };
    expect(
      (
        await delivered(hook, {
          eventType: 'ORDER_STATUS_CHANGED',
          data: statusChanged(older, 'ASSIGNING_DRIVER'),
        })
      ).status,
    ).toBe(200);
    expect(await stored(row.id)).toEqual(first);

    fake.setStatus(remote.orderId, 'COMPLETED');
    await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(remote, 'PICKED_UP'),
    });
    await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(older, 'PICKED_UP'),
    });
    expect((await stored(row.id)).status).toBe('COMPLETED');
  });

  it('answers 200 for orders it does not know and events it does not use', async () => {
    const unknown = { ...(await booked()).remote, orderId: '3000000000000000001' };
    const response = await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(unknown, 'ASSIGNING_DRIVER'),
    });
    expect(response.status).toBe(200);
    expect(await app.services.db.deliveryOrder.count({ where: { externalOrderId: unknown.orderId } })).toBe(
      0,
    );
    const wallet = await delivered(hook, {
      eventType: 'WALLET_BALANCE_CHANGED',
      data: { balance: { amount: '99858', currency: 'HKD' }, updatedAt: '2026-11-25T10:00:00.00Z' },
    });
    expect(wallet.status).toBe(200);
  });

  it('records deliveries that arrive together in one transaction: a redelivery stored once, a forged one refused', async () => {
    const wallet = (eventId: string) => ({
      eventId,
      eventType: 'WALLET_BALANCE_CHANGED',
      data: { balance: { amount: '99858', currency: 'HKD' }, updatedAt: '2026-11-25T10:00:00.00Z' },
    });
    const id = () => crypto.randomUUID().toUpperCase();
    // The first `lalamove-event` job ever adds the task's row to the queue's tables: a batch held
    // with it uncommitted would hold every other batch adding such a job.
    expect((await fake.postWebhook(hook, wallet(id()))).status).toBe(200);

    // A delivery whose batch is held at its commit: the next ones gather meanwhile.
    const first = wallet(id());
    const hold = await holdBatchOf(app.database, first.eventId);
    const [a, b, forged] = [wallet(id()), wallet(id()), wallet(id())];
    const before = await (await fetch(`${app.url}/metrics`)).text();
    let firstAnswer: Promise<Response> | undefined;
    try {
      firstAnswer = fake.postWebhook(hook, first);
      await hold.held();
      const answers = await Promise.all([
        fake.postWebhook(hook, a),
        fake.postWebhook(hook, forged, { secret: 'sk_test_a_guess_at_the_secret' }),
        fake.postWebhook(hook, b),
        fake.postWebhook(hook, a),
      ]);
      expect(answers.map((r) => r.status)).toEqual([200, 401, 200, 200]);
      // Committed (answered) while the first batch still waits: in one transaction of their own.
      const written = await eventTransactions(app.database, 'lalamove', [
        first.eventId,
        a.eventId,
        b.eventId,
        forged.eventId,
      ]);
      expect([...written.keys()].sort()).toEqual([a.eventId, b.eventId].sort());
      expect(new Set(written.values()).size).toBe(1);
    } finally {
      await hold.release();
    }
    expect((await firstAnswer)?.status).toBe(200);
    const after = await (await fetch(`${app.url}/metrics`)).text();
    const grew = (series: string) => metric(after, series) - metric(before, series);
    expect(grew('webhook_batch_events_count{outcome="committed"}')).toBe(2);
    expect(grew('webhook_batch_events_sum{outcome="committed"}')).toBe(1 + 3);
    expect(grew('webhook_requests_total{platform="lalamove",outcome="accepted"}')).toBe(3);
    expect(grew('webhook_requests_total{platform="lalamove",outcome="duplicate"}')).toBe(1);
    expect(grew('webhook_requests_total{platform="lalamove",outcome="unauthorized"}')).toBe(1);
    // One job per event stored.
    const { rows } = await app.database.pool.query<{ event: string }>(
      `SELECT events.event_id AS event
         FROM graphile_worker._private_jobs AS jobs
         JOIN provider_events AS events ON events.id = (jobs.payload->>'id')::uuid
        WHERE events.provider = 'lalamove' AND events.event_id = ANY($1::text[])`,
      [[first.eventId, a.eventId, b.eventId, forged.eventId]],
    );
    expect(rows.map((r) => r.event).sort()).toEqual([first.eventId, a.eventId, b.eventId].sort());
    await runDueJobs(app, ['lalamove-event']);
  });

  it('finds the order whose placement got no answer, by its quotation, when Lalamove reports it', async () => {
    const { userId, quote } = await confirmedQuote(deps, app.services.db);
    fake.failNext(504, { path: '/v3/orders', afterCreate: true });
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'PLACEMENT_UNKNOWN');
    const { externalQuotationId } = await app.services.db.deliveryQuote.findUniqueOrThrow({
      where: { id: quote.id },
    });
    const remote = [...fake.orders.values()].find((o) => o.quotationId === externalQuotationId)!;
    // Operators see it waiting for Lalamove's word.
    const unplaced = async () =>
      Number(
        /delivery_orders_unplaced\{status="PLACEMENT_UNKNOWN"\} (\d+)/.exec(
          await (await fetch(`${app.url}/metrics`)).text(),
        )?.[1],
      );
    expect(await unplaced()).toBeGreaterThanOrEqual(1);
    const waiting = await unplaced();

    fake.setStatus(remote.orderId, 'ON_GOING');
    const response = await delivered(hook, {
      eventType: 'ORDER_STATUS_CHANGED',
      data: statusChanged(remote, 'ASSIGNING_DRIVER'),
    });
    expect(response.status).toBe(200);
    const row = await app.services.db.deliveryOrder.findFirstOrThrow({ where: { quoteId: quote.id } });
    expect(row).toMatchObject({ externalOrderId: remote.orderId, status: 'ON_GOING' });
    expect((await deliveryStatus(deps, userId, { quoteId: quote.id })).status).toBe('ON_GOING');
    await refused(confirmDelivery(deps, userId, { quoteId: quote.id }), 'ALREADY_USED');
    expect(await unplaced()).toBe(waiting - 1);
  });
});
