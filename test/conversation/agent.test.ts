/**
 * The consumer agent end to end: Telegram updates in through the real webhook, the worker's chat
 * drain, the turn, the real gateway talking to the Anthropic fake (scripted per test like a
 * model would answer), real tools over PostgreSQL, and replies out through the send queue to the
 * Telegram fake.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUDGET_REPLY, deletedAccountReply, UNAVAILABLE_REPLY } from '../../src/domain/conversation/turn.ts';
import { queueNotice } from '../../src/domain/notices/notices.ts';
import { agentEnv, startAppWithWorker, stopAll, TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import { telegramChats } from '../factories/chats.ts';
import { createVenue } from '../factories/venues.ts';
import { anthropicError, anthropicMessage, type FakeReply, startFakeAnthropic } from '../fakes/anthropic.ts';
import { type FakeBotApi, postUpdate, startFakeBotApi, textUpdate } from '../fakes/telegram.ts';
import { type FakeWeather, startFakeWeather } from '../fakes/weather.ts';
import type { TestApp } from '../helpers/app.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const { name: BOT, secret: SECRET } = TELEGRAM_BOT;
const ZONE = 'Europe/Lisbon';

let telegram: FakeBotApi;
let model: Awaited<ReturnType<typeof startFakeAnthropic>>;
let weather: FakeWeather;
let app: TestApp;
let worker: WorkerApp;
let venueId: string;
let nextChat = Math.floor(Math.random() * 1_000_000_000);

beforeAll(async () => {
  telegram = await startFakeBotApi();
  model = await startFakeAnthropic();
  weather = await startFakeWeather();
  ({ app, worker } = await startAppWithWorker({
    ...telegramEnv(telegram),
    ...agentEnv(model),
    WEATHER_API_URL: weather.url,
    TOOL_TIMEOUT_MS: '1500',
    AGENT_UNAVAILABLE_RETRY_MS: '300',
  }));
  const venue = await createVenue(app.services.db, {
    name: 'Casa do Mar',
    slug: 'casa-do-mar',
    cuisines: ['seafood', 'portuguese'],
    description: 'Grilled fish by the river.',
    city: 'Lisbon',
    timeZone: ZONE,
    status: 'LISTED',
    latitude: 38.7077,
    longitude: -9.1365,
    slotMinutes: 30,
    turnMinutes: 90,
    leadTimeMinutes: 60,
    bookingRulesConfirmedAt: new Date(),
    open: ['12:00', '23:30'],
    tables: [
      { name: 'T1', seats: 4 },
      { name: 'T2', seats: 2 },
      { name: 'T3', seats: 2 },
    ],
  });
  venueId = venue.id;
});
afterAll(() => stopAll(worker, app, telegram, model, weather));
beforeEach(() => {
  model.respond(() => ({ body: anthropicMessage({ text: 'Hello!' }) }));
});

/** Tomorrow's date where the venue is. */
const tomorrow = () => Temporal.Now.plainDateISO(ZONE).add({ days: 1 }).toString();

type Body = { messages: { role: string; content: string | Record<string, unknown>[] }[]; system: unknown };

/** The tool results the model is being shown in this request (the last user message's), parsed. */
function toolResults(body: Body): { id: string; isError: boolean; value: Record<string, unknown> }[] {
  const last = body.messages.at(-1)!;
  if (typeof last.content === 'string') return [];
  return last.content
    .filter((b) => b.type === 'tool_result')
    .map((b) => ({
      id: String(b.tool_use_id),
      isError: b.is_error === true,
      value: JSON.parse(String(b.content)) as Record<string, unknown>,
    }));
}

const use = (name: string, input: unknown, id = `toolu_${randomBytes(6).toString('hex')}`) => ({
  name,
  input,
  id,
});
const say = (text: string): FakeReply => ({ body: anthropicMessage({ text }) });
const call = (...toolUses: ReturnType<typeof use>[]): FakeReply => ({ body: anthropicMessage({ toolUses }) });

async function write(text: string, chatId = nextChat++, fromId?: number) {
  const update = textUpdate({ chatId, fromId, text, firstName: 'Ana' });
  expect((await postUpdate(app.url, BOT, SECRET, update)).status).toBe(200);
  return { chatId, updateId: update.update_id };
}

const { sent, nthReply, userOf } = telegramChats(() => ({ app, telegram }));

/** The text of the `n`th message sent to the chat, unescaped from MarkdownV2. */
const reply = async (chatId: number, n = 1): Promise<string> => (await nthReply(chatId, n)).text;

describe('the consumer agent', () => {
  it('books a table for 2 tomorrow at 8 pm from a Telegram message: tool calls, a REQUESTED booking, a reply', async () => {
    const date = tomorrow();
    const seen: Body[] = [];
    model.respond((body: Body, index) => {
      seen.push(body);
      const results = toolResults(body);
      if (results.length === 0) return call(use('search_venues', { query: 'casa do mar' }));
      const [first] = results;
      if ('venues' in first!.value) {
        const [venue] = first!.value.venues as { venueId: string }[];
        return call(use('check_availability', { venue_id: venue!.venueId, date, party_size: 2 }));
      }
      if ('slots' in first!.value) {
        expect(first!.value.slots).toContainEqual({ date, time: '20:00' });
        return call(use('create_booking', { venue_id: venueId, date, time: '20:00', party_size: 2 }));
      }
      expect(index).toBe(3);
      return say(
        `Done! I've asked ${first!.value.venue} for a table for 2 tomorrow at 20:00; they will confirm.`,
      );
    });
    const { chatId } = await write('A table for 2 tomorrow at 8pm at Casa do Mar, please');
    expect(await reply(chatId)).toBe(
      "Done! I've asked Casa do Mar for a table for 2 tomorrow at 20:00; they will confirm.",
    );
    const userId = await userOf(chatId);

    const [booking] = await app.services.db.booking.findMany({ where: { guestId: userId } });
    expect(booking).toMatchObject({ status: 'REQUESTED', source: 'CHAT', partySize: 2, venueId });
    const local = Temporal.Instant.fromEpochMilliseconds(booking!.startsAt.getTime()).toZonedDateTimeISO(
      ZONE,
    );
    expect(local.toPlainDate().toString()).toBe(date);
    expect(local.toPlainTime().toString({ smallestUnit: 'minute' })).toBe('20:00');

    // Four model calls; the person's words went first, the system prompt has its cached prefix.
    expect(seen).toHaveLength(4);
    expect(JSON.stringify(seen[0]!.messages[0])).toContain('A table for 2 tomorrow at 8pm');
    const system = seen[0]!.system as { text: string; cache_control?: unknown }[];
    expect(system[0]!.cache_control).toEqual({ type: 'ephemeral' });
    expect(system.map((s) => s.text).join('\n')).toContain(`Today is ${Temporal.Now.plainDateISO('UTC')}`);

    // Every tool call is audited; every model call is in the ledger.
    const calls = await app.services.db.toolCall.findMany({
      where: { userId },
      orderBy: { createdAt: 'asc' },
    });
    expect(calls.map((c) => [c.tool, c.sideEffect, c.outcome])).toEqual([
      ['search_venues', 'READ', 'OK'],
      ['check_availability', 'READ', 'OK'],
      ['create_booking', 'WRITE', 'OK'],
    ]);
    expect(await app.services.db.llmUsage.count({ where: { userId, purpose: 'conversation' } })).toBe(4);

    // The typing indicator was shown.
    expect(
      telegram.calls.some(
        (c) => c.method === 'sendChatAction' && String(c.params.chat_id) === String(chatId),
      ),
    ).toBe(true);
    // The inbound message is done.
    const event = await app.services.db.inboundEvent.findFirstOrThrow({
      where: { externalChatId: String(chatId) },
    });
    expect(event.status).toBe('PROCESSED');
  });

  it('keeps the conversation in the chat session, and the next turn sees it', async () => {
    model.respond(() => say('Nice to meet you, Ana.'));
    const { chatId } = await write('Hi, I am Ana');
    await reply(chatId);
    let next: Body | null = null;
    model.respond((body: Body) => {
      next = body;
      return say('You told me: Ana.');
    });
    await write('What is my name?', chatId);
    await reply(chatId, 2);
    const texts = JSON.stringify(next!.messages);
    expect(next!.messages).toHaveLength(3);
    expect(texts).toContain('Hi, I am Ana');
    expect(texts).toContain('Nice to meet you, Ana.');
  });

  it('sends the model’s answer even when it holds a NUL, which PostgreSQL cannot store', async () => {
    model.respond(() => say('Here\u0000 you are, Ana.'));
    const { chatId } = await write('Hi');
    expect(await reply(chatId)).toBe('Here\ufffd you are, Ana.');
  });

  it('runs the tool calls of one turn at once and feeds every result back', async () => {
    // Each forecast takes 400 ms to come: run one after the other, the second ask would reach
    // the weather service only after the first answer.
    weather.delay(400);
    const asked = weather.requests.length;
    const ids = ['toolu_weather_a', 'toolu_weather_b'];
    let results: ReturnType<typeof toolResults> = [];
    model.respond((body: Body) => {
      const got = toolResults(body);
      if (got.length === 0) {
        return call(
          use('get_weather', { location: { latitude: 38.72, longitude: -9.14 } }, ids[0]),
          use('get_weather', { location: { latitude: 41.15, longitude: -8.61 } }, ids[1]),
        );
      }
      results = got;
      return say('Sunny in both.');
    });
    const { chatId } = await write('Weather in Lisbon and Porto?');
    expect(await reply(chatId)).toBe('Sunny in both.');
    expect(results.map((r) => [r.id, r.isError])).toEqual([
      [ids[0], false],
      [ids[1], false],
    ]);
    const [a, b] = weather.requests.slice(asked);
    expect(Math.abs(b!.at - a!.at)).toBeLessThan(400);
    weather.delay(0);
  });

  it('gives invalid input, unknown tools and refusals back to the model, which recovers', async () => {
    let seen: ReturnType<typeof toolResults> = [];
    model.respond((body: Body) => {
      const got = toolResults(body);
      if (got.length === 0) {
        return call(
          use('check_availability', { venue_id: 'not-a-uuid', date: 'tomorrow', party_size: 0 }),
          use('book_helicopter', {}),
          use('cancel_booking', { booking_id: '00000000-0000-4000-8000-000000000000' }),
        );
      }
      seen = got;
      return say('Which venue and date did you mean?');
    });
    const { chatId } = await write('book it');
    expect(await reply(chatId)).toBe('Which venue and date did you mean?');
    expect(seen.every((r) => r.isError)).toBe(true);
    expect(String(seen[0]!.value.error)).toMatch(/venue_id[\s\S]*date[\s\S]*party_size/);
    expect(String(seen[1]!.value.error)).toContain('no tool called "book_helicopter"');
    expect(String(seen[2]!.value.error)).toContain('No such booking of yours');
    const userId = await userOf(chatId);
    const outcomes = await app.services.db.toolCall.findMany({ where: { userId }, orderBy: { tool: 'asc' } });
    expect(outcomes.map((o) => [o.tool, o.outcome])).toEqual([
      ['book_helicopter', 'INVALID'],
      ['cancel_booking', 'REFUSED'],
      ['check_availability', 'INVALID'],
    ]);
  });

  it('cuts off a slow tool after its timeout; the model gets a timeout result', async () => {
    weather.respond(() => ({ status: 200, body: {}, delayMs: 4000 }));
    let seen: ReturnType<typeof toolResults> = [];
    model.respond((body: Body) => {
      const got = toolResults(body);
      if (got.length === 0) return call(use('get_weather', { location: { latitude: 1, longitude: 2 } }));
      seen = got;
      return say('The weather service is slow right now.');
    });
    const { chatId } = await write('weather?');
    expect(await reply(chatId)).toBe('The weather service is slow right now.');
    weather.respond(null);
    expect(seen[0]).toMatchObject({ isError: true });
    expect(String(seen[0]!.value.error)).toContain('did not answer within 1.5 s');
    const userId = await userOf(chatId);
    expect((await app.services.db.toolCall.findFirstOrThrow({ where: { userId } })).outcome).toBe('TIMEOUT');
  });

  it('stops after 8 rounds with a graceful answer, every tool call answered', async () => {
    let requests = 0;
    model.respond(() => {
      requests += 1;
      return call(use('list_my_bookings', {}));
    });
    const { chatId } = await write('loop forever');
    expect(await reply(chatId)).toMatch(/more steps than I can take/);
    expect(requests).toBe(8);
    // The stored history is valid for the next turn (the fake refuses unanswered tool calls).
    model.respond(() => say('Back to normal.'));
    await write('and now?', chatId);
    expect(await reply(chatId, 2)).toBe('Back to normal.');
  });

  it('answers commands without the model', async () => {
    const before = model.requests.length;
    const { chatId } = await write('/start');
    expect(await reply(chatId)).toMatch(/^Hi! I'm AGNT/);
    await write('/help', chatId);
    expect(await reply(chatId, 2)).toContain('/forget');
    await write('/language pt-br', chatId);
    expect(await reply(chatId, 3)).toContain('"pt-BR"');
    const userId = await userOf(chatId);
    expect((await app.services.db.user.findUniqueOrThrow({ where: { id: userId } })).language).toBe('pt-BR');
    await write('/reset', chatId);
    expect(await reply(chatId, 4)).toContain('cleared');
    expect(model.requests.length).toBe(before);
  });

  it('/checkins turns check-ins on and off for the person writing, without the model', async () => {
    const before = model.requests.length;
    const { chatId } = await write('/checkins');
    const userId = await userOf(chatId);
    const optedIn = async () =>
      (await app.services.db.user.findUniqueOrThrow({ where: { id: userId } })).reengagementOptIn;
    expect(await reply(chatId)).toMatch(/^Check-ins are off\. Send \/checkins on/);
    expect(await optedIn()).toBe(false);
    await write('/checkins ON', chatId);
    expect(await reply(chatId, 2)).toMatch(/^OK — if we haven't talked for two weeks, I'll check in/);
    expect(await optedIn()).toBe(true);
    await write('/checkins', chatId);
    expect(await reply(chatId, 3)).toMatch(/^Check-ins are on/);
    await write('/checkins off', chatId);
    expect(await reply(chatId, 4)).toMatch(/^OK — no check-ins/);
    expect(await optedIn()).toBe(false);
    await write('/help', chatId);
    expect(await reply(chatId, 5)).toContain('/checkins on');
    expect(model.requests.length).toBe(before);
  });

  it('/forget lists and deletes what the agent remembers', async () => {
    model.respond((body: Body) =>
      toolResults(body).length === 0
        ? call(use('remember', { content: 'Allergic to peanuts', importance: 5 }))
        : say('Noted.'),
    );
    const { chatId } = await write('I am allergic to peanuts');
    await reply(chatId);
    await write('/forget', chatId);
    expect(await reply(chatId, 2)).toContain('Allergic to peanuts');
    // Not in a group: the group would read it, whether listed or named as it goes.
    for (const asked of ['/forget', '/forget peanuts']) {
      const group = nextChat++;
      await write(asked, group, chatId);
      expect(await reply(group)).toBe(
        'Send /forget to me in a private chat: the group would read what I remember about you.',
      );
    }
    await write('/forget peanuts', chatId);
    expect(await reply(chatId, 3)).toContain('Forgotten:');
    // Nothing to search by: said so, not a failed message.
    await write('/forget 🙂 ???', chatId);
    expect(await reply(chatId, 4)).toBe(
      'Send /forget followed by words from what I remember (e.g. /forget peanuts), or /forget all.',
    );
    const userId = await userOf(chatId);
    expect(await app.services.db.memory.count({ where: { userId } })).toBe(0);

    // "/forget all" forgets this chat's history too, and records when (dreaming reads nothing older).
    const chat = { platform: 'TELEGRAM', account: BOT, externalChatId: String(chatId) };
    expect((await app.services.sessions.load(chat)).messages.length).toBeGreaterThan(0);
    await write('/forget all', chatId);
    expect(await reply(chatId, 5)).toBe(
      'There was nothing to forget. Your profile (your name, area, diet and usual party) stays until you ask me to change it.',
    );
    expect((await app.services.sessions.load(chat)).messages).toEqual([]);
    expect(
      (await app.services.db.user.findUniqueOrThrow({ where: { id: userId } })).memoryForgottenAt,
    ).toBeInstanceOf(Date);
  });

  it('over the daily budget, the person gets a polite message and no model call is made', async () => {
    model.respond(() => say('first'));
    const { chatId } = await write('hello');
    await reply(chatId);
    const userId = await userOf(chatId);
    // Someone who has used the agent on earlier days, so their allowance is the full budget (a new
    // account's is smaller: test/conversation/spending.test.ts).
    for (let daysAgo = 1; daysAgo <= 5; daysAgo++) {
      await app.services.db.llmUsage.create({
        data: {
          userId,
          purpose: 'conversation',
          provider: 'anthropic',
          model: 'claude-sonnet-4-6',
          inputTokens: 10,
          outputTokens: 0,
          costMicros: 30n,
          createdAt: new Date(Date.now() - daysAgo * 24 * 3600_000),
        },
      });
    }
    await app.services.db.llmUsage.create({
      data: {
        userId,
        purpose: 'conversation',
        provider: 'anthropic',
        model: 'claude-sonnet-4-6',
        inputTokens: 300_000,
        outputTokens: 0,
        costMicros: 900_000n,
      },
    });
    const before = model.requests.length;
    await write('hello again', chatId);
    expect(await reply(chatId, 2)).toBe(BUDGET_REPLY);
    expect(model.requests.length).toBe(before);
  });

  it('with no model reachable, says so once, keeps the message and answers it when the model is back', async () => {
    let down = true;
    model.respond(() => (down ? anthropicError(529) : say('Sorry for the wait — here I am.')));
    const { chatId } = await write('are you there?');
    expect(await reply(chatId)).toBe(UNAVAILABLE_REPLY);
    const event = () =>
      app.services.db.inboundEvent.findFirstOrThrow({ where: { externalChatId: String(chatId) } });
    expect((await event()).status).toBe('PENDING');
    down = false;
    expect(await reply(chatId, 2)).toBe('Sorry for the wait — here I am.');
    await waitFor(async () => (await event()).status === 'PROCESSED', 'the message to be processed');
    expect(sent(chatId)).toHaveLength(2);
  });

  it('runs one turn per person at a time, across chats', async () => {
    const fromId = nextChat++;
    let running = 0;
    let most = 0;
    model.respond(async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 300));
      running -= 1;
      return say('one at a time');
    });
    const chats = [nextChat++, nextChat++, nextChat++];
    await Promise.all(chats.map((chatId) => write('hi', chatId, fromId)));
    for (const chatId of chats) expect(await reply(chatId)).toBe('one at a time');
    expect(most).toBe(1);
  });

  it('cut short by the model after booking, tells the person what it did and does not do it again', async () => {
    const date = tomorrow();
    let calls = 0;
    model.respond((body: Body) => {
      calls += 1;
      if (toolResults(body).length === 0) {
        return call(use('create_booking', { venue_id: venueId, date, time: '21:00', party_size: 2 }));
      }
      return anthropicError(529);
    });
    const { chatId } = await write('Book Casa do Mar tomorrow at 9pm for 2');
    const text = await reply(chatId);
    expect(text).toContain('lost my connection partway');
    expect(text).toContain('create_booking');
    const userId = await userOf(chatId);
    expect(await app.services.db.booking.count({ where: { guestId: userId } })).toBe(1);
    const event = await app.services.db.inboundEvent.findFirstOrThrow({
      where: { externalChatId: String(chatId) },
    });
    await waitFor(
      async () =>
        (await app.services.db.inboundEvent.findUniqueOrThrow({ where: { id: event.id } })).status ===
        'PROCESSED',
      'the message to be done',
    );
    expect(calls).toBe(2);
    expect(sent(chatId)).toHaveLength(1);
  });

  it('forgets everything in every chat: a history from before "/forget all" in another chat is not read again', async () => {
    const ana = nextChat++;
    const group = -nextChat++;
    model.respond(() => say('noted'));
    await write('My sister Bia has a peanut allergy', group, ana);
    await reply(group);
    // In her own chat, everything forgotten.
    await write('/forget all', ana);
    expect(await reply(ana)).toMatch(/forg/i);
    let seen = '';
    model.respond((body: Body) => {
      seen = JSON.stringify(body);
      return say('hello');
    });
    await write('What do you know about us?', group, ana);
    await reply(group, 2);
    expect(seen).toContain('What do you know about us?');
    expect(seen).not.toContain('peanut');
  });

  it('keeps one history per person in a group chat', async () => {
    const group = -nextChat++;
    model.respond(() => say('noted'));
    await write('My address is Rua Secreta 1', group, nextChat++);
    await reply(group);
    let seen = '';
    model.respond((body: Body) => {
      seen = JSON.stringify(body.messages);
      return say('hello');
    });
    await write('What did the others say?', group, nextChat++);
    await reply(group, 2);
    expect(seen).not.toContain('Rua Secreta');
  });

  it("sends a person's notices to their own chat, never to a group they wrote in (whoever wrote there last)", async () => {
    const ana = nextChat++;
    const group = -nextChat++;
    model.respond(() => say('hi'));
    await write('hello', ana);
    await reply(ana);
    await write('hello all', group, ana);
    await reply(group);
    // Someone else writes in the group afterwards: it is the chat written to last.
    await write('me too', group, nextChat++);
    await reply(group, 2);
    const userId = await userOf(ana);
    // Her own chat's message was a while ago (the updates carry whole seconds only).
    await app.services.db.chat.updateMany({
      where: { platform: 'TELEGRAM', externalChatId: String(ana) },
      data: { lastInboundAt: new Date(Date.now() - 3_600_000) },
    });
    const own = await app.services.db.chat.findFirstOrThrow({
      where: { platform: 'TELEGRAM', externalChatId: String(ana) },
    });
    const shared = await app.services.db.chat.findFirstOrThrow({
      where: { platform: 'TELEGRAM', externalChatId: String(group) },
    });
    expect(own).toMatchObject({ userId, shared: false });
    expect(shared).toMatchObject({ userId, shared: true });
    expect(shared.lastInboundAt!.getTime()).toBeGreaterThan(own.lastInboundAt!.getTime());

    const notice = {
      userId,
      kind: 'booking.not_answered_yet' as const,
      params: {
        venue: 'Casa do Mar',
        partySize: 2,
        startsAt: new Date(Date.now() + 86_400_000),
        timeZone: ZONE,
      },
    };
    expect(await queueNotice(app.services.db, { ...notice, dedupeKey: `group-test:${ana}` })).toEqual({
      queued: true,
      via: 'CHAT',
    });
    // Named by its caller, a shared chat is passed over all the same.
    await queueNotice(app.services.db, {
      ...notice,
      chatId: shared.id,
      dedupeKey: `group-test-chosen:${ana}`,
    });
    const notices = await app.services.db.outboundMessage.findMany({
      where: { userId, kind: 'booking.not_answered_yet' },
    });
    expect(notices.map((n) => n.chatId)).toEqual([own.id, own.id]);
  });

  it('reads a local time in the zone of the place a person shared, as the prompt gives their time in', async () => {
    const chatId = nextChat++;
    model.respond(() => say('hi'));
    await write('hello', chatId);
    await reply(chatId);
    const userId = await userOf(chatId);
    // They shared where they are (Singapore) and have no zone of their own.
    await app.services.db.user.update({
      where: { id: userId },
      data: { latitude: 1.29, longitude: 103.85, timeZone: null },
    });
    weather.setForecast({ timeZone: 'Asia/Singapore', utcOffsetSeconds: 8 * 3600 });
    let system = '';
    try {
      model.respond((body: Body) => {
        system = JSON.stringify(body.system);
        return toolResults(body).length === 0
          ? call(use('set_reminder', { when: '2027-01-05T18:00', text: 'Call mum' }))
          : say('I will remind you.');
      });
      await write('Remind me to call mum on 5 January at 6pm', chatId);
      expect(await reply(chatId, 2)).toBe('I will remind you.');
    } finally {
      weather.setForecast({ timeZone: 'Europe/Lisbon', utcOffsetSeconds: 3600 });
    }
    expect(system).toContain('(Asia/Singapore)');
    expect(system).not.toContain('time zone is unknown');
    // Not kept as theirs: the next place they share is the next zone.
    expect((await app.services.db.user.findUniqueOrThrow({ where: { id: userId } })).timeZone).toBeNull();
    const [reminder] = await app.services.db.reminder.findMany({ where: { userId } });
    expect(reminder!.dueAt.toISOString()).toBe('2027-01-05T10:00:00.000Z');
  });

  it('/deleteaccount deletes the account of a person who only chats, /restore keeps it; in their own chat only', async () => {
    const before = model.requests.length;
    const db = app.services.db;
    const { chatId } = await write('/deleteaccount');
    const userId = await userOf(chatId);
    const deletedAt = async () => (await db.user.findUniqueOrThrow({ where: { id: userId } })).deletedAt;
    expect(await reply(chatId)).toMatch(/To go ahead, send \/deleteaccount DELETE$/);
    await write('/deleteaccount delete', chatId);
    expect(await reply(chatId, 2)).toMatch(/To go ahead, send \/deleteaccount DELETE$/);
    expect(await deletedAt()).toBeNull();

    // The sole owner of an organisation with a venue is told what to do first.
    const organization = await db.organization.create({
      data: {
        name: 'Solo Tapas',
        memberships: { create: { userId, role: 'OWNER' } },
        venues: { create: { name: 'Solo Tapas', slug: `solo-tapas-${userId}`, timeZone: 'Europe/Lisbon' } },
      },
    });
    await write('/deleteaccount DELETE', chatId);
    expect(await reply(chatId, 3)).toBe(
      'You are the only owner of Solo Tapas: make someone else an owner first, then send /deleteaccount again.',
    );
    expect(await deletedAt()).toBeNull();
    await db.organization.delete({ where: { id: organization.id } });

    // Not in a group: the group would read the answer.
    const group = nextChat++;
    await write('/deleteaccount DELETE', group, chatId);
    expect(await reply(group)).toBe('Send /deleteaccount to me in a private chat, not in a group.');
    expect(await deletedAt()).toBeNull();

    await write('/deleteaccount DELETE', chatId);
    const done = await reply(chatId, 4);
    const deleted = await deletedAt();
    expect(deleted).not.toBeNull();
    const purgeOn = new Date(deleted!.getTime() + 30 * 86_400_000).toLocaleDateString('en-GB', {
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      timeZone: 'UTC',
    });
    expect(done).toBe(
      `Done — your account is deleted and will be erased on ${purgeOn}. Changed your mind? Send /restore before then.`,
    );
    await write('Book me a table', chatId);
    expect(await reply(chatId, 5)).toBe(deletedAccountReply(deleted!));
    expect(await reply(chatId, 5)).toContain('send /restore here');

    await write('/restore', chatId);
    expect(await reply(chatId, 6)).toBe(
      'Welcome back — your account is kept, as it was. What can I do for you?',
    );
    expect(await deletedAt()).toBeNull();
    await write('/restore', chatId);
    expect(await reply(chatId, 7)).toBe('Your account is not being deleted: there is nothing to restore.');
    expect(model.requests.length).toBe(before);
  });

  it('answers a person whose account is being deleted with that alone: no model, nothing kept', async () => {
    const { chatId } = await write('Hi!');
    expect(await reply(chatId)).toBe('Hello!');
    const userId = await userOf(chatId);
    const deletedAt = new Date();
    await app.services.db.user.update({ where: { id: userId }, data: { deletedAt } });
    const before = model.requests.length;

    await write('Remember that I love sushi', chatId);
    expect(await reply(chatId, 2)).toBe(deletedAccountReply(deletedAt));
    expect(model.requests.length).toBe(before);
    expect(await app.services.db.memory.count({ where: { userId } })).toBe(0);
  });
});
