/**
 * `POST /webhooks/stripe` end to end against the loopback Stripe: events signed as Stripe signs
 * them are recorded once by id with their `stripe-event` job and answered 200; the job keeps the
 * organisation's subscription in `billing_subscriptions`. Delivered twice, out of order, or
 * forged, each ends in the right state: a redelivery adds nothing, a late event re-reads Stripe
 * instead of moving the subscription backwards, a forged one gets 400 and changes nothing.
 * Deliveries arriving together are recorded in one transaction (the webhooks' group commit), each
 * answered only after it; a batch that fails answers 500 to all of its deliveries and stores
 * none. Without a Stripe key (development, tests) billing is off and `/readyz` says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRecordedStripeEvent } from '../../src/domain/billing/stripe-events.ts';
import type { StripeClient } from '../../src/integrations/stripe/client.ts';
import { stripeDepsOf } from '../../src/worker/billing.ts';
import { createOrganizationAs } from '../factories/organizations.ts';
import {
  type FakeStripe,
  STRIPE_SECRET_KEY,
  STRIPE_WEBHOOK_SECRET,
  type StripeEvent,
  startFakeStripe,
  stripeSignature,
} from '../fakes/stripe.ts';
import { rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { eventTransactions, failInsertOf, holdBatchOf } from '../helpers/batches.ts';
import { metric, runDueJobs } from '../helpers/jobs.ts';

const PREVIOUS_SECRET = 'whsec_fake_previous_9f8e7d6c5b4a';
/** The events one batch of the batch tests holds (WEBHOOK_BATCH_MAX). */
const BATCH_EVENTS = 4;

let fake: FakeStripe;
let app: TestApp;
let stripe: StripeClient;
let hook: string;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: {
      STRIPE_SECRET_KEY,
      STRIPE_WEBHOOK_SECRETS: `${STRIPE_WEBHOOK_SECRET},${PREVIOUS_SECRET}`,
      STRIPE_API_BASE: fake.url,
      STRIPE_TIMEOUT_MS: '2000',
      // While a batch commits, the next gathers for up to a second or until it holds
      // BATCH_EVENTS events: the batch tests below send that many deliveries at once.
      WEBHOOK_BATCH_WINDOW_MS: '1000',
      WEBHOOK_BATCH_MAX: String(BATCH_EVENTS),
    },
  });
  stripe = app.services.billing.stripe!;
  hook = `${app.url}/webhooks/stripe`;
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
});

const seconds = () => Math.floor(Date.now() / 1000);

/** An organisation with a Stripe customer and an active subscription (as after its Checkout). */
async function subscribedOrganization() {
  const { token } = await app.signIn();
  const organizationId = rawId(await createOrganizationAs(app, token));
  const customer = await stripe.customers.create(
    { metadata: { organizationId } },
    { idempotencyKey: `customer:${organizationId}:v1` },
  );
  const subscription = fake.createSubscription({ customer: customer.id, organizationId });
  return { organizationId, customerId: customer.id, subscriptionId: subscription.id };
}

/** Stripe's delivery, then the jobs it left, run as the worker runs them. */
async function deliver(event: StripeEvent, options?: Parameters<FakeStripe['sendEvent']>[2]) {
  const response = await fake.sendEvent(hook, event, options);
  await runDueJobs(app, ['stripe-event']);
  return response;
}

const row = (subscriptionId: string) =>
  app.services.db.billingSubscription.findUnique({ where: { stripeSubscriptionId: subscriptionId } });
const recorded = (eventId: string) =>
  app.services.db.providerEvent.findMany({ where: { provider: 'stripe', eventId } });
const reads = (subscriptionId: string) =>
  fake.requests.filter((r) => r.method === 'GET' && r.path === `/v1/subscriptions/${subscriptionId}`).length;

describe('Stripe webhooks', () => {
  it('applies checkout.session.completed once when Stripe delivers it twice', async () => {
    const { organizationId, customerId, subscriptionId } = await subscribedOrganization();
    const session = {
      id: 'cs_test_1',
      object: 'checkout.session',
      mode: 'subscription',
      customer: customerId,
      subscription: subscriptionId,
      client_reference_id: organizationId,
      metadata: { organizationId },
      status: 'complete',
    };
    const event = fake.event('checkout.session.completed', session);
    const first = await fake.sendEvent(hook, event);
    const second = await fake.sendEvent(hook, event);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await recorded(event.id)).toHaveLength(1);
    await runDueJobs(app, ['stripe-event']);

    const stored = await row(subscriptionId);
    expect(stored).toMatchObject({ organizationId, stripeCustomerId: customerId, status: 'active' });
    expect(stored!.currentPeriodEnd).toBeInstanceOf(Date);
    const [event1] = await recorded(event.id);
    expect(event1!.outcome).toBe('applied:stripe');
    expect(reads(subscriptionId)).toBe(1);

    // A third delivery later: still one event, one job's worth of work.
    expect((await deliver(event)).status).toBe(200);
    expect(await recorded(event.id)).toHaveLength(1);
    expect(reads(subscriptionId)).toBe(1);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_requests_total\{platform="stripe",outcome="duplicate"\} [2-9]/);
  });

  it('stores an event whose text holds a NUL or a lone surrogate, and the deliveries beside it', async () => {
    const { customerId } = await subscribedOrganization();
    const odd = fake.event('customer.updated', {
      id: customerId,
      object: 'customer',
      name: 'Caf\u00e9 \u0000 Lua \ud800',
      metadata: {},
    });
    const plain = fake.event('customer.updated', { id: customerId, object: 'customer', metadata: {} });
    const [first, second] = await Promise.all([fake.sendEvent(hook, odd), fake.sendEvent(hook, plain)]);
    expect([first.status, second.status]).toEqual([200, 200]);
    const [stored] = await recorded(odd.id);
    expect((stored!.payload as { data: { object: { name: string } } }).data.object.name).toBe(
      'Caf\u00e9 \ufffd Lua \ufffd',
    );
    expect(await recorded(plain.id)).toHaveLength(1);
  });

  it("takes a subscription made without our metadata (in Stripe's Dashboard) to its customer's organisation", async () => {
    const { organizationId, customerId } = await subscribedOrganization();
    await app.services.db.billingCustomer.create({ data: { organizationId, stripeCustomerId: customerId } });
    const bare = fake.createSubscription({ customer: customerId, price: 'price_venue_growth_test' });
    expect((await deliver(fake.event('customer.subscription.created', bare))).status).toBe(200);
    expect(await row(bare.id)).toMatchObject({ organizationId, status: 'active' });
  });

  it('does not let an answer from Stripe that was on its way overwrite an event stored meanwhile', async () => {
    const { subscriptionId } = await subscribedOrganization();
    const active = fake.event(
      'customer.subscription.updated',
      fake.updateSubscription(subscriptionId, { status: 'active' }),
      { created: seconds() - 30 },
    );
    expect((await deliver(active)).status).toBe(200);
    const [recordedActive] = await recorded(active.id);

    // The job applies the event again and asks Stripe; the answer (active, as Stripe held it when
    // asked) takes a while. Meanwhile, within the same second, the customer cancels, and that
    // event is stored.
    fake.hangNext({ path: `/v1/subscriptions/${subscriptionId}`, method: 'GET', ms: 1_500 });
    const readsBefore = reads(subscriptionId);
    const rereading = applyRecordedStripeEvent(
      app.services.db,
      recordedActive!.id,
      stripeDepsOf(app.services)!,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const deleted = fake.event(
      'customer.subscription.deleted',
      fake.updateSubscription(subscriptionId, { status: 'canceled' }),
      { created: seconds() },
    );
    expect((await deliver(deleted)).status).toBe(200);
    expect(await row(subscriptionId)).toMatchObject({ status: 'canceled', source: deleted.id });
    // The late answer finds the row changed since it asked: Stripe is asked again, and says canceled.
    await rereading;
    expect(await row(subscriptionId)).toMatchObject({ status: 'canceled' });
    expect(reads(subscriptionId)).toBe(readsBefore + 2);
  });

  it('applies a signed event whose times no date can hold as nothing to do, once, not a job failing on every retry', async () => {
    const { subscriptionId } = await subscribedOrganization();
    const before = await row(subscriptionId);
    const farOff = fake.event(
      'customer.subscription.updated',
      fake.updateSubscription(subscriptionId, { status: 'past_due' }),
      { created: 253_402_300_800 },
    );
    expect((await deliver(farOff)).status).toBe(200);
    const [applied] = await recorded(farOff.id);
    expect(applied?.outcome).toMatch(/^ignored/);
    expect(await row(subscriptionId)).toEqual(before);
  });

  it('keeps the newer state when an older customer.subscription.updated arrives after a newer one', async () => {
    const { organizationId, subscriptionId } = await subscribedOrganization();
    const t = seconds();
    // Stripe's history: the renewal failed (past_due), then the retry was paid (active).
    const pastDue = fake.event(
      'customer.subscription.updated',
      fake.updateSubscription(subscriptionId, { status: 'past_due' }),
      { created: t - 60 },
    );
    const active = fake.event(
      'customer.subscription.updated',
      fake.updateSubscription(subscriptionId, { status: 'active' }),
      { created: t - 30 },
    );

    expect((await deliver(active)).status).toBe(200);
    expect(await row(subscriptionId)).toMatchObject({ organizationId, status: 'active', source: active.id });
    expect(reads(subscriptionId)).toBe(0);

    // The older event, late: not applied over the newer state; Stripe is asked instead.
    expect((await deliver(pastDue)).status).toBe(200);
    expect(await row(subscriptionId)).toMatchObject({ status: 'active', source: 'retrieve' });
    expect(reads(subscriptionId)).toBe(1);
    expect((await recorded(pastDue.id))[0]!.outcome).toBe('applied:stripe');

    // The job applying an event again (a worker that died after applying it) does not take the
    // event's older state: it asks Stripe, which still says active.
    const [recordedActive] = await recorded(active.id);
    const readsBefore = reads(subscriptionId);
    await applyRecordedStripeEvent(app.services.db, recordedActive!.id, stripeDepsOf(app.services)!);
    expect(await row(subscriptionId)).toMatchObject({ status: 'active', source: 'retrieve' });
    expect(reads(subscriptionId)).toBe(readsBefore + 1);

    // Both again, in either order: nothing moves.
    await deliver(pastDue);
    await deliver(active);
    expect(await row(subscriptionId)).toMatchObject({ status: 'active' });
    expect(await recorded(pastDue.id)).toHaveLength(1);
    expect(await recorded(active.id)).toHaveLength(1);
  });

  it('takes invoice.payment_failed from Stripe, and a later cancellation over it', async () => {
    const { subscriptionId, customerId } = await subscribedOrganization();
    await deliver(
      fake.event('customer.subscription.created', fake.objects.get(subscriptionId), {
        created: seconds() - 120,
      }),
    );
    expect(await row(subscriptionId)).toMatchObject({ status: 'active' });

    fake.updateSubscription(subscriptionId, { status: 'past_due' });
    const failed = fake.event('invoice.payment_failed', {
      id: 'in_failed',
      object: 'invoice',
      customer: customerId,
      status: 'open',
      parent: { subscription_details: { subscription: subscriptionId } },
    });
    await deliver(failed);
    expect(await row(subscriptionId)).toMatchObject({ status: 'past_due' });

    const deleted = fake.event(
      'customer.subscription.deleted',
      fake.updateSubscription(subscriptionId, { status: 'canceled' }),
      { created: seconds() + 1 },
    );
    await deliver(deleted);
    expect(await row(subscriptionId)).toMatchObject({ status: 'canceled', source: deleted.id });
    // invoice.paid for the old invoice, late: Stripe says canceled, so canceled it stays.
    await deliver(
      fake.event('invoice.paid', {
        id: 'in_old',
        object: 'invoice',
        customer: customerId,
        subscription: subscriptionId,
      }),
    );
    expect(await row(subscriptionId)).toMatchObject({ status: 'canceled' });
  });

  it('answers a forged or stale signature with 400 and stores nothing; the previous secret still verifies', async () => {
    const { subscriptionId } = await subscribedOrganization();
    await deliver(
      fake.event('customer.subscription.created', fake.objects.get(subscriptionId), {
        created: seconds() - 100,
      }),
    );
    const before = await row(subscriptionId);
    expect(before).toMatchObject({ status: 'active' });

    const forged = fake.event(
      'customer.subscription.deleted',
      { ...fake.objects.get(subscriptionId), status: 'canceled' },
      { created: seconds() },
    );
    const attempts = [
      await deliver(forged, { secret: 'whsec_someone_else_0000000' }),
      await deliver(forged, { timestamp: seconds() - 301 }),
      await deliver(forged, { signature: '' }),
      await deliver(forged, { signature: 't=1,v1=00' }),
      await deliver(forged, {
        // Signed, but over other bytes than the ones it sends.
        body: JSON.stringify({ ...forged, id: 'evt_other' }, null, 2),
        signature: stripeSignature(JSON.stringify(forged, null, 2), STRIPE_WEBHOOK_SECRET, seconds()),
      }),
    ];
    expect(attempts.map((r) => r.status)).toEqual([400, 400, 400, 400, 400]);
    expect(await recorded(forged.id)).toHaveLength(0);
    expect(await recorded('evt_other')).toHaveLength(0);
    expect(await row(subscriptionId)).toEqual(before);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_requests_total\{platform="stripe",outcome="unauthorized"\} [4-9]/);

    // Signed with the previous secret (rotation): verified and applied.
    const rotated = fake.event(
      'customer.subscription.updated',
      { ...fake.objects.get(subscriptionId), status: 'unpaid' },
      { created: seconds() },
    );
    expect((await deliver(rotated, { secret: PREVIOUS_SECRET })).status).toBe(200);
    expect(await row(subscriptionId)).toMatchObject({ status: 'unpaid', source: rotated.id });
  });
});

describe('Stripe webhooks committed in batches', () => {
  const metrics = async () => (await fetch(`${app.url}/metrics`)).text();
  const stripeJobsFor = async (eventIds: readonly string[]) => {
    const { rows } = await app.database.pool.query<{ event: string }>(
      `SELECT events.event_id AS event
         FROM graphile_worker._private_jobs AS jobs
         JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
         JOIN provider_events AS events ON events.id = (jobs.payload->>'id')::uuid
        WHERE tasks.identifier = 'stripe-event' AND events.provider = 'stripe'
          AND events.event_id = ANY($1::text[])`,
      [eventIds],
    );
    return rows.map((r) => r.event).sort();
  };
  /** An event about nothing of ours: recorded like any other; its job has nothing to apply. */
  const someEvent = () => fake.event('invoice.paid', { id: `in_${Math.random()}`, object: 'invoice' });

  beforeAll(async () => {
    // The first `stripe-event` job ever adds the task's row to the queue's tables: a batch held
    // with it uncommitted would hold every other batch adding such a job.
    expect((await fake.sendEvent(hook, someEvent())).status).toBe(200);
  });

  it('answers a signed body that is no event with 400, not 500, and stores nothing', async () => {
    const before = await app.services.db.providerEvent.count({ where: { provider: 'stripe' } });
    const bodies = ['{}', '[]', 'null', '"evt"', '{"id":5,"type":"x"}', '{"id":"evt_x"}'];
    const answers = [];
    for (const body of bodies) {
      answers.push(
        (
          await fake.sendEvent(hook, {} as never, {
            body,
            signature: stripeSignature(body, STRIPE_WEBHOOK_SECRET, seconds()),
          })
        ).status,
      );
    }
    expect(answers).toEqual(bodies.map(() => 400));
    expect(await app.services.db.providerEvent.count({ where: { provider: 'stripe' } })).toBe(before);
  });

  it('records deliveries that arrive together in one transaction: a redelivery stored once, a forged one refused', async () => {
    // A delivery whose batch is held at its commit: the next ones gather meanwhile.
    const first = someEvent();
    const hold = await holdBatchOf(app.database, first.id);
    const before = await metrics();
    const [a, b, c] = [someEvent(), someEvent(), someEvent()];
    const forged = someEvent();
    let firstAnswer: Promise<Response> | undefined;
    try {
      firstAnswer = fake.sendEvent(hook, first);
      await hold.held();
      const answers = await Promise.all([
        fake.sendEvent(hook, a),
        fake.sendEvent(hook, b),
        fake.sendEvent(hook, forged, { secret: 'whsec_someone_else_0000000' }),
        fake.sendEvent(hook, a),
        fake.sendEvent(hook, c),
      ]);
      expect(answers.map((r) => r.status)).toEqual([200, 200, 400, 200, 200]);
      // Committed (answered) while the first batch still waits: in one transaction of their own.
      const written = await eventTransactions(app.database, 'stripe', [
        first.id,
        a.id,
        b.id,
        c.id,
        forged.id,
      ]);
      expect([...written.keys()].sort()).toEqual([a.id, b.id, c.id].sort());
      expect(new Set(written.values()).size).toBe(1);
      expect(await recorded(a.id)).toHaveLength(1);
    } finally {
      await hold.release();
    }
    expect((await firstAnswer)?.status).toBe(200);
    const all = await eventTransactions(app.database, 'stripe', [first.id, a.id]);
    expect(all.get(first.id)).not.toBe(all.get(a.id));
    // One job per event stored: the redelivery added none, the forged delivery nothing at all.
    expect(await stripeJobsFor([first.id, a.id, b.id, c.id, forged.id])).toEqual(
      [first.id, a.id, b.id, c.id].sort(),
    );

    const after = await metrics();
    const grew = (series: string) => metric(after, series) - metric(before, series);
    expect(grew('webhook_batch_events_count{outcome="committed"}')).toBe(2);
    expect(grew('webhook_batch_events_sum{outcome="committed"}')).toBe(1 + BATCH_EVENTS);
    expect(grew('webhook_requests_total{platform="stripe",outcome="accepted"}')).toBe(4);
    expect(grew('webhook_requests_total{platform="stripe",outcome="duplicate"}')).toBe(1);
    expect(grew('webhook_requests_total{platform="stripe",outcome="unauthorized"}')).toBe(1);
    await runDueJobs(app, ['stripe-event']);
  });

  it('answers 500 to every delivery of a batch that fails, stores none of it, and stores them when Stripe delivers again', async () => {
    // One event whose insert fails takes its batch with it. (The triggers are made before any
    // batch is held: making one waits for the transactions writing the table.)
    const events = [someEvent(), someEvent(), someEvent(), someEvent()];
    const ids = events.map((e) => e.id);
    const refuse = await failInsertOf(app.database, events[1]!.id);
    const first = someEvent();
    const hold = await holdBatchOf(app.database, first.id);
    const before = await metrics();
    let firstAnswer: Promise<Response> | undefined;
    try {
      firstAnswer = fake.sendEvent(hook, first);
      await hold.held();
      const answers = await Promise.all(events.map((event) => fake.sendEvent(hook, event)));
      expect(answers.map((r) => r.status)).toEqual([500, 500, 500, 500]);
      expect((await eventTransactions(app.database, 'stripe', ids)).size).toBe(0);
      expect(await stripeJobsFor(ids)).toEqual([]);
    } finally {
      // The held batch was not in the failed one: it commits on its own.
      await hold.release();
      await refuse();
    }
    expect((await firstAnswer)?.status).toBe(200);
    expect(await recorded(first.id)).toHaveLength(1);
    const after = await metrics();
    const grew = (series: string) => metric(after, series) - metric(before, series);
    expect(grew('webhook_batch_events_count{outcome="failed"}')).toBe(1);
    expect(grew('webhook_batch_events_sum{outcome="failed"}')).toBe(BATCH_EVENTS);
    expect(grew('webhook_requests_total{platform="stripe",outcome="error"}')).toBe(BATCH_EVENTS);

    // Stripe delivers each again: each stored once, with its job.
    const again = await Promise.all(events.map((event) => fake.sendEvent(hook, event)));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await eventTransactions(app.database, 'stripe', ids)).size).toBe(BATCH_EVENTS);
    expect(await stripeJobsFor(ids)).toEqual([...ids].sort());
    await runDueJobs(app, ['stripe-event']);
  });
});

describe('billing off', () => {
  it('runs without a Stripe key outside production, says so in /readyz, and has no Stripe webhook', async () => {
    const off = await startTestApp();
    try {
      expect(off.services.billing.stripe).toBeUndefined();
      const response = await fetch(`${off.url}/readyz`);
      const body = (await response.json()) as {
        ready: boolean;
        checks: Record<string, { ok: boolean; detail?: string }>;
      };
      expect(response.status, JSON.stringify(body)).toBe(200);
      expect(body.ready).toBe(true);
      expect(body.checks.billing).toEqual({ ok: true, detail: 'off: STRIPE_SECRET_KEY not set' });
      const hookOff = await fake.sendEvent(`${off.url}/webhooks/stripe`, fake.event('invoice.paid', {}));
      expect(hookOff.status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
