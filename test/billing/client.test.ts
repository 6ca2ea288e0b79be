/**
 * The Stripe client against the loopback fake: every write carries the idempotency key we give it
 * (safety rule 4), a write without one is refused before anything is sent, a call that times out
 * after Stripe acted is retried with the same key and creates one object, and webhook signatures
 * verify with every configured secret within Stripe's tolerance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createStripeClient,
  STRIPE_WRITES,
  StripeCallError,
  type StripeClient,
  StripeIdempotencyKeyMissing,
  StripeSignatureError,
  type StripeWrite,
} from '../../src/integrations/stripe/client.ts';
import {
  type FakeStripe,
  STRIPE_SECRET_KEY,
  STRIPE_WEBHOOK_SECRET,
  startFakeStripe,
  stripeSignature,
} from '../fakes/stripe.ts';

let fake: FakeStripe;
const OLD_SECRET = 'whsec_fake_previous_9f8e7d6c5b4a';

const client = (options: { timeoutMs?: number; maxNetworkRetries?: number; secrets?: string[] } = {}) =>
  createStripeClient({
    secretKey: STRIPE_SECRET_KEY,
    webhookSecrets: options.secrets ?? [STRIPE_WEBHOOK_SECRET, OLD_SECRET],
    apiBase: fake.url,
    timeoutMs: options.timeoutMs ?? 5000,
    maxNetworkRetries: options.maxNetworkRetries,
  });

beforeAll(async () => {
  fake = await startFakeStripe();
});
afterAll(async () => {
  await fake.close();
});

/** Calls each write method of the wrapper once, with `write` as its idempotency argument. */
async function everyWrite(stripe: StripeClient, write: (call: string) => StripeWrite) {
  const customer = await stripe.customers.create(
    { email: 'owner@example.test', metadata: { organizationId: 'org-1' } },
    write('customers.create'),
  );
  const invoice = await stripe.invoices.create({ customer: customer.id }, write('invoices.create'));
  const subscription = fake.createSubscription({ customer: customer.id, price: 'price_growth' });
  const session = await stripe.checkout.sessions.create(
    {
      mode: 'subscription',
      customer: customer.id,
      line_items: [{ price: 'price_growth', quantity: 1 }],
      success_url: 'https://agnt.test/ok',
      metadata: { organizationId: 'org-1' },
    },
    write('checkout.sessions.create'),
  );
  const calls: Record<(typeof STRIPE_WRITES)[number], () => Promise<unknown>> = {
    'customers.create': async () => customer,
    'invoices.create': async () => invoice,
    'checkout.sessions.create': async () => session,
    'checkout.sessions.expire': () =>
      stripe.checkout.sessions.expire(session.id, write('checkout.sessions.expire')),
    'billingPortal.sessions.create': () =>
      stripe.billingPortal.sessions.create(
        { customer: customer.id, return_url: 'https://agnt.test/billing' },
        write('billingPortal.sessions.create'),
      ),
    'invoiceItems.create': () =>
      stripe.invoiceItems.create(
        { customer: customer.id, amount: 250, currency: 'eur', description: 'booking fee' },
        write('invoiceItems.create'),
      ),
    'invoices.finalize': () => stripe.invoices.finalize(invoice.id, write('invoices.finalize')),
    'billing.meterEvents.create': () =>
      stripe.billing.meterEvents.create(
        {
          event_name: 'a2a_bookings',
          identifier: 'usage-1',
          payload: { stripe_customer_id: customer.id, value: '1' },
        },
        write('billing.meterEvents.create'),
      ),
    'paymentIntents.create': () =>
      stripe.paymentIntents.create(
        { amount: 1000, currency: 'eur', customer: customer.id },
        write('paymentIntents.create'),
      ),
    'subscriptions.update': () =>
      stripe.subscriptions.update(
        subscription.id,
        { metadata: { plan: 'VENUE_PRO' } },
        write('subscriptions.update'),
      ),
    'subscriptions.migrate': () =>
      stripe.subscriptions.migrate(
        subscription.id,
        { billing_mode: { type: 'flexible' } },
        write('subscriptions.migrate'),
      ),
  };
  for (const name of STRIPE_WRITES) await calls[name]();
}

describe('idempotency keys (safety rule 4)', () => {
  it('sends every write with exactly the key it was given, and every POST the fake sees has one', async () => {
    const before = fake.requests.length;
    const run = `run-${Date.now()}`;
    const given = new Map<string, string>();
    await everyWrite(client(), (call) => {
      const key = `${call}:${run}:v1`;
      given.set(call, key);
      return { idempotencyKey: key };
    });
    const posts = fake.requests.slice(before).filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(STRIPE_WRITES.length);
    for (const post of posts) {
      expect(post.idempotencyKey, `${post.path} reached Stripe without an Idempotency-Key`).toBeTruthy();
      // Not one the SDK made up for itself (`stripe-node-retry-…`): ours, derived from what it pays for.
      expect(post.idempotencyKey, post.path).not.toMatch(/^stripe-node-retry-/);
      expect([...given.values()], post.path).toContain(post.idempotencyKey);
    }
    expect(new Set(posts.map((p) => p.idempotencyKey)).size).toBe(STRIPE_WRITES.length);
  });

  it('refuses a write without a key (or with an empty one) before anything reaches Stripe', async () => {
    const stripe = client();
    const customer = await stripe.customers.create({}, { idempotencyKey: `refusal-customer-${Date.now()}` });
    const invoice = await stripe.invoices.create(
      { customer: customer.id },
      { idempotencyKey: `refusal-invoice-${Date.now()}` },
    );
    const before = fake.requests.length;
    const writes: [string, (w: StripeWrite) => Promise<unknown>][] = [
      ['customers.create', (w) => stripe.customers.create({}, w)],
      ['checkout.sessions.create', (w) => stripe.checkout.sessions.create({ mode: 'payment' }, w)],
      ['checkout.sessions.expire', (w) => stripe.checkout.sessions.expire('cs_test_unknown', w)],
      [
        'billingPortal.sessions.create',
        (w) => stripe.billingPortal.sessions.create({ customer: customer.id }, w),
      ],
      ['invoiceItems.create', (w) => stripe.invoiceItems.create({ customer: customer.id }, w)],
      ['invoices.create', (w) => stripe.invoices.create({ customer: customer.id }, w)],
      ['invoices.finalize', (w) => stripe.invoices.finalize(invoice.id, w)],
      [
        'billing.meterEvents.create',
        (w) => stripe.billing.meterEvents.create({ event_name: 'x', payload: {} }, w),
      ],
      ['paymentIntents.create', (w) => stripe.paymentIntents.create({ amount: 100, currency: 'eur' }, w)],
      ['subscriptions.update', (w) => stripe.subscriptions.update('sub_unknown', { metadata: {} }, w)],
      [
        'subscriptions.migrate',
        (w) => stripe.subscriptions.migrate('sub_unknown', { billing_mode: { type: 'flexible' } }, w),
      ],
    ];
    expect(writes.map(([name]) => name).sort()).toEqual([...STRIPE_WRITES].sort());
    for (const [name, write] of writes) {
      for (const bad of [
        { idempotencyKey: '' },
        { idempotencyKey: '   ' },
        undefined,
        {},
        { idempotencyKey: 'k'.repeat(256) },
      ]) {
        const error = await write(bad as StripeWrite).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error, `${name} with ${JSON.stringify(bad)}`).toBeInstanceOf(StripeIdempotencyKeyMissing);
      }
    }
    expect(fake.requests.length, 'a refused write reached Stripe').toBe(before);
  });

  it('answers the same key and body with the stored object, and refuses the key with another body', async () => {
    const stripe = client();
    const key = `checkout:org-1:growth:${Date.now()}`;
    const first = await stripe.customers.create({ email: 'a@example.test' }, { idempotencyKey: key });
    const again = await stripe.customers.create({ email: 'a@example.test' }, { idempotencyKey: key });
    expect(again.id).toBe(first.id);
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(fake.requests.filter((r) => r.idempotencyKey === key).map((r) => r.replayed)).toEqual([
      false,
      true,
    ]);

    const error = await stripe.customers.create({ email: 'b@example.test' }, { idempotencyKey: key }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StripeCallError);
    expect((error as StripeCallError).kind).toBe('idempotency');
    expect((error as StripeCallError).status).toBe(400);
    expect(fake.objectsCreatedWith(key)).toBe(1);
  });
});

describe('a call that times out', () => {
  it('is retried by the SDK with the same key after Stripe acted, and creates one object', async () => {
    const key = `booking-fee:${Date.now()}:v1`;
    fake.hangNext({ path: '/v1/invoiceitems', ms: 2000 });
    const stripe = client({ timeoutMs: 400, maxNetworkRetries: 2 });
    const customer = await stripe.customers.create({}, { idempotencyKey: `${key}:customer` });
    const item = await stripe.invoiceItems.create(
      { customer: customer.id, amount: 250, currency: 'eur' },
      { idempotencyKey: key },
    );
    const attempts = fake.requests.filter((r) => r.idempotencyKey === key);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.every((a) => a.path === '/v1/invoiceitems')).toBe(true);
    expect(attempts.at(-1)!.replayed).toBe(true);
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(fake.createdWithKey.get(item.id)).toBe(key);
  });

  it('is retried by us with the same key when the SDK gave up, and still creates one object', async () => {
    const key = `booking-fee:${Date.now()}:ours:v1`;
    const stripe = client({ timeoutMs: 300, maxNetworkRetries: 0 });
    fake.hangNext({ path: '/v1/payment_intents', ms: 1500 });
    const params = { amount: 250, currency: 'eur' };
    const error = await stripe.paymentIntents.create(params, { idempotencyKey: key }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StripeCallError);
    expect((error as StripeCallError).kind).toBe('transient');
    expect(fake.objectsCreatedWith(key)).toBe(1);
    const retried = await stripe.paymentIntents.create(params, { idempotencyKey: key });
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(fake.createdWithKey.get(retried.id)).toBe(key);
  });

  it('a 500 that created nothing is retried by the SDK with the same key', async () => {
    const key = `customer:${Date.now()}:v1`;
    fake.failNext(500, { path: '/v1/customers' });
    const customer = await client({ maxNetworkRetries: 2 }).customers.create({}, { idempotencyKey: key });
    expect(fake.requests.filter((r) => r.idempotencyKey === key)).toHaveLength(2);
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(fake.createdWithKey.get(customer.id)).toBe(key);
  });
});

describe('webhook signatures', () => {
  const body = (id: string) =>
    Buffer.from(
      JSON.stringify({ id, object: 'event', type: 'invoice.paid', created: 1, data: { object: {} } }),
    );
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  it("verifies Stripe's scheme with the current and the previous secret", () => {
    const stripe = client();
    for (const secret of [STRIPE_WEBHOOK_SECRET, OLD_SECRET]) {
      const raw = body('evt_1');
      const event = stripe.constructEvent(raw, stripeSignature(raw.toString(), secret, nowSeconds()));
      expect(event.id).toBe('evt_1');
    }
  });

  it('refuses another secret, changed bytes, a stale timestamp, and no header', () => {
    const stripe = client();
    const raw = body('evt_2');
    const refusals = [
      stripeSignature(raw.toString(), 'whsec_someone_else_123456', nowSeconds()),
      stripeSignature(`${raw.toString()} `, STRIPE_WEBHOOK_SECRET, nowSeconds()),
      stripeSignature(raw.toString(), STRIPE_WEBHOOK_SECRET, nowSeconds() - 301),
      undefined,
    ];
    for (const header of refusals) {
      expect(() => stripe.constructEvent(raw, header), String(header)).toThrow(StripeSignatureError);
    }
    // Within the 300 s tolerance it verifies.
    expect(
      stripe.constructEvent(raw, stripeSignature(raw.toString(), STRIPE_WEBHOOK_SECRET, nowSeconds() - 290))
        .id,
    ).toBe('evt_2');
  });
});

describe('call sites', () => {
  it('reach Stripe only through the client: no other source file uses the SDK itself', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const path = await import('node:path');
    const root = path.resolve(import.meta.dirname, '../../src');
    const files = (await readdir(root, { recursive: true }))
      .filter((f) => f.endsWith('.ts') && !f.startsWith('generated'))
      .map((f) => f.split(path.sep).join('/'));
    const offenders: string[] = [];
    for (const file of files) {
      if (file.startsWith('integrations/stripe/')) continue;
      const text = await readFile(path.join(root, file), 'utf8');
      for (const match of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'stripe(\/[^']*)?';/gms)) {
        // Types of Stripe's objects are fine anywhere; a value import could call Stripe without a key.
        if (!match[1]) offenders.push(`${file}: ${match[0]}`);
      }
      if (/\bnew Stripe\(|\bimport\(\s*'stripe'/.test(text))
        offenders.push(`${file}: builds or loads the SDK`);
    }
    expect(offenders).toEqual([]);
    expect(files).toContain('integrations/stripe/client.ts');
  });
});
