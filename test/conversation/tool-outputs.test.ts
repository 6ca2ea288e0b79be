/**
 * What each of the consumer agent's 19 tools answers is what its output schema says. The runner
 * checks every answer against the schema and turns one that breaks it into an error result
 * (tools.test.ts), so a schema that does not fit its tool would take the tool away from the
 * person: here each tool is run once, as the model would call it, against real parts (the
 * database, the app's mailer, loopback fakes of Open-Meteo, OSRM and Lalamove), and must answer
 * OK with JSON its schema takes.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { releaseConfirmation } from '../../src/domain/confirmations/confirmations.ts';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { runToolCall, type Tool } from '../../src/domain/conversation/tools.ts';
import { API_KEY, API_SECRET, quoteRequest } from '../delivery/support.ts';
import { stopAll } from '../factories/apps.ts';
import { createBooking } from '../factories/bookings.ts';
import { createPerson } from '../factories/people.ts';
import { toolCaller, toolContext } from '../factories/tools.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { type FakeDirections, startFakeDirections } from '../fakes/directions.ts';
import { type FakeLalamove, startFakeLalamove } from '../fakes/lalamove.ts';
import { type FakeWeather, startFakeWeather } from '../fakes/weather.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let weather: FakeWeather;
let directions: FakeDirections;
let lalamove: FakeLalamove;

beforeAll(async () => {
  [weather, directions, lalamove] = await Promise.all([
    startFakeWeather(),
    startFakeDirections(),
    startFakeLalamove({ apiKey: API_KEY, apiSecret: API_SECRET }),
  ]);
  app = await startTestApp({
    env: {
      WEATHER_API_URL: weather.url,
      DIRECTIONS_API_URL: directions.url,
      LALAMOVE_API_KEY: API_KEY,
      LALAMOVE_API_SECRET: API_SECRET,
      LALAMOVE_API_URL: lalamove.url,
    },
  });
});
afterAll(() => stopAll(app, weather, directions, lalamove));

it('each consumer tool answers within its output schema', async () => {
  const db = app.services.db;
  const tools = consumerTools(app.services);
  const byName = new Map<string, Tool>(tools.map((tool) => [tool.name, tool]));
  const person = await createPerson(db, { displayName: 'Ines', latitude: 38.7139, longitude: -9.1394 });
  const venue = await createBookableVenue(db, {
    name: `Tasca ${person.id.slice(0, 6)}`,
    email: 'tasca@example.com',
    latitude: 38.7114,
    longitude: -9.1302,
    description: 'Fado on Fridays.',
  });
  const visited = await createBooking(db, {
    venueId: venue.id,
    guestId: person.id,
    startsAt: new Date(Date.now() - 2 * 86_400_000),
    status: 'COMPLETED',
  });
  const context = { ...toolContext(person.id), personText: 'I am allergic to peanuts' };
  const answered = new Set<string>();

  /** Runs one tool as the model would call it; its answer must be OK and pass its output schema. */
  async function call(name: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const outcome = await runToolCall(
      { db, timeoutMs: 10_000, tools: byName },
      { type: 'tool_use', id: `t-${name}`, name, input },
      context,
    );
    expect(outcome, `${name}: ${outcome.content}`).toMatchObject({ outcome: 'OK', isError: false });
    const answer = JSON.parse(outcome.content);
    expect(byName.get(name)!.output.safeParse(answer).error, name).toBeUndefined();
    answered.add(name);
    return answer;
  }

  const found = await call('search_venues', { query: venue.name });
  expect(found.venues).toEqual([expect.objectContaining({ venueId: venue.id })]);
  await call('suggest_venues', {});
  await call('get_venue_details', { venue_id: venue.id });
  const date = Temporal.Now.plainDateISO(venue.timeZone).add({ days: 2 }).toString();
  const free = await call('check_availability', { venue_id: venue.id, date, party_size: 2 });
  const [slot] = free.slots as { date: string; time: string }[];
  const booked = await call('create_booking', {
    venue_id: venue.id,
    date: slot!.date,
    time: slot!.time,
    party_size: 2,
  });
  await call('modify_booking', { booking_id: booked.bookingId, party_size: 3 });
  const listed = await call('list_my_bookings', { include_past: true });
  expect(listed.bookings).toHaveLength(2);
  await call('cancel_booking', { booking_id: booked.bookingId });
  await call('leave_feedback', { booking_id: visited.id, score: 4, comment: 'Good fado' });

  await call('get_weather', {});
  await call('get_weather', { venue_id: venue.id, at: new Date(Date.now() + 86_400_000).toISOString() });
  await call('get_directions', { to_venue_id: venue.id });
  await call('remember', { content: 'allergic to peanuts', importance: 5 });
  const recalled = await call('recall', { query: 'peanuts' });
  expect(recalled.memories).toEqual([expect.objectContaining({ content: 'allergic to peanuts' })]);
  await call('update_profile', { home_area: 'Alfama, Lisbon', dietary: ['no peanuts'], language: 'pt-PT' });
  await call('update_profile', { home_area: null });
  const reminder = await call('set_reminder', { when: 'in 2 hours', text: 'Call Tasca about Friday' });
  expect(reminder).toMatchObject({ text: 'Call Tasca about Friday' });
  await call('ask_venue', { venue_id: venue.id, question: 'Do you have a high chair?' });

  const quoted = await call('quote_delivery', quoteRequest());
  await call('get_delivery_status', { quote_id: quoted.quoteId });
  // The person presses the quote's Confirm button (put on the reply by code) in their own message.
  const button = context.replyButtons.find((b) => b.title.startsWith('Confirm'))!;
  const released = await releaseConfirmation(
    db,
    person.id,
    { buttonPayload: button.id, text: null, receivedAt: new Date(Date.now() + 1000) },
    new Date(),
  );
  expect(released).not.toBeNull();
  const order = await call('confirm_delivery', { quote_id: quoted.quoteId });
  expect(order.orderId).toEqual(expect.any(String));
  await call('get_delivery_status', { order_id: order.orderId });

  expect([...answered].sort()).toEqual(tools.map((tool) => tool.name).sort());
});

/** A new person and a venue open from 22:00 to `closes` in `timeZone`, and the tools called as that person would call them. */
async function lateVenue(timeZone: string, closes: string) {
  const db = app.services.db;
  const person = await createPerson(db, { displayName: 'Rui' });
  const venue = await createBookableVenue(db, {
    name: `Late Bar ${person.id.slice(0, 6)}`,
    timeZone,
    open: ['22:00', closes],
  });
  const call = toolCaller(app.services, { ...toolContext(person.id), now: app.clock.now });
  return { db, venue, call };
}

it('offers a late service’s times after midnight with the next date, and books them on that night', async () => {
  const { db, venue, call } = await lateVenue('Europe/Lisbon', '03:00');
  const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 3 });
  const free = await call('check_availability', { venue_id: venue.id, date: date.toString(), party_size: 2 });
  const next = date.add({ days: 1 }).toString();
  expect(free.slots).toContainEqual({ date: date.toString(), time: '23:30' });
  expect(free.slots).toContainEqual({ date: next, time: '00:30' });
  expect(free.slots).not.toContainEqual({ date: date.toString(), time: '00:30' });

  const booked = await call('create_booking', {
    venue_id: venue.id,
    date: next,
    time: '00:30',
    party_size: 2,
  });
  const stored = await db.booking.findUniqueOrThrow({ where: { id: booked.bookingId as string } });
  expect(stored.startsAt.getTime()).toBe(
    Temporal.PlainDateTime.from(`${next}T00:30`).toZonedDateTime('Europe/Lisbon').epochMilliseconds,
  );
});

it('offers both of a time the clocks repeat, the second with its offset, and books each as given', async () => {
  // Sydney's clocks go back at 03:00 on Sunday 2027-04-04: 02:00 and 02:30 come twice that night.
  const night = new Date('2027-03-30T00:00:00Z');
  app.clock.advance(night.getTime() - app.clock.now().getTime());
  const { db, venue, call } = await lateVenue('Australia/Sydney', '04:00');
  const free = await call('check_availability', { venue_id: venue.id, date: '2027-04-03', party_size: 2 });
  const early = (free.slots as { date: string; time: string }[]).filter((s) => s.date === '2027-04-04');
  expect(early.map((s) => s.time)).toEqual([
    '00:00',
    '00:30',
    '01:00',
    '01:30',
    '02:00',
    '02:30',
    '02:00+10:00',
    '02:30+10:00',
  ]);

  const first = await call('create_booking', {
    venue_id: venue.id,
    date: '2027-04-04',
    time: '02:00',
    party_size: 2,
  });
  const second = await call('create_booking', {
    venue_id: venue.id,
    date: '2027-04-04',
    time: '02:00+10:00',
    party_size: 2,
  });
  const starts = await db.booking.findMany({
    where: { id: { in: [first.bookingId as string, second.bookingId as string] } },
    select: { startsAt: true },
    orderBy: { startsAt: 'asc' },
  });
  expect(starts.map((b) => b.startsAt.toISOString())).toEqual([
    '2027-04-03T15:00:00.000Z',
    '2027-04-03T16:00:00.000Z',
  ]);
});

it('does not pass on a question a venue answers by email for a person with no address to answer at', async () => {
  const db = app.services.db;
  const byName = new Map<string, Tool>(consumerTools(app.services).map((tool) => [tool.name, tool]));
  const person = await createPerson(db, { displayName: 'Rui' });
  await db.user.update({ where: { id: person.id }, data: { email: null } });
  const venue = await createBookableVenue(db, {
    name: `Adega ${person.id.slice(0, 6)}`,
    email: 'adega@example.com',
  });
  const outcome = await runToolCall(
    { db, timeoutMs: 10_000, tools: byName },
    {
      type: 'tool_use',
      id: 't-ask',
      name: 'ask_venue',
      input: { venue_id: venue.id, question: 'Do you have a high chair?' },
    },
    toolContext(person.id),
  );
  expect(outcome).toMatchObject({ outcome: 'REFUSED', isError: true });
  expect(outcome.content).toContain(
    'answers questions by email, and the person has no email address with us; suggest calling them',
  );
  expect(await db.outboundMessage.count({ where: { userId: person.id, kind: 'venue.question' } })).toBe(0);
});

it('checks and books a large party in chat as any booking takes it, up to the venue’s own limit', async () => {
  const db = app.services.db;
  const person = await createPerson(db, { displayName: 'Marta' });
  const venue = await createBookableVenue(db, {
    name: `Banquet Hall ${person.id.slice(0, 6)}`,
    open: ['12:00', '23:00'],
    partySizeMax: 200,
    tables: [{ name: 'Hall', seats: 80 }],
  });
  const call = toolCaller(app.services, { ...toolContext(person.id), now: app.clock.now });
  // Five days after the app's own now (a test before this one moved its clock).
  const date = Temporal.Instant.fromEpochMilliseconds(app.clock.now().getTime())
    .toZonedDateTimeISO(venue.timeZone)
    .toPlainDate()
    .add({ days: 5 })
    .toString();
  const free = await call('check_availability', { venue_id: venue.id, date, party_size: 60 });
  const [slot] = free.slots as { date: string; time: string }[];
  expect(slot).toBeDefined();
  const booked = await call('create_booking', {
    venue_id: venue.id,
    date: slot!.date,
    time: slot!.time,
    party_size: 60,
  });
  expect((await db.booking.findUniqueOrThrow({ where: { id: booked.bookingId as string } })).partySize).toBe(
    60,
  );
});

it("tells the time of a reminder on the person's own clock", async () => {
  const db = app.services.db;
  const person = await createPerson(db, { displayName: 'Wayan' });
  const now = new Date('2027-01-10T02:00:00Z');
  const call = toolCaller(app.services, {
    ...toolContext(person.id),
    timeZone: 'Asia/Makassar',
    now: () => now,
  });
  const reminder = await call('set_reminder', { when: '2027-01-10T18:00', text: 'Dinner at Warung' });
  // 18:00 in Bali is 10:00 UTC: told as 18:00 with Bali's offset, the same instant.
  expect(reminder).toMatchObject({ dueAt: '2027-01-10T18:00:00+08:00', timeZone: 'Asia/Makassar' });
  const stored = await db.reminder.findUniqueOrThrow({ where: { id: reminder.reminderId as string } });
  expect(stored.dueAt.toISOString()).toBe('2027-01-10T10:00:00.000Z');
});
