/**
 * Checkout, the Customer Portal, Organization.billing and adjustCredits through GraphQL, against
 * the loopback Stripe: an owner's checkout returns the fake's session URL, every Stripe write
 * carries the key derived from our ids (`customer:{org}:v2`, `checkout:{org}:{plan}:{attempt}`,
 * `portal:{org}:{attempt}`), a call that timed out and was retried made one session, STAFF are
 * refused, Stripe away is a typed error, and with billing off the answer is a typed error.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BillingNotConfiguredError, startCheckout } from '../../src/domain/billing/checkout.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { NotAllowedError } from '../../src/platform/errors.ts';
import { type FakeStripe, startFakeStripe, stripeEnv, TEST_PRICES } from '../fakes/stripe.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, accessToken, createActors } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const PRICES = TEST_PRICES;

let fake: FakeStripe;
let app: TestApp;
let off: TestApp;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: stripeEnv(fake),
  });
  off = await startTestApp();
});
afterAll(async () => {
  await app?.close();
  await off?.close();
  await fake?.close();
});

const gid = (id: string) => encodeGlobalID('Organization', id);

const START = /* GraphQL */ `
  mutation ($input: StartCheckoutInput!) {
    startCheckout(input: $input) {
      __typename
      ... on StartCheckoutPayload { url }
      ... on Error { message }
      ... on ValidationError { field }
    }
  }
`;
const PORTAL = /* GraphQL */ `
  mutation ($input: OpenBillingPortalInput!) {
    openBillingPortal(input: $input) {
      __typename
      ... on OpenBillingPortalPayload { url }
      ... on Error { message }
    }
  }
`;
const BILLING = /* GraphQL */ `
  query ($id: ID!) {
    organization(id: $id) {
      id
      billing { plan status currentPeriodEnd credits { currency balance } }
    }
  }
`;
const ADJUST = /* GraphQL */ `
  mutation ($input: AdjustCreditsInput!) {
    adjustCredits(input: $input) {
      __typename
      ... on AdjustCreditsPayload { currency balance }
      ... on ValidationError { field }
      ... on Error { message }
    }
  }
`;

type Result = Record<string, { __typename: string; url?: string; message?: string; field?: string }>;

async function start(on: TestApp, token: string, organizationId: string, plan = 'VENUE_GROWTH') {
  const res = await on.gql<Result, unknown>(
    START,
    { input: { organizationId: gid(organizationId), plan } },
    { token },
  );
  expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
  return res.data!.startCheckout!;
}

/** Refused by the auth scopes before anything ran: FORBIDDEN, no data. */
function expectForbidden(res: { data?: unknown; errors?: { extensions?: Record<string, unknown> }[] }) {
  expect(res.data).toBeNull();
  expect(res.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
}

const posts = (path: string) => fake.requests.filter((r) => r.method === 'POST' && r.path === path);

describe('startCheckout', () => {
  let fx: Actors;
  beforeAll(async () => {
    fx = await createActors(app);
  });

  it("gives an owner the Checkout Session's URL, with the keys derived from the organisation", async () => {
    const org = fx.organizationId;
    const first = await start(app, fx.owner.token, org);
    expect(first.__typename).toBe('StartCheckoutPayload');
    expect(first.url).toMatch(/^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_/);

    const customers = posts('/v1/customers').filter((r) => r.idempotencyKey?.includes(org));
    expect(customers.map((r) => r.idempotencyKey)).toEqual([`customer:${org}:v2`]);
    expect(customers[0]!.params).toMatchObject({ metadata: { organizationId: org }, email: fx.owner.email });
    const stored = await app.services.db.billingCustomer.findUniqueOrThrow({
      where: { organizationId: org },
    });

    const sessions = posts('/v1/checkout/sessions').filter((r) => r.idempotencyKey?.includes(org));
    expect(sessions.map((r) => r.idempotencyKey)).toEqual([`checkout:${org}:VENUE_GROWTH:1`]);
    expect(sessions[0]!.params).toMatchObject({
      mode: 'subscription',
      customer: stored.stripeCustomerId,
      client_reference_id: org,
      metadata: { organizationId: org, plan: 'VENUE_GROWTH' },
      subscription_data: {
        metadata: { organizationId: org, plan: 'VENUE_GROWTH' },
        billing_mode: { type: 'flexible' },
      },
      // The plan, and the meters it bills: usage reported to them is billed through these items.
      line_items: [
        { price: PRICES.STRIPE_PRICE_VENUE_GROWTH, quantity: '1' },
        { price: 'price_conversations_test' },
        { price: 'price_a2a_bookings_test' },
      ],
    });
    expect(String(sessions[0]!.params.success_url)).toMatch(/^https:\/\/app\.agnt\.test\/billing/);
    expect(String(sessions[0]!.params.cancel_url)).toMatch(/^https:\/\/app\.agnt\.test\/billing/);

    // Starting again is a new attempt: a new session; the customer is not created again.
    const second = await start(app, fx.admin.token, org, 'VENUE_PRO');
    expect(second.__typename).toBe('StartCheckoutPayload');
    expect(second.url).not.toBe(first.url);
    expect(posts('/v1/customers').filter((r) => r.idempotencyKey?.includes(org))).toHaveLength(1);
    expect(
      posts('/v1/checkout/sessions')
        .filter((r) => r.idempotencyKey?.includes(org))
        .map((r) => r.idempotencyKey),
    ).toEqual([`checkout:${org}:VENUE_GROWTH:1`, `checkout:${org}:VENUE_PRO:2`]);
    // The first, for a venue plan too, is ended: paid as well, it would have been a second
    // subscription beside the one the second starts. A developer plan's Checkout leaves it open.
    const sessionOf = (url: string | undefined) => fake.objects.get(String(url).split('/').at(-1) ?? '')!;
    expect(sessionOf(first.url).status).toBe('expired');
    expect(() => fake.completeSession(sessionOf(first.url).id as string)).toThrow(/expired/);
    const developer = await start(app, fx.owner.token, org, 'DEVELOPER_PRO');
    expect(developer.__typename).toBe('StartCheckoutPayload');
    expect(sessionOf(second.url).status).toBe('open');
    // Started again for a venue plan: the second is ended, the developer plan's stays open.
    await start(app, fx.owner.token, org, 'VENUE_GROWTH');
    expect(sessionOf(second.url).status).toBe('expired');
    expect(sessionOf(developer.url).status).toBe('open');
  });

  it('leaves one Checkout open when two are started at the same instant', async () => {
    const other = await createActors(app);
    const org = other.organizationId;
    const [owner, admin] = [
      await accessToken(app, other.owner.userId),
      await accessToken(app, other.admin.userId),
    ];
    // The customer exists, as after any earlier visit to billing: both calls go straight to Checkout.
    await start(app, owner, org, 'DEVELOPER_PRO');
    // The first to ask which Checkouts are open hears late, as the other makes its own.
    fake.hangNext({ method: 'GET', path: '/v1/checkout/sessions', ms: 400 });
    const answers = await Promise.all([start(app, owner, org), start(app, admin, org, 'VENUE_PRO')]);
    // Paid both, they would be two subscriptions, both billed. The starts take turns: the one that
    // found the other under way is told to try again.
    for (const answer of answers) {
      if (answer.__typename !== 'StartCheckoutPayload') {
        expect(answer).toEqual({
          __typename: 'ConflictError',
          message: 'A Checkout for this organisation is being started right now: try again in a moment',
        });
      }
    }
    const { stripeCustomerId: customer } = await app.services.db.billingCustomer.findUniqueOrThrow({
      where: { organizationId: org },
    });
    const open = [...fake.objects.values()].filter(
      (o) =>
        o.object === 'checkout.session' &&
        o.customer === customer &&
        o.status === 'open' &&
        String((o.metadata as { plan?: string }).plan).startsWith('VENUE_'),
    );
    expect(open).toHaveLength(1);
    expect(answers.map((a) => a.url)).toContain(open[0]!.url);
  });

  it('creates one session when the call times out after Stripe acted and is retried with its key', async () => {
    const other = await createActors(app);
    const org = other.organizationId;
    const token = await accessToken(app, other.owner.userId);
    fake.hangNext({ path: '/v1/checkout/sessions', ms: 2500 });
    const result = await start(app, token, org);
    expect(result.__typename).toBe('StartCheckoutPayload');
    const key = `checkout:${org}:VENUE_GROWTH:1`;
    const sent = posts('/v1/checkout/sessions').filter((r) => r.idempotencyKey === key);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(result.url).toContain([...fake.createdWithKey].find(([, k]) => k === key)![0]);
  });

  it('answers BillingUnavailableError when Stripe does not answer, and a later try goes through', async () => {
    const other = await createActors(app);
    const org = other.organizationId;
    const token = await accessToken(app, other.owner.userId);
    // The first try and the SDK's two retries with the same key all fail.
    for (let i = 0; i < 3; i++) fake.failNext(503, { path: '/v1/checkout/sessions' });
    const away = await start(app, token, org);
    expect(away).toMatchObject({
      __typename: 'BillingUnavailableError',
      message: 'Stripe did not answer, so nothing was bought or changed. Try again in a minute.',
    });
    const tried = posts('/v1/checkout/sessions').filter((r) => r.idempotencyKey?.includes(org));
    expect(tried.map((r) => r.idempotencyKey)).toEqual(Array(3).fill(`checkout:${org}:VENUE_GROWTH:1`));
    expect(fake.objectsCreatedWith(`checkout:${org}:VENUE_GROWTH:1`)).toBe(0);

    const again = await start(app, token, org);
    expect(again.__typename).toBe('StartCheckoutPayload');
    expect(fake.objectsCreatedWith(`checkout:${org}:VENUE_GROWTH:2`)).toBe(1);
  });

  it('refuses STAFF, outsiders and keys, and a free plan', async () => {
    const before = posts('/v1/checkout/sessions').length;
    for (const token of [fx.staff.token, fx.otherOwner.token, fx.keyWrite.secret]) {
      expectForbidden(
        await app.gql(
          START,
          { input: { organizationId: gid(fx.organizationId), plan: 'VENUE_GROWTH' } },
          { token },
        ),
      );
    }
    const free = await start(app, fx.owner.token, fx.organizationId, 'DEVELOPER_FREE');
    expect(free).toMatchObject({ __typename: 'ValidationError', field: 'plan' });
    expect(posts('/v1/checkout/sessions').length).toBe(before);
  });

  it('is refused to STAFF by the domain itself, before Stripe is called', async () => {
    const before = fake.requests.length;
    const access = createAccess(app.services.db, {
      kind: 'user',
      userId: fx.staff.userId,
      isPlatformAdmin: false,
    });
    const deps = {
      db: app.services.db,
      locks: app.services.database.locks,
      stripe: app.services.billing.stripe,
      publicUrl: 'https://app.agnt.test',
      plans: app.services.config.billing.plans,
      meteredPrices: app.services.config.billing.meteredPrices,
      now: app.services.now,
      graceDays: app.services.config.billing.graceDays,
    };
    await expect(
      startCheckout(deps, access, { organizationId: fx.organizationId, plan: 'VENUE_STARTER' }),
    ).rejects.toBeInstanceOf(NotAllowedError);
    expect(fake.requests.length).toBe(before);
  });

  it('answers BillingNotConfiguredError for a plan whose price is not configured', async () => {
    const before = fake.requests.length;
    const access = createAccess(app.services.db, {
      kind: 'user',
      userId: fx.owner.userId,
      isPlatformAdmin: false,
    });
    const deps = {
      db: app.services.db,
      locks: app.services.database.locks,
      stripe: app.services.billing.stripe,
      publicUrl: 'https://app.agnt.test',
      plans: { ...app.services.config.billing.plans, VENUE_STARTER: undefined },
      meteredPrices: app.services.config.billing.meteredPrices,
      now: app.services.now,
      graceDays: app.services.config.billing.graceDays,
    };
    const refused = startCheckout(deps, access, { organizationId: fx.organizationId, plan: 'VENUE_STARTER' });
    await expect(refused).rejects.toBeInstanceOf(BillingNotConfiguredError);
    await expect(refused).rejects.toThrow('The plan VENUE_STARTER has no Stripe price configured');
    expect(fake.requests.length).toBe(before);
  });

  it('answers BillingNotConfiguredError with billing off', async () => {
    const offFx = await createActors(off);
    const result = await start(off, offFx.owner.token, offFx.organizationId);
    expect(result).toMatchObject({
      __typename: 'BillingNotConfiguredError',
      message: 'Billing is not configured on this server',
    });
    const portal = await off.gql<Result, unknown>(
      PORTAL,
      { input: { organizationId: gid(offFx.organizationId) } },
      { token: offFx.owner.token },
    );
    expect(portal.data!.openBillingPortal!.__typename).toBe('BillingNotConfiguredError');
  });
});

describe('openBillingPortal', () => {
  it("gives an owner the portal's URL, each opening a new attempt, and refuses STAFF and keys", async () => {
    const fx = await createActors(app);
    const org = fx.organizationId;
    const portal = (token: string) =>
      app.gql<Result, unknown>(PORTAL, { input: { organizationId: gid(org) } }, { token });
    const open = async (token: string) => (await portal(token)).data!.openBillingPortal!;
    const first = await open(fx.owner.token);
    expect(first.__typename).toBe('OpenBillingPortalPayload');
    expect(first.url).toMatch(/^https:\/\/billing\.stripe\.test\/p\/session\/bps_/);
    await open(fx.admin.token);
    expectForbidden(await portal(fx.staff.token));
    // Not with the organisation's write key either: a key does not open its subscription and cards.
    expectForbidden(await portal(fx.keyWrite.secret));
    const customer = await app.services.db.billingCustomer.findUniqueOrThrow({
      where: { organizationId: org },
    });
    const portals = posts('/v1/billing_portal/sessions').filter((r) => r.idempotencyKey?.includes(org));
    expect(portals.map((r) => r.idempotencyKey)).toEqual([`portal:${org}:1`, `portal:${org}:2`]);
    expect(portals[0]!.params).toMatchObject({ customer: customer.stripeCustomerId });
  });
});

describe('Organization.billing and adjustCredits', () => {
  it('shows the plan, status and period of the subscription a completed checkout brought', async () => {
    const fx = await createActors(app);
    const org = fx.organizationId;
    expect((await start(app, fx.owner.token, org, 'VENUE_PRO')).__typename).toBe('StartCheckoutPayload');
    const { stripeCustomerId } = await app.services.db.billingCustomer.findUniqueOrThrow({
      where: { organizationId: org },
    });
    const periodEnd = Math.floor(Date.now() / 1000) + 30 * 86_400;
    const subscription = fake.createSubscription({
      customer: stripeCustomerId,
      organizationId: org,
      currentPeriodEnd: periodEnd,
      price: PRICES.STRIPE_PRICE_VENUE_PRO,
    });
    const event = fake.event('checkout.session.completed', {
      id: 'cs_test_completed',
      object: 'checkout.session',
      mode: 'subscription',
      customer: stripeCustomerId,
      subscription: subscription.id,
      client_reference_id: org,
      metadata: { organizationId: org, plan: 'VENUE_PRO' },
      status: 'complete',
    });
    expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, event)).status).toBe(200);
    await runDueJobs(app, ['stripe-event']);

    const res = await app.gql<{ organization: { billing: unknown } }, unknown>(
      BILLING,
      { id: gid(org) },
      { token: fx.admin.token },
    );
    expect(res.data!.organization.billing).toEqual({
      plan: 'VENUE_PRO',
      status: 'active',
      currentPeriodEnd: new Date(periodEnd * 1000).toISOString(),
      credits: [],
    });

    // With a plan, another Checkout (a second subscription, both billed) is refused: the plan is
    // changed in the portal.
    const sessions = posts('/v1/checkout/sessions').length;
    const again = await start(app, fx.owner.token, org, 'VENUE_GROWTH');
    expect(again).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringMatching(/billing portal/),
    });
    expect(posts('/v1/checkout/sessions').length).toBe(sessions);
    // A developer plan is another kind of subscription: its Checkout goes ahead.
    expect((await start(app, fx.owner.token, org, 'DEVELOPER_PRO')).__typename).toBe('StartCheckoutPayload');
  });

  it('shows owners and admins their billing and credits, and STAFF null', async () => {
    const fx = await createActors(app);
    const org = fx.organizationId;
    const read = async (token: string) =>
      (
        await app.gql<
          { organization: { billing: { credits: { currency: string; balance: string }[] } | null } },
          unknown
        >(BILLING, { id: gid(org) }, { token })
      ).data!.organization.billing;

    expect(await read(fx.owner.token)).toEqual({
      plan: null,
      status: null,
      currentPeriodEnd: null,
      credits: [],
    });
    expect(await read(fx.staff.token)).toBeNull();

    const adjust = (token: string, amount: number, reason = 'goodwill after an outage') =>
      app.gql<Result, unknown>(
        ADJUST,
        { input: { organizationId: gid(org), amount, currency: 'usd', reason } },
        { token },
      );
    const given = await adjust(fx.platformAdmin.token, 2500);
    expect(given.errors, JSON.stringify(given.body)).toBeUndefined();
    expect(given.data!.adjustCredits).toEqual({
      __typename: 'AdjustCreditsPayload',
      currency: 'USD',
      balance: '2500',
    });
    expect((await adjust(fx.platformAdmin.token, -1000)).data!.adjustCredits).toMatchObject({
      balance: '1500',
    });
    expect((await read(fx.admin.token))?.credits).toEqual([{ currency: 'USD', balance: '1500' }]);

    // Taking back more than it holds changes nothing.
    expect((await adjust(fx.platformAdmin.token, -5000)).data!.adjustCredits!.__typename).toBe(
      'InsufficientFundsError',
    );
    // Only platform admins adjust: the owner of the organisation itself is refused.
    for (const token of [fx.owner.token, fx.staff.token]) expectForbidden(await adjust(token, 1_000_000));
    // Credits in another currency would never be spent (paid calls are priced in USD): refused,
    // and so is a take-back where the organisation holds none, without opening an account.
    const euros = await app.gql<Result, unknown>(
      ADJUST,
      { input: { organizationId: gid(org), amount: 2500, currency: 'EUR', reason: 'goodwill' } },
      { token: fx.platformAdmin.token },
    );
    expect(euros.data!.adjustCredits).toMatchObject({
      __typename: 'ValidationError',
      message: 'Credits are kept in USD, the currency paid calls are priced in',
    });
    const bare = await createActors(app);
    const nothingHeld = await app.gql<Result, unknown>(
      ADJUST,
      { input: { organizationId: gid(bare.organizationId), amount: -100, currency: 'USD', reason: 'oops' } },
      { token: fx.platformAdmin.token },
    );
    expect(nothingHeld.data!.adjustCredits!.__typename).toBe('InsufficientFundsError');
    expect(
      await app.services.db.ledgerAccount.count({
        where: { ownerKind: 'ORGANIZATION', ownerId: bare.organizationId },
      }),
    ).toBe(0);
    expect((await read(fx.owner.token))?.credits).toEqual([{ currency: 'USD', balance: '1500' }]);
  });

  it('makes one adjustment for one clientKey, however often it is sent', async () => {
    const fx = await createActors(app);
    const org = fx.organizationId;
    const adjust = (amount: number, clientKey: string) =>
      app.gql<Result, unknown>(
        ADJUST,
        {
          input: {
            organizationId: gid(org),
            amount,
            currency: 'usd',
            reason: 'refund of a double charge',
            clientKey,
          },
        },
        { token: fx.platformAdmin.token },
      );
    const adjustments = () =>
      app.services.db.ledgerTransfer.count({
        where: { kind: 'CREDITS_ADJUSTMENT', metadata: { path: ['organizationId'], equals: org } },
      });

    // A click sent twice (a retry after a timeout): one adjustment, the same balance both times.
    const [first, again] = await Promise.all([adjust(700, 'refund-4711-a'), adjust(700, 'refund-4711-a')]);
    for (const res of [first, again]) {
      expect(res.data!.adjustCredits, JSON.stringify(res.body)).toEqual({
        __typename: 'AdjustCreditsPayload',
        currency: 'USD',
        balance: '700',
      });
    }
    expect(await adjustments()).toBe(1);

    // The same key for another amount is refused and changes nothing.
    const other = await adjust(900, 'refund-4711-a');
    expect(other.data!.adjustCredits).toMatchObject({ __typename: 'ConflictError' });
    expect(other.data!.adjustCredits!.message).toMatch(/already used/);
    // Another key is another adjustment.
    expect((await adjust(900, 'refund-4711-b')).data!.adjustCredits).toMatchObject({ balance: '1600' });
    // A key too short to tell requests apart is refused before anything moves.
    expect((await adjust(100, 'short')).data!.adjustCredits).toMatchObject({
      __typename: 'ValidationError',
      field: 'clientKey',
    });
    expect(await adjustments()).toBe(2);
  });
});
