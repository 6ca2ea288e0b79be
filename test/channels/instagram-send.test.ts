import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppWithWorker, stopAll } from '../factories/apps.ts';
import { INSTAGRAM_ACCOUNT, instagramEnv, outbox } from '../factories/channels.ts';
import {
  type FakeGraphApi,
  graphError,
  igsid,
  postWebhook,
  readEvent,
  startFakeGraphApi,
  textEvent,
  webhookBody,
} from '../fakes/instagram.ts';
import type { TestApp } from '../helpers/app.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const {
  name: ACCOUNT,
  accountId: ACCOUNT_ID,
  accessToken: ACCESS_TOKEN,
  appSecret: APP_SECRET,
} = INSTAGRAM_ACCOUNT;

let api: FakeGraphApi;
let app: TestApp;
let worker: WorkerApp;

beforeAll(async () => {
  api = await startFakeGraphApi();
  ({ app, worker } = await startAppWithWorker(instagramEnv(api)));
});
afterAll(() => stopAll(worker, app, api));

/** A person who has written to the account, so they have a chat to be answered on. */
async function person() {
  const from = igsid();
  const res = await postWebhook(
    app.url,
    ACCOUNT,
    APP_SECRET,
    webhookBody(ACCOUNT_ID, [textEvent({ accountId: ACCOUNT_ID, from, text: 'hello' })]),
  );
  expect(res.status).toBe(200);
  const chat = await waitFor(
    () => app.services.db.chat.findFirst({ where: { platform: 'INSTAGRAM', externalChatId: from } }),
    'the chat to be known',
  );
  return { from, userId: chat.userId, chat };
}

const { send, row } = outbox(() => app, 'ig-test');
const sentTo = (from: string) => api.calls.filter((c) => c.body.recipient.id === from);
const settled = (key: string, status: 'SENT' | 'FAILED', timeoutMs?: number) =>
  waitFor(
    async () => ((await row(key)).status === status ? row(key) : null),
    `the message to be ${status}`,
    timeoutMs,
  );

describe('Instagram send queue', () => {
  it('a person writes, a message queued to them goes out on their chat, and their read receipt reaches the row', async () => {
    const { from, userId } = await person();
    const key = await send(userId, 'Your table for 4 on Friday at 20:00 is confirmed.');
    const sent = await settled(key, 'SENT');
    const [call] = sentTo(from);
    expect(call).toMatchObject({
      version: 'v23.0',
      node: 'me',
      token: ACCESS_TOKEN,
      body: {
        recipient: { id: from },
        message: { text: 'Your table for 4 on Friday at 20:00 is confirmed.' },
      },
    });
    expect(sent.externalMessageId).toBe(call!.messageId);

    const read = readEvent({ accountId: ACCOUNT_ID, from, mid: sent.externalMessageId! });
    await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [read]));
    expect(await row(key)).toMatchObject({ status: 'READ', readAt: new Date(read.timestamp) });
  });

  it('sends images by URL, then the text with up to 13 quick replies', async () => {
    const { from, userId } = await person();
    const buttons = Array.from({ length: 15 }, (_, i) => ({
      id: `slot:${i}`,
      title: `A very long title for option ${i}`,
    }));
    const key = await send(userId, 'Which time suits you?', {
      images: [{ url: 'https://cdn.agnt.test/menu.jpg' }],
      buttons,
    });
    const sent = await settled(key, 'SENT');
    const calls = sentTo(from);
    expect(calls.map((c) => c.body.message)).toEqual([
      { attachment: { type: 'image', payload: { url: 'https://cdn.agnt.test/menu.jpg' } } },
      {
        text: 'Which time suits you?',
        quick_replies: buttons.slice(0, 13).map((b) => ({
          content_type: 'text',
          title: b.title.slice(0, 20),
          payload: b.id,
        })),
      },
    ]);
    // The text's mid: the last thing the person sees, the one a read receipt will name.
    expect(sent.externalMessageId).toBe(calls[1]!.messageId);
  });

  it('refuses for good outside the 24-hour window, without calling Instagram', async () => {
    const { from, userId, chat } = await person();
    await app.services.db.chat.update({
      where: { id: chat.id },
      data: { lastInboundAt: new Date(Date.now() - 25 * 3_600_000) },
    });
    const key = await send(userId, 'Too late for this one');
    const failed = await settled(key, 'FAILED');
    expect(failed.failureReason).toMatch(/within 24 hours of their last message/);
    expect(sentTo(from)).toEqual([]);
    // The window closes; the person stays reachable, and writing again reopens it.
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).unreachableAt,
    ).toBeNull();
  });

  it('waits out a rate limit (HTTP 429 with Retry-After, or code 613 without), then sends', async () => {
    const { from, userId } = await person();
    api.failNext(
      1,
      {
        status: 429,
        body: graphError(4, 'Application request limit reached'),
        headers: { 'retry-after': '1' },
      },
      from,
    );
    api.failNext(
      1,
      { status: 400, body: graphError(613, 'Calls to this api have exceeded the rate limit.') },
      from,
    );
    const key = await send(userId, 'after the wait');
    const sent = await settled(key, 'SENT', 15_000);
    const calls = sentTo(from);
    expect(calls).toHaveLength(3);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(sent.attempts).toBe(3);
  });

  it('after a failure part-way, goes on from the first part not delivered: nothing is sent twice', async () => {
    const { from, userId } = await person();
    // The image goes out; the text under it meets a 5xx, then goes out on the next attempt.
    api.failNext(1, { status: 503, body: graphError(2, 'Service temporarily unavailable') }, from, {
      after: 1,
    });
    const key = await send(userId, 'Our terrace menu', {
      images: [{ url: 'https://cdn.agnt.test/terrace.jpg' }],
      buttons: [{ id: 'book', title: 'Book a table' }],
    });
    const sent = await settled(key, 'SENT', 15_000);
    const calls = sentTo(from);
    expect(calls.map((c) => c.body.message)).toEqual([
      { attachment: { type: 'image', payload: { url: 'https://cdn.agnt.test/terrace.jpg' } } },
      expect.objectContaining({ text: 'Our terrace menu' }),
      expect.objectContaining({ text: 'Our terrace menu' }),
    ]);
    // The first text was refused; the second attempt sent the text alone, not the image again.
    expect(calls[1]!.messageId).toBeNull();
    expect(sent).toMatchObject({
      attempts: 2,
      partsSent: 1,
      partsOf: 2,
      externalMessageId: calls[2]!.messageId,
    });
  });

  it('retries a 5xx with backoff', async () => {
    const { from, userId } = await person();
    api.failNext(1, { status: 503, body: graphError(2, 'Service temporarily unavailable') }, from);
    const key = await send(userId, 'despite a hiccup');
    await settled(key, 'SENT', 15_000);
    expect(sentTo(from)).toHaveLength(2);
  });

  it('fails for good when the person is not available, and marks the chat unreachable until they write again', async () => {
    const { from, userId, chat } = await person();
    api.failNext(
      1,
      { status: 400, body: graphError(551, "This person isn't available right now.", 1545041) },
      from,
    );
    const key = await send(userId, 'never arrives');
    const failed = await settled(key, 'FAILED');
    expect(failed.failureReason).toBe("Instagram: This person isn't available right now., code 551/1545041");
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).unreachableReason,
    ).toMatch(/isn't available/);
    const later = await send(userId, 'also never');
    expect(await row(later)).toMatchObject({
      status: 'FAILED',
      failureReason: 'The person has no chat with us',
    });

    // They write again: the chat is reachable again.
    await postWebhook(
      app.url,
      ACCOUNT,
      APP_SECRET,
      webhookBody(ACCOUNT_ID, [textEvent({ accountId: ACCOUNT_ID, from, text: 'back' })]),
    );
    await waitFor(
      async () =>
        (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).unreachableAt === null,
      'the chat to be reachable again',
    );
    const again = await send(userId, 'welcome back');
    await settled(again, 'SENT');
  });

  it('treats code 10/2018108 as unreachable, and other refusals as failing only the message', async () => {
    const blocked = await person();
    api.failNext(
      1,
      { status: 400, body: graphError(10, 'Message cannot be sent to this user', 2018108) },
      blocked.from,
    );
    await settled(await send(blocked.userId, 'blocked'), 'FAILED');
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: blocked.chat.id } })).unreachableAt,
    ).not.toBeNull();

    const other = await person();
    api.failNext(1, { status: 400, body: graphError(100, 'Invalid parameter') }, other.from);
    api.failNext(
      1,
      { status: 400, body: graphError(10, 'This message is sent outside of allowed window.', 2534022) },
      other.from,
    );
    const first = await settled(await send(other.userId, 'bad'), 'FAILED');
    expect(first.failureReason).toBe('Instagram: Invalid parameter, code 100');
    const second = await settled(await send(other.userId, 'late'), 'FAILED');
    expect(second.failureReason).toMatch(/outside Instagram's 24-hour messaging window/);
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: other.chat.id } })).unreachableAt,
    ).toBeNull();
    expect(sentTo(other.from)).toHaveLength(2);
  });
});
