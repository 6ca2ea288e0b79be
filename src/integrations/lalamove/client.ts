/**
 * Lalamove's Delivery API v3 for one market: quotations, orders, drivers.
 *
 * Every request is signed the way Lalamove documents ("Authentication", developers.lalamove.com;
 * the same recipe in Lalamove's own SDK, github.com/lalamove/delivery-nodejs-sdk `src/http/base.ts`
 * and `src/auth.ts`, and in lalamove/api-examples):
 *
 *   Authorization: hmac <API key>:<timestamp ms>:<hex HMAC-SHA256(secret, raw)>
 *   raw = `${timestamp}\r\n${METHOD}\r\n${path}\r\n\r\n${body}`   (body empty for GET and DELETE)
 *
 * with a `Market` header (HK, SG, …) and a `Request-ID` nonce that Lalamove support looks requests
 * up by (it is not an idempotency key: Lalamove documents none). Bodies go and come wrapped in
 * `{"data": …}`; errors come as `{"errors": [{"id": "ERR_…", "message": …, "detail": …}]}`.
 *
 * A failure is a LalamoveError. `answered` tells whether Lalamove certainly refused (a 4xx: the
 * request did nothing) or may have acted (no answer, a timeout, a 5xx): for placing an order the
 * difference decides whether trying again could book a second delivery.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { z } from 'zod';

export interface LalamoveOptions {
  apiKey: string;
  apiSecret: string;
  /** `https://rest.lalamove.com` (production) or `https://rest.sandbox.lalamove.com`; no trailing slash. */
  apiUrl: string;
  /** The market every request is scoped to: HK, SG, MY, TH, PH, ID, VN, TW, MX, BR, … */
  market: string;
  /** Quotation language, such as en_HK; by default `en_<market>`. */
  language?: string;
  /** Per request; 10 s by default. */
  timeoutMs?: number;
  /** The clock the signature's timestamp comes from. */
  now?: () => Date;
}

export class LalamoveError extends Error {
  override name = 'LalamoveError';
  /** The HTTP status, or null when Lalamove did not answer (network failure, timeout). */
  readonly status: number | null;
  /** Lalamove's error id (ERR_INVALID_QUOTATION_ID, ERR_CANCELLATION_FORBIDDEN, …), when it gave one. */
  readonly errorId: string | null;
  /** Lalamove's own words for the error, when it gave any. */
  readonly reason: string | null;
  readonly detail: string | null;
  /** Our Request-ID for the call, which Lalamove support can look up. */
  readonly requestId: string;
  constructor(
    message: string,
    init: {
      status: number | null;
      errorId?: string | null;
      reason?: string | null;
      detail?: string | null;
      requestId: string;
    },
  ) {
    super(message);
    this.status = init.status;
    this.errorId = init.errorId ?? null;
    this.reason = init.reason ?? null;
    this.detail = init.detail ?? null;
    this.requestId = init.requestId;
  }

  /** True when Lalamove answered with a refusal (4xx), so the request certainly changed nothing. */
  get refused(): boolean {
    return this.status !== null && this.status >= 400 && this.status < 500;
  }
}

const coordinates = z.object({ lat: z.string(), lng: z.string() });
const priceBreakdown = z
  .object({ total: z.string(), currency: z.string() })
  .catchall(z.unknown())
  .describe('Lalamove states amounts as decimal strings');

const quotationSchema = z.object({
  quotationId: z.string().min(1),
  scheduleAt: z.string().optional(),
  expiresAt: z.string(),
  serviceType: z.string(),
  priceBreakdown,
  stops: z
    .array(z.object({ stopId: z.string().min(1), coordinates: coordinates.optional(), address: z.string() }))
    .min(2),
  distance: z.object({ value: z.string(), unit: z.string() }).optional(),
});

const orderSchema = z.object({
  orderId: z.string().min(1),
  quotationId: z.string().optional(),
  status: z.string().min(1),
  shareLink: z.string().optional(),
  driverId: z.string().optional(),
  priceBreakdown: priceBreakdown.optional(),
  stops: z.array(z.object({ stopId: z.string().optional() }).catchall(z.unknown())).optional(),
});

const driverSchema = z.object({
  driverId: z.string(),
  name: z.string().optional(),
  phone: z.string().optional(),
  plateNumber: z.string().optional(),
  photo: z.string().optional(),
});

export type LalamoveQuotation = z.output<typeof quotationSchema>;
export type LalamoveOrder = z.output<typeof orderSchema>;
export type LalamoveDriver = z.output<typeof driverSchema>;

export interface QuotationRequest {
  serviceType: string;
  /** Pickup first, then drop-offs; coordinates as decimal strings. */
  stops: { coordinates: { lat: string; lng: string }; address: string }[];
  /** ISO 8601 in UTC; omitted for "now". */
  scheduleAt?: string;
  item?: { quantity?: string; weight?: string; categories?: string[]; handlingInstructions?: string[] };
  language?: string;
}

export interface OrderRequest {
  quotationId: string;
  sender: { stopId: string; name: string; phone: string };
  recipients: { stopId: string; name: string; phone: string; remarks?: string }[];
  isPODEnabled?: boolean;
  metadata?: Record<string, string>;
}

export interface LalamoveClient {
  readonly market: string;
  quote(request: QuotationRequest): Promise<LalamoveQuotation>;
  placeOrder(request: OrderRequest): Promise<LalamoveOrder>;
  getOrder(orderId: string): Promise<LalamoveOrder>;
  /** Cancels an order (allowed by Lalamove until shortly after a driver is matched). */
  cancelOrder(orderId: string): Promise<void>;
  getDriver(orderId: string, driverId: string): Promise<LalamoveDriver>;
}

/**
 * The raw string Lalamove's request signature covers and its hex HMAC-SHA256. Exported for the
 * webhook check, which uses the same recipe (see webhook.ts).
 */
export function lalamoveSignature(
  secret: string,
  parts: { timestamp: string; method: string; path: string; body: string },
): string {
  const raw = `${parts.timestamp}\r\n${parts.method}\r\n${parts.path}\r\n\r\n${parts.body}`;
  return createHmac('sha256', secret).update(raw).digest('hex');
}

export function createLalamoveClient(options: LalamoveOptions): LalamoveClient {
  const now = options.now ?? (() => new Date());
  const language = options.language ?? `en_${options.market}`;

  async function call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    payload: unknown,
    schema: z.ZodType<T> | null,
  ): Promise<T> {
    const requestId = randomUUID();
    const body = payload === undefined ? '' : JSON.stringify({ data: payload });
    const timestamp = String(now().getTime());
    const signature = lalamoveSignature(options.apiSecret, { timestamp, method, path, body });
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${options.apiUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json; charset=utf-8' } : {}),
          authorization: `hmac ${options.apiKey}:${timestamp}:${signature}`,
          market: options.market,
          'request-id': requestId,
        },
        body: body || undefined,
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new LalamoveError(
        timedOut
          ? `Lalamove did not answer ${method} ${path} in time`
          : `Lalamove could not be reached: ${(error as Error).message}`,
        { status: null, requestId },
      );
    }
    const json = parseJson(text);
    if (!response.ok) {
      const first = errorsOf(json)[0];
      const reason = first?.message ?? first?.id ?? null;
      throw new LalamoveError(
        `Lalamove answered ${method} ${path} with ${response.status}: ${reason ?? 'no reason given'}`,
        {
          status: response.status,
          errorId: first?.id ?? null,
          reason,
          detail: first?.detail ?? null,
          requestId,
        },
      );
    }
    if (!schema) return undefined as T;
    const parsed = schema.safeParse((json as { data?: unknown } | null)?.data);
    if (!parsed.success) {
      // Lalamove acted (2xx) but we cannot read the answer: treated like no answer, because the
      // caller must not assume nothing happened.
      throw new LalamoveError(`Lalamove answered ${method} ${path} in an unexpected shape`, {
        status: null,
        detail: parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; '),
        requestId,
      });
    }
    return parsed.data;
  }

  const id = (value: string) => encodeURIComponent(value);

  return {
    market: options.market,
    quote: (request) =>
      call(
        'POST',
        '/v3/quotations',
        { language, ...request },
        quotationSchema as z.ZodType<LalamoveQuotation>,
      ),
    placeOrder: (request) => call('POST', '/v3/orders', request, orderSchema as z.ZodType<LalamoveOrder>),
    getOrder: (orderId) =>
      call('GET', `/v3/orders/${id(orderId)}`, undefined, orderSchema as z.ZodType<LalamoveOrder>),
    cancelOrder: (orderId) => call('DELETE', `/v3/orders/${id(orderId)}`, undefined, null),
    getDriver: (orderId, driverId) =>
      call(
        'GET',
        `/v3/orders/${id(orderId)}/drivers/${id(driverId)}`,
        undefined,
        driverSchema as z.ZodType<LalamoveDriver>,
      ),
  };
}

function parseJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Lalamove's `errors` array (v3), or the `message` of the older shape some gateways still send. */
function errorsOf(json: unknown): { id?: string; message?: string; detail?: string }[] {
  if (!json || typeof json !== 'object') return [];
  const { errors, message } = json as { errors?: unknown; message?: unknown };
  if (Array.isArray(errors)) {
    return errors
      .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
      .map((e) => ({
        id: typeof e.id === 'string' ? e.id : undefined,
        message: typeof e.message === 'string' ? e.message : undefined,
        detail: typeof e.detail === 'string' ? e.detail : undefined,
      }));
  }
  return typeof message === 'string' ? [{ message }] : [];
}
