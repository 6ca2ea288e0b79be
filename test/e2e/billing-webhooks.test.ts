/**
 * Billing events on outbound webhooks, end to end: the real paths (Stripe's webhook into the
 * loopback Stripe's events, the fee and invoice jobs, the GraphQL mutations) queue each event once
 * per real change, and the real `webhook-drain` sends it to a loopback receiver that verifies it
 * with the `standardwebhooks` library. A repeated Stripe event or a job run again sends nothing
 * more.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectBookingFee } from '../../src/domain/billing/fee-collection.ts';
import { monthlyInvoiceTask } from '../../src/domain/billing/fee-tasks.ts';
import { reconcileSubscriptions } from '../../src/domain/billing/reconcile.ts';
import { refreshSubscription } from '../../src/domain/billing/stripe-events.ts';
import type { StripeClient } from '../../src/integrations/stripe/client.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { stripeDepsOf } from '../../src/worker/billing.ts';
import { feeDepsOf } from '../../src/worker/fees.ts';
import { createBooking } from '../factories/bookings.ts';
import { createBookableVenue } from '../factories/venues.ts';
import {
  type FakeStripe,
  STRIPE_SECRET_KEY,
  STRIPE_WEBHOOK_SECRET,
  type StripeEvent,
  startFakeStripe,
} from '../fakes/stripe.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import { member, startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors, unique } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const GROWTH = 'price_venue_growth_hooks';

let fake: FakeStripe;
let app: TestApp;
let stripe: StripeClient;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: {
      STRIPE_SECRET_KEY,
      STRIPE_WEBHOOK_SECRETS: STRIPE_WEBHOOK_SECRET,
      STRIPE_API_BASE: fake.url,
      STRIPE_TIMEOUT_MS: '2000',
      STRIPE_PRICE_VENUE_GROWTH: GROWTH,
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1/32',
    },
  });
  stripe = app.services.billing.stripe!;
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close().catch(() => {})));
  await app?.close();
  await fake?.close();
});

const db = () => app.services.db;
const seconds = () => Math.floor(app.services.now().getTime() / 1000);
const orgId = (id: string) => encodeGlobalID('Organization', id);
const bookingGid = (id: string) => encodeGlobalID('Booking', id);

const CREATE = `mutation Create($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) {
    __typename
    ... on WebhookSubscriptionSecretPayload { secret subscription { id events } }
    ... on Error { message }
  }
}`;

/**
 * A receiver, verifying signatures (without the five-minute tolerance: some tests move the app's
 * clock days ahead), subscribed by the organisation's owner to `events`.
 */
async function subscribedReceiver(fx: Actors, events: string[]): Promise<WebhookReceiver> {
  const hook = await startWebhookReceiver({ checkTimestamp: false });
  receivers.push(hook);
  type Created =
    | { __typename: 'WebhookSubscriptionSecretPayload'; secret: string }
    | { __typename: 'ValidationError' | 'NotAllowedError'; message: string };
  const res = await app.gql<{ createWebhookSubscription: Created }, unknown>(
    CREATE,
    { input: { organizationId: orgId(fx.organizationId), url: hook.url, events } },
    { token: fx.owner.token },
  );
  const payload = member(res.data?.createWebhookSubscription, 'WebhookSubscriptionSecretPayload', res);
  hook.secrets.push(payload.secret);
  return hook;
}

/** Sends every queued delivery, as the worker would. */
const drain = () => runDueJobs(app, ['webhook-drain']);

/** Stripe posts `event` to our endpoint and the job applies it. */
async function deliver(event: StripeEvent) {
  expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, event)).status).toBe(200);
  await runDueJobs(app, ['stripe-event']);
}

const types = (hook: WebhookReceiver) => hook.accepted.map((d) => d.body.type);

async function customerFor(organizationId: string): Promise<string> {
  const customer = await stripe.customers.create(
    { metadata: { organizationId } },
    { idempotencyKey: `customer:${organizationId}:v1` },
  );
  await db().billingCustomer.create({ data: { organizationId, stripeCustomerId: customer.id } });
  return customer.id;
}

describe('billing.subscription.updated', () => {
  it('tells of each change of status, plan or standing once, however often Stripe or the reconcile says it', async () => {
    const fx = await createActors(app);
    const hook = await subscribedReceiver(fx, ['BILLING_SUBSCRIPTION_UPDATED']);
    const customerId = await customerFor(fx.organizationId);
    const subscription = fake.createSubscription({
      customer: customerId,
      organizationId: fx.organizationId,
      price: GROWTH,
    });

    // Subscribed: the event, delivered twice, and its re-read by the reconcile, tell once.
    const created = fake.event('customer.subscription.created', subscription, { created: seconds() - 600 });
    await deliver(created);
    await deliver(created);
    const deps = { ...stripeDepsOf(app.services)!, logger: app.services.logger };
    await reconcileSubscriptions(db(), deps);
    await drain();
    expect(types(hook)).toEqual(['billing.subscription.updated']);
    expect(hook.accepted[0]!.body.data).toEqual({
      stripeSubscriptionId: subscription.id,
      status: 'active',
      plan: 'VENUE_GROWTH',
      priceId: GROWTH,
      standing: 'ACTIVE',
      graceEndsAt: null,
      currentPeriodEnd: expect.any(String),
      previous: null,
    });

    // The renewal fails: invoice.payment_failed twice and customer.subscription.updated besides.
    fake.updateSubscription(subscription.id, { status: 'past_due' });
    const failed = fake.event('invoice.payment_failed', {
      id: `in_${subscription.id}`,
      object: 'invoice',
      customer: customerId,
      status: 'open',
      parent: { subscription_details: { subscription: subscription.id } },
    });
    await deliver(failed);
    await deliver(failed);
    await deliver(fake.event('customer.subscription.updated', fake.objects.get(subscription.id)));
    await drain();
    expect(types(hook)).toEqual(['billing.subscription.updated', 'billing.subscription.updated']);
    const pastDue = hook.accepted[1]!.body.data;
    expect(pastDue).toMatchObject({
      status: 'past_due',
      standing: 'PAST_DUE',
      graceEndsAt: expect.any(String),
      previous: { status: 'active', plan: 'VENUE_GROWTH', standing: 'ACTIVE' },
    });

    // Grace runs out with nobody paying: no Stripe event says so; the reconcile (run twice) does, once.
    app.clock.advance(
      new Date(pastDue.graceEndsAt as string).getTime() - app.services.now().getTime() + 60_000,
    );
    await reconcileSubscriptions(db(), deps);
    await reconcileSubscriptions(db(), deps);
    await drain();
    expect(types(hook)).toHaveLength(3);
    expect(hook.accepted[2]!.body.data).toMatchObject({
      status: 'past_due',
      standing: 'RESTRICTED',
      previous: { status: 'past_due', standing: 'PAST_DUE' },
    });

    // Paid again, seen by five re-reads at once (a webhook job and reconcile runs racing), then by
    // its event, twice.
    fake.updateSubscription(subscription.id, { status: 'active' });
    const stored = await db().billingSubscription.findUniqueOrThrow({
      where: { stripeSubscriptionId: subscription.id },
    });
    await Promise.all(Array.from({ length: 5 }, () => refreshSubscription(db(), stored, deps)));
    const recovered = fake.event('customer.subscription.updated', fake.objects.get(subscription.id));
    await deliver(recovered);
    await deliver(recovered);
    await drain();
    expect(types(hook)).toHaveLength(4);
    expect(hook.accepted[3]!.body.data).toMatchObject({
      status: 'active',
      standing: 'ACTIVE',
      previous: { status: 'past_due', standing: 'RESTRICTED' },
    });
    // Every delivery verified; none was refused.
    expect(hook.requests).toHaveLength(hook.accepted.length);
  });
});

const RECORD_VALUE = `mutation Value($id: ID!, $value: Int!) {
  recordBookingValue(input: { bookingId: $id, value: $value }) { __typename ... on Error { message } }
}`;
const WAIVE = `mutation Waive($id: ID!, $reason: String!) {
  waiveBookingFee(input: { bookingId: $id, reason: $reason }) { __typename ... on Error { message } }
}`;

/** An organisation on the venue plan (as stored from Stripe), with a venue and a completed chat booking. */
async function feeWorld(options: { subscribed: boolean }) {
  const fx = await createActors(app);
  const venue = await createBookableVenue(db(), { organizationId: fx.organizationId });
  const customerId = await customerFor(fx.organizationId);
  if (options.subscribed) {
    const subscription = fake.createSubscription({
      customer: customerId,
      organizationId: fx.organizationId,
      price: GROWTH,
    });
    await db().billingSubscription.create({
      data: {
        organizationId: fx.organizationId,
        stripeCustomerId: customerId,
        stripeSubscriptionId: subscription.id,
        status: 'active',
        priceId: GROWTH,
        stateAt: new Date(),
        source: 'test',
      },
    });
  }
  const guest = await db().user.create({
    data: { email: `${unique('diner').replace(' ', '-')}@example.test`, displayName: 'Dina Diner' },
  });
  const booking = await createBooking(db(), {
    venueId: venue.id,
    guestId: guest.id,
    startsAt: new Date(app.services.now().getTime() - 3 * 3_600_000),
    status: 'COMPLETED',
    source: 'CHAT',
  });
  return { fx, venue, booking, guest };
}

describe('booking fees and their invoice', () => {
  it('tells of an invoice the credit balance paid as it was finalised, when its payment is recorded', async () => {
    const { fx, booking } = await feeWorld({ subscribed: true });
    const hook = await subscribedReceiver(fx, ['BILLING_INVOICE_FINALIZED', 'BILLING_INVOICE_PAID']);
    await collectBookingFee(feeDepsOf(app.services), booking.id);
    const fee = await db().bookingFee.findUniqueOrThrow({ where: { bookingId: booking.id } });
    // Credit left in Stripe (a downgrade's proration, say) covers the month's fees.
    const { stripeCustomerId } = await db().billingCustomer.findUniqueOrThrow({
      where: { organizationId: fx.organizationId },
    });
    fake.objects.get(stripeCustomerId)!.balance = -10_000;
    const tick = new Date(Date.UTC(fee.accruedAt.getUTCFullYear(), fee.accruedAt.getUTCMonth() + 1, 1, 1));
    await enqueue(db(), monthlyInvoiceTask, { _cron: { ts: tick.toISOString() } });
    await runDueJobs(app, ['monthly-invoice']);
    const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: fx.organizationId } });
    expect(invoice).toMatchObject({ status: 'paid', paidAt: null });
    // Stripe's invoice.paid for it, twice: the payment recorded and told once.
    const paid = fake.event('invoice.paid', fake.objects.get(invoice.stripeInvoiceId!)!);
    await deliver(paid);
    await deliver(paid);
    await drain();
    expect(types(hook)).toEqual(['billing.invoice.finalized', 'billing.invoice.paid']);
    expect(hook.accepted[1]!.body).toMatchObject({
      data: { invoiceId: invoice.id, status: 'paid', fees: 1 },
    });
    expect(await db().bookingFee.findUniqueOrThrow({ where: { id: fee.id } })).toMatchObject({
      status: 'PAID',
    });
  });

  it('tells of the accrual, each revision, the invoice finalised and paid, each once', async () => {
    const { fx, venue, booking, guest } = await feeWorld({ subscribed: true });
    const hook = await subscribedReceiver(fx, [
      'BILLING_FEE_ACCRUED',
      'BILLING_FEE_WAIVED',
      'BILLING_INVOICE_FINALIZED',
      'BILLING_INVOICE_PAID',
    ]);

    // The booking-fee job, run twice: one accrual.
    await collectBookingFee(feeDepsOf(app.services), booking.id);
    await collectBookingFee(feeDepsOf(app.services), booking.id);
    // The team records the value: the fee is revised.
    const revalued = await app.gql(
      RECORD_VALUE,
      { id: bookingGid(booking.id), value: 20_000 },
      { token: fx.owner.token },
    );
    expect(revalued.data, JSON.stringify(revalued.body)).toMatchObject({
      recordBookingValue: { __typename: 'RecordBookingValuePayload' },
    });
    await drain();
    expect(types(hook)).toEqual(['billing.fee.accrued', 'billing.fee.accrued']);
    const fee = await db().bookingFee.findUniqueOrThrow({ where: { bookingId: booking.id } });
    expect(hook.accepted[0]!.body.data).toEqual({
      feeId: fee.id,
      bookingId: booking.id,
      venueId: venue.id,
      kind: 'REFERRAL_PCT',
      status: 'PENDING',
      revision: 1,
      pctBps: 700,
      valueMinor: 0,
      feeMinor: 150,
      currency: 'USD',
      collection: 'INVOICE',
      accruedAt: fee.accruedAt.toISOString(),
    });
    expect(hook.accepted[1]!.body.data).toMatchObject({ revision: 2, valueMinor: 20_000, feeMinor: 1400 });

    // The monthly invoice, its job run twice: finalised once.
    const tick = new Date(Date.UTC(fee.accruedAt.getUTCFullYear(), fee.accruedAt.getUTCMonth() + 1, 1, 1));
    for (let i = 0; i < 2; i++) {
      await enqueue(db(), monthlyInvoiceTask, { _cron: { ts: tick.toISOString() } });
      await runDueJobs(app, ['monthly-invoice']);
    }
    const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: fx.organizationId } });
    await drain();
    expect(types(hook)).toEqual(['billing.fee.accrued', 'billing.fee.accrued', 'billing.invoice.finalized']);
    expect(hook.accepted[2]!.body.data).toEqual({
      invoiceId: invoice.id,
      stripeInvoiceId: invoice.stripeInvoiceId,
      month: invoice.month,
      status: 'open',
      amountMinor: 1400,
      currency: 'USD',
      fees: 1,
      hostedInvoiceUrl: `https://invoice.stripe.test/i/${invoice.stripeInvoiceId}`,
      paidAt: null,
    });

    // Stripe says it is paid, twice: paid once.
    const paid = fake.event('invoice.paid', fake.payInvoice(invoice.stripeInvoiceId!));
    await deliver(paid);
    await deliver(paid);
    await drain();
    expect(types(hook)).toHaveLength(4);
    expect(hook.accepted[3]!.body).toMatchObject({
      type: 'billing.invoice.paid',
      data: { invoiceId: invoice.id, status: 'paid', amountMinor: 1400, currency: 'USD', fees: 1 },
    });
    expect(hook.requests).toHaveLength(hook.accepted.length);
    // Nothing about the guest reaches the organisation's receivers.
    for (const delivery of hook.accepted) {
      expect(delivery.raw).not.toContain(guest.id);
      expect(delivery.raw).not.toContain(guest.email);
      expect(delivery.raw).not.toContain('Dina');
    }
  });

  it('tells of a waived fee once', async () => {
    const { fx, booking } = await feeWorld({ subscribed: false });
    const hook = await subscribedReceiver(fx, ['BILLING_FEE_WAIVED']);
    await collectBookingFee({ ...feeDepsOf(app.services), stripe: undefined }, booking.id);
    const waive = () =>
      app.gql(
        WAIVE,
        { id: bookingGid(booking.id), reason: 'Guest was a walk-in' },
        { token: fx.platformAdmin.token },
      );
    expect((await waive()).data).toMatchObject({ waiveBookingFee: { __typename: 'WaiveBookingFeePayload' } });
    // Waiving again is refused and tells nobody.
    expect((await waive()).data).toMatchObject({ waiveBookingFee: { __typename: 'ConflictError' } });
    await drain();
    expect(types(hook)).toEqual(['billing.fee.waived']);
    expect(hook.accepted[0]!.body.data).toMatchObject({
      bookingId: booking.id,
      status: 'WAIVED',
      feeMinor: 250,
      currency: 'USD',
    });
    // The reason is the platform's note, not the organisation's: it is not sent.
    expect(hook.accepted[0]!.raw).not.toContain('walk-in');
  });
});

const BUY = `mutation Buy($input: BuyCreditsInput!) {
  buyCredits(input: $input) { __typename ... on BuyCreditsPayload { url } ... on Error { message } }
}`;

describe('billing.credits.purchased', () => {
  it('tells of credits granted from a paid Checkout once, whichever events Stripe repeats', async () => {
    const fx = await createActors(app);
    const hook = await subscribedReceiver(fx, ['BILLING_CREDITS_PURCHASED']);
    const res = await app.gql<{ buyCredits: { __typename: string } }, unknown>(
      BUY,
      { input: { organizationId: orgId(fx.organizationId), amount: 2000, currency: 'USD' } },
      { token: fx.owner.token },
    );
    expect(res.data?.buyCredits.__typename, JSON.stringify(res.body)).toBe('BuyCreditsPayload');
    const sessionId = [...fake.createdWithKey].find(
      ([, key]) => key === `credits:${fx.organizationId}:1`,
    )![0];

    const completed = fake.event('checkout.session.completed', fake.completeSession(sessionId));
    await deliver(completed);
    await deliver(completed);
    await deliver(fake.event('checkout.session.async_payment_succeeded', fake.objects.get(sessionId)));
    await drain();
    expect(types(hook)).toEqual(['billing.credits.purchased']);
    expect(hook.accepted[0]!.body.data).toEqual({
      transferId: expect.any(String),
      checkoutSessionId: sessionId,
      amountMinor: 2000,
      currency: 'USD',
    });
    expect(hook.requests).toHaveLength(1);
  });

  it('is sent only to receivers that chose it', async () => {
    const fx = await createActors(app);
    const hook = await subscribedReceiver(fx, ['BOOKING_CONFIRMED']);
    const res = await app.gql<{ buyCredits: { __typename: string } }, unknown>(
      BUY,
      { input: { organizationId: orgId(fx.organizationId), amount: 1000, currency: 'USD' } },
      { token: fx.owner.token },
    );
    expect(res.data?.buyCredits.__typename).toBe('BuyCreditsPayload');
    const sessionId = [...fake.createdWithKey].find(
      ([, key]) => key === `credits:${fx.organizationId}:1`,
    )![0];
    await deliver(fake.event('checkout.session.completed', fake.completeSession(sessionId)));
    await drain();
    expect(hook.requests).toHaveLength(0);
  });
});
