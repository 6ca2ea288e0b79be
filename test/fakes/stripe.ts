/**
 * Stripe's side, for tests: a loopback API speaking Stripe's wire format for the calls the
 * product makes. Requests are form-encoded with Stripe's bracket notation
 * (`metadata[organizationId]=…`, `line_items[0][price]=…`), authorised by `Authorization: Bearer
 * <secret key>`; answers are JSON objects with `id` and `object`; errors are
 * `{ error: { type, message, code } }` with Stripe's statuses.
 *
 * `Idempotency-Key` is honoured as Stripe honours it: a POST with a key seen before and the same
 * method, path and body gets the stored answer again with `Idempotent-Replayed: true` and creates
 * nothing; the same key with another body is a 400 `idempotency_error`. Every object created
 * remembers the key it was created with (`createdWithKey`), so a test proves "one object per key".
 *
 * A call can be made to hang (its object is created, the answer comes too late: the nasty case
 * of a timeout after Stripe acted) or to fail. Webhook events are posted signed exactly as Stripe
 * signs them: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" with the
 * endpoint secret>`, computed here independently of the SDK.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type LoopbackReply, startLoopbackServer } from './server.ts';

export const STRIPE_SECRET_KEY = 'sk_test_fake51Hx0a9b8c7d6e5f4';
export const STRIPE_WEBHOOK_SECRET = 'whsec_fake_current_0a1b2c3d4e5f';

/** The plans' prices a test app's Stripe settings name. */
export const TEST_PRICES = {
  STRIPE_PRICE_VENUE_STARTER: 'price_venue_starter_test',
  STRIPE_PRICE_VENUE_GROWTH: 'price_venue_growth_test',
  STRIPE_PRICE_VENUE_PRO: 'price_venue_pro_test',
  STRIPE_PRICE_DEVELOPER_PRO: 'price_developer_pro_test',
  // The meters the growth plan and the developer plan bill.
  STRIPE_METERED_PRICES_VENUE_GROWTH: 'price_conversations_test,price_a2a_bookings_test',
  STRIPE_METERED_PRICES_DEVELOPER_PRO: 'price_api_calls_test',
} as const;

/** A test app's settings with billing on against `fake` (every plan priced), plus `extra`. */
export function stripeEnv(fake: { url: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRETS: STRIPE_WEBHOOK_SECRET,
    STRIPE_API_BASE: fake.url,
    STRIPE_TIMEOUT_MS: '1000',
    PUBLIC_URL: 'https://app.agnt.test',
    ...TEST_PRICES,
    ...extra,
  };
}

export interface FakeStripeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  idempotencyKey: string | undefined;
  /** The form body decoded from Stripe's bracket notation. */
  params: Record<string, unknown>;
  /** Whether the stored answer of an earlier request with this key was replayed. */
  replayed: boolean;
}

type StripeObject = Record<string, unknown> & { id: string; object: string };

interface Stored {
  method: string;
  path: string;
  body: string;
  reply: LoopbackReply;
}

export interface FakeStripe {
  url: string;
  secretKey: string;
  requests: FakeStripeRequest[];
  /** Every object by id (customers, sessions, subscriptions, invoices, …). */
  objects: Map<string, StripeObject>;
  /** The idempotency key each created object was created with (undefined: none). */
  createdWithKey: Map<string, string | undefined>;
  /** How many objects were created by requests carrying `key`. */
  objectsCreatedWith(key: string): number;
  /** Identifiers of meter events sent again after Stripe had one (not counted again). */
  duplicateMeterEvents: string[];
  /** Every meter event Stripe counted, one per identifier. */
  meterEvents(): StripeObject[];
  /**
   * A Checkout Session completed by its customer, as Stripe holds it then: `paid` for a card,
   * `unpaid` for a payment that settles later (its async_payment_succeeded comes after).
   */
  completeSession(id: string, options?: { paymentStatus?: 'paid' | 'unpaid' }): StripeObject;
  /**
   * The next POST matching `path` creates its object (and stores its answer under its key, as
   * Stripe does) but answers only after `ms`: the caller times out although Stripe acted. A
   * request replayed under its key is slowed the same way. With `method: 'GET'`, the next read of
   * an object matching `path` answers with the object as it was when asked, after `ms`.
   */
  hangNext(options: { path?: string; method?: 'POST' | 'GET'; ms: number }): void;
  /** Forgets the slow answers queued by hangNext and not yet given (a test's leftovers). */
  clearHangs(): void;
  /**
   * Forgets every idempotency key, as Stripe does once a key is 24 hours old: a request sent
   * again under an old key acts again.
   */
  forgetIdempotencyKeys(): void;
  /** The next POST (or `method`) matching `path` fails with `status` before anything is created. */
  failNext(
    status: number,
    options?: { path?: string; method?: 'POST' | 'GET'; type?: string; code?: string; message?: string },
  ): void;
  /** A subscription as Stripe would hold it after a Checkout in subscription mode. */
  createSubscription(options: {
    customer: string;
    organizationId?: string;
    status?: string;
    currentPeriodEnd?: number;
    /** The price of its item (a plan's price id). */
    price?: string;
    /** Metered prices subscribed to beside it, as items listed before the plan's. */
    meteredPrices?: string[];
    /**
     * Its card (`default_payment_method`), as Checkout saves one for the subscription (not as the
     * customer's default): a new card unless given; null for none.
     */
    paymentMethod?: string | null;
    /** Its billing mode: `flexible`, Checkout's default now, unless one made before (`classic`). */
    billingMode?: 'classic' | 'flexible';
  }): StripeObject;
  /**
   * Gives the customer a card as its default payment method (`invoice_settings`), as saving one
   * through Checkout or the portal would; `declines` makes every charge to it fail as a decline.
   * Returns the payment method's id.
   */
  attachCard(customerId: string, options?: { declines?: boolean; processing?: boolean }): string;
  /**
   * Settles a payment intent left `processing` (a bank debit), as Stripe does days later:
   * `succeeded`, or failed (back to `requires_payment_method` with its error).
   */
  settlePaymentIntent(id: string, outcome: 'succeeded' | 'failed'): StripeObject;
  /** Refunds `amount` more of a charge, as the Dashboard does: the charge as `charge.refunded` carries it. */
  refundCharge(id: string, amount: number): StripeObject;
  /** Makes an attached card decline (or stop declining) from now on. */
  setCardDeclines(paymentMethodId: string, declines: boolean): void;
  /** Marks an open invoice paid, as Stripe does once it collects it; returns the invoice. */
  payInvoice(id: string): StripeObject;
  /** Changes a subscription as Stripe would (a payment failed, it was cancelled, …). */
  updateSubscription(id: string, changes: Record<string, unknown>): StripeObject;
  /** A Stripe event around `object`, `created` (unix seconds) by default now. */
  event(type: string, object: unknown, options?: { created?: number; id?: string }): StripeEvent;
  /**
   * Posts `event` to `url` signed like Stripe (with `secret`, by default the current one, at
   * `timestamp`, by default now); `signature` replaces the whole header.
   */
  sendEvent(
    url: string,
    event: StripeEvent,
    options?: { secret?: string; timestamp?: number; signature?: string; body?: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

export interface StripeEvent {
  id: string;
  object: 'event';
  api_version: string;
  created: number;
  data: { object: unknown };
  livemode: false;
  pending_webhooks: number;
  request: { id: null; idempotency_key: null };
  type: string;
}

/** Stripe's signature header over `payload`, as Stripe computes it. */
export function stripeSignature(payload: string, secret: string, timestamp: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

/** Decodes `a[b][0][c]=v` form bodies into nested objects and arrays. */
export function decodeForm(raw: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [name, value] of new URLSearchParams(raw)) {
    const parts = [...name.matchAll(/^([^[\]]+)|\[([^\]]*)\]/g)].map((m) => m[1] ?? m[2] ?? '');
    let node: Record<string, unknown> | unknown[] = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const key: string | number = Array.isArray(node) ? (part === '' ? node.length : Number(part)) : part;
      if (last) {
        (node as Record<string | number, unknown>)[key] = value;
        return;
      }
      const nextIsIndex = /^\d*$/.test(parts[i + 1]!);
      const existing = (node as Record<string | number, unknown>)[key];
      if (existing === undefined) (node as Record<string | number, unknown>)[key] = nextIsIndex ? [] : {};
      node = (node as Record<string | number, unknown>)[key] as Record<string, unknown> | unknown[];
    });
  }
  return root;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

/** The metered prices a test app's settings name (any `STRIPE_METERED_PRICES_*`). */
const TEST_METERED_PRICES = Object.entries(TEST_PRICES)
  .filter(([name]) => name.startsWith('STRIPE_METERED_PRICES_'))
  .flatMap(([, prices]) => prices.split(','));

const stripeError = (status: number, type: string, message: string, code?: string): LoopbackReply => ({
  status,
  body: { error: { type, message, ...(code ? { code } : {}) } },
});

export async function startFakeStripe(): Promise<FakeStripe> {
  const requests: FakeStripeRequest[] = [];
  const objects = new Map<string, StripeObject>();
  const createdWithKey = new Map<string, string | undefined>();
  const byKey = new Map<string, Stored>();
  const hangs: { path?: string; method?: string; ms: number }[] = [];
  const failures: {
    status: number;
    path?: string;
    method?: string;
    type?: string;
    code?: string;
    message?: string;
  }[] = [];
  const duplicateMeterEvents: string[] = [];
  // Prices known to bill a meter: the test settings' and any a subscription was made with.
  const meteredIds = new Set(TEST_METERED_PRICES);
  /** A price as an item carries it: a metered one's `recurring.usage_type` says so. */
  const priceObject = (id: string, isMetered = meteredIds.has(id)): StripeObject => {
    if (isMetered) meteredIds.add(id);
    return isMetered
      ? { id, object: 'price', recurring: { usage_type: 'metered' } }
      : { id, object: 'price' };
  };

  const put = (object: StripeObject, key: string | undefined) => {
    objects.set(object.id, object);
    createdWithKey.set(object.id, key);
    return object;
  };

  /** Creates what a POST asks for; undefined for an unknown route. */
  const create = (
    path: string,
    p: Record<string, unknown>,
    key: string | undefined,
  ): LoopbackReply | undefined => {
    const metadata = (p.metadata as Record<string, string> | undefined) ?? {};
    const base = { created: now(), livemode: false, metadata };
    if (path === '/v1/customers') {
      return ok(
        put(
          { id: newId('cus'), object: 'customer', email: p.email ?? null, name: p.name ?? null, ...base },
          key,
        ),
      );
    }
    const expiring = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (expiring) {
      const session = objects.get(expiring[1]!);
      if (session?.object !== 'checkout.session') {
        return stripeError(
          404,
          'invalid_request_error',
          `No such checkout.session: '${expiring[1]}'`,
          'resource_missing',
        );
      }
      if (session.status !== 'open') {
        return stripeError(
          400,
          'invalid_request_error',
          `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${String(session.status)}".`,
        );
      }
      Object.assign(session, { status: 'expired', url: null });
      return ok(session);
    }
    if (path === '/v1/checkout/sessions') {
      const id = newId('cs_test');
      return ok(
        put(
          {
            id,
            object: 'checkout.session',
            mode: p.mode ?? 'payment',
            customer: p.customer ?? null,
            client_reference_id: p.client_reference_id ?? null,
            status: 'open',
            payment_status: 'unpaid',
            amount_total: amountTotal(p),
            currency: sessionCurrency(p),
            line_items: p.line_items ?? [],
            payment_intent: null,
            // Kept to give the payment's PaymentIntent on completion, as Stripe does.
            payment_intent_metadata:
              (p.payment_intent_data as { metadata?: unknown } | undefined)?.metadata ?? {},
            subscription: null,
            url: `https://checkout.stripe.test/c/pay/${id}`,
            success_url: p.success_url ?? null,
            ...base,
          },
          key,
        ),
      );
    }
    if (path === '/v1/billing_portal/sessions') {
      if (!p.customer)
        return stripeError(
          400,
          'invalid_request_error',
          'Missing required param: customer.',
          'parameter_missing',
        );
      const id = newId('bps');
      return ok(
        put(
          {
            id,
            object: 'billing_portal.session',
            customer: p.customer,
            return_url: p.return_url ?? null,
            url: `https://billing.stripe.test/p/session/${id}`,
            ...base,
          },
          key,
        ),
      );
    }
    if (path === '/v1/invoiceitems') {
      // With `invoice`, the item goes on that draft invoice; without, it waits on the customer
      // for the next invoice that includes pending items.
      const invoice = p.invoice ? objects.get(String(p.invoice)) : undefined;
      if (p.invoice && invoice?.object !== 'invoice') {
        return stripeError(
          404,
          'invalid_request_error',
          `No such invoice: '${p.invoice}'`,
          'resource_missing',
        );
      }
      if (invoice && invoice.status !== 'draft') {
        return stripeError(
          400,
          'invalid_request_error',
          `You can only add invoice items to draft invoices; ${invoice.id} is ${invoice.status}.`,
          'invoice_not_editable',
        );
      }
      const item = put(
        {
          id: newId('ii'),
          object: 'invoiceitem',
          customer: p.customer,
          amount: Number(p.amount ?? 0),
          currency: p.currency,
          description: p.description ?? null,
          invoice: invoice?.id ?? null,
          ...base,
        },
        key,
      );
      if (invoice) addLine(invoice, item);
      return ok(item);
    }
    if (path === '/v1/invoices') {
      if (p.collection_method === 'send_invoice' && !p.days_until_due && !p.due_date) {
        return stripeError(
          400,
          'invalid_request_error',
          'Missing required param: days_until_due.',
          'parameter_missing',
        );
      }
      const invoice = put(
        {
          id: newId('in'),
          object: 'invoice',
          customer: p.customer,
          currency: p.currency ?? 'usd',
          status: 'draft',
          collection_method: p.collection_method ?? 'charge_automatically',
          default_payment_method: p.default_payment_method ?? null,
          days_until_due: p.days_until_due === undefined ? null : Number(p.days_until_due),
          auto_advance: p.auto_advance === 'true',
          description: p.description ?? null,
          hosted_invoice_url: null,
          amount_due: 0,
          amount_paid: 0,
          lines: { object: 'list', data: [] as StripeObject[] },
          ...base,
        },
        key,
      );
      // Stripe's default is to leave the customer's pending items alone ("exclude").
      if (p.pending_invoice_items_behavior === 'include') {
        for (const item of objects.values()) {
          if (item.object === 'invoiceitem' && item.customer === p.customer && item.invoice === null) {
            item.invoice = invoice.id;
            addLine(invoice, item);
          }
        }
      }
      return ok(invoice);
    }
    const finalize = /^\/v1\/invoices\/([^/]+)\/finalize$/.exec(path);
    if (finalize) {
      const invoice = objects.get(finalize[1]!);
      if (!invoice)
        return stripeError(
          404,
          'invalid_request_error',
          `No such invoice: '${finalize[1]}'`,
          'resource_missing',
        );
      if (invoice.status !== 'draft') {
        return stripeError(
          400,
          'invalid_request_error',
          `This invoice is already finalized, you can't re-finalize a non-draft invoice.`,
          'invoice_not_editable',
        );
      }
      // The customer's credit balance (a negative `balance`, as Stripe keeps it) is applied first;
      // an invoice of nothing left due is paid as it is finalised, as Stripe does.
      const customer = objects.get(invoice.customer as string);
      const credit = Math.min(Math.max(0, -Number(customer?.balance ?? 0)), Number(invoice.amount_due));
      if (customer && credit > 0) {
        customer.balance = Number(customer.balance) + credit;
        invoice.starting_balance = -credit;
        invoice.amount_due = Number(invoice.amount_due) - credit;
      }
      invoice.status = Number(invoice.amount_due) > 0 ? 'open' : 'paid';
      if (p.auto_advance !== undefined) invoice.auto_advance = p.auto_advance === 'true';
      invoice.hosted_invoice_url = `https://invoice.stripe.test/i/${invoice.id}`;
      return ok(invoice);
    }
    const updating = /^\/v1\/subscriptions\/([^/]+)$/.exec(path);
    if (updating) return updateSubscriptionItems(updating[1]!, p);
    const migrating = /^\/v1\/subscriptions\/([^/]+)\/migrate$/.exec(path);
    if (migrating) {
      const subscription = objects.get(migrating[1]!);
      if (subscription?.object !== 'subscription') {
        return stripeError(
          404,
          'invalid_request_error',
          `No such subscription: '${migrating[1]}'`,
          'resource_missing',
        );
      }
      const type = (p.billing_mode as { type?: string } | undefined)?.type;
      if (type !== 'flexible') {
        return stripeError(400, 'invalid_request_error', 'billing_mode[type] must be flexible.');
      }
      subscription.billing_mode = { type: 'flexible', flexible: null, updated_at: now() };
      return ok(structuredClone(subscription));
    }
    if (path === '/v1/billing/meter_events') {
      const identifier = (p.identifier as string | undefined) ?? newId('mev');
      // Stripe enforces an identifier's uniqueness (for at least 24 hours): a second event with
      // one already seen is not counted again. It is remembered, so a test sees it was sent.
      const earlier = objects.get(identifier);
      if (earlier?.object === 'billing.meter_event') {
        duplicateMeterEvents.push(identifier);
        return ok(earlier);
      }
      return ok(
        put(
          {
            id: identifier,
            object: 'billing.meter_event',
            event_name: p.event_name,
            identifier,
            payload: p.payload,
            timestamp: Number(p.timestamp ?? now()),
            created: now(),
            livemode: false,
          },
          key,
        ),
      );
    }
    if (path === '/v1/payment_intents') {
      const card = p.payment_method ? objects.get(String(p.payment_method)) : undefined;
      if (p.payment_method && card?.object !== 'payment_method') {
        return stripeError(
          400,
          'invalid_request_error',
          `No such PaymentMethod: '${p.payment_method}'`,
          'resource_missing',
        );
      }
      if (p.confirm === 'true' && card?.declines) {
        // Stripe answers a declined confirmation with 402 and keeps that answer under the key.
        return {
          status: 402,
          body: {
            error: {
              type: 'card_error',
              code: 'card_declined',
              decline_code: 'insufficient_funds',
              message: 'Your card has insufficient funds.',
            },
          },
        };
      }
      return ok(
        put(
          {
            id: newId('pi'),
            object: 'payment_intent',
            amount: Number(p.amount ?? 0),
            currency: p.currency,
            customer: p.customer ?? null,
            payment_method: p.payment_method ?? null,
            // A bank debit (`processing` payment method) is confirmed but settles days later.
            status:
              p.confirm === 'true' && card
                ? card.processing
                  ? 'processing'
                  : 'succeeded'
                : 'requires_payment_method',
            ...base,
          },
          key,
        ),
      );
    }
    return undefined;
  };

  /**
   * `POST /v1/subscriptions/:id` as Stripe answers a change of items: `items[n][id]` with `price`
   * (and `quantity`) changes that item, with `deleted` removes it, without `id` adds one;
   * `metadata` keys are merged. A canceled subscription can change nothing but its metadata.
   */
  const updateSubscriptionItems = (id: string, p: Record<string, unknown>): LoopbackReply => {
    const subscription = objects.get(id);
    if (subscription?.object !== 'subscription') {
      return stripeError(404, 'invalid_request_error', `No such subscription: '${id}'`, 'resource_missing');
    }
    const changes = (p.items as Record<string, string>[] | undefined) ?? [];
    if (subscription.status === 'canceled' && changes.length) {
      return stripeError(
        400,
        'invalid_request_error',
        'A canceled subscription can only update its cancellation_details and metadata.',
      );
    }
    const items = structuredClone((subscription.items as { data: StripeObject[] }).data);
    for (const change of changes) {
      if (change.id === undefined) {
        if (!change.price) {
          return stripeError(400, 'invalid_request_error', 'Missing required param: items[price].');
        }
        items.push({
          id: newId('si'),
          object: 'subscription_item',
          current_period_end: items[0]?.current_period_end,
          price: priceObject(change.price),
        });
        continue;
      }
      const at = items.findIndex((item) => item.id === change.id);
      if (at < 0) {
        return stripeError(
          400,
          'invalid_request_error',
          `Invalid subscription_item id: ${change.id}`,
          'resource_missing',
        );
      }
      if (change.deleted === 'true') items.splice(at, 1);
      else if (change.price) {
        items[at] = {
          ...items[at]!,
          price: priceObject(change.price),
          quantity: Number(change.quantity ?? 1),
        };
      }
    }
    (subscription.items as { data: StripeObject[] }).data = items;
    subscription.metadata = {
      ...(subscription.metadata as Record<string, string>),
      ...((p.metadata as Record<string, string> | undefined) ?? {}),
    };
    return ok(structuredClone(subscription));
  };

  const server = await startLoopbackServer(async (request) => {
    const key = header(request.headers['idempotency-key']);
    const params =
      request.method === 'POST' ? decodeForm(request.raw) : Object.fromEntries(request.url.searchParams);
    const record: FakeStripeRequest = {
      method: request.method,
      path: request.path,
      headers: request.headers,
      idempotencyKey: key,
      params,
      replayed: false,
    };
    requests.push(record);

    if (header(request.headers.authorization) !== `Bearer ${STRIPE_SECRET_KEY}`) {
      return stripeError(401, 'invalid_request_error', 'Invalid API Key provided.');
    }
    const failAt = failures.findIndex(
      (f) => (!f.path || f.path === request.path) && request.method === (f.method ?? 'POST'),
    );
    if (failAt >= 0) {
      const [f] = failures.splice(failAt, 1);
      return stripeError(
        f!.status,
        f!.type ?? 'api_error',
        f!.message ?? 'Something went wrong on our end.',
        f!.code,
      );
    }

    // A slow answer (hangNext) is slow whether it is made now or replayed.
    const hangAt = hangs.findIndex(
      (h) => (!h.path || h.path === request.path) && request.method === (h.method ?? 'POST'),
    );
    const [hang] = hangAt >= 0 ? hangs.splice(hangAt, 1) : [];

    if (request.method === 'GET') {
      // Retrieving one object by id: /v1/<collection>/<id>, of the collection's own kind. A slow
      // answer is the object as it was when asked (a copy), arriving after `ms`.
      const retrieved = /^\/v1\/(customers|subscriptions|payment_intents)\/([^/]+)$/.exec(request.path);
      if (retrieved) {
        const kind = {
          customers: 'customer',
          subscriptions: 'subscription',
          payment_intents: 'payment_intent',
        }[retrieved[1] as 'customers' | 'subscriptions' | 'payment_intents'];
        const found = objects.get(retrieved[2]!);
        return found?.object === kind
          ? { ...ok(structuredClone(found)), ...(hang ? { delayMs: hang.ms } : {}) }
          : stripeError(
              404,
              'invalid_request_error',
              `No such ${kind}: '${retrieved[2]}'`,
              'resource_missing',
            );
      }
      // Listing Checkout Sessions (by `customer`, `status` or `payment_intent`), newest first, a
      // page at a time. A slow answer is the list as it was when asked.
      if (request.path === '/v1/checkout/sessions') {
        const page = listPage(
          '/v1/checkout/sessions',
          [...objects.values()].filter(
            (o) =>
              o.object === 'checkout.session' &&
              (!params.customer || o.customer === params.customer) &&
              (!params.status || o.status === params.status) &&
              (!params.payment_intent || o.payment_intent === params.payment_intent),
          ),
          params,
        );
        return hang ? { ...structuredClone(page), delayMs: hang.ms } : page;
      }
      // Listing invoice items (by `invoice` or `customer`), newest first, a page at a time.
      if (request.path === '/v1/invoiceitems') {
        return listPage(
          '/v1/invoiceitems',
          [...objects.values()].filter(
            (o) =>
              o.object === 'invoiceitem' &&
              (!params.invoice || o.invoice === params.invoice) &&
              (!params.customer || o.customer === params.customer),
          ),
          params,
        );
      }
      return stripeError(404, 'invalid_request_error', `Unrecognized request URL (GET: ${request.path}).`);
    }
    if (request.method !== 'POST') {
      return stripeError(
        404,
        'invalid_request_error',
        `Unrecognized request URL (${request.method}: ${request.path}).`,
      );
    }

    if (key !== undefined) {
      const stored = byKey.get(key);
      if (stored) {
        if (stored.method !== request.method || stored.path !== request.path || stored.body !== request.raw) {
          return stripeError(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            'idempotency_key_in_use',
          );
        }
        record.replayed = true;
        return {
          ...stored.reply,
          headers: { ...stored.reply.headers, 'Idempotent-Replayed': 'true', 'Idempotency-Key': key },
          ...(hang ? { delayMs: hang.ms } : {}),
        };
      }
    }
    const answer = create(request.path, params, key);
    if (!answer)
      return stripeError(404, 'invalid_request_error', `Unrecognized request URL (POST: ${request.path}).`);
    // Stripe stores the result of an executed request (success or a 4xx it decided) under its key.
    if (key !== undefined && answer.status < 500) {
      byKey.set(key, { method: request.method, path: request.path, body: request.raw, reply: answer });
    }
    if (hang) return { ...answer, headers: key ? { 'Idempotency-Key': key } : {}, delayMs: hang.ms };
    return { ...answer, headers: key ? { 'Idempotency-Key': key } : {} };
  });

  return {
    url: server.url,
    secretKey: STRIPE_SECRET_KEY,
    requests,
    objects,
    createdWithKey,
    objectsCreatedWith: (key) => [...createdWithKey.values()].filter((k) => k === key).length,
    duplicateMeterEvents,
    meterEvents: () => [...objects.values()].filter((object) => object.object === 'billing.meter_event'),
    completeSession(id, { paymentStatus = 'paid' } = {}) {
      const session = objects.get(id);
      if (session?.object !== 'checkout.session') throw new Error(`no checkout session ${id}`);
      // An expired session cannot be paid: its page says so.
      if (session.status === 'expired') throw new Error(`checkout session ${id} is expired`);
      Object.assign(session, { status: 'complete', payment_status: paymentStatus });
      // A payment-mode session paid: its PaymentIntent (with payment_intent_data's metadata) and charge.
      if (session.mode === 'payment' && paymentStatus === 'paid' && !session.payment_intent) {
        const intentId = newId('pi');
        const chargeId = newId('ch');
        const amount = session.amount_total;
        const metadata = session.payment_intent_metadata;
        put(
          {
            id: chargeId,
            object: 'charge',
            payment_intent: intentId,
            amount,
            amount_refunded: 0,
            refunded: false,
            currency: session.currency,
            customer: session.customer,
            metadata,
            created: now(),
          },
          undefined,
        );
        put(
          {
            id: intentId,
            object: 'payment_intent',
            amount,
            currency: session.currency,
            customer: session.customer,
            status: 'succeeded',
            latest_charge: chargeId,
            metadata,
            created: now(),
          },
          undefined,
        );
        session.payment_intent = intentId;
      }
      return session;
    },
    hangNext: (options) => hangs.push(options),
    clearHangs: () => {
      hangs.length = 0;
    },
    forgetIdempotencyKeys: () => byKey.clear(),
    failNext: (status, options = {}) => failures.push({ status, ...options }),
    createSubscription({
      customer,
      organizationId,
      status = 'active',
      currentPeriodEnd = now() + 30 * 86_400,
      price,
      meteredPrices = [],
      paymentMethod,
      billingMode = 'flexible',
    }) {
      const card =
        paymentMethod !== undefined
          ? paymentMethod
          : put(
              {
                id: newId('pm'),
                object: 'payment_method',
                type: 'card',
                customer,
                declines: false,
                created: now(),
              },
              undefined,
            ).id;
      return put(
        {
          id: newId('sub'),
          object: 'subscription',
          customer,
          status,
          default_payment_method: card,
          billing_mode: { type: billingMode, flexible: null },
          metadata: organizationId ? { organizationId } : {},
          created: now(),
          livemode: false,
          items: {
            object: 'list',
            data: [
              ...meteredPrices.map((metered) => ({
                id: newId('si'),
                object: 'subscription_item',
                current_period_end: currentPeriodEnd,
                price: priceObject(metered, true),
              })),
              {
                id: newId('si'),
                object: 'subscription_item',
                current_period_end: currentPeriodEnd,
                ...(price ? { price: priceObject(price) } : {}),
              },
            ],
          },
        },
        undefined,
      );
    },
    attachCard(customerId, { declines = false, processing = false } = {}) {
      const customer = objects.get(customerId);
      if (customer?.object !== 'customer') throw new Error(`no customer ${customerId}`);
      const card = put(
        {
          id: newId('pm'),
          object: 'payment_method',
          type: processing ? 'sepa_debit' : 'card',
          customer: customerId,
          declines,
          processing,
          created: now(),
        },
        undefined,
      );
      customer.invoice_settings = { default_payment_method: card.id };
      return card.id;
    },
    setCardDeclines(paymentMethodId, declines) {
      const card = objects.get(paymentMethodId);
      if (card?.object !== 'payment_method') throw new Error(`no payment method ${paymentMethodId}`);
      card.declines = declines;
    },
    settlePaymentIntent(id, outcome) {
      const intent = objects.get(id);
      if (intent?.object !== 'payment_intent') throw new Error(`no payment intent ${id}`);
      if (intent.status !== 'processing') throw new Error(`payment intent ${id} is ${intent.status}`);
      if (outcome === 'succeeded') intent.status = 'succeeded';
      else {
        intent.status = 'requires_payment_method';
        intent.last_payment_error = {
          type: 'card_error',
          code: 'payment_intent_payment_attempt_failed',
          message: 'The debit was returned: insufficient funds.',
        };
      }
      return intent;
    },
    refundCharge(id, amount) {
      const charge = objects.get(id);
      if (charge?.object !== 'charge') throw new Error(`no charge ${id}`);
      const refunded = Math.min(Number(charge.amount), Number(charge.amount_refunded) + amount);
      Object.assign(charge, { amount_refunded: refunded, refunded: refunded === charge.amount });
      return structuredClone(charge);
    },
    payInvoice(id) {
      const invoice = objects.get(id);
      if (invoice?.object !== 'invoice') throw new Error(`no invoice ${id}`);
      if (invoice.status !== 'open') throw new Error(`invoice ${id} is ${invoice.status}, not open`);
      invoice.status = 'paid';
      invoice.amount_paid = invoice.amount_due;
      return invoice;
    },
    updateSubscription(id, changes) {
      const subscription = objects.get(id);
      if (!subscription) throw new Error(`no subscription ${id}`);
      Object.assign(subscription, changes);
      return subscription;
    },
    event(type, object, options = {}) {
      return {
        id: options.id ?? newId('evt'),
        object: 'event',
        api_version: '2026-11-18.endive',
        created: options.created ?? now(),
        // A snapshot: later changes to the fake's object do not rewrite a sent event.
        data: { object: structuredClone(object) },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      };
    },
    sendEvent(url, event, options = {}) {
      const payload = options.body ?? JSON.stringify(event, null, 2);
      const signature =
        options.signature ??
        stripeSignature(payload, options.secret ?? STRIPE_WEBHOOK_SECRET, options.timestamp ?? now());
      return fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature },
        body: payload,
      });
    },
    close: () => server.close(),
  };
}

/** What a Checkout Session's line items add up to (unit amounts of `price_data` only). */
function amountTotal(p: Record<string, unknown>): number | null {
  const items =
    (p.line_items as { price_data?: { unit_amount?: string }; quantity?: string }[] | undefined) ?? [];
  let total = 0;
  for (const item of items) {
    if (!item.price_data?.unit_amount) return null;
    total += Number(item.price_data.unit_amount) * Number(item.quantity ?? 1);
  }
  return items.length ? total : null;
}

function sessionCurrency(p: Record<string, unknown>): string | null {
  const items = (p.line_items as { price_data?: { currency?: string } }[] | undefined) ?? [];
  return items[0]?.price_data?.currency ?? null;
}

/** Puts an invoice item on a draft invoice as one of its lines and adds up what is due. */
function addLine(invoice: StripeObject, item: StripeObject) {
  const lines = (invoice.lines as { data: StripeObject[] }).data;
  lines.push({
    id: newId('il'),
    object: 'line_item',
    invoice_item: item.id,
    amount: item.amount,
    currency: item.currency,
    description: item.description,
    metadata: item.metadata,
  });
  invoice.amount_due = lines.reduce((sum, line) => sum + Number(line.amount), 0);
}

/** One page of a list: `objects` newest first, after `starting_after`, `limit` of them (10 by default). */
function listPage(url: string, objects: StripeObject[], params: Record<string, unknown>): LoopbackReply {
  const all = [...objects].reverse();
  const after = params.starting_after ? all.findIndex((o) => o.id === params.starting_after) + 1 : 0;
  const limit = Math.min(100, Number(params.limit ?? 10));
  const data = all.slice(after, after + limit);
  return { status: 200, body: { object: 'list', data, has_more: after + limit < all.length, url } };
}

function ok(object: StripeObject): LoopbackReply {
  return { status: 200, body: object };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
