/**
 * Lalamove's side, for tests: a loopback Delivery API v3 that checks requests the way Lalamove
 * does (the `hmac <key>:<timestamp>:<signature>` Authorization header, recomputed here from the
 * secret, the raw body and the path; a fresh timestamp; the Market header; a Request-ID) and
 * answers quotations, orders, order details, cancellation and driver details in Lalamove's shapes
 * (`{"data": …}`, errors as `{"errors": [{"id", "message"}]}`). It also posts webhooks signed as
 * Lalamove signs them. Failures can be asked for, including the nasty one: the order is created
 * but the answer is lost.
 *
 * The signature is computed here independently of src/integrations/lalamove, so a mistake there
 * fails the tests instead of agreeing with itself.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { startLoopbackServer } from './server.ts';

export interface FakeRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** The parsed body's `data`, when there was a body. */
  data: Record<string, unknown> | null;
  /** Whether the Authorization header checked out. */
  authorized: boolean;
}

export interface FakeStop {
  stopId: string;
  coordinates: { lat: string; lng: string };
  address: string;
}

export interface FakeQuotation {
  quotationId: string;
  serviceType: string;
  expiresAt: string;
  stops: FakeStop[];
  priceBreakdown: { base: string; totalExcludePriorityFee: string; total: string; currency: string };
}

/** What Lalamove tells about a driver (GET …/drivers/{driverId}, DRIVER_ASSIGNED). */
export interface FakeDriver {
  name: string;
  phone: string;
  plateNumber: string;
}

/** The driver every order gets unless a test names another. */
export const DEFAULT_DRIVER: FakeDriver = {
  name: 'Chan Tai Man',
  phone: '+85290001111',
  plateNumber: 'AB 1234',
};

export interface FakeOrder {
  orderId: string;
  quotationId: string;
  status: string;
  /** Empty while no driver has the order, as Lalamove reports it. */
  driverId: string;
  /** Who `driverId` is. Not part of Lalamove's order body: its driver endpoint and DRIVER_ASSIGNED tell it. */
  driver?: FakeDriver;
  shareLink: string;
  priceBreakdown: FakeQuotation['priceBreakdown'];
  stops: (FakeStop & { name: string; phone: string; remarks?: string })[];
}

export interface Answer {
  status: number;
  body?: unknown;
  /** Milliseconds to wait before answering (to trip the client's timeout). */
  delayMs?: number;
  /** Answers only once this settles: a slow answer the test ends when it has done something meanwhile. */
  until?: Promise<unknown>;
}

export interface FakeLalamove {
  url: string;
  apiKey: string;
  requests: FakeRequest[];
  quotes: Map<string, FakeQuotation>;
  orders: Map<string, FakeOrder>;
  /** The price the next quotations get. */
  price: { total: string; currency: string };
  /**
   * The next matching request fails with `status`. With `afterCreate`, a POST /v3/orders creates
   * the order first and only then fails: Lalamove booked it, but the caller never hears so.
   */
  failNext(
    status: number,
    options?: { method?: string; path?: string; errorId?: string; message?: string; afterCreate?: boolean },
  ): void;
  /** Answers the next request `handler` returns an answer for, instead of the fake's own logic. */
  respond(handler: (request: FakeRequest) => Answer | undefined): void;
  /**
   * Moves an order as Lalamove would: a driver takes it (`driver`, or the default one), picks it
   * up, … Back to ASSIGNING_DRIVER is a driver giving the order back: Lalamove then reports no
   * driver until another takes it, who has a new driver id.
   */
  setStatus(orderId: string, status: string, driver?: FakeDriver): FakeOrder;
  /**
   * Posts a webhook to `url` (our full webhook URL) signed like Lalamove's. `sign` overrides what
   * is signed, to test refusals.
   */
  postWebhook(
    url: string,
    event: { eventType: string; data: Record<string, unknown>; eventId?: string; timestamp?: number },
    sign?: { secret?: string; apiKey?: string; path?: string; signature?: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

/** An id like Lalamove's (19 digits since April 2025). */
export function lalamoveId(): string {
  return `${randomInt(1, 10)}${String(randomInt(0, 1e9)).padStart(9, '0')}${String(randomInt(0, 1e9)).padStart(9, '0')}`;
}

/** Lalamove writes times with two fractional digits: 2022-04-13T07:23:39.00Z. */
function lalamoveTime(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, '.00Z');
}

/** The data of an ORDER_STATUS_CHANGED event, in the shape Lalamove posts. */
export function statusChanged(order: FakeOrder, previousStatus: string) {
  return {
    order: {
      orderId: order.orderId,
      scheduleAt: lalamoveTime(new Date()),
      shareLink: order.shareLink,
      market: 'HK_HKG',
      createdAt: lalamoveTime(new Date()),
      driverId: order.driverId,
      previousStatus,
      status: order.status,
    },
    updatedAt: lalamoveTime(new Date()),
  };
}

/** The data of a DRIVER_ASSIGNED event. */
export function driverAssigned(order: FakeOrder) {
  const driver = order.driver ?? DEFAULT_DRIVER;
  return {
    driver: {
      driverId: order.driverId,
      phone: driver.phone,
      name: driver.name,
      photo: '',
      plateNumber: driver.plateNumber,
    },
    location: { lat: '22.3354', lng: '114.1761' },
    order: { orderId: order.orderId },
    updatedAt: lalamoveTime(new Date()),
  };
}

export async function startFakeLalamove(options: {
  apiKey: string;
  apiSecret: string;
  market?: string;
}): Promise<FakeLalamove> {
  const market = options.market ?? 'HK';
  const requests: FakeRequest[] = [];
  const quotes = new Map<string, FakeQuotation>();
  const orders = new Map<string, FakeOrder>();
  const failures: {
    status: number;
    method?: string;
    path?: string;
    errorId?: string;
    message?: string;
    afterCreate?: boolean;
  }[] = [];
  const responders: ((request: FakeRequest) => Answer | undefined)[] = [];
  const fake = { price: { total: '140', currency: 'HKD' } };

  const errors = (status: number, id: string, message: string): Answer => ({
    status,
    body: { errors: [{ id, message }] },
  });

  function authorized(req: IncomingMessage, path: string, raw: string): boolean {
    const match = /^hmac ([^:]+):(\d+):([0-9a-f]{64})$/.exec(String(req.headers.authorization ?? ''));
    if (!match) return false;
    const [, key, timestamp, signature] = match as unknown as [string, string, string, string];
    if (key !== options.apiKey) return false;
    // Lalamove refuses stale timestamps.
    if (Math.abs(Date.now() - Number(timestamp)) > 5 * 60_000) return false;
    const expected = createHmac('sha256', options.apiSecret)
      .update(`${timestamp}\r\n${req.method}\r\n${path}\r\n\r\n${raw}`)
      .digest('hex');
    return timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
  }

  function createOrder(data: Record<string, unknown>): Answer {
    const quotation = quotes.get(String(data.quotationId));
    if (!quotation || Date.parse(quotation.expiresAt) <= Date.now()) {
      return errors(422, 'ERR_INVALID_QUOTATION_ID', 'Quotation ID is invalid or expired');
    }
    const sender = data.sender as { stopId?: string; name?: string; phone?: string } | undefined;
    const recipients = data.recipients as {
      stopId?: string;
      name?: string;
      phone?: string;
      remarks?: string;
    }[];
    const phone = /^\+[1-9]\d{6,14}$/;
    if (!sender || !Array.isArray(recipients) || recipients.length !== quotation.stops.length - 1) {
      return errors(422, 'ERR_MISSING_FIELD', 'sender and recipients are required');
    }
    if (![sender, ...recipients].every((c) => c.name && c.phone && phone.test(c.phone))) {
      return errors(422, 'ERR_INVALID_PHONE_NUMBER', 'Phone number is invalid');
    }
    const ids = [sender.stopId, ...recipients.map((r) => r.stopId)];
    if (ids.some((id, i) => id !== quotation.stops[i]?.stopId)) {
      return errors(422, 'ERR_INVALID_FIELD', 'stopId does not match the quotation');
    }
    const orderId = lalamoveId();
    const order: FakeOrder = {
      orderId,
      quotationId: quotation.quotationId,
      status: 'ASSIGNING_DRIVER',
      driverId: '',
      shareLink: `https://share.sandbox.lalamove.com?${market}${orderId}&lang=en_${market}&sign=0`,
      priceBreakdown: quotation.priceBreakdown,
      stops: quotation.stops.map((stop, i) => ({
        ...stop,
        name: String([sender, ...recipients][i]!.name),
        phone: String([sender, ...recipients][i]!.phone),
        ...(i > 0 && recipients[i - 1]!.remarks ? { remarks: recipients[i - 1]!.remarks } : {}),
      })),
    };
    orders.set(orderId, order);
    return { status: 201, body: { data: orderBody(order) } };
  }

  const orderBody = (order: FakeOrder) => ({
    orderId: order.orderId,
    quotationId: order.quotationId,
    priceBreakdown: order.priceBreakdown,
    driverId: order.driverId,
    shareLink: order.shareLink,
    status: order.status,
    distance: { value: '12821', unit: 'm' },
    stops: order.stops,
    metadata: {},
  });

  function handle(request: FakeRequest): Answer {
    const { method, path, data } = request;
    if (method === 'POST' && path === '/v3/quotations') {
      const stops = data?.stops as { coordinates?: { lat?: unknown; lng?: unknown }; address?: unknown }[];
      if (!Array.isArray(stops) || stops.length < 2) {
        return errors(422, 'ERR_INSUFFICIENT_STOPS', 'At least 2 stops are required');
      }
      const valid = stops.every(
        (s) =>
          typeof s.address === 'string' &&
          typeof s.coordinates?.lat === 'string' &&
          typeof s.coordinates?.lng === 'string',
      );
      if (!valid)
        return errors(
          422,
          'ERR_INVALID_FIELD',
          'stops need coordinates {lat, lng} as strings and an address',
        );
      if (typeof data?.serviceType !== 'string' || !/^[A-Z_]+$/.test(data.serviceType)) {
        return errors(422, 'ERR_INVALID_SERVICE_TYPE', 'Invalid service type');
      }
      if (typeof data.language !== 'string') return errors(422, 'ERR_MISSING_FIELD', 'language is required');
      const quotation: FakeQuotation = {
        quotationId: lalamoveId(),
        serviceType: data.serviceType,
        expiresAt: lalamoveTime(new Date(Date.now() + 5 * 60_000)),
        stops: stops.map((s) => ({
          stopId: lalamoveId(),
          coordinates: s.coordinates as { lat: string; lng: string },
          address: s.address as string,
        })),
        priceBreakdown: {
          base: fake.price.total,
          totalExcludePriorityFee: fake.price.total,
          total: fake.price.total,
          currency: fake.price.currency,
        },
      };
      quotes.set(quotation.quotationId, quotation);
      return {
        status: 201,
        body: {
          data: {
            quotationId: quotation.quotationId,
            scheduleAt: (data.scheduleAt as string | undefined) ?? lalamoveTime(new Date()),
            expiresAt: quotation.expiresAt,
            serviceType: quotation.serviceType,
            specialRequests: [],
            language: String(data.language).toUpperCase(),
            stops: quotation.stops,
            isRouteOptimized: false,
            priceBreakdown: quotation.priceBreakdown,
            distance: { value: '12821', unit: 'm' },
          },
        },
      };
    }
    if (method === 'POST' && path === '/v3/orders') return createOrder(data ?? {});
    const driver = /^\/v3\/orders\/([^/]+)\/drivers\/([^/]+)$/.exec(path);
    if (method === 'GET' && driver) {
      const order = orders.get(driver[1]!);
      // Only the order's current driver: one who gave the order back is no longer its driver.
      if (!order || order.driverId !== driver[2])
        return errors(404, 'ERR_DRIVER_NOT_FOUND', 'Driver not found');
      const details = order.driver ?? DEFAULT_DRIVER;
      return {
        status: 200,
        body: {
          data: {
            driverId: order.driverId,
            name: details.name,
            phone: details.phone,
            plateNumber: details.plateNumber,
            photo: '',
            coordinates: { lat: '22.3354', lng: '114.1761', updatedAt: lalamoveTime(new Date()) },
          },
        },
      };
    }
    const one = /^\/v3\/orders\/([^/]+)$/.exec(path);
    if (one) {
      const order = orders.get(decodeURIComponent(one[1]!));
      if (!order) return errors(404, 'ERR_ORDER_NOT_FOUND', 'Order not found');
      if (method === 'GET') return { status: 200, body: { data: orderBody(order) } };
      if (method === 'DELETE') {
        if (order.status !== 'ASSIGNING_DRIVER' && order.status !== 'ON_GOING') {
          return errors(422, 'ERR_CANCELLATION_FORBIDDEN', 'The order cannot be cancelled any more');
        }
        order.status = 'CANCELED';
        return { status: 204 };
      }
    }
    return errors(404, 'ERR_NOT_FOUND', 'Not found');
  }

  const server = await startLoopbackServer(async ({ raw }, _res, req) => {
    const path = (req.url ?? '/').split('?')[0]!;
    let data: Record<string, unknown> | null = null;
    let readable = true;
    if (raw) {
      try {
        data = (JSON.parse(raw) as { data?: Record<string, unknown> }).data ?? null;
      } catch {
        readable = false;
      }
    }
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      data,
      authorized: authorized(req, path, raw),
    };
    requests.push(request);

    const send = async (answer: Answer): Promise<Answer> => {
      await answer.until;
      return answer;
    };
    if (!request.authorized) return send(errors(401, 'ERR_UNAUTHORIZED', 'Unauthorized'));
    if (req.headers.market !== market) return send(errors(422, 'ERR_INVALID_MARKET', 'Invalid market'));
    if (!req.headers['request-id']) return send(errors(400, 'ERR_MISSING_FIELD', 'Request-ID is required'));
    if (!readable || (raw && !data))
      return send(errors(400, 'ERR_INVALID_FIELD', 'The body must be {"data": …}'));

    for (const [i, responder] of responders.entries()) {
      const answer = responder(request);
      if (answer) {
        responders.splice(i, 1);
        return send(answer);
      }
    }
    const failure = failures.findIndex(
      (f) => (!f.method || f.method === request.method) && (!f.path || f.path === path),
    );
    if (failure >= 0) {
      const [f] = failures.splice(failure, 1);
      if (f!.afterCreate) handle(request);
      return send(errors(f!.status, f!.errorId ?? 'ERR_INTERNAL', f!.message ?? 'Something went wrong'));
    }
    return send(handle(request));
  });
  const { url } = server;

  return {
    url,
    apiKey: options.apiKey,
    requests,
    quotes,
    orders,
    get price() {
      return fake.price;
    },
    set price(value) {
      fake.price = value;
    },
    failNext(status, failure = {}) {
      failures.push({ status, ...failure });
    },
    respond(handler) {
      responders.push(handler);
    },
    setStatus(orderId, status, driver) {
      const order = orders.get(orderId);
      if (!order) throw new Error(`no fake order ${orderId}`);
      order.status = status;
      if (status === 'ASSIGNING_DRIVER') {
        // Nobody has the order while Lalamove looks for a driver: its driverId reads "".
        order.driverId = '';
        delete order.driver;
      } else if (!order.driverId) {
        order.driverId = String(randomInt(1_000_000, 9_999_999));
        order.driver = driver ?? DEFAULT_DRIVER;
      }
      return order;
    },
    async postWebhook(target, event, sign = {}) {
      const timestamp = event.timestamp ?? Date.now();
      const path = sign.path ?? new URL(target).pathname;
      const signature =
        sign.signature ??
        createHmac('sha256', sign.secret ?? options.apiSecret)
          .update(`${timestamp}\r\nPOST\r\n${path}\r\n\r\n${JSON.stringify(event.data)}`)
          .digest('hex');
      return fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiKey: sign.apiKey ?? options.apiKey,
          timestamp,
          signature,
          eventId: event.eventId ?? crypto.randomUUID().toUpperCase(),
          eventType: event.eventType,
          eventVersion: 'v3',
          data: event.data,
        }),
      });
    },
    close: server.close,
  };
}
