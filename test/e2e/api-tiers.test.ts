/**
 * API key tiers as a developer meets them, on the real server, Redis and PostgreSQL: a key makes
 * its tier's requests in a UTC day, the next one is a 429 whose `Retry-After` is the time to
 * midnight UTC, and the next day it works again; MCP tool calls count against the same day and
 * past it come back as error results that say when the quota resets; a pro organisation (billing
 * on: a DEVELOPER_PRO plan in good standing; billing off: set by a platform admin) gets the
 * higher limit and loses it when its plan is restricted; owners see each key's requests per day,
 * STAFF do not; each key's finished day is one usage event, however often the flush runs.
 *
 * Small limits keep it quick: 3 requests a day on free, 6 on pro.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { apiUsageFlushTask, flushApiUsage } from '../../src/domain/developer/usage.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createBookableVenue } from '../factories/venues.ts';
import {
  type FakeStripe,
  STRIPE_SECRET_KEY,
  STRIPE_WEBHOOK_SECRET,
  startFakeStripe,
} from '../fakes/stripe.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { accessToken, apiKey, person, unique } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const LIMITS = { API_KEY_DAILY_FREE: '3', API_KEY_DAILY_PRO: '6' };
const DEVELOPER_PRO = 'price_developer_pro_test';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let off: TestApp;
let on: TestApp;
let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
  off = await startTestApp({ env: LIMITS });
  on = await startTestApp({
    env: {
      ...LIMITS,
      STRIPE_SECRET_KEY,
      STRIPE_WEBHOOK_SECRETS: STRIPE_WEBHOOK_SECRET,
      STRIPE_API_BASE: fake.url,
      STRIPE_PRICE_DEVELOPER_PRO: DEVELOPER_PRO,
    },
  });
});

afterAll(async () => {
  await off?.close();
  await on?.close();
  await fake?.close();
});

/** An organisation with an owner and a key of its own. */
async function developer(app: TestApp, scopes = ['read']) {
  const organization = await app.services.db.organization.create({ data: { name: unique('Developers') } });
  const owner = await person(app, organization.id, 'OWNER');
  const key = await apiKey(app, organization.id, owner.userId, scopes);
  return { organizationId: organization.id, owner, key };
}

/** One request of the key: the smallest query there is. */
const ping = (app: TestApp, secret: string) => app.gql('{ __typename }', {}, { token: secret });

/** Moves the app's clock to `hours` after the last midnight UTC before now (forward only). */
function moveToTimeOfDay(app: TestApp, hours: number) {
  const now = app.clock.now();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  let target = midnight + hours * HOUR;
  if (target <= now.getTime()) target += DAY;
  app.clock.advance(target - now.getTime());
}

const nextMidnight = (at: Date) =>
  new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()) + DAY);

describe('a free key', () => {
  it('makes 3 requests a day; the 4th is a 429 with Retry-After to midnight UTC; the next day it works again', async () => {
    const { key } = await developer(off);
    moveToTimeOfDay(off, 23);
    const resetsAt = nextMidnight(off.clock.now());

    for (let i = 1; i <= 3; i += 1) {
      const answer = await ping(off, key.secret);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.headers.get('x-ratelimit-limit')).toBe('3');
      expect(answer.headers.get('x-ratelimit-remaining')).toBe(String(3 - i));
      expect(answer.headers.get('x-ratelimit-reset')).toBe(String(resetsAt.getTime() / 1000));
    }

    const refused = await ping(off, key.secret);
    expect(refused.status, JSON.stringify(refused.body)).toBe(429);
    // At 23:00 UTC midnight is an hour away (less the moments this test took).
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(retryAfter).toBeGreaterThan(3590);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.errors?.[0]?.extensions).toEqual({
      code: 'RATE_LIMITED',
      reason: 'DAILY_QUOTA_EXCEEDED',
      retryAfterSeconds: retryAfter,
      resetsAt: resetsAt.toISOString(),
      limit: 3,
      tier: 'FREE',
    });
    expect(refused.errors?.[0]?.message).toContain(resetsAt.toISOString());

    // Still refused a second before midnight; a new day from midnight on.
    off.clock.advance(resetsAt.getTime() - off.clock.now().getTime() - 1000);
    expect((await ping(off, key.secret)).status).toBe(429);
    off.clock.advance(1000);
    const again = await ping(off, key.secret);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.headers.get('x-ratelimit-remaining')).toBe('2');
  });

  it('keeps each key to its own day: another key of the organisation is not refused', async () => {
    const { key, organizationId, owner } = await developer(off);
    const other = await apiKey(off, organizationId, owner.userId, ['read']);
    for (let i = 0; i < 3; i += 1) expect((await ping(off, key.secret)).status).toBe(200);
    expect((await ping(off, key.secret)).status).toBe(429);
    expect((await ping(off, other.secret)).status).toBe(200);
    // People signed in are not counted.
    const token = await accessToken(off, owner.userId);
    for (let i = 0; i < 5; i += 1) expect((await off.gql('{ __typename }', {}, { token })).status).toBe(200);
  });
});

describe('GraphQL over a WebSocket', () => {
  it('counts each operation, not the connection; past the quota an operation is refused and the socket stays open', async () => {
    const { key } = await developer(off);
    const client = createClient({
      url: `${off.url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${key.secret}` },
      retryAttempts: 0,
      lazy: false,
    });
    const run = () =>
      new Promise<{ data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] }>(
        (resolve) => {
          let last: unknown;
          client.subscribe(
            { query: '{ __typename }' },
            {
              next: (value) => {
                last = value;
              },
              error: (errors) => resolve({ errors: errors as never }),
              complete: () => resolve(last as never),
            },
          );
        },
      );
    try {
      for (let i = 0; i < 3; i += 1) expect(await run()).toEqual({ data: { __typename: 'Query' } });
      const refused = await run();
      expect(refused.errors?.[0]?.extensions).toMatchObject({
        code: 'RATE_LIMITED',
        reason: 'DAILY_QUOTA_EXCEEDED',
        limit: 3,
        tier: 'FREE',
        resetsAt: nextMidnight(off.clock.now()).toISOString(),
      });
      // The same day over HTTP.
      expect((await ping(off, key.secret)).status).toBe(429);
    } finally {
      await client.dispose();
    }
  });
});

describe('MCP tool calls', () => {
  it('count against the same day; past it a call is an error result saying when the quota resets', async () => {
    const { key } = await developer(off);
    const client = new Client({ name: 'agnt-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/mcp', off.url), {
        requestInit: { headers: { authorization: `Bearer ${key.secret}` } },
      }),
    );
    try {
      // Starting the session and listing tools are not requests against the day.
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      expect((await ping(off, key.secret)).status).toBe(200);
      for (let i = 0; i < 2; i += 1) {
        const answer = (await client.callTool({ name: 'agnt.ping', arguments: {} })) as CallToolResult;
        expect(answer.isError, JSON.stringify(answer)).toBeFalsy();
      }
      const refused = (await client.callTool({ name: 'agnt.ping', arguments: {} })) as CallToolResult;
      expect(refused.isError).toBe(true);
      const text = refused.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      expect(text).toContain('DAILY_QUOTA_EXCEEDED');
      expect(text).toContain(`resets at midnight UTC (${nextMidnight(off.clock.now()).toISOString()})`);
      // The same day over GraphQL.
      expect((await ping(off, key.secret)).status).toBe(429);
      // The session itself still answers: only work is counted.
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      const audit = await off.services.db.toolCall.findFirst({
        where: { apiKeyId: key.id },
        orderBy: { createdAt: 'desc' },
      });
      expect(audit?.outcome).toBe('REFUSED');
    } finally {
      await client.close();
    }
  });
});

describe('public A2A (AGP envelopes at /a2a/v1)', () => {
  it('counts each envelope against the same day; past it a 429 DAILY_QUOTA_EXCEEDED with Retry-After to midnight UTC', async () => {
    const { key } = await developer(off);
    const envelope = () =>
      fetch(new URL('/a2a/v1', off.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` },
        body: JSON.stringify({
          protocol: 'agp/1',
          id: randomUUID(),
          from: 'agent:quota',
          intent: 'network.ping',
        }),
      });
    moveToTimeOfDay(off, 22);
    expect((await ping(off, key.secret)).status).toBe(200);
    for (let i = 0; i < 2; i += 1) expect((await envelope()).status).toBe(200);
    const refused = await envelope();
    expect(refused.status).toBe(429);
    const midnight = nextMidnight(off.clock.now());
    const expected = Math.ceil((midnight.getTime() - off.clock.now().getTime()) / 1000);
    expect(Number(refused.headers.get('retry-after'))).toBe(expected);
    expect(await refused.json()).toMatchObject({
      error: { code: 'DAILY_QUOTA_EXCEEDED', message: expect.stringContaining('midnight UTC') },
    });
    // The same day over GraphQL.
    expect((await ping(off, key.secret)).status).toBe(429);
  });
});

const KEY_USAGE = /* GraphQL */ `
  query ($id: ID!, $days: Int) {
    node(id: $id) {
      ... on ApiKey { tier usage(days: $days) { day requests limit } }
    }
  }
`;
type KeyUsage = {
  node: { tier: string; usage: { day: string; requests: number; limit: number }[] } | null;
};

const SET_TIER = /* GraphQL */ `
  mutation ($input: SetDeveloperTierInput!) {
    setDeveloperTier(input: $input) {
      __typename
      ... on SetDeveloperTierPayload { organization { developerTier } }
      ... on Error { message }
    }
  }
`;
type SetTier = {
  setDeveloperTier: { __typename: string; organization?: { developerTier: string }; message?: string };
};

describe('pro, with billing off', () => {
  it('is set by a platform admin, and gives the organisation’s keys the higher limit', async () => {
    const { key, organizationId, owner } = await developer(off);
    const admin = await off.services.db.user.create({
      data: { email: `${randomUUID()}@admins.test`, isPlatformAdmin: true },
    });
    const input = { organizationId: encodeGlobalID('Organization', organizationId), tier: 'PRO' };

    // An owner may not make their own organisation pro.
    const byOwner = await off.gql<SetTier, unknown>(
      SET_TIER,
      { input },
      { token: await accessToken(off, owner.userId) },
    );
    expect(byOwner.data?.setDeveloperTier ?? null, JSON.stringify(byOwner.body)).toBeNull();
    expect(byOwner.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const set = await off.gql<SetTier, unknown>(
      SET_TIER,
      { input },
      { token: await accessToken(off, admin.id) },
    );
    expect(set.data?.setDeveloperTier, JSON.stringify(set.body)).toEqual({
      __typename: 'SetDeveloperTierPayload',
      organization: { developerTier: 'PRO' },
    });

    for (let i = 0; i < 6; i += 1) {
      const answer = await ping(off, key.secret);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.headers.get('x-ratelimit-limit')).toBe('6');
    }
    const refused = await ping(off, key.secret);
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions?.tier).toBe('PRO');
  });

  it('is what booking at the network’s venues needs, over GraphQL as over MCP; a venue’s own key books at its own venue on free', async () => {
    const db = off.services.db;
    const startsAt = (venue: { timeZone: string }, day: number) =>
      new Date(
        Temporal.Now.plainDateISO(venue.timeZone)
          .add({ days: day })
          .toZonedDateTime({ timeZone: venue.timeZone, plainTime: '19:00' }).epochMilliseconds,
      ).toISOString();
    const BOOK = `mutation TierBook($input: CreateBookingInput!) {
      createBooking(input: $input) { __typename ... on Error { message } ... on BookingPayload { booking { status } } }
    }`;
    type Booked = { createBooking: { __typename: string; message?: string; booking?: { status: string } } };
    const book = (secret: string, venueId: string, day: number, venue: { timeZone: string }) =>
      off.gql<Booked, unknown>(
        BOOK,
        {
          input: { venueId: encodeGlobalID('Venue', venueId), startsAt: startsAt(venue, day), partySize: 2 },
        },
        { token: secret },
      );
    const elsewhere = await createBookableVenue(db, {});
    const free = await developer(off, ['read', 'write']);
    const refused = await book(free.key.secret, elsewhere.id, 3, elsewhere);
    expect(refused.data?.createBooking).toEqual({
      __typename: 'NotAllowedError',
      message:
        'Booking at the network’s venues with an API key needs the pro developer tier: subscribe the organisation to the developer pro plan',
    });
    expect(await db.booking.count({ where: { venueId: elsewhere.id } })).toBe(0);

    // The venue's own system, with its organisation's key, at its own venue: no tier needed.
    const own = await createBookableVenue(db, { organizationId: free.organizationId });
    const mine = await book(free.key.secret, own.id, 3, own);
    expect(mine.data?.createBooking).toMatchObject({ __typename: 'BookingPayload' });

    // Pro: it books at the network's venues.
    await db.organization.update({ where: { id: free.organizationId }, data: { developerTier: 'PRO' } });
    const booked = await book(free.key.secret, elsewhere.id, 4, elsewhere);
    // The key reads back the booking it made for its creator, as MCP's get_booking does.
    expect(booked.data?.createBooking).toEqual({
      __typename: 'BookingPayload',
      booking: { status: 'REQUESTED' },
    });
    // Booked through AGNT, as over MCP (the venue's fee is earned); the venue's own key books as the venue.
    expect(await db.booking.findFirst({ where: { venueId: elsewhere.id } })).toMatchObject({
      guestId: free.owner.userId,
      status: 'REQUESTED',
      source: 'API',
    });
    expect(await db.booking.findFirst({ where: { venueId: own.id } })).toMatchObject({ source: 'DASHBOARD' });
  });
});

describe('pro, with billing on', () => {
  it('needs a DEVELOPER_PRO plan in good standing, and is lost when the plan is restricted', async () => {
    const { key, organizationId, owner } = await developer(on);
    const db = on.services.db;
    // Set by hand, the column means nothing while billing decides.
    await db.organization.update({ where: { id: organizationId }, data: { developerTier: 'PRO' } });
    const token = async () => accessToken(on, owner.userId);
    const tierOf = async () =>
      (
        await on.gql<KeyUsage, unknown>(
          KEY_USAGE,
          { id: encodeGlobalID('ApiKey', key.id), days: 1 },
          { token: await token() },
        )
      ).data?.node?.tier;
    expect(await tierOf()).toBe('FREE');

    const subscription = await db.billingSubscription.create({
      data: {
        organizationId,
        stripeCustomerId: `cus_${randomUUID().slice(0, 8)}`,
        stripeSubscriptionId: `sub_${randomUUID()}`,
        status: 'active',
        priceId: DEVELOPER_PRO,
        stateAt: on.clock.now(),
        source: 'test',
      },
    });
    expect(await tierOf()).toBe('PRO');
    for (let i = 0; i < 6; i += 1) {
      const answer = await ping(on, key.secret);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    }
    expect((await ping(on, key.secret)).status).toBe(429);

    // Stripe could not collect: the plan keeps its features through the grace period…
    const pastDueSince = on.clock.now();
    await db.billingSubscription.update({
      where: { id: subscription.id },
      data: { status: 'past_due', pastDueSince, stateAt: pastDueSince },
    });
    expect(await tierOf()).toBe('PRO');
    // …and past it the organisation is restricted: its keys are on free again.
    on.clock.advance((on.services.config.billing.graceDays + 1) * DAY);
    expect(await tierOf()).toBe('FREE');
    for (let i = 0; i < 3; i += 1) expect((await ping(on, key.secret)).status).toBe(200);
    const refused = await ping(on, key.secret);
    expect(refused.status).toBe(429);
    expect(refused.errors?.[0]?.extensions).toMatchObject({ tier: 'FREE', limit: 3 });
  });

  it('is not set by hand: setDeveloperTier answers TierFollowsPlanError', async () => {
    const { organizationId } = await developer(on);
    const admin = await on.services.db.user.create({
      data: { email: `${randomUUID()}@admins.test`, isPlatformAdmin: true },
    });
    const set = await on.gql<SetTier, unknown>(
      SET_TIER,
      { input: { organizationId: encodeGlobalID('Organization', organizationId), tier: 'PRO' } },
      { token: await accessToken(on, admin.id) },
    );
    expect(set.data?.setDeveloperTier.__typename, JSON.stringify(set.body)).toBe('TierFollowsPlanError');
  });
});

describe('usage per key per day', () => {
  it('is shown to owners, today live and past days as flushed; not to STAFF', async () => {
    const { key, organizationId, owner } = await developer(off);
    const staff = await person(off, organizationId, 'STAFF');
    for (let i = 0; i < 2; i += 1) expect((await ping(off, key.secret)).status).toBe(200);
    const today = off.clock.now().toISOString().slice(0, 10);
    const variables = { id: encodeGlobalID('ApiKey', key.id), days: 3 };

    const seen = await off.gql<KeyUsage, unknown>(KEY_USAGE, variables, {
      token: await accessToken(off, owner.userId),
    });
    expect(seen.data?.node?.usage[0], JSON.stringify(seen.body)).toEqual({
      day: today,
      requests: 2,
      limit: 3,
    });
    expect(seen.data?.node?.usage).toHaveLength(3);
    expect(seen.data?.node?.usage.slice(1).map((d) => d.requests)).toEqual([0, 0]);

    const staffToken = await accessToken(off, staff.userId);
    const hidden = await off.gql<KeyUsage, unknown>(KEY_USAGE, variables, { token: staffToken });
    expect(hidden.data?.node ?? null, JSON.stringify(hidden.body)).toBeNull();
    expect(JSON.stringify(hidden.body)).not.toContain('"requests"');
    const organization = await off.gql<
      { organization: { name: string; developerTier: string | null } },
      unknown
    >(
      'query ($id: ID!) { organization(id: $id) { name developerTier } }',
      { id: encodeGlobalID('Organization', organizationId) },
      { token: staffToken },
    );
    expect(organization.data?.organization, JSON.stringify(organization.body)).toEqual({
      name: expect.any(String),
      developerTier: null,
    });

    const tooMany = await off.gql<KeyUsage, unknown>(
      KEY_USAGE,
      { ...variables, days: 91 },
      { token: await accessToken(off, owner.userId) },
    );
    expect(tooMany.errors?.[0]?.extensions?.code, JSON.stringify(tooMany.body)).toBe('BAD_USER_INPUT');
  });

  it('records a day whole when the flush could not run for a whole day after it', async () => {
    const { key, organizationId } = await developer(off);
    for (let i = 0; i < 2; i += 1) expect((await ping(off, key.secret)).status).toBe(200);
    const day = off.clock.now().toISOString().slice(0, 10);
    // No flush that day, nor the next (the worker down): then it runs.
    const now = off.clock.now();
    off.clock.advance(nextMidnight(now).getTime() - now.getTime() + 86_400_000 + 5 * 60_000);
    await enqueue(off.services.db, apiUsageFlushTask, {});
    await runDueJobs(off, ['api-usage-flush']);
    const events = await off.services.db.usageEvent.findMany({
      where: { organizationId, meter: 'API_REQUEST' },
    });
    expect(events).toEqual([
      expect.objectContaining({ usageKey: `api-requests:${key.id}:${day}`, quantity: 2n }),
    ]);
  });

  it('becomes one usage event per key per finished day, however often the flush job runs', async () => {
    const { key, organizationId, owner } = await developer(off);
    for (let i = 0; i < 2; i += 1) expect((await ping(off, key.secret)).status).toBe(200);
    const day = off.clock.now().toISOString().slice(0, 10);
    const db = off.services.db;

    // During the day the count is stored, and nothing is billed yet.
    await enqueue(db, apiUsageFlushTask, {});
    await runDueJobs(off, ['api-usage-flush']);
    const stored = await db.apiKeyDailyUsage.findUniqueOrThrow({
      where: { apiKeyId_day: { apiKeyId: key.id, day: new Date(`${day}T00:00:00Z`) } },
    });
    expect(stored).toMatchObject({ requests: 2, requestLimit: 3, usageRecordedAt: null });

    // A request late in the day, then the day is over: the flush runs twice.
    expect((await ping(off, key.secret)).status).toBe(200);
    const now = off.clock.now();
    off.clock.advance(nextMidnight(now).getTime() - now.getTime() + 6 * 60_000);
    await enqueue(db, apiUsageFlushTask, {});
    await runDueJobs(off, ['api-usage-flush']);
    await enqueue(db, apiUsageFlushTask, {});
    await runDueJobs(off, ['api-usage-flush']);
    expect(await flushApiUsage(off.services.apiQuota)).toMatchObject({ recorded: 0 });

    const events = await db.usageEvent.findMany({ where: { organizationId, meter: 'API_REQUEST' } });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      usageKey: `api-requests:${key.id}:${day}`,
      quantity: 3n,
      occurredAt: new Date(`${day}T00:00:00Z`),
    });

    const seen = await off.gql<KeyUsage, unknown>(
      KEY_USAGE,
      { id: encodeGlobalID('ApiKey', key.id), days: 2 },
      { token: await accessToken(off, owner.userId) },
    );
    expect(seen.data?.node?.usage, JSON.stringify(seen.body)).toEqual([
      { day: off.clock.now().toISOString().slice(0, 10), requests: 0, limit: 3 },
      { day, requests: 3, limit: 3 },
    ]);
  });
});
