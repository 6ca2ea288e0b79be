/**
 * Booking fees end to end, on real PostgreSQL and the loopback Stripe: a booking made in chat is
 * confirmed, seated and completed by the venue's team, its fee is accrued in the ledger, put on
 * the organisation's monthly invoice (one item per fee, by key, however often the job runs or a
 * call times out), and paid when Stripe says so. Fee amounts for every rule; no fee for bookings
 * that were not honoured; a revalued fee and a waived one are reversed, never edited; a
 * pay-as-you-go fee is charged at once and again after a decline.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  chargeBookingFee,
  collectBookingFee,
  invoiceOrganizationFees,
  invoicePeriod,
  retryPendingFees,
  sendMonthlyInvoices,
} from '../../src/domain/billing/fee-collection.ts';
import { monthlyInvoiceTask, retryPendingFeesTask } from '../../src/domain/billing/fee-tasks.ts';
import {
  calculateBookingFee,
  FEES_LISTED_PER_MONTH,
  monthOf,
  recordBookingValue,
  VALUED_AT_NOTHING,
  waiveFeeOn,
} from '../../src/domain/billing/fees.ts';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { balanceOf, organizationAccount, platformAccount } from '../../src/domain/ledger/accounts.ts';
import { findTransfer, reversalId } from '../../src/domain/ledger/transfer.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import type { StripeClient } from '../../src/integrations/stripe/client.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { feeDepsOf } from '../../src/worker/fees.ts';
import { createBooking as bookingRow } from '../factories/bookings.ts';
import { toolContext } from '../factories/tools.ts';
import { createBookableVenue } from '../factories/venues.ts';
import {
  type FakeStripe,
  STRIPE_SECRET_KEY,
  STRIPE_WEBHOOK_SECRET,
  startFakeStripe,
} from '../fakes/stripe.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { accessToken, guest, person, unique } from '../helpers/authz.ts';
import { waitingForLock } from '../helpers/db.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const GROWTH_PRICE = 'price_venue_growth_fees';

let fake: FakeStripe;
let app: TestApp;
let stripe: StripeClient;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: {
      STRIPE_SECRET_KEY,
      STRIPE_WEBHOOK_SECRETS: STRIPE_WEBHOOK_SECRET,
      STRIPE_API_BASE: fake.url,
      STRIPE_TIMEOUT_MS: '1000',
      STRIPE_PRICE_VENUE_GROWTH: GROWTH_PRICE,
    },
  });
  stripe = app.services.billing.stripe!;
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
});
// A slow answer a test queued and did not use would slow the next test's calls to that path.
afterEach(() => fake.clearHangs());

const db = () => app.services.db;
const deps = () => feeDepsOf(app.services);
const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');
const token = (userId: string) => accessToken(app, userId);

interface World {
  organizationId: string;
  ownerId: string;
  staffId: string;
  venueId: string;
  customerId: string | null;
  cardId: string | null;
}

/**
 * An organisation with an owner and a staff member and one bookable venue; `subscribed`: an
 * active venue plan (as stored from Stripe's webhooks); `card`: a Stripe customer with a card.
 */
async function world(
  options: {
    subscribed?: boolean;
    card?: 'ok' | 'declines' | 'debit';
    referralFeeBps?: number;
    currency?: string;
  } = {},
): Promise<World> {
  const organization = await db().organization.create({ data: { name: unique('Fee House') } });
  const owner = await person(app, organization.id, 'OWNER');
  const staff = await person(app, organization.id, 'STAFF');
  const venue = await createBookableVenue(db(), {
    organizationId: organization.id,
    referralFeeBps: options.referralFeeBps,
    currency: options.currency,
  });
  let customerId: string | null = null;
  let cardId: string | null = null;
  if (options.subscribed || options.card) {
    const customer = await stripe.customers.create(
      { metadata: { organizationId: organization.id } },
      { idempotencyKey: `customer:${organization.id}:v1` },
    );
    customerId = customer.id;
    await db().billingCustomer.create({
      data: { organizationId: organization.id, stripeCustomerId: customer.id },
    });
    if (options.card)
      cardId = fake.attachCard(customer.id, {
        declines: options.card === 'declines',
        processing: options.card === 'debit',
      });
  }
  if (options.subscribed) {
    const subscription = fake.createSubscription({
      customer: customerId!,
      organizationId: organization.id,
      price: GROWTH_PRICE,
    });
    await db().billingSubscription.create({
      data: {
        organizationId: organization.id,
        stripeCustomerId: customerId!,
        stripeSubscriptionId: subscription.id,
        status: 'active',
        priceId: GROWTH_PRICE,
        stateAt: new Date(),
        source: 'test',
      },
    });
  }
  return {
    organizationId: organization.id,
    ownerId: owner.userId,
    staffId: staff.userId,
    venueId: venue.id,
    customerId,
    cardId,
  };
}

/** A booking the guest asks for in chat, two days ahead (by the app's clock) at 19:30 in Lisbon. */
async function bookInChat(venueId: string): Promise<{ id: string; startsAt: Date }> {
  const guest = await db().user.create({
    data: { email: `${unique('guest').replace(' ', '-')}@example.test` },
  });
  const date = Temporal.Instant.fromEpochMilliseconds(app.clock.now().getTime())
    .toZonedDateTimeISO('Europe/Lisbon')
    .toPlainDate()
    .add({ days: 2 });
  const tool = consumerTools(app.services).find((t) => t.name === 'create_booking')!;
  const result = (await tool.run(
    { venue_id: venueId, date: date.toString(), time: '19:30', party_size: 2 },
    toolContext(guest.id),
    new AbortController().signal,
  )) as { bookingId: string };
  const booking = await db().booking.findUniqueOrThrow({ where: { id: result.bookingId } });
  expect(booking).toMatchObject({ source: 'CHAT', status: 'REQUESTED' });
  return { id: booking.id, startsAt: booking.startsAt };
}

const MOVE = (name: string) => `mutation Move($id: ID!) {
  ${name}(input: { bookingId: $id }) {
    __typename
    ... on BookingPayload { booking { status } }
    ... on Error { message }
  }
}`;

/** The venue's team moves the booking through the dashboard's mutation `name`. */
async function move(userId: string, bookingId: string, name: string, expected: string) {
  const res = await app.gql(MOVE(name), { id: gid('Booking', bookingId) }, { token: await token(userId) });
  expect(res.data, JSON.stringify(res.body)).toMatchObject({ [name]: { booking: { status: expected } } });
}

/** The app's clock to a few minutes after `startsAt`. */
function arriveAt(startsAt: Date) {
  const ahead = startsAt.getTime() + 5 * 60_000 - app.clock.now().getTime();
  if (ahead > 0) app.clock.advance(ahead);
}

const RECORD_VALUE = `mutation Value($id: ID!, $value: Int!) {
  recordBookingValue(input: { bookingId: $id, value: $value }) {
    __typename
    ... on RecordBookingValuePayload { booking { value } value }
    ... on Error { message }
  }
}`;

async function recordValue(userId: string, bookingId: string, value: number) {
  return app.gql(RECORD_VALUE, { id: gid('Booking', bookingId), value }, { token: await token(userId) });
}

const BILLING = `query Billing($id: ID!) {
  node(id: $id) {
    ... on Organization {
      billing {
        fees { month currency total count fees { booking { id status } kind percent value fee venueShare currency status } }
        invoices { stripeInvoiceId month currency amount status hostedUrl }
      }
    }
  }
}`;

async function billing(userId: string, organizationId: string) {
  const res = await app.gql(
    BILLING,
    { id: gid('Organization', organizationId) },
    { token: await token(userId) },
  );
  expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
  return (res.data as { node: { billing: Record<string, unknown[]> | null } }).node.billing;
}

/** Runs the monthly invoice job for the month after `accruedAt`, at 01:00 UTC on the 1st. */
async function monthlyInvoiceAfter(accruedAt: Date) {
  const tick = new Date(Date.UTC(accruedAt.getUTCFullYear(), accruedAt.getUTCMonth() + 1, 1, 1));
  await enqueue(db(), monthlyInvoiceTask, { _cron: { ts: tick.toISOString() } });
  await runDueJobs(app, ['monthly-invoice']);
}

/**
 * One organisation's invoice of the month after `accruedAt`, as the monthly run makes it for each
 * organisation. For a test about that organisation's fees: the whole run also invoices every
 * organisation the tests before it left with fees, seconds of a test's time on a busy machine.
 */
async function organizationInvoiceAfter(organizationId: string, accruedAt: Date) {
  const tick = new Date(Date.UTC(accruedAt.getUTCFullYear(), accruedAt.getUTCMonth() + 1, 1, 1));
  const { before, month } = invoicePeriod(tick);
  return invoiceOrganizationFees(deps(), { organizationId, currency: 'USD', month, before });
}

/** The `retry-pending-fees` job, as its schedule runs it. */
async function sweep() {
  await enqueue(db(), retryPendingFeesTask, {});
  await runDueJobs(app, ['retry-pending-fees']);
}

const WAIVE = `mutation Waive($id: ID!, $reason: String!) {
  waiveBookingFee(input: { bookingId: $id, reason: $reason }) {
    __typename
    ... on WaiveBookingFeePayload { fee { status fee } }
    ... on Error { message }
  }
}`;

async function platformAdmin() {
  return db().user.create({
    data: { email: `${unique('admin').replace(' ', '-')}@example.test`, isPlatformAdmin: true },
  });
}

const payable = (organizationId: string, currency = 'USD') =>
  balanceOf(db(), organizationAccount(organizationId, 'FEES_PAYABLE', currency));

/** `buyer` takes `holder`'s venue over through an approved review claim decided at `decidedAt`. */
async function takeOver(holder: World, buyer: World, decidedAt: Date) {
  await db().venue.update({
    where: { id: holder.venueId },
    data: { organizationId: buyer.organizationId },
  });
  await db().venueClaim.create({
    data: {
      venueId: holder.venueId,
      organizationId: buyer.organizationId,
      requestedById: buyer.ownerId,
      method: 'MANUAL_REVIEW',
      status: 'APPROVED',
      decidedAt,
      takenOverFrom: holder.organizationId,
    },
  });
}

const feeOf = (bookingId: string) => db().bookingFee.findUnique({ where: { bookingId } });

const feeJobQueued = async (bookingId: string) =>
  (
    await db().$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM graphile_worker.jobs
      WHERE task_identifier = 'booking-fee' AND key = ${`booking:${bookingId}:fee`}`
  )[0]!.n;

describe('a booking made through AGNT, honoured', () => {
  it('ends as a fee on the monthly invoice, paid when Stripe says so', async () => {
    const w = await world({ subscribed: true });
    const booking = await bookInChat(w.venueId);
    await move(w.ownerId, booking.id, 'confirmBooking', 'CONFIRMED');
    arriveAt(booking.startsAt);
    await move(w.ownerId, booking.id, 'seatBooking', 'SEATED');
    // Staff record what the table spent: 80.00.
    const recorded = await recordValue(w.staffId, booking.id, 8000);
    expect(recorded.data, JSON.stringify(recorded.body)).toMatchObject({
      recordBookingValue: { __typename: 'RecordBookingValuePayload', booking: { value: '8000' } },
    });
    await move(w.ownerId, booking.id, 'completeBooking', 'COMPLETED');
    expect(await feeJobQueued(booking.id)).toBe(1);
    await runDueJobs(app, ['booking-fee']);

    const fee = await feeOf(booking.id);
    expect(fee).toMatchObject({
      kind: 'REFERRAL_PCT',
      pctBps: 700,
      valueMinor: 8000n,
      feeMinor: 560n,
      venueShareMinor: 7440n,
      currency: 'USD',
      status: 'PENDING',
      collection: 'INVOICE',
    });
    expect(await payable(w.organizationId)).toBe(-560n);
    const accrual = await findTransfer(db(), fee!.accrualTransferId);
    expect(accrual).toMatchObject({ kind: 'BOOKING_FEE_ACCRUAL' });
    expect(accrual!.metadata).toMatchObject({ grossMinor: '8000', platformMinor: '560', venueMinor: '7440' });

    // The owner sees the month's fees with their booking; staff see no billing at all.
    const month = fee!.accruedAt.toISOString().slice(0, 7);
    expect((await billing(w.ownerId, w.organizationId))!.fees).toEqual([
      {
        month,
        currency: 'USD',
        total: '560',
        count: 1,
        fees: [
          {
            booking: { id: gid('Booking', booking.id), status: 'COMPLETED' },
            kind: 'REFERRAL_PCT',
            percent: 7,
            value: '8000',
            fee: '560',
            venueShare: '7440',
            currency: 'USD',
            status: 'PENDING',
          },
        ],
      },
    ]);
    expect(await billing(w.staffId, w.organizationId)).toBeNull();

    // The 1st of the next month: one invoice item by its key, on one finalised invoice.
    await monthlyInvoiceAfter(fee!.accruedAt);
    await monthlyInvoiceAfter(fee!.accruedAt); // a rerun adds nothing
    const itemKey = `booking-fee:${booking.id}:v1`;
    const invoiceKey = `monthly-invoice:${w.organizationId}:${month}:v1`;
    expect(fake.objectsCreatedWith(itemKey)).toBe(1);
    expect(fake.objectsCreatedWith(invoiceKey)).toBe(1);
    const [invoiceId] = [...fake.createdWithKey].find(([, key]) => key === invoiceKey)!;
    const [itemId] = [...fake.createdWithKey].find(([, key]) => key === itemKey)!;
    const invoice = fake.objects.get(invoiceId)!;
    expect(fake.objects.get(itemId)).toMatchObject({ amount: 560, currency: 'usd', invoice: invoiceId });
    expect(invoice).toMatchObject({
      customer: w.customerId,
      status: 'open',
      collection_method: 'charge_automatically',
      amount_due: 560,
      hosted_invoice_url: `https://invoice.stripe.test/i/${invoiceId}`,
    });
    expect(await feeOf(booking.id)).toMatchObject({ status: 'INVOICED', stripeInvoiceItemId: itemId });
    expect((await billing(w.ownerId, w.organizationId))!.invoices).toEqual([
      {
        stripeInvoiceId: invoiceId,
        month,
        currency: 'USD',
        amount: '560',
        status: 'open',
        hostedUrl: `https://invoice.stripe.test/i/${invoiceId}`,
      },
    ]);

    // A value changed once the fee is on an invoice is refused; nothing moves.
    const late = await recordValue(w.ownerId, booking.id, 9000);
    expect(late.data, JSON.stringify(late.body)).toMatchObject({
      recordBookingValue: { __typename: 'ConflictError' },
    });
    expect(await payable(w.organizationId)).toBe(-560n);

    // Stripe collects it and says so (twice): the fee is PAID, the debt settled once.
    const paid = fake.event('invoice.paid', fake.payInvoice(invoiceId));
    for (let i = 0; i < 2; i++) {
      expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, paid)).status).toBe(200);
      await runDueJobs(app, ['stripe-event']);
    }
    const settled = await feeOf(booking.id);
    expect(settled).toMatchObject({ status: 'PAID' });
    expect(await payable(w.organizationId)).toBe(0n);
    expect(await findTransfer(db(), settled!.settlementTransferId!)).toMatchObject({
      kind: 'BOOKING_FEE_SETTLEMENT',
      actor: `stripe:${paid.id}`,
    });
    expect((await billing(w.ownerId, w.organizationId))!.invoices).toMatchObject([{ status: 'paid' }]);
  });

  it('tells the owners once when Stripe cannot collect the invoice, and settles it when paid', async () => {
    const w = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }))).id;
    await collectBookingFee(deps(), id);
    await monthlyInvoiceAfter((await feeOf(id))!.accruedAt);
    const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    const stripeInvoice = fake.objects.get(invoice.stripeInvoiceId!)!;
    const deliver = async (event: ReturnType<typeof fake.event>) => {
      expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, event)).status).toBe(200);
      await runDueJobs(app, ['stripe-event']);
    };
    // The card declined: Stripe says so, and again at its next retry.
    await deliver(fake.event('invoice.payment_failed', stripeInvoice));
    await deliver(fake.event('invoice.payment_failed', stripeInvoice));
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: invoice.id } })).toMatchObject({
      status: 'payment_failed',
    });
    const told = await db().outboundMessage.findMany({
      where: { kind: 'billing.fee_invoice_failed', userId: { in: [w.ownerId, w.staffId] } },
    });
    expect(told.map((m) => m.userId)).toEqual([w.ownerId]);
    expect(told[0]!.body).toContain('$5.60');
    expect(told[0]!.body).toContain(String(stripeInvoice.hosted_invoice_url));
    // Paid after all (the owner paid on the invoice's page).
    await deliver(fake.event('invoice.paid', fake.payInvoice(invoice.stripeInvoiceId!)));
    expect(await feeOf(id)).toMatchObject({ status: 'PAID' });
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: invoice.id } })).toMatchObject({
      status: 'paid',
    });
  });

  it('waives the fees of an invoice voided in Stripe, and keeps those of one written off owed', async () => {
    const deliver = async (event: ReturnType<typeof fake.event>) => {
      expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, event)).status).toBe(200);
      await runDueJobs(app, ['stripe-event']);
    };
    const invoiced = async () => {
      const w = await world({ subscribed: true });
      const id = (await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }))).id;
      await collectBookingFee(deps(), id);
      await monthlyInvoiceAfter((await feeOf(id))!.accruedAt);
      const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
      return { w, id, invoice, stripeInvoice: fake.objects.get(invoice.stripeInvoiceId!)! };
    };

    // Voided by an operator: it can never be paid, so its fees are owed no more.
    const voided = await invoiced();
    expect(await payable(voided.w.organizationId)).toBe(-560n);
    const voidEvent = fake.event('invoice.voided', { ...voided.stripeInvoice, status: 'void' });
    await deliver(voidEvent);
    await deliver(voidEvent);
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: voided.invoice.id } })).toMatchObject({
      status: 'void',
    });
    expect(await feeOf(voided.id)).toMatchObject({
      status: 'WAIVED',
      waivedBy: `stripe:${voidEvent.id}`,
      waivedReason: `its invoice ${voided.invoice.stripeInvoiceId} was voided in Stripe`,
    });
    expect(await payable(voided.w.organizationId)).toBe(0n);
    // A late word that its payment failed changes nothing, and asks nobody to pay it.
    await deliver(fake.event('invoice.payment_failed', voided.stripeInvoice));
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: voided.invoice.id } })).toMatchObject({
      status: 'void',
    });
    expect(
      await db().outboundMessage.count({
        where: { kind: 'billing.fee_invoice_failed', userId: voided.w.ownerId },
      }),
    ).toBe(0);

    // Written off: the invoice says so, the fees stay owed, and a late payment still settles them.
    const written = await invoiced();
    await deliver(
      fake.event('invoice.marked_uncollectible', { ...written.stripeInvoice, status: 'uncollectible' }),
    );
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: written.invoice.id } })).toMatchObject({
      status: 'uncollectible',
    });
    expect(await feeOf(written.id)).toMatchObject({ status: 'INVOICED' });
    expect(await payable(written.w.organizationId)).toBe(-560n);
    await deliver(fake.event('invoice.paid', fake.payInvoice(written.invoice.stripeInvoiceId!)));
    expect(await feeOf(written.id)).toMatchObject({ status: 'PAID' });
    expect(await payable(written.w.organizationId)).toBe(0n);
  });

  it('creates one invoice item when Stripe answers too late and the call is retried', async () => {
    const w = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(w.venueId))).id;
    await collectBookingFee(deps(), id);
    const fee = (await feeOf(id))!;
    // The item is made, but its answer comes after the client's 1 s deadline: the SDK retries.
    fake.hangNext({ path: '/v1/invoiceitems', ms: 1_500 });
    await monthlyInvoiceAfter(fee.accruedAt);
    const key = `booking-fee:${id}:v1`;
    expect(fake.requests.filter((r) => r.idempotencyKey === key).length).toBeGreaterThan(1);
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(await feeOf(id)).toMatchObject({ status: 'INVOICED' });
  });
});

describe('the monthly invoice', () => {
  it('is finished by a later run when Stripe refused a step, with the fees it had taken', async () => {
    const w = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(w.venueId, { valueMinor: 10_000n }))).id;
    await collectBookingFee(deps(), id);
    const fee = (await feeOf(id))!;
    const month = fee.accruedAt.toISOString().slice(0, 7);
    fake.failNext(400, { path: '/v1/invoiceitems', type: 'invalid_request_error', message: 'No.' });
    await monthlyInvoiceAfter(fee.accruedAt);
    const stuck = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    expect(stuck).toMatchObject({ month, status: 'draft' });
    expect(await feeOf(id)).toMatchObject({
      status: 'PENDING',
      feeInvoiceId: stuck.id,
      stripeInvoiceItemId: null,
    });
    // The value can no longer change: the fee is on its way to Stripe.
    const late = await recordValue(w.ownerId, id, 1);
    expect(late.data, JSON.stringify(late.body)).toMatchObject({
      recordBookingValue: { __typename: 'ConflictError' },
    });

    // A month later the draft is finished under its own month.
    await monthlyInvoiceAfter(new Date(fee.accruedAt.getTime() + 32 * 86_400_000));
    expect(fake.objectsCreatedWith(`booking-fee:${id}:v1`)).toBe(1);
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: stuck.id } })).toMatchObject({
      month,
      status: 'open',
      amountMinor: 700n,
    });
    expect(await feeOf(id)).toMatchObject({ status: 'INVOICED' });
  });

  /**
   * A subscribed organisation's fee, on a draft invoice a run left behind when Stripe refused its
   * item: Stripe's draft exists (its id known) and the fee waits on it.
   */
  async function leftAsDraft() {
    const w = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(w.venueId, { valueMinor: 10_000n }))).id;
    await collectBookingFee(deps(), id);
    const fee = (await feeOf(id))!;
    fake.failNext(400, { path: '/v1/invoiceitems', type: 'invalid_request_error', message: 'No.' });
    const month = fee.accruedAt.toISOString().slice(0, 7);
    const target = { organizationId: w.organizationId, currency: fee.currency, month };
    const before = new Date(Date.UTC(fee.accruedAt.getUTCFullYear(), fee.accruedAt.getUTCMonth() + 1, 1));
    await expect(invoiceOrganizationFees(deps(), { ...target, before })).rejects.toThrow();
    const draft = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    expect(draft).toMatchObject({ status: 'draft', stripeInvoiceId: expect.any(String) });
    return { w, id, fee, target, draft, finalizePath: `/v1/invoices/${draft.stripeInvoiceId}/finalize` };
  }

  it('records its finalisation while an invoice.paid for it is applied, each waiting its turn', async () => {
    const { w, id, target, draft, finalizePath } = await leftAsDraft();
    // Stripe's answer to the finalisation is slow (within the client's deadline): meanwhile the
    // invoice.paid handler's locks are taken as it takes them, the invoice's row, then its fees.
    fake.hangNext({ path: finalizePath, ms: 800 });
    const finishing = invoiceOrganizationFees(deps(), { ...target, before: null });
    const deadline = Date.now() + 10_000;
    while (!fake.requests.some((r) => r.path === finalizePath)) {
      if (Date.now() > deadline) throw new Error('the finalisation was never asked for');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const client = await app.services.database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT status FROM fee_invoices WHERE id = $1 FOR UPDATE', [draft.id]);
      // The finalisation's recording waits for the invoice's row, holding none of its fees: the
      // handler takes them at once (in the opposite order the two would deadlock here, and
      // PostgreSQL would abort one of them).
      await waitingForLock(db(), 'FROM fee_invoices WHERE id');
      const fees = await client.query(
        'SELECT id FROM booking_fees WHERE fee_invoice_id = $1 ORDER BY id FOR UPDATE NOWAIT',
        [draft.id],
      );
      expect(fees.rowCount).toBe(1);
    } finally {
      // The handler's part ends here (its work is the real invoice.paid below).
      await client.query('ROLLBACK');
      client.release();
    }
    expect(await finishing).toMatchObject({
      status: 'open',
      amountMinor: 700n,
      finalizedAt: expect.any(Date),
    });
    expect(await feeOf(id)).toMatchObject({ status: 'INVOICED' });
    // Then the invoice.paid itself: the fee is paid and the debt settled.
    const paid = fake.event('invoice.paid', fake.payInvoice(draft.stripeInvoiceId!));
    expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, paid)).status).toBe(200);
    await runDueJobs(app, ['stripe-event']);
    expect(await feeOf(id)).toMatchObject({ status: 'PAID' });
    expect(await payable(w.organizationId)).toBe(0n);
  });

  it('records a finalisation Stripe made but the run never recorded, though the invoice was paid meanwhile', async () => {
    for (const keyLapsed of [false, true]) {
      const { w, id, fee, draft, finalizePath } = await leftAsDraft();
      // The next run finalises it in Stripe, but every answer comes too late (the client's own
      // retries too): the run fails with our row still a draft.
      for (let i = 0; i < 3; i++) fake.hangNext({ path: finalizePath, ms: 1_500 });
      // The monthly job's work, called as its task does (the queue's other jobs left out).
      const tick = new Date(Date.UTC(fee.accruedAt.getUTCFullYear(), fee.accruedAt.getUTCMonth() + 1, 1, 1));
      expect((await sendMonthlyInvoices(deps(), tick)).failed).toBe(1);
      expect(fake.objects.get(draft.stripeInvoiceId!)).toMatchObject({ status: 'open' });
      expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: draft.id } })).toMatchObject({
        status: 'draft',
        finalizedAt: null,
      });
      // Stripe collects it and says so before any run records the finalisation.
      const paid = fake.event('invoice.paid', fake.payInvoice(draft.stripeInvoiceId!));
      expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, paid)).status).toBe(200);
      await runDueJobs(app, ['stripe-event']);
      expect(await feeOf(id)).toMatchObject({ status: 'PAID' });
      // The job's retry (a day later, Stripe has forgotten the finalisation's key) records it.
      if (keyLapsed) fake.forgetIdempotencyKeys();
      expect(await sendMonthlyInvoices(deps(), tick)).toMatchObject({ failed: 0 });
      expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: draft.id } })).toMatchObject({
        status: 'paid',
        amountMinor: 700n,
        // Stripe's page when Stripe answered with it; unknown once it no longer does.
        hostedUrl: keyLapsed ? null : `https://invoice.stripe.test/i/${draft.stripeInvoiceId}`,
        finalizedAt: expect.any(Date),
      });
      expect(await feeOf(id)).toMatchObject({ status: 'PAID' });
      expect(await payable(w.organizationId)).toBe(0n);
    }
  });

  it('does not itemise a fee twice when the run that itemised it died before recording it, and its key has lapsed', async () => {
    const w = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(w.venueId, { valueMinor: 10_000n }))).id;
    await collectBookingFee(deps(), id);
    const fee = (await feeOf(id))!;
    const month = fee.accruedAt.toISOString().slice(0, 7);
    const target = { organizationId: w.organizationId, currency: fee.currency, month };
    // Stripe makes the item, but no answer comes back, to the call or to its retries: the run
    // fails with the item on the draft and not recorded.
    for (let i = 0; i < 3; i++) fake.hangNext({ path: '/v1/invoiceitems', ms: 1_500 });
    const before = new Date(Date.UTC(fee.accruedAt.getUTCFullYear(), fee.accruedAt.getUTCMonth() + 1, 1));
    await expect(invoiceOrganizationFees(deps(), { ...target, before })).rejects.toMatchObject({
      name: 'StripeCallError',
      kind: 'transient',
    });
    const draft = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    expect(draft).toMatchObject({ status: 'draft' });
    expect(await feeOf(id)).toMatchObject({ status: 'PENDING', stripeInvoiceItemId: null });
    const key = `booking-fee:${id}:v1`;
    expect(fake.objectsCreatedWith(key)).toBe(1);

    // A month on, Stripe has long forgotten the key; the next run finishes the draft with the item
    // already on it.
    fake.forgetIdempotencyKeys();
    await invoiceOrganizationFees(deps(), { ...target, before: null });
    expect(fake.objectsCreatedWith(key)).toBe(1);
    const stripeInvoice = fake.objects.get(draft.stripeInvoiceId!)!;
    expect((stripeInvoice.lines as { data: unknown[] }).data).toHaveLength(1);
    expect(await db().feeInvoice.findUniqueOrThrow({ where: { id: draft.id } })).toMatchObject({
      status: 'open',
      amountMinor: 700n,
    });
    const item = [...fake.objects.values()].find((o) => fake.createdWithKey.get(o.id) === key)!;
    expect(await feeOf(id)).toMatchObject({ status: 'INVOICED', stripeInvoiceItemId: item.id });
  });

  it('charges the invoice to the plan’s card, and emails it once the plan ended with no card left on file', async () => {
    const active = await world({ subscribed: true });
    const charged = (await bookingRow(db(), completed(active.venueId))).id;
    await collectBookingFee(deps(), charged);
    await monthlyInvoiceAfter((await feeOf(charged))!.accruedAt);
    const [subscription] = await db().billingSubscription.findMany({
      where: { organizationId: active.organizationId },
    });
    const card = fake.objects.get(subscription!.stripeSubscriptionId)!.default_payment_method;
    const first = await db().feeInvoice.findFirstOrThrow({
      where: { organizationId: active.organizationId },
    });
    expect(fake.objects.get(first.stripeInvoiceId!)).toMatchObject({
      collection_method: 'charge_automatically',
      default_payment_method: card,
    });

    // Accrued on the plan (for the invoice), then the plan was cancelled; the card was the plan's.
    const ended = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(ended.venueId))).id;
    await collectBookingFee(deps(), id);
    expect(await feeOf(id)).toMatchObject({ collection: 'INVOICE' });
    await db().billingSubscription.updateMany({
      where: { organizationId: ended.organizationId },
      data: { status: 'canceled', stateAt: new Date() },
    });
    await monthlyInvoiceAfter((await feeOf(id))!.accruedAt);
    const invoice = await db().feeInvoice.findFirstOrThrow({
      where: { organizationId: ended.organizationId },
    });
    expect(fake.objects.get(invoice.stripeInvoiceId!)).toMatchObject({
      collection_method: 'send_invoice',
      days_until_due: 14,
      status: 'open',
    });
  });

  it('makes the invoice once when Stripe answers too late, though the card on file changed before the retry', async () => {
    const w = await world({ subscribed: true });
    const id = (await bookingRow(db(), completed(w.venueId))).id;
    await collectBookingFee(deps(), id);
    const accruedAt = (await feeOf(id))!.accruedAt;
    const next = new Date(Date.UTC(accruedAt.getUTCFullYear(), accruedAt.getUTCMonth() + 1, 1));
    // This organisation's invoice alone (the monthly job would make others' too, taking the hangs).
    const invoiceIt = () =>
      invoiceOrganizationFees(deps(), {
        organizationId: w.organizationId,
        currency: 'USD',
        month: accruedAt.toISOString().slice(0, 7),
        before: next,
      });
    // Stripe makes the invoice, but every answer comes too late (the client's own retries too).
    for (let i = 0; i < 3; i++) fake.hangNext({ path: '/v1/invoices', ms: 1_500 });
    await expect(invoiceIt()).rejects.toThrow();
    const chosen = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    expect(chosen).toMatchObject({ stripeInvoiceId: null, collectionChosenAt: expect.any(Date) });
    // The owner saves a card of their own in the portal before the job runs again.
    fake.attachCard(w.customerId!);
    await invoiceIt();
    const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    const key = `monthly-invoice:${w.organizationId}:${invoice.month}:v1`;
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(fake.objects.get(invoice.stripeInvoiceId!)).toMatchObject({
      collection_method: 'charge_automatically',
      default_payment_method: chosen.chargePaymentMethod,
      status: 'open',
    });
    expect(await feeOf(id)).toMatchObject({ status: 'INVOICED' });
  });

  it("settles only the fees on Stripe's invoice: one claimed for it too late waits for the next", async () => {
    const w = await world();
    const first = (await bookingRow(db(), completed(w.venueId))).id;
    await collectBookingFee(deps(), first);
    await monthlyInvoiceAfter((await feeOf(first))!.accruedAt);
    const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    // Another run claimed this fee for the invoice after it was itemised: it is not on it.
    const late = (await bookingRow(db(), completed(w.venueId))).id;
    await collectBookingFee(deps(), late);
    await db().bookingFee.update({ where: { bookingId: late }, data: { feeInvoiceId: invoice.id } });
    const paid = fake.event('invoice.paid', fake.payInvoice(invoice.stripeInvoiceId!));
    expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, paid)).status).toBe(200);
    await runDueJobs(app, ['stripe-event']);
    expect(await feeOf(first)).toMatchObject({ status: 'PAID' });
    expect(await feeOf(late)).toMatchObject({ status: 'PENDING', settledAt: null });
  });

  it('emails the invoice to an organisation without a subscription', async () => {
    const w = await world();
    const id = (await bookingRow(db(), completed(w.venueId))).id;
    await collectBookingFee(deps(), id);
    const fee = (await feeOf(id))!;
    await monthlyInvoiceAfter(fee.accruedAt);
    const invoice = await db().feeInvoice.findFirstOrThrow({ where: { organizationId: w.organizationId } });
    expect(fake.objects.get(invoice.stripeInvoiceId!)).toMatchObject({
      collection_method: 'send_invoice',
      days_until_due: 14,
      amount_due: 250,
      status: 'open',
    });
    // Its Stripe customer was made for it, once, by the organisation's key: named, with the
    // owner's address, where Stripe sends the invoice.
    expect(fake.objectsCreatedWith(`customer:${w.organizationId}:v2`)).toBe(1);
    const owner = await db().user.findUniqueOrThrow({ where: { id: w.ownerId } });
    const organization = await db().organization.findUniqueOrThrow({ where: { id: w.organizationId } });
    expect(fake.objects.get(String(fake.objects.get(invoice.stripeInvoiceId!)!.customer))).toMatchObject({
      email: owner.email,
      name: organization.name,
    });
  });
});

/** A completed booking row made in chat, for tests of what follows completion. */
function completed(
  venueId: string,
  fields: { source?: 'CHAT' | 'MCP' | 'A2A' | 'API' | 'DASHBOARD'; valueMinor?: bigint } = {},
) {
  return {
    venueId,
    guestId: guestId!,
    startsAt: new Date(Date.now() - 3 * 3_600_000),
    status: 'COMPLETED' as const,
    source: fields.source ?? 'CHAT',
    valueMinor: fields.valueMinor,
  };
}
let guestId: string | undefined;
beforeAll(async () => {
  guestId = (await db().user.create({ data: { email: `${unique('diner').replace(' ', '-')}@example.test` } }))
    .id;
});

describe('fee amounts', () => {
  it("sums every fee of a month, however many, and lists the month's newest", async () => {
    const w = await world({ subscribed: true });
    const listed = FEES_LISTED_PER_MONTH;
    const many = 5 * listed + 6;
    // A busy month (more fees than a month lists, one of them waived) and one fee the month before.
    const now = new Date();
    const thisMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1, 12));
    const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 15));
    await db().booking.createMany({
      data: Array.from({ length: many }, () => ({
        ...completed(w.venueId),
        partySize: 2,
        endsAt: new Date(Date.now() - 2 * 3_600_000),
      })),
    });
    await db().$executeRaw`
      INSERT INTO booking_fees (id, booking_id, organization_id, venue_id, kind, pct_bps, value_minor,
                                fee_minor, venue_share_minor, currency, collection, accrual_transfer_id,
                                status, accrued_at, updated_at)
      SELECT gen_random_uuid(), b.id, ${w.organizationId}::uuid, b.venue_id, 'REFERRAL_PCT', 700, 1000,
             70, 930, 'USD', 'INVOICE', gen_random_uuid(),
             (CASE WHEN n = 1 THEN 'WAIVED' ELSE 'PENDING' END)::"BookingFeeStatus",
             (CASE WHEN n = 2 THEN ${lastMonth}::timestamptz
                   ELSE ${thisMonth}::timestamptz - n * interval '1 second' END), now()
      FROM (SELECT id, venue_id, row_number() OVER (ORDER BY id) AS n FROM bookings
            WHERE venue_id = ${w.venueId}::uuid) b`;
    const fees = (await billing(w.ownerId, w.organizationId))!.fees as {
      month: string;
      total: string;
      count: number;
      fees: unknown[];
    }[];
    expect(
      fees.map(({ month, total, count, fees }) => ({ month, total, count, listed: fees.length })),
    ).toEqual([
      // One waived and one last month: the rest counted, the newest listed.
      { month: monthOf(thisMonth), total: String(70 * (many - 2)), count: many - 2, listed },
      { month: monthOf(lastMonth), total: '70', count: 1, listed: 1 },
    ]);
  });

  const config = () => app.services.config.fees;
  const fee = (subscriber: boolean, valueMinor: number | null, venueReferralBps: number | null = null) =>
    calculateBookingFee(config(), { subscriber, valueMinor, venueReferralBps });

  it('takes the defaults of the reference system', () => {
    expect(config()).toMatchObject({
      referralBps: 700,
      minReferralMinor: 150,
      flatMinor: 250,
      maxBookingValueMinor: 100_000,
      defaultCurrency: 'USD',
    });
  });

  it('charges subscribers 7 % of the value, rounded half up, never below 1.50', () => {
    expect(fee(true, 8000)).toEqual({
      kind: 'REFERRAL_PCT',
      pctBps: 700,
      valueMinor: 8000n,
      feeMinor: 560n,
      venueShareMinor: 7440n,
      floorMinor: 150n,
      maxValueMinor: 100_000n,
    });
    expect(fee(true, 4650).feeMinor).toBe(326n); // 325.5 → 326
    expect(fee(true, 1000)).toMatchObject({ feeMinor: 150n, venueShareMinor: 850n }); // 0.70 < floor
    expect(fee(true, null)).toMatchObject({ valueMinor: 0n, feeMinor: 150n, venueShareMinor: -150n });
  });

  it("applies the venue's own percentage", () => {
    expect(fee(true, 8000, 1000)).toMatchObject({ pctBps: 1000, feeMinor: 800n });
  });

  it('charges venues without a plan a flat 2.50 whatever the value', () => {
    expect(fee(false, 8000)).toEqual({
      kind: 'FLAT',
      pctBps: 0,
      valueMinor: 8000n,
      feeMinor: 250n,
      venueShareMinor: 7750n,
      floorMinor: 250n,
      maxValueMinor: 100_000n,
    });
    expect(fee(false, null).feeMinor).toBe(250n);
  });

  it('counts a value between 0 and 1000.00', () => {
    expect(fee(true, 500_000)).toMatchObject({ valueMinor: 100_000n, feeMinor: 7000n });
    expect(fee(true, -500)).toMatchObject({ valueMinor: 0n, feeMinor: 150n });
  });

  it('accrues in the venue’s currency, with its override, from its organisation’s plan', async () => {
    const subscribed = await world({ subscribed: true, referralFeeBps: 1000, currency: 'EUR' });
    const a = await bookingRow(db(), completed(subscribed.venueId, { valueMinor: 8000n }));
    expect((await collectBookingFee(deps(), a.id)).accrued).toBe('accrued');
    expect(await feeOf(a.id)).toMatchObject({
      kind: 'REFERRAL_PCT',
      pctBps: 1000,
      feeMinor: 800n,
      currency: 'EUR',
    });
    expect(await payable(subscribed.organizationId, 'EUR')).toBe(-800n);
    const venue = await app.gql(
      `query V($id: ID!) { node(id: $id) { ... on Venue { currency } } }`,
      { id: gid('Venue', subscribed.venueId) },
      { token: await token(subscribed.ownerId) },
    );
    expect(venue.data, JSON.stringify(venue.body)).toEqual({ node: { currency: 'EUR' } });

    const plain = await world();
    // A developer's key booking over GraphQL is through AGNT, as over MCP.
    const overApi = await bookingRow(db(), completed(plain.venueId, { source: 'API' }));
    expect((await collectBookingFee(deps(), overApi.id)).accrued).toBe('accrued');
    const b = await bookingRow(db(), completed(plain.venueId, { source: 'MCP', valueMinor: 8000n }));
    await collectBookingFee(deps(), b.id);
    // No customer to charge: it waits for the monthly invoice.
    expect(await feeOf(b.id)).toMatchObject({
      kind: 'FLAT',
      pctBps: 0,
      feeMinor: 250n,
      collection: 'INVOICE',
    });
    // A job run twice accrues once.
    expect((await collectBookingFee(deps(), b.id)).accrued).toBe('exists');
    expect(await payable(plain.organizationId)).toBe(-500n);
  });

  it("takes the venue's own rate a platform admin sets for fees from then on; one accrued keeps its terms", async () => {
    const w = await world({ subscribed: true });
    const admin = await platformAdmin();
    const setRate = async (userId: string, bps: number | null) =>
      app.gql(
        `mutation R($input: SetVenueReferralFeeInput!) {
          setVenueReferralFee(input: $input) {
            __typename
            ... on SetVenueReferralFeePayload { venue { referralFeeBps } }
            ... on ValidationError { message field }
          }
        }`,
        { input: { venueId: gid('Venue', w.venueId), bps } },
        { token: await token(userId) },
      );
    const shown = async (userId: string) =>
      (
        await app.gql(
          `query V($id: ID!) { node(id: $id) { ... on Venue { referralFeeBps } } }`,
          { id: gid('Venue', w.venueId) },
          { token: await token(userId) },
        )
      ).data;
    const stored = async () =>
      (await db().venue.findUniqueOrThrow({ where: { id: w.venueId } })).referralFeeBps;

    expect(await shown(w.ownerId)).toEqual({ node: { referralFeeBps: 700 } });
    // The venue is on the network, its terms are not; they are its billing, which staff do not see.
    expect(await shown(w.staffId)).toEqual({ node: { referralFeeBps: null } });
    expect(await shown((await guest(app)).userId)).toEqual({ node: { referralFeeBps: null } });
    const before = await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }));
    await collectBookingFee(deps(), before.id);
    expect(await feeOf(before.id)).toMatchObject({ pctBps: 700, feeMinor: 560n });

    // Not the venue's own to set, and not a rate outside 0–100 %.
    const byOwner = await setRate(w.ownerId, 1000);
    expect(byOwner.errors?.[0]?.extensions?.code, JSON.stringify(byOwner.body)).toBe('FORBIDDEN');
    expect((await setRate(admin.id, 10_001)).data).toEqual({
      setVenueReferralFee: {
        __typename: 'ValidationError',
        message: 'A referral rate is a whole number of basis points from 0 to 10000 (700 is 7 %)',
        field: 'bps',
      },
    });
    expect(await stored()).toBeNull();

    expect((await setRate(admin.id, 1000)).data).toEqual({
      setVenueReferralFee: { __typename: 'SetVenueReferralFeePayload', venue: { referralFeeBps: 1000 } },
    });
    expect(await shown(w.ownerId)).toEqual({ node: { referralFeeBps: 1000 } });
    const after = await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }));
    await collectBookingFee(deps(), after.id);
    expect(await feeOf(after.id)).toMatchObject({ pctBps: 1000, feeMinor: 800n });
    // Revalued, the fee from before keeps the 7 % it arose on.
    expect((await recordValue(w.ownerId, before.id, 10_000)).errors).toBeUndefined();
    expect(await feeOf(before.id)).toMatchObject({ pctBps: 700, feeMinor: 700n });

    expect((await setRate(admin.id, null)).data).toEqual({
      setVenueReferralFee: { __typename: 'SetVenueReferralFeePayload', venue: { referralFeeBps: 700 } },
    });
    expect(await stored()).toBeNull();
  });

  it("is set by platform admins, not the venue's team; fees from then on accrue in it, one owed keeps its own", async () => {
    const w = await world({ subscribed: true });
    const admin = await platformAdmin();
    const setCurrency = async (userId: string, currency: string | null) =>
      app.gql(
        `mutation C($input: SetVenueCurrencyInput!) {
          setVenueCurrency(input: $input) {
            __typename
            ... on SetVenueCurrencyPayload { venue { currency } }
            ... on ValidationError { message field }
          }
        }`,
        { input: { venueId: gid('Venue', w.venueId), currency } },
        { token: await token(userId) },
      );
    const stored = async () =>
      (await db().venue.findUniqueOrThrow({ where: { id: w.venueId }, select: { currency: true } })).currency;

    const before = await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }));
    expect((await collectBookingFee(deps(), before.id)).accrued).toBe('accrued');
    expect(await feeOf(before.id)).toMatchObject({ feeMinor: 560n, currency: 'USD' });

    // The fee amounts are hundredths of whatever the currency is: the venue's own team does not
    // choose it (a currency worth a fraction of a cent would make its fees nothing).
    const byOwner = await setCurrency(w.ownerId, 'GBP');
    expect(byOwner.errors?.[0]?.extensions?.code, JSON.stringify(byOwner.body)).toBe('FORBIDDEN');
    // Refused, with the reason, and nothing stored: a code nobody pays in, one without cents, one
    // with thousandths.
    for (const [code, message] of [
      ['XYZ', '"XYZ" is not a currency code: use one such as EUR or GBP'],
      ['jpy', 'Bookings cannot be charged in JPY yet: choose a currency with cents'],
      ['KWD', 'Bookings cannot be charged in KWD yet: choose a currency with cents'],
    ]) {
      const refused = await setCurrency(admin.id, code!);
      expect(refused.data, JSON.stringify(refused.body)).toEqual({
        setVenueCurrency: { __typename: 'ValidationError', message, field: 'currency' },
      });
    }
    expect(await stored()).toBeNull();

    // Written as a person types it.
    const set = await setCurrency(admin.id, ' gbp ');
    expect(set.data, JSON.stringify(set.body)).toEqual({
      setVenueCurrency: { __typename: 'SetVenueCurrencyPayload', venue: { currency: 'GBP' } },
    });
    expect(await stored()).toBe('GBP');
    const after = await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }));
    expect((await collectBookingFee(deps(), after.id)).accrued).toBe('accrued');
    expect(await feeOf(after.id)).toMatchObject({ feeMinor: 560n, currency: 'GBP' });
    expect(await payable(w.organizationId, 'GBP')).toBe(-560n);
    // The fee owed before the change is still owed in dollars, and a value recorded for its
    // booking now is read in dollars.
    expect((await recordValue(w.ownerId, before.id, 10_000)).errors).toBeUndefined();
    expect(await feeOf(before.id)).toMatchObject({ feeMinor: 700n, currency: 'USD' });
    expect(await payable(w.organizationId, 'USD')).toBe(-700n);

    // Null: back to the configured default.
    const cleared = await setCurrency(admin.id, null);
    expect(cleared.data, JSON.stringify(cleared.body)).toEqual({
      setVenueCurrency: { __typename: 'SetVenueCurrencyPayload', venue: { currency: 'USD' } },
    });
    expect(await stored()).toBeNull();
  });
});

describe('bookings that were not honoured', () => {
  it('cost nothing when cancelled, declined, expired, a no-show, or the venue’s own', async () => {
    const w = await world({ subscribed: true });
    for (const status of [
      'CANCELLED_BY_GUEST',
      'CANCELLED_BY_VENUE',
      'DECLINED',
      'EXPIRED',
      'NO_SHOW',
    ] as const) {
      const row = await bookingRow(db(), { ...completed(w.venueId), status });
      expect((await collectBookingFee(deps(), row.id)).accrued).toBe(`no_fee:status_${status.toLowerCase()}`);
    }
    const own = await bookingRow(db(), completed(w.venueId, { source: 'DASHBOARD' }));
    expect((await collectBookingFee(deps(), own.id)).accrued).toBe('no_fee:venue_own_booking');
    // Its own staff booking through AGNT (their key, their chat) is the venue's own too.
    for (const source of ['MCP', 'CHAT', 'API'] as const) {
      const staffs = await bookingRow(db(), { ...completed(w.venueId, { source }), guestId: w.staffId });
      expect((await collectBookingFee(deps(), staffs.id)).accrued).toBe('no_fee:venue_own_booking');
    }
    expect(await db().bookingFee.count({ where: { organizationId: w.organizationId } })).toBe(0);
    expect(await payable(w.organizationId)).toBe(0n);
  });

  it('charges a venue claimed later nothing for bookings completed before the claim', async () => {
    const w = await world();
    // A listed venue nobody had claimed: a booking there completes, and its fee job finds no owner.
    const venue = await createBookableVenue(db(), {});
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    const before = await bookingRow(db(), { ...completed(venue.id), updatedAt: ago(120) });
    expect((await collectBookingFee(deps(), before.id)).accrued).toBe('no_fee:unclaimed_venue');
    // Then the organisation claims it.
    await db().venue.update({ where: { id: venue.id }, data: { organizationId: w.organizationId } });
    await db().venueClaim.create({
      data: {
        venueId: venue.id,
        organizationId: w.organizationId,
        requestedById: w.ownerId,
        method: 'MANUAL_REVIEW',
        status: 'APPROVED',
        decidedAt: ago(60),
      },
    });
    const after = await bookingRow(db(), { ...completed(venue.id), updatedAt: ago(20) });
    // The sweep for fees whose job was lost: the booking after the claim earns one, the one before not.
    await sweep();
    expect(await feeOf(before.id)).toBeNull();
    expect(await feeOf(after.id)).toMatchObject({
      organizationId: w.organizationId,
      status: expect.any(String),
    });
  });

  it('charges the organisation that held the venue when a booking completed, though another took it over since', async () => {
    const holder = await world();
    const buyer = await world();
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    // Completed at the holder's venue; its fee job was lost. Then the buyer took the venue over.
    const before = await bookingRow(db(), { ...completed(holder.venueId), updatedAt: ago(120) });
    await takeOver(holder, buyer, ago(60));
    const after = await bookingRow(db(), { ...completed(holder.venueId), updatedAt: ago(20) });
    await sweep();
    expect(await feeOf(before.id)).toMatchObject({ organizationId: holder.organizationId });
    expect(await feeOf(after.id)).toMatchObject({ organizationId: buyer.organizationId });
  });

  it("sweeps past the venue's own people's bookings, which earn no fee, to the lost fees behind them", async () => {
    const w = await world();
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    // More of the staff's own bookings than one sweep takes, completed before a guest's lost one.
    await db().booking.createMany({
      data: Array.from({ length: 201 }, (_, i) => ({
        ...completed(w.venueId),
        guestId: w.staffId,
        partySize: 2,
        endsAt: new Date(Date.now() - 2 * 3_600_000),
        updatedAt: ago(600 - i),
      })),
    });
    const lost = await bookingRow(db(), { ...completed(w.venueId), updatedAt: ago(30) });
    await sweep();
    expect(await feeOf(lost.id)).toMatchObject({ organizationId: w.organizationId });
    expect(await db().bookingFee.count({ where: { organizationId: w.organizationId } })).toBe(1);
  });

  it('sweeps past bookings whose fee comes to nothing, which write no fee, to the lost fees behind them', async () => {
    // Fees set to nothing but the referral share (a promotion): a flat-fee venue's fee is zero.
    const free = { ...deps(), fees: { ...deps().fees, flatMinor: 0, minReferralMinor: 0 } };
    const flat = await world();
    const referral = await world({ subscribed: true });
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    await db().booking.createMany({
      data: Array.from({ length: 201 }, (_, i) => ({
        ...completed(flat.venueId),
        partySize: 2,
        endsAt: new Date(Date.now() - 2 * 3_600_000),
        updatedAt: ago(600 - i),
      })),
    });
    const lost = await bookingRow(db(), {
      ...completed(referral.venueId, { valueMinor: 10_000n }),
      updatedAt: ago(30),
    });
    expect(await retryPendingFees(free)).toMatchObject({ accrued: 1, failed: 0 });
    expect(await feeOf(lost.id)).toMatchObject({ organizationId: referral.organizationId, feeMinor: 700n });
    expect(await db().bookingFee.count({ where: { organizationId: flat.organizationId } })).toBe(0);
  });

  it('queues no fee for a no-show or a cancellation made through the dashboard', async () => {
    const w = await world({ subscribed: true });
    const cancelled = await bookInChat(w.venueId);
    await move(w.ownerId, cancelled.id, 'confirmBooking', 'CONFIRMED');
    await move(w.ownerId, cancelled.id, 'cancelBooking', 'CANCELLED_BY_VENUE');
    const noShow = await bookInChat(w.venueId);
    await move(w.ownerId, noShow.id, 'confirmBooking', 'CONFIRMED');
    arriveAt(noShow.startsAt);
    await move(w.ownerId, noShow.id, 'markBookingNoShow', 'NO_SHOW');
    expect(await feeJobQueued(cancelled.id)).toBe(0);
    expect(await feeJobQueued(noShow.id)).toBe(0);
    await sweep();
    expect(await db().bookingFee.count({ where: { organizationId: w.organizationId } })).toBe(0);
  });
});

describe('changing a fee', () => {
  it('reverses the accrual and accrues again when the value changes before it is invoiced', async () => {
    const w = await world({ subscribed: true });
    const row = await bookingRow(db(), completed(w.venueId));
    await collectBookingFee(deps(), row.id);
    const first = (await feeOf(row.id))!;
    expect(first).toMatchObject({ feeMinor: 150n, revision: 1 });
    const res = await recordValue(w.ownerId, row.id, 20_000);
    expect(res.data, JSON.stringify(res.body)).toMatchObject({
      recordBookingValue: { booking: { value: '20000' } },
    });
    const second = (await feeOf(row.id))!;
    expect(second).toMatchObject({ feeMinor: 1400n, valueMinor: 20_000n, revision: 2, status: 'PENDING' });
    expect(await findTransfer(db(), reversalId(first.accrualTransferId))).toMatchObject({ kind: 'REVERSAL' });
    expect(await findTransfer(db(), first.accrualTransferId)).not.toBeNull(); // history kept
    expect(await payable(w.organizationId)).toBe(-1400n);
  });

  it('prices a revalued fee on the terms it arose on, whatever the settings are now', async () => {
    const subscribed = await world({ subscribed: true });
    const flat = await world({ subscribed: false });
    const referral = await bookingRow(db(), completed(subscribed.venueId));
    const flatBooking = await bookingRow(db(), completed(flat.venueId));
    await collectBookingFee(deps(), referral.id);
    await collectBookingFee(deps(), flatBooking.id);
    expect(await feeOf(referral.id)).toMatchObject({
      feeMinor: 150n,
      floorMinor: 150n,
      maxValueMinor: 100_000n,
    });
    expect(await feeOf(flatBooking.id)).toMatchObject({ kind: 'FLAT', feeMinor: 250n, floorMinor: 250n });

    // An operator changes the fees afterwards: a higher flat fee and minimum, a lower cap.
    const later = {
      ...deps(),
      fees: { ...deps().fees, flatMinor: 300, minReferralMinor: 200, maxBookingValueMinor: 5_000 },
    };
    const record = async (userId: string, bookingId: string, value: number) =>
      recordBookingValue(later, await createAccess(db(), { kind: 'user', userId, isPlatformAdmin: false }), {
        bookingId,
        value,
      });
    // 7 % of 10.00 is under the minimum, which stays the 1.50 it arose with.
    await record(subscribed.staffId, referral.id, 1_000);
    expect(await feeOf(referral.id)).toMatchObject({ feeMinor: 150n, valueMinor: 1_000n, revision: 2 });
    // 7 % of 200.00, counted whole: the cap it arose with was 1000.00.
    await record(subscribed.staffId, referral.id, 20_000);
    expect(await feeOf(referral.id)).toMatchObject({ feeMinor: 1_400n, valueMinor: 20_000n });
    // A flat fee does not move with the value, nor with the settings.
    await record(flat.staffId, flatBooking.id, 8_000);
    expect(await feeOf(flatBooking.id)).toMatchObject({ feeMinor: 250n, valueMinor: 8_000n });
    expect(await payable(flat.organizationId)).toBe(-250n);
  });

  it('waives a pending fee whose booking is revalued to nothing owed, its accrual reversed', async () => {
    // No minimum (a promotion): a booking given away owes nothing.
    const free = { ...deps(), fees: { ...deps().fees, minReferralMinor: 0 } };
    const w = await world({ subscribed: true });
    const row = await bookingRow(db(), completed(w.venueId, { valueMinor: 10_000n }));
    await collectBookingFee(free, row.id);
    expect(await feeOf(row.id)).toMatchObject({ feeMinor: 700n, status: 'PENDING' });
    expect(await payable(w.organizationId)).toBe(-700n);

    const access = await createAccess(db(), { kind: 'user', userId: w.staffId, isPlatformAdmin: false });
    await recordBookingValue(free, access, { bookingId: row.id, value: 0 });
    expect(await feeOf(row.id)).toMatchObject({
      valueMinor: 10_000n,
      feeMinor: 700n,
      status: 'WAIVED',
      waivedReason: VALUED_AT_NOTHING,
      waivedBy: `user:${w.staffId}`,
    });
    expect(await payable(w.organizationId)).toBe(0n);
    expect((await db().booking.findUniqueOrThrow({ where: { id: row.id } })).valueMinor).toBe(0n);
    // Waived, it is settled: a later value is refused, and nothing moves.
    await expect(recordBookingValue(free, access, { bookingId: row.id, value: 5_000 })).rejects.toThrow(
      'The fee of this booking is already waived; its value cannot change',
    );
    expect(await payable(w.organizationId)).toBe(0n);
  });

  it("lets only the billed organisation's team revalue a fee after the venue changed hands", async () => {
    const holder = await world({ subscribed: true });
    const buyer = await world({ subscribed: true });
    const row = await bookingRow(db(), completed(holder.venueId, { valueMinor: 8000n }));
    await collectBookingFee(deps(), row.id);
    const accrued = (await feeOf(row.id))!;
    expect(accrued).toMatchObject({ organizationId: holder.organizationId, feeMinor: 560n, revision: 1 });
    // Then the buyer took the venue over through review.
    await takeOver(holder, buyer, new Date());
    // The new holder's team cannot raise or zero what the former holder owes: for them there is no
    // such booking, and nothing moves.
    for (const [userId, value] of [
      [buyer.staffId, 100_000],
      [buyer.ownerId, 0],
    ] as const) {
      const refused = await recordValue(userId, row.id, value);
      expect(refused.data, JSON.stringify(refused.body)).toEqual({
        recordBookingValue: { __typename: 'NotFoundError', message: 'Booking not found' },
      });
    }
    expect(await feeOf(row.id)).toEqual(accrued);
    expect((await db().booking.findUniqueOrThrow({ where: { id: row.id } })).valueMinor).toBe(8000n);
    expect(await payable(holder.organizationId)).toBe(-560n);
    expect(await payable(buyer.organizationId)).toBe(0n);

    // The billed organisation's staff still record it, and its fee follows. The answer says what
    // was recorded, without the booking (read as any booking is, by its venue's team: theirs no
    // longer), and without an error.
    const recorded = await recordValue(holder.staffId, row.id, 20_000);
    expect(recorded.errors, JSON.stringify(recorded.body)).toBeUndefined();
    expect(recorded.data).toEqual({
      recordBookingValue: { __typename: 'RecordBookingValuePayload', booking: null, value: '20000' },
    });
    expect(await feeOf(row.id)).toMatchObject({
      organizationId: holder.organizationId,
      valueMinor: 20_000n,
      feeMinor: 1400n,
      revision: 2,
    });
    expect(await payable(holder.organizationId)).toBe(-1400n);

    // Its owners' billing still shows what they owe, the booking itself no longer theirs to read.
    const owed = await billing(holder.ownerId, holder.organizationId);
    expect(owed?.fees).toEqual([
      expect.objectContaining({
        total: '1400',
        count: 1,
        fees: [expect.objectContaining({ booking: null, value: '20000', fee: '1400', status: 'PENDING' })],
      }),
    ]);
  });

  it('lets the holder at completion record the value before the fee is accrued, not the new holder', async () => {
    const holder = await world({ subscribed: true });
    const buyer = await world({ subscribed: true });
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000);
    // Completed at the holder's venue (its move to COMPLETED in its history); its fee job has not
    // run yet when the buyer takes it over.
    const row = await bookingRow(db(), { ...completed(holder.venueId), updatedAt: ago(30) });
    await db().bookingTransition.create({
      data: {
        bookingId: row.id,
        fromStatus: 'SEATED',
        toStatus: 'COMPLETED',
        actorKind: 'venue',
        createdAt: ago(30),
      },
    });
    await takeOver(holder, buyer, ago(10));
    const refused = await recordValue(buyer.staffId, row.id, 100_000);
    expect(refused.data, JSON.stringify(refused.body)).toEqual({
      recordBookingValue: { __typename: 'NotFoundError', message: 'Booking not found' },
    });
    expect((await db().booking.findUniqueOrThrow({ where: { id: row.id } })).valueMinor).toBeNull();
    const recorded = await recordValue(holder.staffId, row.id, 8_000);
    expect(recorded.data).toMatchObject({ recordBookingValue: { value: '8000' } });
    // The fee, accrued now, bills the holder at completion on the value its own team recorded.
    await collectBookingFee(deps(), row.id);
    expect(await feeOf(row.id)).toMatchObject({ organizationId: holder.organizationId, valueMinor: 8_000n });
  });

  it('counts a value recorded while the fee is being worked out', async () => {
    const w = await world({ subscribed: true });
    const row = await bookingRow(db(), completed(w.venueId));
    // The team records 200.00 as the fee's job starts: the value's write holds the booking's row.
    const client = await app.services.database.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('UPDATE bookings SET value_minor = 20000, value_recorded_at = now() WHERE id = $1', [
        row.id,
      ]);
      const accruing = collectBookingFee(deps(), row.id);
      // The accrual has read the booking and waits for its row.
      await waitingForLock(db(), 'FROM bookings WHERE id');
      await client.query('COMMIT');
      await accruing;
    } finally {
      client.release();
    }
    expect(await feeOf(row.id)).toMatchObject({ valueMinor: 20_000n, feeMinor: 1400n, revision: 1 });
    expect(await payable(w.organizationId)).toBe(-1400n);
  });

  it('lets a platform admin waive a pending fee with a reason; balances follow', async () => {
    const w = await world();
    const row = await bookingRow(db(), completed(w.venueId));
    await collectBookingFee(deps(), row.id);
    const revenueBefore = await balanceOf(db(), platformAccount('REVENUE', 'USD'));
    const admin = await platformAdmin();
    const refused = await app.gql(
      WAIVE,
      { id: gid('Booking', row.id), reason: 'x' },
      { token: await token(w.ownerId) },
    );
    expect(refused.errors?.[0]?.message, JSON.stringify(refused.body)).toBe('You are not allowed to do this');
    const res = await app.gql(
      WAIVE,
      { id: gid('Booking', row.id), reason: 'Guest was a walk-in' },
      { token: await token(admin.id) },
    );
    expect(res.data, JSON.stringify(res.body)).toMatchObject({
      waiveBookingFee: { fee: { status: 'WAIVED', fee: '250' } },
    });
    const waived = (await feeOf(row.id))!;
    expect(await findTransfer(db(), waived.waiverTransferId!)).toMatchObject({
      kind: 'REVERSAL',
      actor: `user:${admin.id}`,
      reason: 'Booking fee waived: Guest was a walk-in',
    });
    expect(await payable(w.organizationId)).toBe(0n);
    expect(await balanceOf(db(), platformAccount('REVENUE', 'USD'))).toBe(revenueBefore - 250n);
    // A waived fee goes on no invoice.
    await organizationInvoiceAfter(w.organizationId, waived.accruedAt);
    expect(fake.objectsCreatedWith(`booking-fee:${row.id}:v1`)).toBe(0);
  });
});

describe('pay as you go', () => {
  it('charges a venue without a plan at once, to the card on file', async () => {
    const w = await world({ card: 'ok' });
    const row = await bookingRow(db(), completed(w.venueId));
    const result = await collectBookingFee(deps(), row.id);
    expect(result.charge).toMatchObject({ outcome: 'charged' });
    const key = `booking-fee-charge:${row.id}:1`;
    expect(fake.objectsCreatedWith(key)).toBe(1);
    const [intentId] = [...fake.createdWithKey].find(([, k]) => k === key)!;
    expect(fake.objects.get(intentId)).toMatchObject({
      amount: 250,
      currency: 'usd',
      customer: w.customerId,
      payment_method: w.cardId,
      status: 'succeeded',
    });
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED', stripePaymentIntentId: intentId });
    expect(await payable(w.organizationId)).toBe(0n);
    // Run again: nothing more is charged.
    expect((await collectBookingFee(deps(), row.id)).charge).toMatchObject({ outcome: 'skipped' });
    expect(
      fake.requests.filter((r) => r.path === '/v1/payment_intents' && r.idempotencyKey?.includes(row.id))
        .length,
    ).toBe(1);
  });

  it('leaves a declined fee pending and charges it on the retry after the wait', async () => {
    const w = await world({ card: 'declines' });
    const row = await bookingRow(db(), completed(w.venueId));
    const first = await collectBookingFee(deps(), row.id);
    expect(first.charge).toMatchObject({ outcome: 'declined', attempts: 1, fallsBackToInvoice: false });
    const pending = (await feeOf(row.id))!;
    expect(pending).toMatchObject({ status: 'PENDING', collection: 'CHARGE', chargeAttempts: 1 });
    expect(pending.lastChargeError).toContain('card_declined');
    expect(await payable(w.organizationId)).toBe(-250n);

    // Before the wait is over the sweep leaves it alone.
    await sweep();
    expect(await feeOf(row.id)).toMatchObject({ chargeAttempts: 1, status: 'PENDING' });

    fake.setCardDeclines(w.cardId!, false);
    app.clock.advance(pending.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
    await sweep();
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED', chargeAttempts: 1 });
    expect(fake.objectsCreatedWith(`booking-fee-charge:${row.id}:2`)).toBe(1);
    expect(fake.objectsCreatedWith(`booking-fee-charge:${row.id}:1`)).toBe(0);
    expect(await payable(w.organizationId)).toBe(0n);
  });

  it('charges a bank debit once: processing is waited for, settled when Stripe says so, never charged again', async () => {
    const w = await world({ card: 'debit' });
    const row = await bookingRow(db(), completed(w.venueId));
    const first = await collectBookingFee(deps(), row.id);
    expect(first.charge).toMatchObject({ outcome: 'processing' });
    const intentId = (first.charge as { paymentIntentId: string }).paymentIntentId;
    const waiting = (await feeOf(row.id))!;
    expect(waiting).toMatchObject({
      status: 'PENDING',
      collection: 'CHARGE',
      chargeAttempts: 1,
      stripePaymentIntentId: intentId,
      lastChargeError: null,
    });
    expect(await payable(w.organizationId)).toBe(-250n);

    // Still processing at the next look: no second charge.
    app.clock.advance(waiting.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
    await sweep();
    expect(await feeOf(row.id)).toMatchObject({
      status: 'PENDING',
      chargeAttempts: 1,
      stripePaymentIntentId: intentId,
    });
    // Settled days later: CHARGED at the next look, the ledger square.
    fake.settlePaymentIntent(intentId, 'succeeded');
    app.clock.advance((await feeOf(row.id))!.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
    await sweep();
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED', stripePaymentIntentId: intentId });
    expect(await payable(w.organizationId)).toBe(0n);
    const charges = fake.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.idempotencyKey?.includes(row.id),
    );
    expect(charges).toHaveLength(1);
  });

  it('takes a bank debit that fails later as a decline, and charges the next attempt after the wait', async () => {
    const w = await world({ card: 'debit' });
    const row = await bookingRow(db(), completed(w.venueId));
    const first = await collectBookingFee(deps(), row.id);
    const intentId = (first.charge as { paymentIntentId: string }).paymentIntentId;
    fake.settlePaymentIntent(intentId, 'failed');
    app.clock.advance((await feeOf(row.id))!.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
    expect(await chargeBookingFee(deps(), row.id)).toMatchObject({ outcome: 'declined', attempts: 1 });
    const declined = (await feeOf(row.id))!;
    expect(declined).toMatchObject({ status: 'PENDING', chargeAttempts: 1, stripePaymentIntentId: null });
    expect(declined.lastChargeError).toContain('returned');
    // The next attempt, with a key of its own, once its wait is over.
    fake.setCardDeclines(w.cardId!, false);
    app.clock.advance(declined.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
    expect(await chargeBookingFee(deps(), row.id)).toMatchObject({ outcome: 'processing' });
    expect(fake.objectsCreatedWith(`booking-fee-charge:${row.id}:2`)).toBe(1);
    expect(await feeOf(row.id)).toMatchObject({ chargeAttempts: 2 });
  });

  it('retries a charge that timed out as the same request, though the default card changed meanwhile', async () => {
    const w = await world({ card: 'ok' });
    const row = await bookingRow(db(), completed(w.venueId));
    // Stripe takes the charge but every answer comes too late (the client's own retries too).
    for (let i = 0; i < 3; i++) fake.hangNext({ path: '/v1/payment_intents', ms: 1_500 });
    await expect(collectBookingFee(deps(), row.id)).rejects.toThrow();
    expect(await feeOf(row.id)).toMatchObject({ status: 'PENDING', chargePaymentMethod: w.cardId });
    // The owner saves another card in the portal before the job runs again.
    const newer = fake.attachCard(w.customerId!);
    const again = await chargeBookingFee(deps(), row.id);
    expect(again).toMatchObject({ outcome: 'charged' });
    const key = `booking-fee-charge:${row.id}:1`;
    expect(fake.objectsCreatedWith(key)).toBe(1);
    const [intentId] = [...fake.createdWithKey].find(([, k]) => k === key)!;
    expect(fake.objects.get(intentId)).toMatchObject({ payment_method: w.cardId });
    expect(fake.objects.get(intentId)!.payment_method).not.toBe(newer);
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED', stripePaymentIntentId: intentId });
    expect(await payable(w.organizationId)).toBe(0n);
  });

  /**
   * A fee charged to `card` whose Stripe answer comes late, which a platform admin tries to waive
   * meanwhile: the world, the booking, the waiver's answer, and what the charge came to.
   */
  async function waiverWhileCharging(card: 'ok' | 'debit') {
    const w = await world({ card });
    const row = await bookingRow(db(), completed(w.venueId));
    const admin = await platformAdmin();
    fake.hangNext({ path: '/v1/payment_intents', ms: 1_500 });
    const charging = collectBookingFee(deps(), row.id);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const waiver = await app.gql(
      WAIVE,
      { id: gid('Booking', row.id), reason: 'Goodwill' },
      { token: await token(admin.id) },
    );
    return { w, row, admin, waiver, charge: (await charging).charge };
  }

  it('refuses to waive a fee while its charge is on its way, and records the charge', async () => {
    const { w, row, waiver, charge } = await waiverWhileCharging('ok');
    expect(waiver.data, JSON.stringify(waiver.body)).toMatchObject({
      waiveBookingFee: { __typename: 'ConflictError' },
    });
    expect(charge).toMatchObject({ outcome: 'charged' });
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED', waiverTransferId: null });
    expect(await payable(w.organizationId)).toBe(0n);
  });

  it('refuses to waive a bank debit while it settles, and records it when it does', async () => {
    const { w, row, admin, waiver, charge } = await waiverWhileCharging('debit');
    expect(waiver.data, JSON.stringify(waiver.body)).toMatchObject({
      waiveBookingFee: { __typename: 'ConflictError' },
    });
    expect(charge).toMatchObject({ outcome: 'processing' });
    const intentId = (charge as { paymentIntentId: string }).paymentIntentId;
    // Still settling: still refused.
    const again = await app.gql(
      WAIVE,
      { id: gid('Booking', row.id), reason: 'Goodwill' },
      { token: await token(admin.id) },
    );
    expect(again.data, JSON.stringify(again.body)).toMatchObject({
      waiveBookingFee: { __typename: 'ConflictError' },
    });
    fake.settlePaymentIntent(intentId, 'succeeded');
    app.clock.advance((await feeOf(row.id))!.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
    await sweep();
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED', stripePaymentIntentId: intentId });
    expect(await payable(w.organizationId)).toBe(0n);
    const charges = fake.requests.filter(
      (r) => r.method === 'POST' && r.path === '/v1/payment_intents' && r.idempotencyKey?.includes(row.id),
    );
    expect(new Set(charges.map((r) => r.idempotencyKey))).toEqual(
      new Set([`booking-fee-charge:${row.id}:1`]),
    );
  });

  it('keeps a charge whose answer was lost from being waived or revalued until it is answered; a decline frees it', async () => {
    const w = await world({ card: 'ok' });
    const row = await bookingRow(db(), completed(w.venueId, { valueMinor: 8000n }));
    const admin = await platformAdmin();
    // Stripe takes the charge but every answer comes too late (the client's own retries too): the
    // job fails with the card chosen and no payment intent recorded.
    for (let i = 0; i < 3; i++) fake.hangNext({ path: '/v1/payment_intents', ms: 1_500 });
    await expect(collectBookingFee(deps(), row.id)).rejects.toThrow();
    const charging = (await feeOf(row.id))!;
    expect(charging).toMatchObject({
      status: 'PENDING',
      chargePaymentMethod: w.cardId,
      stripePaymentIntentId: null,
    });
    const waiver = await app.gql(
      WAIVE,
      { id: gid('Booking', row.id), reason: 'Goodwill' },
      { token: await token(admin.id) },
    );
    expect(waiver.data, JSON.stringify(waiver.body)).toMatchObject({
      waiveBookingFee: {
        __typename: 'ConflictError',
        message:
          'The fee of this booking is being charged and the charge has not settled yet; it cannot be waived until it has (try again later)',
      },
    });
    const revalued = await recordValue(w.ownerId, row.id, 0);
    expect(revalued.data, JSON.stringify(revalued.body)).toMatchObject({
      recordBookingValue: { __typename: 'ConflictError' },
    });
    expect(await feeOf(row.id)).toEqual(charging);
    expect((await db().booking.findUniqueOrThrow({ where: { id: row.id } })).valueMinor).toBe(8000n);
    // The job's retry is the same request: Stripe's charge is recorded, once.
    expect(await chargeBookingFee(deps(), row.id)).toMatchObject({ outcome: 'charged' });
    expect(await feeOf(row.id)).toMatchObject({ status: 'CHARGED' });
    expect(fake.objectsCreatedWith(`booking-fee-charge:${row.id}:1`)).toBe(1);
    expect(await payable(w.organizationId)).toBe(0n);

    // A definite decline ends the attempt (the card chosen for it is let go): the fee may change.
    const declining = await world({ card: 'declines' });
    const declined = await bookingRow(db(), completed(declining.venueId));
    expect((await collectBookingFee(deps(), declined.id)).charge).toMatchObject({ outcome: 'declined' });
    expect(await feeOf(declined.id)).toMatchObject({ status: 'PENDING', chargePaymentMethod: null });
    const value = await recordValue(declining.ownerId, declined.id, 9000);
    expect(value.data, JSON.stringify(value.body)).toMatchObject({
      recordBookingValue: { booking: { value: '9000' } },
    });
    const waived = await app.gql(
      WAIVE,
      { id: gid('Booking', declined.id), reason: 'Card trouble' },
      { token: await token(admin.id) },
    );
    expect(waived.data, JSON.stringify(waived.body)).toMatchObject({
      waiveBookingFee: { fee: { status: 'WAIVED' } },
    });
  });

  it('still records the payment of a fee waived mid-charge before such waivers were refused', async () => {
    // A fee waived while its charge was on its way, as the waiver could before it was refused: the
    // state is written as that waiver wrote it (waiveFeeOn, on the locked row).
    const w = await world({ card: 'ok' });
    const row = await bookingRow(db(), completed(w.venueId));
    fake.hangNext({ path: '/v1/payment_intents', ms: 1_500 });
    const charging = collectBookingFee(deps(), row.id);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await db().$transaction(async (tx) => {
      const [locked] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text FROM booking_fees WHERE booking_id = ${row.id}::uuid FOR UPDATE`;
      const fee = await tx.bookingFee.findUniqueOrThrow({ where: { id: locked!.id } });
      await waiveFeeOn(tx, fee, { reason: 'Goodwill', actor: 'user:earlier', now: new Date() });
    });
    expect((await charging).charge).toEqual({ outcome: 'skipped', reason: 'charged_after_waiver' });
    const fee = (await feeOf(row.id))!;
    expect(fee.status).toBe('WAIVED');
    expect(fee.stripePaymentIntentId).toMatch(/^pi_/);
    // Waived (the accrual reversed) and paid: the organisation is 2.50 in credit, owed back.
    expect(await payable(w.organizationId)).toBe(250n);
  });

  it('gives up charging after the last attempt and puts the fee on the monthly invoice', async () => {
    const w = await world({ card: 'declines' });
    const row = await bookingRow(db(), completed(w.venueId));
    await collectBookingFee(deps(), row.id);
    for (let attempt = 2; attempt <= app.services.config.fees.chargeMaxAttempts; attempt++) {
      const fee = (await feeOf(row.id))!;
      app.clock.advance(fee.nextChargeAt!.getTime() - app.clock.now().getTime() + 1_000);
      await chargeBookingFee(deps(), row.id);
    }
    const fee = (await feeOf(row.id))!;
    expect(fee).toMatchObject({ status: 'PENDING', collection: 'INVOICE', nextChargeAt: null });
    await organizationInvoiceAfter(w.organizationId, fee.accruedAt);
    expect(fake.objectsCreatedWith(`booking-fee:${row.id}:v1`)).toBe(1);
    expect(await feeOf(row.id)).toMatchObject({ status: 'INVOICED' });
  });
});
