/**
 * How many tables one account can tie up: a person's bookings still waiting for a venue (HELD or
 * REQUESTED) are capped per venue and overall, the cap holds when the requests race, and creating
 * bookings is rate limited per person and per API key. A venue's team booking for guests is not
 * held to a guest's cap. Over GraphQL and through the consumer agent's create_booking tool.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { runToolCall, type ToolContext } from '../../src/domain/conversation/tools.ts';
import { toolContext } from '../factories/tools.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import { apiKey, guest, person } from '../helpers/authz.ts';

const PER_PERSON = 10;
const PER_KEY = 6;
const WINDOW_SECONDS = 600;

interface Created {
  createBooking: {
    __typename: string;
    message?: string;
    booking?: { id: string; status: string };
    retryAfterSeconds?: number;
    limit?: number;
    scope?: string;
  };
}

const CREATE = `mutation CreateBooking($input: CreateBookingInput!) {
  createBooking(input: $input) {
    __typename
    ... on BookingPayload { booking { id status } }
    ... on Error { message }
    ... on RateLimitedError { retryAfterSeconds }
  }
}`;

/** The same, asking for what a BookingLimitError says. */
const CREATE_WITH_LIMIT = `mutation CreateBookingWithLimit($input: CreateBookingInput!) {
  createBooking(input: $input) {
    __typename
    ... on BookingPayload { booking { id status } }
    ... on Error { message }
    ... on BookingLimitError { limit scope }
  }
}`;

const CANCEL = `mutation Cancel($id: ID!) {
  cancelBooking(input: { bookingId: $id }) { __typename ... on Error { message } }
}`;

const CONFIRM = `mutation Confirm($id: ID!) {
  confirmBooking(input: { bookingId: $id }) { __typename ... on Error { message } }
}`;

let app: TestApp;
let organizationId: string;
let owner: { userId: string; token: string };

const zone = 'Europe/Lisbon';
const date = Temporal.Now.plainDateISO(zone).add({ days: 10 });
const at = (time: string, day = 0) =>
  new Date(
    date.add({ days: day }).toZonedDateTime({ timeZone: zone, plainTime: time }).epochMilliseconds,
  ).toISOString();
const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

beforeAll(async () => {
  app = await startTestApp({
    env: {
      BOOKING_LIMIT_PER_PERSON: String(PER_PERSON),
      BOOKING_LIMIT_PER_API_KEY: String(PER_KEY),
      BOOKING_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
    },
  });
  organizationId = (
    await app.services.db.organization.create({ data: { name: `Limits ${randomBytes(3).toString('hex')}` } })
  ).id;
  owner = await person(app, organizationId, 'OWNER');
});
afterAll(() => app.close());

/** A venue of the test organisation with four tables of four, open 18:00–23:00 every day. */
async function newVenue(): Promise<{ id: string; gid: string }> {
  const venue = await createBookableVenue(app.services.db, {
    name: `Small Room ${randomBytes(3).toString('hex')}`,
    slug: 'small-room',
    timeZone: zone,
    organizationId,
  });
  return { id: venue.id, gid: gid('Venue', venue.id) };
}

async function book(
  token: string,
  venue: { gid: string },
  input: Record<string, unknown> = {},
  document = CREATE,
) {
  const res = await app.gql<Created, unknown>(
    document,
    { input: { venueId: venue.gid, partySize: 2, startsAt: at('20:00'), ...input } },
    { token },
  );
  if (!res.data?.createBooking) throw new Error(`no answer: ${JSON.stringify(res.body)}`);
  return res.data.createBooking;
}

const pending = (guestId: string) =>
  app.services.db.booking.count({ where: { guestId, status: { in: ['HELD', 'REQUESTED'] } } });

describe('one account taking a whole slot', () => {
  it('stops four holds of the same slot at the per-venue cap, leaving the slot to others', async () => {
    const venue = await newVenue();
    const grabber = await guest(app);
    const answers = [];
    for (let i = 0; i < 4; i += 1) {
      answers.push(await book(grabber.token, venue, { hold: true, partySize: 4 }, CREATE_WITH_LIMIT));
    }
    expect(answers.map((a) => a.__typename)).toEqual([
      'BookingPayload',
      'BookingPayload',
      'BookingLimitError',
      'BookingLimitError',
    ]);
    expect(answers[2]).toMatchObject({ limit: 2, scope: 'VENUE' });
    expect(answers[2]!.message).toMatch(/2 bookings waiting at this venue/);
    expect(await pending(grabber.userId)).toBe(2);

    // The rest of the slot is still there for other people.
    const someoneElse = await guest(app);
    expect((await book(someoneElse.token, venue, { hold: true, partySize: 4 })).__typename).toBe(
      'BookingPayload',
    );
  });

  it('caps waiting bookings across venues, and frees a place when one is cancelled or confirmed', async () => {
    const venues = await Promise.all(Array.from({ length: 6 }, () => newVenue()));
    const diner = await guest(app);
    const answers = [];
    for (const venue of venues) answers.push(await book(diner.token, venue, {}, CREATE_WITH_LIMIT));
    expect(answers.map((a) => a.__typename)).toEqual([
      ...Array(5).fill('BookingPayload'),
      'BookingLimitError',
    ]);
    expect(answers[5]).toMatchObject({ limit: 5, scope: 'TOTAL' });
    expect(await pending(diner.userId)).toBe(5);

    // Cancelling one frees its place; a confirmed booking no longer waits, so it frees one too.
    const cancelled = await app.gql(CANCEL, { id: answers[0]!.booking!.id }, { token: diner.token });
    expect(cancelled.data).toMatchObject({ cancelBooking: { __typename: 'BookingPayload' } });
    expect((await book(diner.token, venues[5]!)).__typename).toBe('BookingPayload');
    expect((await book(diner.token, venues[5]!, { startsAt: at('21:00') })).__typename).toBe(
      'BookingLimitError',
    );
    const confirmed = await app.gql(CONFIRM, { id: answers[1]!.booking!.id }, { token: owner.token });
    expect(confirmed.data).toMatchObject({ confirmBooking: { __typename: 'BookingPayload' } });
    expect((await book(diner.token, venues[5]!, { startsAt: at('21:00') })).__typename).toBe(
      'BookingPayload',
    );
  });

  it('holds the caps when one account sends its requests at once', async () => {
    // Eight venues at once: each request locks a different venue, and still only five get through.
    const venues = await Promise.all(Array.from({ length: 8 }, () => newVenue()));
    const racer = await guest(app);
    const spread = await Promise.all(venues.map((v) => book(racer.token, v, { hold: true })));
    expect(spread.filter((a) => a.__typename === 'BookingPayload')).toHaveLength(5);
    expect(spread.filter((a) => a.__typename === 'BookingLimitError')).toHaveLength(3);
    expect(await pending(racer.userId)).toBe(5);

    // Eight times at one venue: two.
    const venue = await newVenue();
    const other = await guest(app);
    const times = ['18:00', '18:30', '19:00', '19:30', '20:00', '20:30', '21:00', '21:30'];
    const one = await Promise.all(times.map((t) => book(other.token, venue, { startsAt: at(t, 1) })));
    expect(one.filter((a) => a.__typename === 'BookingPayload')).toHaveLength(2);
    expect(one.filter((a) => a.__typename === 'BookingLimitError')).toHaveLength(6);
    expect(await pending(other.userId)).toBe(2);
  });

  it('does not hold the venue team to a guest’s cap when it books for the guest', async () => {
    const venue = await newVenue();
    const email = uniqueEmail('regular');
    const answers = [];
    for (const time of ['18:00', '19:00', '20:00', '21:00']) {
      answers.push(await book(owner.token, venue, { guestEmail: email, startsAt: at(time, 2) }));
    }
    expect(answers.map((a) => a.__typename)).toEqual(Array(4).fill('BookingPayload'));
    expect(answers.map((a) => a.booking!.status)).toEqual(Array(4).fill('CONFIRMED'));
  });
});

describe('booking creation rate limits', () => {
  it('answers a person past the limit with RateLimitedError and when to try again', async () => {
    const venue = await newVenue();
    const hasty = await guest(app);
    const answers = [];
    for (let i = 0; i < PER_PERSON; i += 1) {
      answers.push(await book(hasty.token, venue, { startsAt: at('18:00', 3 + i) }));
    }
    // Attempts count whether or not they made a booking.
    expect(answers.filter((a) => a.__typename === 'BookingPayload')).toHaveLength(2);
    expect(answers.filter((a) => a.__typename === 'RateLimitedError')).toHaveLength(0);
    const refused = await book(hasty.token, await newVenue(), { startsAt: at('19:00', 3) });
    expect(refused.__typename).toBe('RateLimitedError');
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(refused.message).toMatch(/try again in \d+ seconds/);
    expect(await pending(hasty.userId)).toBe(2);
  });

  it('answers an API key past its limit with RateLimitedError, and creates nothing more', async () => {
    const venue = await newVenue();
    const key = await apiKey(app, organizationId, owner.userId, ['read', 'write']);
    const answers = [];
    for (let i = 0; i <= PER_KEY; i += 1) {
      answers.push(
        await book(key.secret, venue, { guestEmail: uniqueEmail('phone'), startsAt: at('21:00', i) }),
      );
    }
    expect(answers.slice(0, PER_KEY).map((a) => a.__typename)).toEqual(Array(PER_KEY).fill('BookingPayload'));
    expect(answers[PER_KEY]).toMatchObject({ __typename: 'RateLimitedError' });
    expect(answers[PER_KEY]!.retryAfterSeconds).toBeGreaterThan(0);
    expect(await app.services.db.booking.count({ where: { venueId: venue.id } })).toBe(PER_KEY);

    // The same limit over AGP's booking.confirm: a 429 that names it and says when to try again.
    const response = await fetch(new URL('/a2a/v1', app.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key.secret}` },
      body: JSON.stringify({
        protocol: 'agp/1',
        id: randomUUID(),
        from: 'agent:limits-test',
        to: 'network:agnt',
        intent: 'booking.confirm',
        payload: { venue_id: venue.id, date: date.add({ days: 1 }).toString(), time: '21:00', party_size: 2 },
        timestamp: new Date().toISOString(),
      }),
    });
    expect(response.status).toBe(429);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(response.headers.get('retry-after'))).toBeLessThanOrEqual(WINDOW_SECONDS);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('RATE_LIMITED');
    expect(body.error.message).toMatch(/try again in \d+ seconds/);
    expect(await app.services.db.booking.count({ where: { venueId: venue.id } })).toBe(PER_KEY);
  });
});

describe('the consumer agent', () => {
  it('gets a tool error it can tell the person when the cap is reached', async () => {
    const venue = await newVenue();
    const userId = (await app.services.db.user.create({ data: { displayName: 'Nell' } })).id;
    const tools = new Map(consumerTools(app.services).map((t) => [t.name, t]));
    const context: ToolContext = toolContext(userId);
    const localDate = date.add({ days: 4 }).toString();
    const outcomes = [];
    for (const time of ['18:00', '19:00', '20:00']) {
      outcomes.push(
        await runToolCall(
          { db: app.services.db, timeoutMs: 5000, tools },
          {
            type: 'tool_use',
            id: `t-${time}`,
            name: 'create_booking',
            input: { venue_id: venue.id, date: localDate, time, party_size: 2 },
          },
          context,
        ),
      );
    }
    expect(outcomes.map((o) => o.outcome)).toEqual(['OK', 'OK', 'REFUSED']);
    expect(JSON.parse(outcomes[2]!.content)).toEqual({
      error: expect.stringMatching(/^BOOKING_LIMIT: .*2 bookings waiting at this venue/),
    });
    expect(await pending(userId)).toBe(2);
  });
});
