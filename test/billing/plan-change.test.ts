/**
 * changePlan through GraphQL, against the loopback Stripe: an owner's venue plan moves to another
 * with the meters it bills (a meter both plans bill keeps its item, one only the old plan bills is
 * removed, one only the new bills added, an item no plan of ours bills is left), in one update
 * under a key derived from the subscription and numbered per change, and the dashboard shows the
 * new plan in the answer. Asking for the plan it is on sends nothing; a timeout the SDK retried
 * changes it once; Stripe away changes nothing; two at once take turns; no plan of the kind, an
 * unpaid one, a free plan and STAFF are refused with nothing sent. A subscription Stripe reports
 * with meters other than its plan's (a plan changed in the portal) is told of.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStripeEvent } from '../../src/domain/billing/stripe-events.ts';
import { stripeDepsOf } from '../../src/worker/billing.ts';
import { type FakeStripe, startFakeStripe, stripeEnv, TEST_PRICES } from '../fakes/stripe.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const GROWTH = TEST_PRICES.STRIPE_PRICE_VENUE_GROWTH;
const PRO = TEST_PRICES.STRIPE_PRICE_VENUE_PRO;
const CONVERSATIONS = 'price_conversations_test';
const A2A_BOOKINGS = 'price_a2a_bookings_test';
// The pro plan bills conversations at its own rate, and A2A bookings as growth does.
const PRO_CONVERSATIONS = 'price_conversations_pro_test';
// An item added in the Stripe Dashboard, of a price none of our plans bills.
const ADD_ON = 'price_onboarding_support_test';

let fake: FakeStripe;
let app: TestApp;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: stripeEnv(fake, { STRIPE_METERED_PRICES_VENUE_PRO: `${PRO_CONVERSATIONS},${A2A_BOOKINGS}` }),
  });
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
});

const CHANGE = /* GraphQL */ `
  mutation ($input: ChangePlanInput!) {
    changePlan(input: $input) {
      __typename
      ... on ChangePlanPayload { billing { plan standing status } }
      ... on Error { message }
      ... on ValidationError { field }
    }
  }
`;

interface Answer {
  __typename: string;
  billing?: { plan: string | null; standing: string; status: string | null };
  message?: string;
  field?: string;
}

async function changePlan(token: string, organizationId: string, plan: string): Promise<Answer> {
  const res = await app.gql<{ changePlan: Answer }, unknown>(
    CHANGE,
    { input: { organizationId: encodeGlobalID('Organization', organizationId), plan } },
    { token },
  );
  expect(res.errors, JSON.stringify(res.body)).toBeUndefined();
  return res.data!.changePlan;
}

interface Subscribed {
  fx: Actors;
  subscriptionId: string;
}

/** An organisation subscribed, as its Checkout and Stripe's event would leave it. */
async function subscribed(
  options: { status?: string; extra?: string[]; billingMode?: 'classic' | 'flexible' } = {},
): Promise<Subscribed> {
  const fx = await createActors(app);
  const stripe = app.services.billing.stripe!;
  const customer = await stripe.customers.create(
    { metadata: { organizationId: fx.organizationId } },
    { idempotencyKey: `customer:${fx.organizationId}:v2` },
  );
  const subscription = fake.createSubscription({
    customer: customer.id,
    organizationId: fx.organizationId,
    price: GROWTH,
    meteredPrices: [CONVERSATIONS, A2A_BOOKINGS, ...(options.extra ?? [])],
    ...(options.status ? { status: options.status } : {}),
    ...(options.billingMode ? { billingMode: options.billingMode } : {}),
  });
  const event = fake.event('customer.subscription.created', subscription);
  expect((await fake.sendEvent(`${app.url}/webhooks/stripe`, event)).status).toBe(200);
  await runDueJobs(app, ['stripe-event']);
  return { fx, subscriptionId: subscription.id };
}

const updates = (subscriptionId: string) =>
  fake.requests.filter((r) => r.method === 'POST' && r.path === `/v1/subscriptions/${subscriptionId}`);

/** The subscription's items in Stripe: id and price. */
function itemsOf(subscriptionId: string): { id: string; price: string }[] {
  const subscription = fake.objects.get(subscriptionId) as unknown as {
    items: { data: { id: string; price: { id: string } }[] };
  };
  return subscription.items.data.map((item) => ({ id: item.id, price: item.price.id }));
}

const prices = (subscriptionId: string) =>
  itemsOf(subscriptionId)
    .map((item) => item.price)
    .sort();
const stored = (subscriptionId: string) =>
  app.services.db.billingSubscription.findUniqueOrThrow({ where: { stripeSubscriptionId: subscriptionId } });

describe('changePlan', () => {
  it('moves the plan with its meters in one update, and the answer shows the new plan', async () => {
    const { fx, subscriptionId } = await subscribed({ extra: [ADD_ON] });
    const before = itemsOf(subscriptionId);
    const itemOf = (price: string) => before.find((item) => item.price === price)!.id;

    expect(await changePlan(fx.admin.token, fx.organizationId, 'VENUE_PRO')).toEqual({
      __typename: 'ChangePlanPayload',
      billing: { plan: 'VENUE_PRO', standing: 'ACTIVE', status: 'active' },
    });
    const [update, ...more] = updates(subscriptionId);
    expect(more).toEqual([]);
    expect(update!.idempotencyKey).toBe(`plan-change:${subscriptionId}:VENUE_PRO:1`);
    expect(update!.params).toEqual({
      items: [
        { id: itemOf(GROWTH), price: PRO, quantity: '1' },
        { id: itemOf(CONVERSATIONS), deleted: 'true' },
        { price: PRO_CONVERSATIONS },
      ],
      proration_behavior: 'create_prorations',
      metadata: { plan: 'VENUE_PRO' },
    });
    // The meter both plans bill kept its item (and its usage); the Dashboard's add-on is untouched.
    expect(prices(subscriptionId)).toEqual([A2A_BOOKINGS, ADD_ON, PRO_CONVERSATIONS, PRO].sort());
    expect(itemsOf(subscriptionId)).toEqual(
      expect.arrayContaining([
        { id: itemOf(A2A_BOOKINGS), price: A2A_BOOKINGS },
        { id: itemOf(ADD_ON), price: ADD_ON },
        { id: itemOf(GROWTH), price: PRO },
      ]),
    );
    expect(await stored(subscriptionId)).toMatchObject({ priceId: PRO, source: 'plan-change' });

    // Asked again (a second click): it is on the plan, nothing is sent.
    expect(await changePlan(fx.owner.token, fx.organizationId, 'VENUE_PRO')).toMatchObject({
      billing: { plan: 'VENUE_PRO' },
    });
    expect(updates(subscriptionId)).toHaveLength(1);

    // And back: a new change under the next key, the growth plan's meters restored.
    expect(await changePlan(fx.owner.token, fx.organizationId, 'VENUE_GROWTH')).toMatchObject({
      billing: { plan: 'VENUE_GROWTH', standing: 'ACTIVE' },
    });
    expect(updates(subscriptionId).map((r) => r.idempotencyKey)).toEqual([
      `plan-change:${subscriptionId}:VENUE_PRO:1`,
      `plan-change:${subscriptionId}:VENUE_GROWTH:2`,
    ]);
    expect(prices(subscriptionId)).toEqual([A2A_BOOKINGS, ADD_ON, CONVERSATIONS, GROWTH].sort());
    expect(await stored(subscriptionId)).toMatchObject({ priceId: GROWTH });
  });

  it('moves a subscription made before flexible billing to it first, so a removed meter is billed', async () => {
    const { fx, subscriptionId } = await subscribed({ billingMode: 'classic' });
    expect(await changePlan(fx.owner.token, fx.organizationId, 'VENUE_PRO')).toMatchObject({
      billing: { plan: 'VENUE_PRO' },
    });
    const writes = fake.requests.filter(
      (r) => r.method === 'POST' && r.path.startsWith(`/v1/subscriptions/${subscriptionId}`),
    );
    expect(writes.map((r) => [r.path, r.idempotencyKey])).toEqual([
      [`/v1/subscriptions/${subscriptionId}/migrate`, `billing-mode:${subscriptionId}:flexible`],
      [`/v1/subscriptions/${subscriptionId}`, `plan-change:${subscriptionId}:VENUE_PRO:1`],
    ]);
    expect(writes[0]!.params).toEqual({ billing_mode: { type: 'flexible' } });
    expect(fake.objects.get(subscriptionId)!.billing_mode).toMatchObject({ type: 'flexible' });
    // Flexible now: the next change is the update alone.
    await changePlan(fx.owner.token, fx.organizationId, 'VENUE_GROWTH');
    expect(
      fake.requests.filter(
        (r) => r.method === 'POST' && r.path === `/v1/subscriptions/${subscriptionId}/migrate`,
      ),
    ).toHaveLength(1);
  });

  it('changes the plan once when the SDK retried a call that timed out after Stripe acted', async () => {
    const { fx, subscriptionId } = await subscribed();
    fake.hangNext({ path: `/v1/subscriptions/${subscriptionId}`, ms: 1_500 });

    expect(await changePlan(fx.owner.token, fx.organizationId, 'VENUE_PRO')).toMatchObject({
      billing: { plan: 'VENUE_PRO' },
    });
    const sent = updates(subscriptionId);
    expect(sent.length).toBeGreaterThan(1);
    expect(new Set(sent.map((r) => r.idempotencyKey))).toEqual(
      new Set([`plan-change:${subscriptionId}:VENUE_PRO:1`]),
    );
    expect(sent.slice(1).every((r) => r.replayed)).toBe(true);
    expect(prices(subscriptionId)).toEqual([A2A_BOOKINGS, PRO_CONVERSATIONS, PRO].sort());
  });

  it('takes changes of one organisation in turn: one made while another is under way is refused', async () => {
    const { fx, subscriptionId } = await subscribed();
    // The first change's read of the subscription answers late, with the lock held.
    fake.hangNext({ path: `/v1/subscriptions/${subscriptionId}`, method: 'GET', ms: 600 });
    const first = changePlan(fx.owner.token, fx.organizationId, 'VENUE_PRO');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await changePlan(fx.admin.token, fx.organizationId, 'VENUE_STARTER');

    expect(second).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringMatching(/right now/),
    });
    expect(await first).toMatchObject({ billing: { plan: 'VENUE_PRO' } });
    expect(updates(subscriptionId).map((r) => r.idempotencyKey)).toEqual([
      `plan-change:${subscriptionId}:VENUE_PRO:1`,
    ]);
  });

  it('changes nothing when Stripe does not answer, and says asking again is safe', async () => {
    const { fx, subscriptionId } = await subscribed();
    const before = itemsOf(subscriptionId);
    for (let i = 0; i < 3; i++) fake.failNext(500, { path: `/v1/subscriptions/${subscriptionId}` });

    expect(await changePlan(fx.owner.token, fx.organizationId, 'VENUE_PRO')).toMatchObject({
      __typename: 'BillingUnavailableError',
    });
    expect(itemsOf(subscriptionId)).toEqual(before);
    expect(await stored(subscriptionId)).toMatchObject({ priceId: GROWTH });
    const billing = await app.services.db.billingSubscription.findMany({
      where: { organizationId: fx.organizationId },
    });
    expect(billing.map((row) => row.priceId)).toEqual([GROWTH]);
  });

  it("tells when Stripe says a subscription's meters are not its plan's (a plan changed in the portal)", async () => {
    const { subscriptionId } = await subscribed({ extra: [ADD_ON] });
    const deps = stripeDepsOf(app.services)!;
    const apply = (subscription: unknown) =>
      applyStripeEvent(app.services.db, fake.event('customer.subscription.updated', subscription), deps);

    // As the portal leaves it: the plan's price swapped, the growth plan's meters kept.
    const subscription = fake.objects.get(subscriptionId)!;
    const items = (subscription.items as { data: { price: { id: string } }[] }).data;
    items.find((item) => item.price.id === GROWTH)!.price = { id: PRO };
    expect(await apply(subscription)).toMatchObject({
      outcome: 'applied',
      meters: { plan: 'VENUE_PRO', missing: [PRO_CONVERSATIONS], extra: [CONVERSATIONS] },
    });
    expect(await stored(subscriptionId)).toMatchObject({ priceId: PRO });

    // Its items put right (the add-on, no plan's meter, is no mismatch): nothing to tell.
    items.find((item) => item.price.id === CONVERSATIONS)!.price = { id: PRO_CONVERSATIONS };
    const applied = await apply(subscription);
    expect(applied).toMatchObject({ outcome: 'applied' });
    expect(applied).not.toHaveProperty('meters');
  });

  it('refuses, sending nothing to Stripe: no plan of the kind, an unpaid one, a free plan, STAFF', async () => {
    const venue = await subscribed();
    const unpaid = await subscribed({ status: 'unpaid' });
    const bare = await createActors(app);
    const posts = () => fake.requests.filter((r) => r.method === 'POST').length;
    const sent = posts();

    expect(await changePlan(bare.owner.token, bare.organizationId, 'VENUE_PRO')).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringMatching(/startCheckout/),
    });
    // A venue plan is not turned into a developer one: that is a Checkout of its own.
    expect(await changePlan(venue.fx.owner.token, venue.fx.organizationId, 'DEVELOPER_PRO')).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringMatching(/startCheckout/),
    });
    expect(await changePlan(unpaid.fx.owner.token, unpaid.fx.organizationId, 'VENUE_PRO')).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringMatching(/billing portal/),
    });
    expect(await changePlan(venue.fx.owner.token, venue.fx.organizationId, 'DEVELOPER_FREE')).toMatchObject({
      __typename: 'ValidationError',
      field: 'plan',
    });
    const staff = await app.gql(
      CHANGE,
      {
        input: { organizationId: encodeGlobalID('Organization', venue.fx.organizationId), plan: 'VENUE_PRO' },
      },
      { token: venue.fx.staff.token },
    );
    expect(staff.data).toBeNull();
    expect(staff.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);

    expect(posts()).toBe(sent);
    expect(await stored(venue.subscriptionId)).toMatchObject({ priceId: GROWTH });
    expect(await stored(unpaid.subscriptionId)).toMatchObject({ priceId: GROWTH });
  });
});
