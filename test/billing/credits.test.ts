/**
 * Prepaid credits and paid calls on real PostgreSQL and the loopback Stripe: a paid call debits
 * once per request id however often it is retried, and a call the credits do not cover is
 * metered on a paid developer plan or refused with nothing changed; a booking made with an API
 * key pays, one made by a person signed in does not, and with billing off nothing is charged;
 * buyCredits starts a Checkout in payment mode whose completion, delivered twice, grants once (an
 * unpaid completion grants nothing until its async payment succeeds); STAFF neither buy credits
 * nor see usage.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditBalance, debitCredits, grantCredits } from '../../src/domain/ledger/credits.ts';
import { derivedTransferId } from '../../src/domain/ledger/transfer.ts';
import { recordUsage } from '../../src/domain/usage/events.ts';
import { type PaidCallDeps, PaymentRequiredError, payForCall } from '../../src/domain/usage/paid-calls.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { type FakeStripe, startFakeStripe, stripeEnv, TEST_PRICES } from '../fakes/stripe.ts';
import { startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import { type Actors, apiKey, createActors, unique } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const PRICES = TEST_PRICES;

let fake: FakeStripe;
let app: TestApp;
let off: TestApp;
let hook: string;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: stripeEnv(fake),
  });
  off = await startTestApp();
  hook = `${app.url}/webhooks/stripe`;
});
afterAll(async () => {
  await app?.close();
  await off?.close();
  await fake?.close();
});

const db = () => app.services.db;
const gid = (id: string) => encodeGlobalID('Organization', id);
const deps = (): PaidCallDeps => ({
  plans: app.services.config.billing.plans,
  graceDays: app.services.config.billing.graceDays,
  now: app.clock.now,
  price: 25,
  currency: 'USD',
});
const balance = (organizationId: string) => creditBalance(db(), organizationId, 'USD');
/** Stripe's delivery of `event`, and its job run as the worker runs it. */
async function deliver(event: Parameters<FakeStripe['sendEvent']>[1]) {
  expect((await fake.sendEvent(hook, event)).status).toBe(200);
  await runDueJobs(app, ['stripe-event']);
}
/** Credits given to the organisation (`amount` cents), as a purchase or an admin would. */
const give = (organizationId: string, amount: number) =>
  grantCredits(db(), { transferId: randomUUID(), organizationId, amount, currency: 'USD', reason: 'given' });
/** Credits the organisation spent on calls. */
const spend = (organizationId: string, amount: number) =>
  debitCredits(db(), { transferId: randomUUID(), organizationId, amount, currency: 'USD', reason: 'calls' });
const transfers = (organizationId: string) =>
  db().ledgerTransfer.count({ where: { metadata: { path: ['organizationId'], equals: organizationId } } });

/** An organisation holding `credits` cents, given as bought credits are. */
async function organization(credits = 0, plan?: 'DEVELOPER_PRO') {
  const org = await db().organization.create({ data: { name: unique('Credits Org') } });
  if (credits > 0) {
    await give(org.id, credits);
  }
  if (plan) {
    await db().billingSubscription.create({
      data: {
        organizationId: org.id,
        stripeCustomerId: `cus_${randomUUID().slice(0, 8)}`,
        stripeSubscriptionId: `sub_${randomUUID()}`,
        status: 'active',
        priceId: PRICES.STRIPE_PRICE_DEVELOPER_PRO,
        stateAt: new Date(),
        source: 'test',
      },
    });
  }
  return org.id;
}

describe('payForCall', () => {
  it('debits once per request id, however many retries race', async () => {
    const org = await organization(100);
    const requestId = `booking.confirm:${randomUUID()}`;
    const paid = await Promise.all(
      Array.from({ length: 10 }, () =>
        payForCall(db(), deps(), { organizationId: org, call: 'booking.confirm', requestId }),
      ),
    );
    expect(paid.every((p) => p.paidWith === 'credits')).toBe(true);
    expect(paid.filter((p) => p.paidWith === 'credits' && p.created)).toHaveLength(1);
    expect(await balance(org)).toBe(75n);
    const transfer = await db().ledgerTransfer.findUniqueOrThrow({
      where: { id: derivedTransferId('paid-call', requestId) },
    });
    expect(transfer.kind).toBe('CREDITS_DEBIT');

    // Another request pays again; a fourth would overdraw and is refused.
    for (let i = 0; i < 3; i += 1) {
      await payForCall(db(), deps(), {
        organizationId: org,
        call: 'booking.confirm',
        requestId: randomUUID(),
      });
    }
    expect(await balance(org)).toBe(0n);
  });

  it('refuses a call the credits do not cover with PaymentRequiredError, and changes nothing', async () => {
    const org = await organization(20);
    const before = await transfers(org);
    const refused = payForCall(db(), deps(), {
      organizationId: org,
      call: 'booking.confirm',
      requestId: randomUUID(),
    });
    await expect(refused).rejects.toBeInstanceOf(PaymentRequiredError);
    await expect(refused).rejects.toMatchObject({ price: 25, currency: 'USD' });
    expect(await balance(org)).toBe(20n);
    expect(await transfers(org)).toBe(before);
    expect(await db().usageEvent.count({ where: { organizationId: org } })).toBe(0);

    // An organisation that never had credits: nothing is opened for it either.
    const none = await organization();
    await expect(
      payForCall(db(), deps(), { organizationId: none, call: 'booking.confirm', requestId: randomUUID() }),
    ).rejects.toBeInstanceOf(PaymentRequiredError);
    expect(await db().ledgerAccount.count({ where: { ownerId: none } })).toBe(0);
  });

  it('meters a call the credits do not cover on a paid developer plan, once per request id', async () => {
    const org = await organization(0, 'DEVELOPER_PRO');
    const requestId = randomUUID();
    const first = await payForCall(db(), deps(), { organizationId: org, call: 'booking.confirm', requestId });
    expect(first).toEqual({ paidWith: 'usage', recorded: true });
    // Credits bought since do not make the retry pay twice.
    await give(org, 500);
    const retry = await payForCall(db(), deps(), { organizationId: org, call: 'booking.confirm', requestId });
    expect(retry).toEqual({ paidWith: 'usage', recorded: false });
    expect(await balance(org)).toBe(500n);
    const usage = await db().usageEvent.findMany({ where: { organizationId: org } });
    expect(usage.map((u) => [u.meter, u.usageKey, u.quantity])).toEqual([
      ['API_CALL', `api-call:${requestId}`, 1n],
    ]);
    // With credits, the next call is paid from them.
    const next = await payForCall(db(), deps(), {
      organizationId: org,
      call: 'booking.confirm',
      requestId: randomUUID(),
    });
    expect(next.paidWith).toBe('credits');
    expect(await balance(org)).toBe(475n);
  });
});

const CREATE = /* GraphQL */ `
  mutation ($input: CreateBookingInput!) {
    createBooking(input: $input) {
      __typename
      ... on BookingPayload { booking { id } }
      ... on PaymentRequiredError { message price currency }
      ... on Error { message }
    }
  }
`;

describe('a booking made with an API key', () => {
  async function setUp(on: TestApp, credits: number) {
    const fx = await createActors(on);
    if (credits) {
      await grantCredits(on.services.db, {
        transferId: randomUUID(),
        organizationId: fx.organizationId,
        amount: credits,
        currency: 'USD',
        reason: 'test credits',
      });
    }
    const venue = await createBookableVenue(on.services.db, { organizationId: fx.organizationId });
    return { fx, venue };
  }
  const startsAt = (days: number) => {
    const at = new Date(Date.now() + days * 86_400_000);
    at.setUTCHours(20, 0, 0, 0);
    return at.toISOString();
  };
  type Answer = {
    createBooking: { __typename: string; booking?: { id: string }; price?: number; message?: string };
  };
  const book = async (on: TestApp, token: string, venueId: string, input: Record<string, unknown>) => {
    const res = await on.gql<Answer, unknown>(
      CREATE,
      { input: { venueId: encodeGlobalID('Venue', venueId), partySize: 2, ...input } },
      { token },
    );
    expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
    return res.data!.createBooking;
  };

  it('pays from credits once per booking, even when the request is retried with its client key', async () => {
    const { fx, venue } = await setUp(app, 30);
    const input = {
      startsAt: startsAt(5),
      guestEmail: uniqueEmail('phone'),
      clientKey: `ck-${randomUUID()}`,
    };
    const first = await book(app, fx.keyWrite.secret, venue.id, input);
    expect(first.__typename).toBe('BookingPayload');
    const again = await book(app, fx.keyWrite.secret, venue.id, input);
    expect(again.booking!.id).toBe(first.booking!.id);
    expect(await balance(fx.organizationId)).toBe(5n);

    // The next booking is not covered: refused, and no booking is made.
    const count = await db().booking.count({ where: { venueId: venue.id } });
    const refused = await book(app, fx.keyWrite.secret, venue.id, {
      startsAt: startsAt(6),
      guestEmail: uniqueEmail('phone'),
    });
    expect(refused).toMatchObject({ __typename: 'PaymentRequiredError', price: 25 });
    expect(await db().booking.count({ where: { venueId: venue.id } })).toBe(count);
    expect(await balance(fx.organizationId)).toBe(5n);

    // A person signed in books without paying.
    const byOwner = await book(app, fx.owner.token, venue.id, {
      startsAt: startsAt(7),
      guestEmail: uniqueEmail('phone'),
    });
    expect(byOwner.__typename).toBe('BookingPayload');
    expect(await balance(fx.organizationId)).toBe(5n);
  });

  it('pays the same way for agnt.confirm_booking over MCP: from credits, then metered on the pro plan', async () => {
    const { fx, venue } = await setUp(app, 30);
    // Booking over MCP is a pro tool: the organisation subscribes to the developer pro plan.
    await db().billingSubscription.create({
      data: {
        organizationId: fx.organizationId,
        stripeCustomerId: `cus_${randomUUID().slice(0, 8)}`,
        stripeSubscriptionId: `sub_${randomUUID().slice(0, 8)}`,
        status: 'active',
        priceId: PRICES.STRIPE_PRICE_DEVELOPER_PRO,
        stateAt: new Date(),
        source: 'test',
      },
    });
    const client = new Client({ name: 'agnt-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/mcp', app.url), {
        requestInit: { headers: { authorization: `Bearer ${fx.keyWrite.secret}` } },
      }),
    );
    try {
      const date = Temporal.Now.plainDateISO(venue.timeZone).add({ days: 8 }).toString();
      const confirm = (time: string) =>
        client.callTool({
          name: 'agnt.confirm_booking',
          arguments: { venue_id: venue.id, date, time, party_size: 2 },
        }) as Promise<CallToolResult>;
      const paid = await confirm('19:00');
      expect(paid.isError, JSON.stringify(paid)).toBeFalsy();
      expect(await balance(fx.organizationId)).toBe(5n);

      // Credits no longer cover a call: on the pro plan it is metered instead, once.
      const metered = await confirm('20:00');
      expect(metered.isError, JSON.stringify(metered)).toBeFalsy();
      const bookingId = (metered.structuredContent as { bookingId: string }).bookingId;
      expect(await balance(fx.organizationId)).toBe(5n);
      const usage = await db().usageEvent.findMany({ where: { organizationId: fx.organizationId } });
      expect(usage).toEqual([
        expect.objectContaining({
          meter: 'API_CALL',
          quantity: 1n,
          usageKey: `api-call:booking.create:${bookingId}`,
        }),
      ]);
    } finally {
      await client.close();
    }
  });

  it('costs nothing with billing off', async () => {
    const { fx, venue } = await setUp(off, 0);
    const key = await apiKey(off, fx.organizationId, fx.owner.userId, ['read', 'write']);
    const res = await off.gql<Answer, unknown>(
      CREATE,
      {
        input: {
          venueId: encodeGlobalID('Venue', venue.id),
          partySize: 2,
          startsAt: startsAt(5),
          guestEmail: uniqueEmail('phone'),
        },
      },
      { token: key.secret },
    );
    expect(res.data!.createBooking.__typename, JSON.stringify(res.body)).toBe('BookingPayload');
  });
});

const BUY = /* GraphQL */ `
  mutation ($input: BuyCreditsInput!) {
    buyCredits(input: $input) {
      __typename
      ... on BuyCreditsPayload { url }
      ... on Error { message }
      ... on ValidationError { field }
    }
  }
`;
const USAGE = /* GraphQL */ `
  query ($id: ID!) {
    organization(id: $id) {
      billing { credits { currency balance } usage { meter quantity reported pending } }
    }
  }
`;
type BuyAnswer = { buyCredits: { __typename: string; url?: string; field?: string; message?: string } };

describe('buyCredits', () => {
  let fx: Actors;
  beforeAll(async () => {
    fx = await createActors(app);
  });
  const buy = async (token: string, input: Record<string, unknown>, on = app) =>
    on.gql<BuyAnswer, unknown>(
      BUY,
      { input: { organizationId: gid(fx.organizationId), ...input } },
      { token },
    );

  it('starts a Checkout in payment mode; its completion delivered twice grants the credits once', async () => {
    const org = fx.organizationId;
    const res = await buy(fx.owner.token, { amount: 2000, currency: 'usd' });
    expect(res.data?.buyCredits, JSON.stringify(res.body)).toMatchObject({ __typename: 'BuyCreditsPayload' });
    const sessions = fake.requests.filter(
      (r) =>
        r.method === 'POST' &&
        r.path === '/v1/checkout/sessions' &&
        r.idempotencyKey?.startsWith(`credits:${org}:`),
    );
    expect(sessions.map((r) => r.idempotencyKey)).toEqual([`credits:${org}:1`]);
    expect(sessions[0]!.params).toMatchObject({
      mode: 'payment',
      client_reference_id: org,
      metadata: { organizationId: org, purpose: 'credits', credits: '2000', currency: 'USD' },
      line_items: [{ price_data: { currency: 'usd', unit_amount: '2000' }, quantity: '1' }],
    });
    const sessionId = [...fake.createdWithKey].find(([, key]) => key === `credits:${org}:1`)![0];
    expect(res.data!.buyCredits.url).toContain(sessionId);

    const event = fake.event('checkout.session.completed', fake.completeSession(sessionId));
    expect((await fake.sendEvent(hook, event)).status).toBe(200);
    expect((await fake.sendEvent(hook, event)).status).toBe(200);
    // Stripe may also send the same completion as a new event: still one grant.
    expect(
      (await fake.sendEvent(hook, fake.event('checkout.session.completed', fake.objects.get(sessionId))))
        .status,
    ).toBe(200);
    await runDueJobs(app, ['stripe-event']);
    expect(await balance(org)).toBe(2000n);
    const grant = await db().ledgerTransfer.findUniqueOrThrow({
      where: { id: derivedTransferId('credits-purchase', sessionId) },
    });
    expect(grant).toMatchObject({ kind: 'CREDITS_PURCHASE', actor: `stripe:${event.id}` });

    const view = await app.gql<{ organization: { billing: { credits: unknown[] } } }, unknown>(
      USAGE,
      { id: gid(org) },
      { token: fx.admin.token },
    );
    expect(view.data!.organization.billing.credits).toEqual([{ currency: 'USD', balance: '2000' }]);
  });

  it('grants nothing for an unpaid completion, and grants once its payment succeeds', async () => {
    const other = await createActors(app);
    const org = other.organizationId;
    const res = await app.gql<BuyAnswer, unknown>(
      BUY,
      { input: { organizationId: gid(org), amount: 1000, currency: 'USD' } },
      { token: other.owner.token },
    );
    expect(res.data!.buyCredits.__typename).toBe('BuyCreditsPayload');
    const sessionId = [...fake.createdWithKey].find(([, key]) => key === `credits:${org}:1`)![0];
    await fake.sendEvent(
      hook,
      fake.event('checkout.session.completed', fake.completeSession(sessionId, { paymentStatus: 'unpaid' })),
    );
    await runDueJobs(app, ['stripe-event']);
    expect(await balance(org)).toBe(0n);
    const paid = fake.event('checkout.session.async_payment_succeeded', fake.completeSession(sessionId));
    await fake.sendEvent(hook, paid);
    await deliver(paid);
    expect(await balance(org)).toBe(1000n);
  });

  /**
   * A new organisation that bought `amount` cents of credit through Checkout, its completion
   * delivered and applied (unless `delivered` is false: paid, its event still to come): the
   * organisation, the session and its payment's charge.
   */
  async function bought(amount: number, { delivered = true } = {}) {
    const other = await createActors(app);
    const org = other.organizationId;
    const res = await app.gql<BuyAnswer, unknown>(
      BUY,
      { input: { organizationId: gid(org), amount, currency: 'USD' } },
      { token: other.owner.token },
    );
    expect(res.data!.buyCredits.__typename).toBe('BuyCreditsPayload');
    const sessionId = [...fake.createdWithKey].find(([, key]) => key === `credits:${org}:1`)![0];
    const session = fake.completeSession(sessionId);
    if (delivered) {
      await deliver(fake.event('checkout.session.completed', session));
    }
    const chargeId = fake.objects.get(String(session.payment_intent))!.latest_charge as string;
    return { org, session, sessionId, chargeId };
  }

  /** A dispute (needing a response) of `amount` cents of the purchase's charge, as Stripe sends it. */
  const disputeOf = (purchase: Awaited<ReturnType<typeof bought>>, amount: number) => ({
    id: `dp_${randomUUID()}`,
    object: 'dispute',
    payment_intent: String(purchase.session.payment_intent),
    charge: purchase.chargeId,
    amount,
    status: 'needs_response',
  });

  it('takes back the credits a refund paid for, as far as they are left, once per refund', async () => {
    const { org, chargeId } = await bought(2000);
    expect(await balance(org)).toBe(2000n);
    const refund = async (amount: number) => {
      const event = fake.event('charge.refunded', fake.refundCharge(chargeId, amount));
      // Delivered twice: taken back once.
      await fake.sendEvent(hook, event);
      await deliver(event);
    };

    // $8 of the $20 refunded: 800 credits go back.
    await refund(800);
    expect(await balance(org)).toBe(1200n);
    // 1,000 of them spent meanwhile; then the rest is refunded: only the 200 left can go back.
    await spend(org, 1000);
    await refund(1200);
    expect(await balance(org)).toBe(0n);
    const refunds = await db().ledgerTransfer.findMany({
      where: { kind: 'CREDITS_REFUND', metadata: { path: ['chargeId'], equals: chargeId } },
      orderBy: { createdAt: 'asc' },
    });
    expect(refunds.map((t) => t.metadata)).toEqual([
      expect.objectContaining({ refundedThrough: '800', uncovered: '0' }),
      expect.objectContaining({ refundedThrough: '2000', uncovered: '1000' }),
    ]);
    expect(await db().creditsRefund.findUniqueOrThrow({ where: { chargeId } })).toMatchObject({
      refundedThrough: 2000n,
      uncovered: 1000n,
    });
    // A charge that is not a credits purchase is left alone.
    const before = await db().ledgerTransfer.count({ where: { kind: 'CREDITS_REFUND' } });
    const intent = await app.services.billing.stripe!.paymentIntents.create(
      { amount: 500, currency: 'usd', metadata: { kind: 'booking-fee' } },
      { idempotencyKey: `other-charge-${randomUUID()}` },
    );
    await fake.sendEvent(
      hook,
      fake.event('charge.refunded', {
        id: `ch_${randomUUID()}`,
        object: 'charge',
        payment_intent: intent.id,
        amount: 500,
        amount_refunded: 500,
      }),
    );
    await runDueJobs(app, ['stripe-event']);
    expect(await db().ledgerTransfer.count({ where: { kind: 'CREDITS_REFUND' } })).toBe(before);

    // Nor is a refund of a PaymentIntent Stripe does not know: applied as nothing to do, once,
    // where asking Stripe again failed the event's job on every retry.
    const unknown = fake.event('charge.refunded', {
      id: `ch_${randomUUID()}`,
      object: 'charge',
      payment_intent: `pi_${randomUUID().replaceAll('-', '')}`,
      amount: 500,
      amount_refunded: 500,
    });
    await deliver(unknown);
    const applied = await db().providerEvent.findFirstOrThrow({
      where: { provider: 'stripe', eventId: unknown.id },
    });
    expect(applied.processedAt).not.toBeNull();
    expect(await db().ledgerTransfer.count({ where: { kind: 'CREDITS_REFUND' } })).toBe(before);
  });

  it('remembers how far a refund went when no credits were left, so credits bought later stay', async () => {
    const { org, chargeId } = await bought(1000);
    // All spent; then half refunded: nothing to take back.
    await spend(org, 1000);
    await deliver(fake.event('charge.refunded', fake.refundCharge(chargeId, 500)));
    expect(await balance(org)).toBe(0n);
    // Credits given later; the other half refunded: only its 500 go back, not the first half again.
    await give(org, 2000);
    await deliver(fake.event('charge.refunded', fake.refundCharge(chargeId, 500)));
    expect(await balance(org)).toBe(1500n);
  });

  it('takes back disputed credits as far as they are left, and gives them back when the dispute is won', async () => {
    const purchase = await bought(2000);
    const { org } = purchase;
    await spend(org, 500);
    expect(await balance(org)).toBe(1500n);

    const disputed = disputeOf(purchase, 2000);
    // An inquiry first: no money withdrawn, nothing taken.
    await fake.sendEvent(
      hook,
      fake.event('charge.dispute.created', {
        ...disputed,
        id: `dp_${randomUUID()}`,
        status: 'warning_needs_response',
      }),
    );
    await runDueJobs(app, ['stripe-event']);
    expect(await balance(org)).toBe(1500n);
    const opened = fake.event('charge.dispute.created', disputed);
    await fake.sendEvent(hook, opened);
    await deliver(opened);
    // The whole purchase is disputed; 500 of it was spent: the 1,500 left go back, once.
    expect(await balance(org)).toBe(0n);
    const lost = fake.event('charge.dispute.closed', { ...disputed, status: 'lost' });
    await deliver(lost);
    expect(await balance(org)).toBe(0n);
    const won = fake.event('charge.dispute.closed', { ...disputed, status: 'won' });
    await fake.sendEvent(hook, won);
    await deliver(won);
    expect(await balance(org)).toBe(1500n);
    expect(
      await db().ledgerTransfer.count({
        where: { kind: 'REVERSAL', metadata: { path: ['reversedKind'], equals: 'CREDITS_DISPUTE' } },
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('takes nothing for a dispute Stripe reported won before its opening was applied', async () => {
    const purchase = await bought(2000);
    const { org } = purchase;
    const disputed = disputeOf(purchase, 2000);
    // Closed as won first (Stripe does not promise order), then the opening arrives.
    await deliver(fake.event('charge.dispute.closed', { ...disputed, status: 'won' }));
    await deliver(fake.event('charge.dispute.created', disputed));
    expect(await balance(org)).toBe(2000n);
    expect(await db().creditsDispute.findUniqueOrThrow({ where: { disputeId: disputed.id } })).toMatchObject({
      taken: 0n,
      won: true,
    });
  });

  it('takes back with a refund only what a dispute of the same purchase did not take', async () => {
    const purchase = await bought(2000);
    const { org, chargeId } = purchase;
    await give(org, 5000);
    // Half the purchase disputed: 1,000 taken back.
    await deliver(fake.event('charge.dispute.created', disputeOf(purchase, 1000)));
    expect(await balance(org)).toBe(6000n);
    // The whole charge refunded: only the other 1,000 of the purchase go back.
    await deliver(fake.event('charge.refunded', fake.refundCharge(chargeId, 2000)));
    expect(await balance(org)).toBe(5000n);
  });

  it('grants a purchase first when its refund is applied before its completion, which then adds nothing', async () => {
    // Paid, and then half refunded, before the completion's event is applied.
    const { org, session, sessionId, chargeId } = await bought(2000, { delivered: false });
    await deliver(fake.event('charge.refunded', fake.refundCharge(chargeId, 1000)));
    expect(await balance(org)).toBe(1000n);
    await deliver(fake.event('checkout.session.completed', session));
    expect(await balance(org)).toBe(1000n);
    expect(
      await db().ledgerTransfer.count({ where: { id: derivedTransferId('credits-purchase', sessionId) } }),
    ).toBe(1);
  });

  it('refuses amounts out of bounds and other currencies before Stripe is called', async () => {
    const before = fake.requests.length;
    for (const [input, field] of [
      [{ amount: 100, currency: 'USD' }, 'amount'],
      [{ amount: 100_001, currency: 'USD' }, 'amount'],
      [{ amount: 1000, currency: 'EUR' }, 'currency'],
      [{ amount: 1000, currency: 'dollars' }, 'currency'],
    ] as const) {
      const res = await buy(fx.owner.token, input);
      expect(res.data!.buyCredits).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(fake.requests.length).toBe(before);
  });

  it('refuses STAFF and outsiders, and answers BillingNotConfiguredError with billing off', async () => {
    for (const token of [fx.staff.token, fx.otherOwner.token, fx.keyRead.secret]) {
      const res = await buy(token, { amount: 1000, currency: 'USD' });
      expect(res.data).toBeNull();
      expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    }
    const offFx = await createActors(off);
    const res = await off.gql<BuyAnswer, unknown>(
      BUY,
      { input: { organizationId: gid(offFx.organizationId), amount: 1000, currency: 'USD' } },
      { token: offFx.owner.token },
    );
    expect(res.data!.buyCredits.__typename).toBe('BillingNotConfiguredError');
  });
});

describe('OrganizationBilling.usage', () => {
  it("shows owners and admins this month's usage by meter, reported and pending; STAFF see nothing", async () => {
    const fx = await createActors(app);
    const org = fx.organizationId;
    for (const [meter, quantity] of [
      ['LLM_TOKENS', 1000],
      ['LLM_TOKENS', 500],
      ['API_CALL', 1],
    ] as const) {
      await recordUsage(db(), {
        organizationId: org,
        meter,
        quantity,
        occurredAt: app.clock.now(),
        key: `${meter}:${randomUUID()}`,
      });
    }
    await db().usageEvent.updateMany({
      where: { organizationId: org, meter: 'LLM_TOKENS', quantity: 1000 },
      data: { reportedAt: app.clock.now() },
    });
    type View = { organization: { billing: { usage: Record<string, string>[] } | null } | null };
    const view = await app.gql<View, unknown>(USAGE, { id: gid(org) }, { token: fx.owner.token });
    expect(view.errors, JSON.stringify(view.body)).toBeUndefined();
    expect(view.data!.organization!.billing!.usage).toEqual([
      { meter: 'A2A_BOOKING', quantity: '0', reported: '0', pending: '0' },
      { meter: 'CONVERSATION', quantity: '0', reported: '0', pending: '0' },
      { meter: 'LLM_TOKENS', quantity: '1500', reported: '1000', pending: '500' },
      { meter: 'API_CALL', quantity: '1', reported: '0', pending: '1' },
      { meter: 'API_REQUEST', quantity: '0', reported: '0', pending: '0' },
    ]);
    const staff = await app.gql<View, unknown>(USAGE, { id: gid(org) }, { token: fx.staff.token });
    expect(staff.data?.organization?.billing ?? null).toBeNull();
  });
});
