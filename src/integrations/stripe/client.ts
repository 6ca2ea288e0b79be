/**
 * Stripe, through the official SDK, behind a thin typed wrapper that exposes only the calls the
 * product makes.
 *
 * Safety rule 4 (DESIGN.md): every Stripe write carries an idempotency key derived from what it
 * pays for (`booking-fee:{bookingId}:v1`, `checkout:{organizationId}:{plan}:{attempt}`, …). So
 * every write method here takes `{ idempotencyKey }` as a required argument and throws
 * `StripeIdempotencyKeyMissing` before anything is sent when it is empty: the SDK would otherwise
 * make up a random key of its own, which protects one call's retries but not ours. The SDK's own
 * network retries (`maxNetworkRetries`) send the same key again, so a call that timed out after
 * Stripe acted is answered with Stripe's stored result instead of acting twice.
 *
 * Reads (`subscriptions.retrieve`, `customers.retrieve`, `invoiceItems.listOnInvoice`) need no key. Webhook signatures are checked here too
 * (`constructEvent`): Stripe's scheme, through the SDK, against every configured secret.
 */
import Stripe from 'stripe';

export interface StripeSettings {
  secretKey: string;
  /** Every webhook secret that verifies (rotation); the first is the current one. */
  webhookSecrets: readonly string[];
  /** `https://api.stripe.com`, or a loopback fake. */
  apiBase: string;
  /** Deadline of each attempt. */
  timeoutMs: number;
  /** Retries of a call that got no answer or a 409/5xx, with the same key (default 2). */
  maxNetworkRetries?: number;
}

/** What every write takes: the key Stripe deduplicates it by. */
export interface StripeWrite {
  idempotencyKey: string;
}

/** Stripe's signature tolerance: a signed timestamp further than this from our clock is refused. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** Longest key Stripe accepts. */
const MAX_KEY_LENGTH = 255;

/** A write was attempted without an idempotency key: a bug, refused before anything is sent. */
export class StripeIdempotencyKeyMissing extends Error {
  readonly call: string;
  constructor(call: string, detail = 'needs an idempotency key') {
    super(`Stripe ${call} ${detail}`);
    this.name = 'StripeIdempotencyKeyMissing';
    this.call = call;
  }
}

/**
 * A Stripe call that failed, in our terms:
 * - `transient`: no answer (timeout, connection) or a 5xx/409/429 after the SDK's retries; safe to
 *   retry later with the same key.
 * - `idempotency`: the key was used before with other parameters (a bug in how keys are derived).
 * - `invalid`: Stripe refused the request (400/404); retrying will not help.
 * - `card`: the payment was declined.
 * - `unauthorized`: the secret key is wrong or lacks the permission.
 */
export type StripeFailure = 'transient' | 'idempotency' | 'invalid' | 'card' | 'unauthorized';

export class StripeCallError extends Error {
  readonly kind: StripeFailure;
  readonly status: number | null;
  /** Stripe's error code (`resource_missing`, `idempotency_key_in_use`, …). */
  readonly code: string | undefined;
  readonly call: string;
  constructor(
    call: string,
    kind: StripeFailure,
    status: number | null,
    code: string | undefined,
    message: string,
    cause?: unknown,
  ) {
    super(`Stripe ${call}: ${message}`, { cause });
    this.name = 'StripeCallError';
    this.call = call;
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

/** A webhook whose `Stripe-Signature` does not verify with any configured secret. */
export class StripeSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StripeSignatureError';
  }
}

export interface StripeClient {
  customers: {
    create(params: Stripe.CustomerCreateParams, write: StripeWrite): Promise<Stripe.Customer>;
    /** The customer as Stripe holds it now (its default payment method, for off-session charges). */
    retrieve(id: string): Promise<Stripe.Customer | Stripe.DeletedCustomer>;
  };
  checkout: {
    sessions: {
      create(
        params: Stripe.Checkout.SessionCreateParams,
        write: StripeWrite,
      ): Promise<Stripe.Checkout.Session>;
      /** The customer's sessions still open (neither paid nor expired), all pages. */
      listOpen(customer: string): Promise<Stripe.Checkout.Session[]>;
      /** The session that made the PaymentIntent `paymentIntent` (none, or one). */
      ofPaymentIntent(paymentIntent: string): Promise<Stripe.Checkout.Session[]>;
      /** Ends an open session: it can no longer be paid. */
      expire(id: string, write: StripeWrite): Promise<Stripe.Checkout.Session>;
    };
  };
  billingPortal: {
    sessions: {
      create(
        params: Stripe.BillingPortal.SessionCreateParams,
        write: StripeWrite,
      ): Promise<Stripe.BillingPortal.Session>;
    };
  };
  subscriptions: {
    retrieve(id: string): Promise<Stripe.Subscription>;
    /** Changes a subscription (its items: a plan changed with its meters). */
    update(
      id: string,
      params: Stripe.SubscriptionUpdateParams,
      write: StripeWrite,
    ): Promise<Stripe.Subscription>;
    /** Moves a subscription to another billing mode (classic to flexible; never back). */
    migrate(
      id: string,
      params: Stripe.SubscriptionMigrateParams,
      write: StripeWrite,
    ): Promise<Stripe.Subscription>;
  };
  invoiceItems: {
    create(params: Stripe.InvoiceItemCreateParams, write: StripeWrite): Promise<Stripe.InvoiceItem>;
    /** Every item on the invoice `invoiceId` (all pages). */
    listOnInvoice(invoiceId: string): Promise<Stripe.InvoiceItem[]>;
  };
  invoices: {
    create(params: Stripe.InvoiceCreateParams, write: StripeWrite): Promise<Stripe.Invoice>;
    finalize(
      id: string,
      write: StripeWrite,
      params?: Stripe.InvoiceFinalizeInvoiceParams,
    ): Promise<Stripe.Invoice>;
  };
  billing: {
    meterEvents: {
      create(
        params: Stripe.Billing.MeterEventCreateParams,
        write: StripeWrite,
      ): Promise<Stripe.Billing.MeterEvent>;
    };
  };
  paymentIntents: {
    create(params: Stripe.PaymentIntentCreateParams, write: StripeWrite): Promise<Stripe.PaymentIntent>;
    retrieve(id: string): Promise<Stripe.PaymentIntent>;
  };
  /**
   * The event a webhook delivery carries, when its `Stripe-Signature` verifies over the raw bytes
   * with one of the configured secrets within WEBHOOK_TOLERANCE_SECONDS; else StripeSignatureError.
   */
  constructEvent(rawBody: Buffer, signature: string | undefined): Stripe.Event;
}

/** The names of the write methods, for tests that walk them. */
export const STRIPE_WRITES = [
  'customers.create',
  'checkout.sessions.create',
  'checkout.sessions.expire',
  'subscriptions.update',
  'subscriptions.migrate',
  'billingPortal.sessions.create',
  'invoiceItems.create',
  'invoices.create',
  'invoices.finalize',
  'billing.meterEvents.create',
  'paymentIntents.create',
] as const;

/** The SDK configured from our settings: host, port and protocol from `apiBase`. */
export function createStripeSdk(settings: StripeSettings): Stripe {
  const base = new URL(settings.apiBase);
  const protocol = base.protocol === 'http:' ? 'http' : 'https';
  return new Stripe(settings.secretKey, {
    host: base.hostname,
    port: base.port || (protocol === 'http' ? 80 : 443),
    protocol,
    timeout: settings.timeoutMs,
    maxNetworkRetries: settings.maxNetworkRetries ?? 2,
    telemetry: false,
    appInfo: { name: 'AGNT' },
    // On `fetch` (undici) like every other outside call, so tracing sees Stripe calls too.
    httpClient: Stripe.createFetchHttpClient(),
  });
}

export function createStripeClient(
  settings: StripeSettings,
  sdk: Stripe = createStripeSdk(settings),
): StripeClient {
  const options = (call: string, write: StripeWrite): Stripe.RequestOptions => {
    const key = write?.idempotencyKey;
    if (typeof key !== 'string' || key.trim() === '') throw new StripeIdempotencyKeyMissing(call);
    if (key.length > MAX_KEY_LENGTH) {
      throw new StripeIdempotencyKeyMissing(
        call,
        `idempotency key is longer than ${MAX_KEY_LENGTH} characters`,
      );
    }
    return { idempotencyKey: key };
  };
  const call = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw toCallError(name, error);
    }
  };
  const write =
    <P, T>(name: string, run: (params: P, opts: Stripe.RequestOptions) => Promise<T>) =>
    async (params: P, w: StripeWrite): Promise<T> => {
      const opts = options(name, w);
      return call(name, () => run(params, opts));
    };

  return {
    customers: {
      create: write('customers.create', (p, o) => sdk.customers.create(p, o)),
      retrieve: (id) => call('customers.retrieve', () => sdk.customers.retrieve(id)),
    },
    checkout: {
      sessions: {
        create: write('checkout.sessions.create', (p, o) => sdk.checkout.sessions.create(p, o)),
        listOpen: (customer) =>
          call('checkout.sessions.list', () =>
            sdk.checkout.sessions
              .list({ customer, status: 'open', limit: 100 })
              .autoPagingToArray({ limit: 1_000 }),
          ),
        ofPaymentIntent: (paymentIntent) =>
          call('checkout.sessions.list', async () => {
            const page = await sdk.checkout.sessions.list({ payment_intent: paymentIntent, limit: 10 });
            return page.data;
          }),
        expire: async (id, w) => {
          const opts = options('checkout.sessions.expire', w);
          return call('checkout.sessions.expire', () => sdk.checkout.sessions.expire(id, {}, opts));
        },
      },
    },
    billingPortal: {
      sessions: {
        create: write('billingPortal.sessions.create', (p, o) => sdk.billingPortal.sessions.create(p, o)),
      },
    },
    subscriptions: {
      retrieve: (id) => call('subscriptions.retrieve', () => sdk.subscriptions.retrieve(id)),
      update: async (id, params, w) => {
        const opts = options('subscriptions.update', w);
        return call('subscriptions.update', () => sdk.subscriptions.update(id, params, opts));
      },
      migrate: async (id, params, w) => {
        const opts = options('subscriptions.migrate', w);
        return call('subscriptions.migrate', () => sdk.subscriptions.migrate(id, params, opts));
      },
    },
    invoiceItems: {
      create: write('invoiceItems.create', (p, o) => sdk.invoiceItems.create(p, o)),
      listOnInvoice: (invoiceId) =>
        call('invoiceItems.list', () =>
          sdk.invoiceItems.list({ invoice: invoiceId, limit: 100 }).autoPagingToArray({ limit: 10_000 }),
        ),
    },
    invoices: {
      create: write('invoices.create', (p, o) => sdk.invoices.create(p, o)),
      finalize: async (id, w, params) => {
        const opts = options('invoices.finalize', w);
        return call('invoices.finalize', () => sdk.invoices.finalizeInvoice(id, params ?? {}, opts));
      },
    },
    billing: {
      meterEvents: {
        create: write('billing.meterEvents.create', (p, o) => sdk.billing.meterEvents.create(p, o)),
      },
    },
    paymentIntents: {
      create: write('paymentIntents.create', (p, o) => sdk.paymentIntents.create(p, o)),
      retrieve: (id) => call('paymentIntents.retrieve', () => sdk.paymentIntents.retrieve(id)),
    },
    constructEvent(rawBody, signature) {
      if (!signature) throw new StripeSignatureError('no Stripe-Signature header');
      if (settings.webhookSecrets.length === 0)
        throw new StripeSignatureError('no webhook secret is configured');
      let last: unknown;
      for (const secret of settings.webhookSecrets) {
        try {
          return sdk.webhooks.constructEvent(rawBody, signature, secret, WEBHOOK_TOLERANCE_SECONDS);
        } catch (error) {
          if (!(error instanceof Stripe.errors.StripeSignatureVerificationError)) throw error;
          last = error;
        }
      }
      throw new StripeSignatureError((last as Error).message);
    },
  };
}

function toCallError(call: string, error: unknown): StripeCallError {
  if (!(error instanceof Stripe.errors.StripeError)) {
    return new StripeCallError(
      call,
      'transient',
      null,
      undefined,
      (error as Error)?.message ?? String(error),
      error,
    );
  }
  const status = error.statusCode ?? null;
  const kind: StripeFailure =
    error instanceof Stripe.errors.StripeIdempotencyError || error.type === 'StripeIdempotencyError'
      ? 'idempotency'
      : error instanceof Stripe.errors.StripeCardError
        ? 'card'
        : error instanceof Stripe.errors.StripeAuthenticationError ||
            error instanceof Stripe.errors.StripePermissionError
          ? 'unauthorized'
          : status === null || status === 409 || status === 429 || status >= 500
            ? 'transient'
            : 'invalid';
  return new StripeCallError(call, kind, status, error.code, error.message, error);
}
