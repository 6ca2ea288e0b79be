/**
 * Metered usage end to end on real PostgreSQL and the loopback Stripe: usage is recorded once per
 * key however many recorders race; a confirmed A2A booking, LLM tokens and conversations beyond
 * the venue plan's allowance become usage once each; `report-usage` sends each event to Stripe
 * Billing Meters once, in batches, with the event's id as identifier and `meter-event:{id}` as
 * idempotency key; a replay of the job reports nothing twice, and a meter call that timed out and
 * was retried made one meter event. Organisations without a Stripe customer wait.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transitionBooking } from '../../src/domain/bookings/bookings.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { recordUsage, usageInMonth } from '../../src/domain/usage/events.ts';
import { reportUsage, requestUsageReport } from '../../src/domain/usage/report.ts';
import { createBooking } from '../factories/bookings.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { type FakeStripe, startFakeStripe, stripeEnv, TEST_PRICES } from '../fakes/stripe.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { guest, person, unique } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const PRICES = TEST_PRICES;

let fake: FakeStripe;
let app: TestApp;

beforeAll(async () => {
  fake = await startFakeStripe();
  app = await startTestApp({
    env: stripeEnv(fake, {
      USAGE_REPORT_BATCH_SIZE: '2',
      USAGE_CONVERSATIONS_VENUE_STARTER: '2',
      STRIPE_METER_LLM_TOKENS: 'tokens_test',
    }),
  });
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
});

const db = () => app.services.db;

/** An organisation; with `customer`, a Stripe customer as its first checkout leaves it. */
async function organization(options: { customer?: boolean; plan?: 'VENUE_STARTER' | 'DEVELOPER_PRO' } = {}) {
  const org = await db().organization.create({ data: { name: unique('Usage Org') } });
  let customerId: string | undefined;
  if (options.customer || options.plan) {
    customerId = `cus_${randomUUID().replaceAll('-', '').slice(0, 14)}`;
    await db().billingCustomer.create({ data: { organizationId: org.id, stripeCustomerId: customerId } });
  }
  if (options.plan) {
    await db().billingSubscription.create({
      data: {
        organizationId: org.id,
        stripeCustomerId: customerId!,
        stripeSubscriptionId: `sub_${randomUUID()}`,
        status: 'active',
        priceId: PRICES[`STRIPE_PRICE_${options.plan}`],
        stateAt: new Date(),
        source: 'test',
      },
    });
  }
  return { id: org.id, customerId };
}

const events = (organizationId: string) =>
  db().usageEvent.findMany({ where: { organizationId }, orderBy: { occurredAt: 'asc' } });
const meterPosts = () =>
  fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/billing/meter_events');

async function report() {
  await requestUsageReport(db());
  await runDueJobs(app, ['report-usage']);
}

describe('recordUsage', () => {
  it('records a key once when 20 recorders race for it', async () => {
    const org = await organization();
    const key = `api-call:${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        recordUsage(db(), {
          organizationId: org.id,
          meter: 'API_CALL',
          quantity: 1,
          occurredAt: app.clock.now(),
          key,
        }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await db().usageEvent.count({ where: { usageKey: key } })).toBe(1);
  });

  it('refuses a quantity of zero', async () => {
    const org = await organization();
    await expect(
      recordUsage(db(), {
        organizationId: org.id,
        meter: 'LLM_TOKENS',
        quantity: 0,
        occurredAt: app.clock.now(),
        key: `llm:${randomUUID()}`,
      }),
    ).rejects.toThrow('A quantity is more than zero');
  });
});

describe('recorders', () => {
  it('records a confirmed A2A booking once, against the venue, and nothing for other bookings', async () => {
    const org = await organization();
    const owner = await person(app, org.id, 'OWNER');
    const venue = await createBookableVenue(db(), { organizationId: org.id });
    const someone = await guest(app);
    const startsAt = new Date(app.clock.now().getTime() + 3 * 86_400_000);
    const a2a = await createBooking(db(), {
      venueId: venue.id,
      guestId: someone.userId,
      startsAt,
      source: 'A2A',
    });
    const dashboard = await createBooking(db(), {
      venueId: venue.id,
      guestId: someone.userId,
      startsAt: new Date(startsAt.getTime() + 86_400_000),
    });
    const access = createAccess(db(), { kind: 'user', userId: owner.userId, isPlatformAdmin: false });
    for (const booking of [a2a, dashboard]) {
      await transitionBooking(app.services.bookings, access, { bookingId: booking.id, to: 'CONFIRMED' });
    }
    const recorded = await events(org.id);
    expect(recorded.map((e) => [e.meter, e.usageKey, e.quantity])).toEqual([
      ['A2A_BOOKING', `a2a-booking:${a2a.id}`, 1n],
    ]);
  });

  it('records each llm_usage row of an organisation once, however often the job runs', async () => {
    const org = await organization();
    const rows = [];
    for (const [input, output] of [
      [1200, 300],
      [40, 10],
    ] as const) {
      rows.push(
        await db().llmUsage.create({
          data: {
            organizationId: org.id,
            purpose: 'test',
            provider: 'anthropic',
            model: 'claude-test',
            inputTokens: input,
            outputTokens: output,
            costMicros: 10n,
          },
        }),
      );
    }
    await report();
    await report();
    const recorded = await events(org.id);
    expect(recorded.map((e) => [e.usageKey, e.quantity]).sort()).toEqual(
      [
        [`llm:${rows[0]!.id}`, 1500n],
        [`llm:${rows[1]!.id}`, 50n],
      ].sort(),
    );
  });

  it("records only the conversations beyond the venue plan's allowance, once each", async () => {
    const org = await organization({ plan: 'VENUE_STARTER' });
    const venue = await createBookableVenue(db(), { organizationId: org.id });
    const base = app.clock.now().getTime();
    // Four guests' agents talk to the venue's agent; the first one twice the same day (one conversation).
    const agents = ['a', 'b', 'c', 'd'].map((n) => `consumer-${n}-${randomUUID()}`);
    const talk = (fromAgent: string, minutesAgo: number) =>
      db().a2aEnvelope.create({
        data: {
          envelopeId: randomUUID(),
          direction: 'INBOUND',
          fromAgent,
          toAgent: `venue-${venue.id}`,
          intent: 'venue.question',
          state: 'ANSWERED',
          createdAt: new Date(base - minutesAgo * 60_000),
        },
      });
    await talk(agents[0]!, 50);
    await talk(agents[0]!, 45);
    await talk(agents[1]!, 40);
    await talk(agents[2]!, 30);
    await talk(agents[3]!, 20);
    await report();
    await report();
    const recorded = (await events(org.id)).filter((e) => e.meter === 'CONVERSATION');
    // Starter includes two here (USAGE_CONVERSATIONS_VENUE_STARTER=2): the third and fourth are metered.
    expect(recorded.map((e) => e.usageKey.split(':')[2])).toEqual([agents[2], agents[3]]);
  });

  it('meters no conversations of an organisation without a venue plan', async () => {
    const org = await organization({ customer: true });
    const venue = await createBookableVenue(db(), { organizationId: org.id });
    for (let i = 0; i < 4; i += 1) {
      await db().a2aEnvelope.create({
        data: {
          envelopeId: randomUUID(),
          direction: 'INBOUND',
          fromAgent: `consumer-${randomUUID()}`,
          toAgent: `venue-${venue.id}`,
          intent: 'venue.question',
        },
      });
    }
    await report();
    expect(await events(org.id)).toEqual([]);
  });
});

describe('report-usage', () => {
  it('reports every event once in batches, and a replay of the job sends nothing again', async () => {
    const org = await organization({ customer: true });
    const keys = Array.from({ length: 5 }, () => `api-call:${randomUUID()}`);
    for (const [i, key] of keys.entries()) {
      await recordUsage(db(), {
        organizationId: org.id,
        meter: i === 0 ? 'LLM_TOKENS' : 'API_CALL',
        quantity: i === 0 ? 1234 : 1,
        occurredAt: new Date(app.clock.now().getTime() - 60_000),
        key,
      });
    }
    await report();
    const recorded = await events(org.id);
    expect(recorded.every((e) => e.reportedAt !== null && e.stripeIdentifier === e.id)).toBe(true);
    const ids = recorded.map((e) => e.id);
    const sent = meterPosts().filter((r) => ids.includes(r.params.identifier as string));
    expect(sent.map((r) => r.idempotencyKey).sort()).toEqual(ids.map((id) => `meter-event:${id}`).sort());
    const tokens = sent.find(
      (r) => r.params.identifier === recorded.find((e) => e.meter === 'LLM_TOKENS')!.id,
    );
    expect(tokens!.params).toMatchObject({
      event_name: 'tokens_test',
      payload: { stripe_customer_id: org.customerId, value: '1234' },
    });
    expect(sent.find((r) => r.params.event_name === 'agnt_api_call')).toBeDefined();
    expect(fake.meterEvents().filter((e) => ids.includes(e.identifier as string))).toHaveLength(5);

    // The job again (cron and on demand both): nothing is sent.
    const before = meterPosts().length;
    await report();
    expect(meterPosts().length).toBe(before);

    // A worker that died between Stripe's answer and the mark: the event is sent again, with the
    // same identifier and key, and Stripe still holds one meter event for it.
    await db().usageEvent.update({ where: { id: ids[1]! }, data: { reportedAt: null } });
    await report();
    const again = meterPosts().filter((r) => r.params.identifier === ids[1]);
    expect(again).toHaveLength(2);
    expect(again[1]!.replayed).toBe(true);
    expect(fake.meterEvents().filter((e) => e.identifier === ids[1])).toHaveLength(1);
    expect((await db().usageEvent.findUniqueOrThrow({ where: { id: ids[1]! } })).reportedAt).not.toBeNull();

    const usage = await usageInMonth(db(), org.id, app.clock.now());
    expect(usage.find((u) => u.meter === 'API_CALL')).toMatchObject({
      quantity: 4n,
      reported: 4n,
      pending: 0n,
    });
  });

  it('makes one meter event when the call times out after Stripe acted and is retried', async () => {
    const org = await organization({ customer: true });
    await recordUsage(db(), {
      organizationId: org.id,
      meter: 'API_CALL',
      quantity: 1,
      occurredAt: app.clock.now(),
      key: `api-call:${randomUUID()}`,
    });
    const [event] = await events(org.id);
    fake.hangNext({ path: '/v1/billing/meter_events', ms: 1500 });
    await report();
    const key = `meter-event:${event!.id}`;
    expect(meterPosts().filter((r) => r.idempotencyKey === key).length).toBeGreaterThanOrEqual(2);
    expect(fake.objectsCreatedWith(key)).toBe(1);
    expect(fake.meterEvents().filter((e) => e.identifier === event!.id)).toHaveLength(1);
    expect((await db().usageEvent.findUniqueOrThrow({ where: { id: event!.id } })).reportedAt).not.toBeNull();
  });

  it('leaves usage waiting while Stripe fails, and reports it on the next run', async () => {
    const org = await organization({ customer: true });
    await recordUsage(db(), {
      organizationId: org.id,
      meter: 'API_CALL',
      quantity: 1,
      occurredAt: app.clock.now(),
      key: `api-call:${randomUUID()}`,
    });
    const [event] = await events(org.id);
    // Every attempt of the SDK (the first and its two retries) answered 500.
    for (let i = 0; i < 3; i += 1) fake.failNext(500, { path: '/v1/billing/meter_events' });
    await report();
    const failed = await db().usageEvent.findUniqueOrThrow({ where: { id: event!.id } });
    expect(failed.reportedAt).toBeNull();
    expect(failed.lastError).toMatch(/Stripe billing.meterEvents.create/);
    await db().$executeRaw`UPDATE graphile_worker._private_jobs SET run_at = now() WHERE task_id IN
      (SELECT id FROM graphile_worker._private_tasks WHERE identifier = 'report-usage')`;
    await report();
    expect((await db().usageEvent.findUniqueOrThrow({ where: { id: event!.id } })).reportedAt).not.toBeNull();
    expect(fake.meterEvents().filter((e) => e.identifier === event!.id)).toHaveLength(1);
  });

  it('keeps the usage of an organisation without a Stripe customer waiting, and abandons it after 35 days', async () => {
    const org = await organization();
    await recordUsage(db(), {
      organizationId: org.id,
      meter: 'API_CALL',
      quantity: 1,
      occurredAt: app.clock.now(),
      key: `api-call:${randomUUID()}`,
    });
    const [event] = await events(org.id);
    await report();
    expect(await db().usageEvent.findUniqueOrThrow({ where: { id: event!.id } })).toMatchObject({
      reportedAt: null,
      abandonedAt: null,
    });
    expect(meterPosts().filter((r) => r.params.identifier === event!.id)).toHaveLength(0);

    await db().usageEvent.update({
      where: { id: event!.id },
      data: { occurredAt: new Date(app.clock.now().getTime() - 36 * 86_400_000) },
    });
    await report();
    const abandoned = await db().usageEvent.findUniqueOrThrow({ where: { id: event!.id } });
    expect(abandoned.reportedAt).toBeNull();
    expect(abandoned.abandonedAt).not.toBeNull();
    expect(abandoned.lastError).toMatch(/35 days/);
  });
});

describe('two reporters at once', () => {
  it('send each event once between them', async () => {
    const org = await organization({ customer: true });
    for (let i = 0; i < 7; i += 1) {
      await recordUsage(db(), {
        organizationId: org.id,
        meter: 'API_CALL',
        quantity: 1,
        occurredAt: app.clock.now(),
        key: `api-call:${randomUUID()}`,
      });
    }
    const deps = {
      db: db(),
      stripe: app.services.billing.stripe!,
      meters: app.services.config.usage.meters,
      batchSize: 2,
      now: app.clock.now,
    };
    const outcomes = await Promise.all([reportUsage(deps), reportUsage(deps)]);
    expect(outcomes.reduce((sum, o) => sum + o.reported, 0)).toBeGreaterThanOrEqual(7);
    const ids = (await events(org.id)).map((e) => e.id);
    for (const id of ids) {
      expect(meterPosts().filter((r) => r.params.identifier === id)).toHaveLength(1);
    }
    expect((await events(org.id)).every((e) => e.reportedAt !== null && e.reportAttempts === 1)).toBe(true);
  });
});

// Last in this file: it moves the clock to the next month.
describe("a month's last conversations", () => {
  it('are metered in that month by a run on the next month’s first day, not only in its first hour', async () => {
    const org = await organization({ plan: 'VENUE_STARTER' });
    const venue = await createBookableVenue(db(), { organizationId: org.id });
    const now = app.clock.now();
    const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    // Three guests' agents talk to the venue's agent in the month's last ten minutes.
    const agents = ['a', 'b', 'c'].map((n) => `consumer-${n}-${randomUUID()}`);
    for (const [i, fromAgent] of agents.entries()) {
      await db().a2aEnvelope.create({
        data: {
          envelopeId: randomUUID(),
          direction: 'INBOUND',
          fromAgent,
          toAgent: `venue-${venue.id}`,
          intent: 'venue.question',
          state: 'ANSWERED',
          createdAt: new Date(nextMonth - (10 - i) * 60_000),
        },
      });
    }
    // The runs of the next month's first hours were missed (the worker down): one at 05:00.
    app.clock.advance(nextMonth + 5 * 3_600_000 - now.getTime());
    await report();
    const recorded = (await events(org.id)).filter((e) => e.meter === 'CONVERSATION');
    // Starter includes two here: the third is metered, in the month it happened.
    expect(recorded.map((e) => e.usageKey.split(':')[2])).toEqual([agents[2]]);
    expect(recorded[0]!.occurredAt.getTime()).toBeLessThan(nextMonth);
  });
});
