import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drainSends, MAX_SEND_ATTEMPTS, queueMessage } from '../../src/domain/channels/outbound.ts';
import { escapeMarkdownV2 } from '../../src/integrations/telegram/client.ts';
import { startAppWithWorker, stopAll, TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import { outbox } from '../factories/channels.ts';
import { type FakeBotApi, postUpdate, startFakeBotApi, textUpdate } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const { name: BOT, secret: SECRET, token: TOKEN } = TELEGRAM_BOT;

let api: FakeBotApi;
let app: TestApp;
let worker: WorkerApp;
let nextChat = Math.floor(Math.random() * 1_000_000_000);

beforeAll(async () => {
  api = await startFakeBotApi();
  ({ app, worker } = await startAppWithWorker(telegramEnv(api)));
});
afterAll(() => stopAll(worker, app, api));

/** A person who has written to the bot, so they have a chat to be answered on. */
async function person() {
  const chatId = nextChat++;
  await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'hello' }));
  const chat = await waitFor(
    () => app.services.db.chat.findFirst({ where: { platform: 'TELEGRAM', externalChatId: String(chatId) } }),
    'the chat to be known',
  );
  return { chatId, userId: chat.userId, chat };
}

const { send, row } = outbox(() => app);
const sentTo = (chatId: number) =>
  api.calls.filter((c) => c.method === 'sendMessage' && String(c.params.chat_id) === String(chatId));

/** Telegram's 429, asking to wait a second. */
const TOO_MANY_REQUESTS = {
  status: 429,
  body: {
    ok: false,
    error_code: 429,
    description: 'Too Many Requests: retry after 1',
    parameters: { retry_after: 1 },
  },
};

describe('send queue', () => {
  it('delivers to the chat the person last wrote in, escaped for MarkdownV2, and records the message id', async () => {
    const { chatId, userId } = await person();
    const key = await send(userId, 'Table for 2 at 20:00 (Fri). Price: 10.50€ - see you!');
    const sent = await waitFor(
      async () => ((await row(key)).status === 'SENT' ? row(key) : null),
      'the message to be sent',
    );
    const [call] = sentTo(chatId);
    expect(call!.token).toBe(TOKEN);
    expect(call!.params).toMatchObject({
      parse_mode: 'MarkdownV2',
      text: 'Table for 2 at 20:00 \\(Fri\\)\\. Price: 10\\.50€ \\- see you\\!',
    });
    expect(sent.externalMessageId).toMatch(/^\d+$/);
    expect(escapeMarkdownV2('_*[]()~`>#+-=|{}.!\\')).toBe(
      '\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\',
    );
  });

  it("keeps a chat's messages in order, at most one a second", async () => {
    const { chatId, userId } = await person();
    const keys: string[] = [];
    for (const n of [1, 2, 3]) keys.push(await send(userId, `message ${n}`));
    await waitFor(
      async () => (await Promise.all(keys.map(row))).every((r) => r.status === 'SENT'),
      'all three to be sent',
      15_000,
    );
    const calls = sentTo(chatId);
    expect(calls.map((c) => c.params.text)).toEqual(['message 1', 'message 2', 'message 3']);
    for (let i = 1; i < calls.length; i++)
      expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(900);
  });

  it('waits as long as a 429 says, then sends', async () => {
    const { chatId, userId } = await person();
    api.failNext('sendMessage', 1, TOO_MANY_REQUESTS);
    const key = await send(userId, 'after the wait');
    await waitFor(
      async () => (await row(key)).status === 'SENT',
      'the message to be sent after retry_after',
      15_000,
    );
    const calls = api.calls.filter(
      (c) => String(c.params.chat_id) === String(chatId) && c.method === 'sendMessage',
    );
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect((await row(key)).attempts).toBe(2);
  });

  it('waits out a 429 however many tries the message has had: a rate limit is never a reason to give up', async () => {
    const { chatId, userId } = await person();
    api.failNext('sendMessage', 1, TOO_MANY_REQUESTS);
    // A message that has had its share of tries already (a busy group's), queued as one.
    const dedupeKey = `test:busy:${chatId}`;
    await app.services.db.$transaction(async (tx) => {
      await queueMessage(tx, { userId, kind: 'test', body: 'still coming', dedupeKey });
      await tx.outboundMessage.update({ where: { dedupeKey }, data: { attempts: MAX_SEND_ATTEMPTS - 1 } });
    });
    await waitFor(
      async () => (await row(dedupeKey)).status !== 'PENDING',
      'the message to be sent after retry_after',
      15_000,
    );
    expect(await row(dedupeKey)).toMatchObject({ status: 'SENT', attempts: MAX_SEND_ATTEMPTS + 1 });
  });

  it('gives up on failures alone: a 5xx after many rate limits is tried again', async () => {
    const { userId } = await person();
    api.failNext('sendMessage', 1, {
      status: 502,
      body: { ok: false, error_code: 502, description: 'Bad Gateway' },
    });
    // A message a busy group's rate limit answered nine times already.
    const dedupeKey = `test:limited:${userId}`;
    await app.services.db.$transaction(async (tx) => {
      await queueMessage(tx, { userId, kind: 'test', body: 'after the crowd', dedupeKey });
      await tx.outboundMessage.update({
        where: { dedupeKey },
        data: { attempts: MAX_SEND_ATTEMPTS - 1, rateLimits: MAX_SEND_ATTEMPTS - 1 },
      });
    });
    await waitFor(async () => (await row(dedupeKey)).status !== 'PENDING', 'the message to be sent', 15_000);
    expect(await row(dedupeKey)).toMatchObject({
      status: 'SENT',
      attempts: MAX_SEND_ATTEMPTS + 1,
      rateLimits: MAX_SEND_ATTEMPTS - 1,
    });
  });

  it('retries a 5xx with backoff', async () => {
    const { userId } = await person();
    api.failNext('sendMessage', 1, {
      status: 502,
      body: { ok: false, error_code: 502, description: 'Bad Gateway' },
    });
    const key = await send(userId, 'despite a hiccup');
    await waitFor(
      async () => (await row(key)).status === 'SENT',
      'the message to be sent after a 5xx',
      15_000,
    );
  });

  it('sends once when recording the sent message fails at first: the record is written again, the message not sent again', async () => {
    const { chatId, userId } = await person();
    const db = app.services.db;
    // The first write of this chat's message as SENT fails (as under a passing database fault).
    await db.$executeRawUnsafe('CREATE SEQUENCE IF NOT EXISTS sent_record_faults');
    await db.$executeRawUnsafe(`
      CREATE OR REPLACE FUNCTION fail_sent_record() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.status = 'SENT' AND NEW.body = 'recorded late' AND nextval('sent_record_faults') = 1 THEN
          RAISE EXCEPTION 'refused for the test';
        END IF;
        RETURN NEW;
      END $$`);
    await db.$executeRawUnsafe(
      'CREATE TRIGGER fail_sent_record BEFORE UPDATE ON outbound_messages FOR EACH ROW EXECUTE FUNCTION fail_sent_record()',
    );
    try {
      const key = await send(userId, 'recorded late');
      await waitFor(async () => (await row(key)).status === 'SENT', 'the message to be recorded as sent');
      expect(sentTo(chatId).filter((c) => c.params.text === 'recorded late')).toHaveLength(1);
      expect((await row(key)).attempts).toBe(1);
    } finally {
      await db.$executeRawUnsafe('DROP TRIGGER fail_sent_record ON outbound_messages');
      await db.$executeRawUnsafe('DROP FUNCTION fail_sent_record()');
      await db.$executeRawUnsafe('DROP SEQUENCE sent_record_faults');
    }
  });

  it('sends nothing more once the process is stopping: the messages wait for the next drain', async () => {
    const { chatId, chat } = await person();
    const db = app.services.db;
    // Waiting in the chat's queue (no drain of their own yet).
    const waiting = await db.outboundMessage.create({
      data: {
        userId: chat.userId,
        chatId: chat.id,
        kind: 'reply',
        body: 'after the stop',
        dedupeKey: `stop:${chatId}`,
      },
    });
    const stopping = new AbortController();
    stopping.abort();
    const deps = {
      database: app.services.database,
      senders: app.services.senders,
      buckets: app.services.buckets,
      logger: app.services.logger,
      now: app.services.now,
    };
    expect(await drainSends({ ...deps, signal: stopping.signal }, chat.id)).toEqual({
      sent: 0,
      retryAfterMs: 0,
    });
    expect(await db.outboundMessage.findUniqueOrThrow({ where: { id: waiting.id } })).toMatchObject({
      status: 'PENDING',
    });
    expect(await drainSends(deps, chat.id)).toEqual({ sent: 1, retryAfterMs: null });
    expect(sentTo(chatId).filter((c) => c.params.text === 'after the stop')).toHaveLength(1);
  });

  it('fails for good when the person blocked the bot, and marks the chat unreachable until they write again', async () => {
    const { chatId, userId, chat } = await person();
    api.failNext('sendMessage', 1, {
      status: 403,
      body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' },
    });
    const key = await send(userId, 'never arrives');
    const failed = await waitFor(
      async () => ((await row(key)).status === 'FAILED' ? row(key) : null),
      'the failure',
    );
    expect(failed.failureReason).toBe('Telegram: Forbidden: bot was blocked by the user');
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).unreachableReason,
    ).toMatch(/blocked/);
    const later = await send(userId, 'also never');
    expect(await row(later)).toMatchObject({
      status: 'FAILED',
      failureReason: 'The person has no chat with us',
    });

    // A message they sent long before blocking, handled late, does not make the chat reachable.
    const blockedAt = (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } }))
      .unreachableAt!;
    const late = textUpdate({
      chatId,
      text: 'from before',
      sentAt: new Date(blockedAt.getTime() - 3_600_000),
    });
    await postUpdate(app.url, BOT, SECRET, late);
    await waitFor(
      () =>
        app.services.db.inboundEvent.findFirst({
          where: { externalId: String(late.update_id), status: { not: 'PENDING' } },
        }),
      'the late message to be handled',
    );
    expect(await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).toMatchObject({
      unreachableAt: blockedAt,
      unreachableReason: expect.stringMatching(/blocked/),
    });

    // They unblock and write: the chat is reachable again.
    await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'back' }));
    await waitFor(
      async () =>
        (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).unreachableAt === null,
      'the chat to be reachable again',
    );
    const again = await send(userId, 'welcome back');
    await waitFor(async () => (await row(again)).status === 'SENT', 'the message to be sent');
  });

  it('fails at once, visibly, for a person with no chat', async () => {
    const user = await app.services.db.user.create({ data: { email: `nochat-${Date.now()}@example.test` } });
    const key = await send(user.id, 'nowhere to go');
    expect(await row(key)).toMatchObject({
      status: 'FAILED',
      failureReason: 'The person has no chat with us',
    });
  });
});
