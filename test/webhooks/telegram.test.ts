import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buttonUpdate, postUpdate, textUpdate } from '../fakes/telegram.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_WORKER_ENV, startWorkerApp, type WorkerApp, waitFor } from '../helpers/jobs.ts';

const BOT = 'agnt';
const SECRET = 'a-webhook-secret-of-some-length';
const TOKEN = '123456789:AAH-fake-token-for-the-test-bot';

let app: TestApp;
let worker: WorkerApp;
let nextChat = Math.floor(Math.random() * 1_000_000_000);

beforeAll(async () => {
  app = await startTestApp({
    env: { ...FAST_WORKER_ENV, TELEGRAM_BOTS: JSON.stringify([{ name: BOT, token: TOKEN, secret: SECRET }]) },
  });
  worker = await startWorkerApp(app);
});
afterAll(async () => {
  await worker.stop();
  await app.close();
});

const events = (chatId: number) =>
  app.services.db.inboundEvent.findMany({
    where: { platform: 'TELEGRAM', account: BOT, externalChatId: String(chatId) },
    orderBy: { sequence: 'asc' },
  });

describe('Telegram webhook', () => {
  it('stores an update, answers 200, and processes it: a new person gets a user, an identity and a consumer agent', async () => {
    const chatId = nextChat++;
    const update = textUpdate({ chatId, text: 'A table for 2 tomorrow at 8pm?', firstName: 'Ana' });
    const res = await postUpdate(app.url, BOT, SECRET, update);
    expect(res.status).toBe(200);
    const [stored] = await events(chatId);
    expect(stored).toMatchObject({ externalId: String(update.update_id), eventType: 'message' });
    expect(stored!.normalized).toMatchObject({
      platform: 'TELEGRAM',
      account: BOT,
      externalChatId: String(chatId),
      text: 'A table for 2 tomorrow at 8pm?',
      sender: { externalId: String(chatId), displayName: 'Ana', language: 'pt' },
    });
    await waitFor(
      async () => (await events(chatId))[0]?.status === 'PROCESSED',
      'the message to be processed',
    );
    const identity = await app.services.db.channelIdentity.findUniqueOrThrow({
      where: { platform_externalId: { platform: 'TELEGRAM', externalId: String(chatId) } },
      include: { user: { include: { agent: true } } },
    });
    expect(identity.user.displayName).toBe('Ana');
    expect(identity.user.agent).toMatchObject({ kind: 'CONSUMER' });
  });

  it('refuses a wrong, missing or oddly sized secret with 401 and stores nothing', async () => {
    const chatId = nextChat++;
    for (const secret of [null, 'wrong', `${SECRET}x`, '', 'x'.repeat(10_000)]) {
      const res = await postUpdate(app.url, BOT, secret, textUpdate({ chatId, text: 'hi' }));
      expect(res.status, String(secret).slice(0, 20)).toBe(401);
    }
    expect(await events(chatId)).toEqual([]);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/webhook_requests_total\{platform="telegram",outcome="unauthorized"\} [5-9]/);
    expect(
      (await postUpdate(app.url, 'no-such-bot', SECRET, textUpdate({ chatId, text: 'hi' }))).status,
    ).toBe(404);
  });

  it('stores and processes a redelivery storm once', async () => {
    const chatId = nextChat++;
    const update = textUpdate({ chatId, text: 'same update, fifty times' });
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => postUpdate(app.url, BOT, SECRET, update)),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(50).fill(200));
    await waitFor(async () => (await events(chatId))[0]?.status === 'PROCESSED', 'processing');
    expect(await events(chatId)).toHaveLength(1);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(
      /webhook_requests_total\{platform="telegram",outcome="duplicate"\} (49|[5-9]\d|\d{3,})/,
    );
  });

  it('keeps malformed and unknown bodies for inspection, answering 200 so Telegram stops retrying', async () => {
    const before = await app.services.db.inboundEvent.count({ where: { account: BOT, status: 'FAILED' } });
    expect((await postUpdate(app.url, BOT, SECRET, '{"update_id": 1, "message": ')).status).toBe(200);
    expect((await postUpdate(app.url, BOT, SECRET, '{"no_update_id": true}')).status).toBe(200);
    const failed = await app.services.db.inboundEvent.findMany({
      where: { account: BOT, status: 'FAILED' },
      orderBy: { sequence: 'desc' },
      take: 2,
    });
    expect(await app.services.db.inboundEvent.count({ where: { account: BOT, status: 'FAILED' } })).toBe(
      before + 2,
    );
    expect(failed.map((e) => e.eventType).sort()).toEqual(['malformed', 'unknown']);
  });

  it('keeps an update whose kind holds text PostgreSQL cannot store (NUL), answering 200', async () => {
    const updateId = Math.floor(Math.random() * 1e9);
    const body = `{"update_id": ${updateId}, "odd\\u0000kind": {"x": "a\\u0000b"}}`;
    expect((await postUpdate(app.url, BOT, SECRET, body)).status).toBe(200);
    const [kept] = await app.services.db.inboundEvent.findMany({
      where: { account: BOT, externalId: String(updateId) },
    });
    expect(kept).toMatchObject({ eventType: 'odd\ufffdkind', status: 'IGNORED' });
  });

  it('ignores updates it does not act on, but keeps them', async () => {
    const chatId = nextChat++;
    const edit = {
      update_id: Math.floor(Math.random() * 1e9),
      edited_message: textUpdate({ chatId, text: 'edited' }).message,
    };
    expect((await postUpdate(app.url, BOT, SECRET, JSON.stringify(edit))).status).toBe(200);
    expect((await events(chatId)).map((e) => [e.eventType, e.status])).toEqual([
      ['edited_message', 'IGNORED'],
    ]);
  });

  it('ignores what no person said in a group: service messages, other bots, and a chat speaking as itself', async () => {
    const chatId = -nextChat++;
    const said = (extra: Record<string, unknown>, fromId = 4242) => {
      const update = textUpdate({ chatId, fromId, text: 'x' }) as unknown as {
        update_id: number;
        message: Record<string, unknown>;
      };
      delete update.message.text;
      Object.assign(update.message, extra);
      return JSON.stringify(update);
    };
    const updates = [
      // Someone joined, and someone pinned a message.
      said({ new_chat_members: [{ id: 5151, is_bot: false, first_name: 'Rui' }] }),
      said({ pinned_message: { message_id: 1, date: 1, chat: { id: chatId, type: 'group' } } }),
      // Another bot talking.
      said({ text: 'I am a bot', from: { id: 6161, is_bot: true, first_name: 'OtherBot' } }),
      // An anonymous admin: from is Telegram's shared stand-in, sender_chat the group itself.
      said(
        {
          text: 'book us a table',
          from: { id: 1087968824, is_bot: true, first_name: 'Group', username: 'GroupAnonymousBot' },
          sender_chat: { id: chatId, type: 'supergroup', title: 'Friends' },
        },
        1087968824,
      ),
      // A linked channel's post, forwarded into the group.
      said(
        {
          text: 'news',
          from: { id: 777000, is_bot: false, first_name: 'Telegram' },
          sender_chat: { id: -1009999, type: 'channel', title: 'News' },
          is_automatic_forward: true,
        },
        777000,
      ),
    ];
    for (const update of updates) expect((await postUpdate(app.url, BOT, SECRET, update)).status).toBe(200);
    expect((await events(chatId)).map((e) => e.status)).toEqual(Array(updates.length).fill('IGNORED'));
    // Nobody became a person from them.
    for (const externalId of ['5151', '6161', '1087968824', '777000']) {
      expect(
        await app.services.db.channelIdentity.count({ where: { platform: 'TELEGRAM', externalId } }),
      ).toBe(0);
    }
  });

  it("processes one chat's messages one at a time, in order, while chats run in parallel", async () => {
    const chats = [nextChat++, nextChat++, nextChat++];
    // Many messages per chat, delivered concurrently within and across chats.
    const updates = chats.flatMap((chatId) =>
      Array.from({ length: 12 }, (_, i) => textUpdate({ chatId, text: `${chatId}:${i}` })),
    );
    await Promise.all(updates.map((u) => postUpdate(app.url, BOT, SECRET, u)));
    for (const chatId of chats) {
      await waitFor(
        async () => (await events(chatId)).every((e) => e.status === 'PROCESSED'),
        `chat ${chatId} to drain`,
        20_000,
      );
      const rows = await events(chatId);
      expect(rows).toHaveLength(12);
      // Processed in the order they were stored (by sequence), one after another.
      const times = rows.map((r) => r.processedAt!.getTime());
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  });

  it('normalises button presses', async () => {
    const chatId = nextChat++;
    const res = await postUpdate(
      app.url,
      BOT,
      SECRET,
      buttonUpdate({ chatId, data: 'confirm:quote-1', messageId: 77 }),
    );
    expect(res.status).toBe(200);
    const [event] = await events(chatId);
    expect(event!.normalized).toMatchObject({
      button: { payload: 'confirm:quote-1', callbackId: expect.any(String) },
      replyTo: '77',
      text: null,
    });
  });
});
