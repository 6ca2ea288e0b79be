import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WINDOW_CLOSED,
  whatsappMessage,
  whatsappMessages,
  whatsappSendError,
} from '../../src/integrations/whatsapp/client.ts';
import { startAppWithWorker, stopAll } from '../factories/apps.ts';
import {
  D360_SECRET,
  outbox,
  WHATSAPP_APP_SECRET,
  WHATSAPP_D360,
  WHATSAPP_META,
  whatsappEnv,
} from '../factories/channels.ts';
import {
  type FakeCloudApi,
  graphError,
  messages,
  post360,
  postMeta,
  startFakeCloudApi,
  statusUpdate,
  waNumber,
  webhookPayload,
} from '../fakes/whatsapp.ts';
import type { TestApp } from '../helpers/app.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const APP_SECRET = WHATSAPP_APP_SECRET;
const META = WHATSAPP_META;
const D360 = WHATSAPP_D360;

let api: FakeCloudApi;
let app: TestApp;
let worker: WorkerApp;

beforeAll(async () => {
  api = await startFakeCloudApi();
  ({ app, worker } = await startAppWithWorker(whatsappEnv(api)));
});
afterAll(() => stopAll(worker, app, api));

/**
 * A person who wrote to one of our numbers `hoursAgo` hours ago (by WhatsApp's timestamp), so
 * they have a chat to be answered on, with its 24-hour window open or not.
 */
async function person(options: { number?: typeof META | typeof D360; hoursAgo?: number } = {}) {
  const number = options.number ?? META;
  const from = waNumber();
  const timestamp = Math.floor(Date.now() / 1000 - (options.hoursAgo ?? 0) * 3600);
  const body = webhookPayload({
    phoneNumberId: number.phoneNumberId,
    messages: [messages.text({ from, text: 'hello', timestamp })],
  });
  const res =
    number.provider === 'meta'
      ? await postMeta(app.url, number.name, APP_SECRET, body)
      : await post360(app.url, number.name, D360_SECRET, body);
  expect(res.status).toBe(200);
  const chat = await waitFor(
    () => app.services.db.chat.findFirst({ where: { platform: 'WHATSAPP', externalChatId: from } }),
    'the chat to be known',
  );
  return { from, userId: chat.userId, chat };
}

const { send, row } = outbox(() => app, 'wa-test');
const settled = (dedupeKey: string, what: string, timeoutMs?: number) =>
  waitFor(
    async () => {
      const r = await row(dedupeKey);
      return r.status !== 'PENDING' ? r : null;
    },
    what,
    timeoutMs,
  );
const TEMPLATE = { name: 'booking_reminder', language: 'pt_PT', parameters: ['Ana', 'Sexta 20:00'] };

describe('WhatsApp send queue', () => {
  it('sends free text inside the 24-hour window through the Graph API, and receipts move it to read', async () => {
    const { from, userId } = await person();
    const key = await send(userId, 'Table for 2 at 20:00 *Friday*');
    const sent = await settled(key, 'the message to be sent');
    expect(sent.status).toBe('SENT');
    const [call] = api.callsTo(from);
    expect(call).toMatchObject({
      style: 'meta',
      phoneNumberId: META.phoneNumberId,
      credential: `Bearer ${META.accessToken}`,
      body: {
        messaging_product: 'whatsapp',
        recipient_type: 'individual',
        to: from,
        type: 'text',
        text: { body: 'Table for 2 at 20:00 *Friday*', preview_url: false },
      },
    });
    expect(sent.externalMessageId).toBe(call!.answeredId);

    // End to end: WhatsApp's receipts come back through the webhook.
    for (const status of ['sent', 'delivered', 'read']) {
      await postMeta(
        app.url,
        META.name,
        APP_SECRET,
        webhookPayload({
          phoneNumberId: META.phoneNumberId,
          statuses: [statusUpdate({ id: sent.externalMessageId!, status, recipient: from })],
        }),
      );
    }
    expect(await row(key)).toMatchObject({
      status: 'READ',
      deliveredAt: expect.any(Date),
      readAt: expect.any(Date),
    });
  });

  it('applies receipts that overtook its record of the send once the message is recorded, and holds none for a message it knows', async () => {
    const { from, userId } = await person();
    const receipt = (id: string, status: string) =>
      postMeta(
        app.url,
        META.name,
        APP_SECRET,
        webhookPayload({
          phoneNumberId: META.phoneNumberId,
          statuses: [statusUpdate({ id, status, recipient: from })],
        }),
      );
    // WhatsApp's webhooks for the message come before its answer to the send.
    let overtaken = '';
    const answers: number[] = [];
    let held: string[] = [];
    api.beforeAnswer = async (call) => {
      if (call.body.to !== from || !call.answeredId) return;
      overtaken = call.answeredId;
      for (const status of ['delivered', 'read']) answers.push((await receipt(overtaken, status)).status);
      held = (await app.services.db.heldReceipt.findMany({ where: { externalMessageId: overtaken } }))
        .map((r) => r.status)
        .sort();
    };
    const key = await send(userId, 'Your table is ready');
    await waitFor(async () => (await row(key)).status === 'READ', 'the message to be read');
    api.beforeAnswer = null;
    expect(answers).toEqual([200, 200]);
    expect(held).toEqual(['DELIVERED', 'READ']);
    expect(await row(key)).toMatchObject({
      status: 'READ',
      externalMessageId: overtaken,
      deliveredAt: expect.any(Date),
      readAt: expect.any(Date),
    });
    expect(await app.services.db.heldReceipt.count({ where: { externalMessageId: overtaken } })).toBe(0);

    // A receipt that comes again, or late (delivered after read), changes nothing and is not held.
    expect((await receipt(overtaken, 'delivered')).status).toBe(200);
    expect(await row(key)).toMatchObject({ status: 'READ' });
    expect(await app.services.db.heldReceipt.count({ where: { externalMessageId: overtaken } })).toBe(0);
  });

  it('sends through 360dialog with the D360-API-KEY', async () => {
    const { from, userId } = await person({ number: D360 });
    const key = await send(userId, 'via 360dialog');
    expect((await settled(key, 'the message to be sent')).status).toBe('SENT');
    expect(api.callsTo(from)).toMatchObject([
      {
        style: '360dialog',
        phoneNumberId: null,
        credential: D360.accessToken,
        body: { messaging_product: 'whatsapp', to: from, type: 'text', text: { body: 'via 360dialog' } },
      },
    ]);
  });

  it('renders images, up to 3 reply buttons, lists and templates', async () => {
    const { from, userId } = await person();
    const keys = [
      await send(userId, 'Our terrace', { images: [{ url: 'https://cdn.example/terrace.jpg' }] }),
      await send(userId, 'Confirm the table?', {
        images: [{ url: 'https://cdn.example/table.jpg' }],
        buttons: [
          { id: 'confirm:q1', title: 'Confirm' },
          { id: 'decline:q1', title: 'No, thank you very much indeed' },
        ],
      }),
      await send(userId, 'Which time?', {
        buttons: ['19:00', '19:30', '20:00', '20:30', '21:00'].map((t) => ({ id: `slot:${t}`, title: t })),
      }),
    ];
    for (const key of keys)
      expect((await settled(key, 'the message to be sent', 15_000)).status).toBe('SENT');
    const bodies = api.callsTo(from).map((c) => c.body);
    expect(bodies[0]).toMatchObject({
      type: 'image',
      image: { link: 'https://cdn.example/terrace.jpg', caption: 'Our terrace' },
    });
    expect(bodies[1]).toMatchObject({
      type: 'interactive',
      interactive: {
        type: 'button',
        header: { type: 'image', image: { link: 'https://cdn.example/table.jpg' } },
        body: { text: 'Confirm the table?' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: 'confirm:q1', title: 'Confirm' } },
            // Titles are cut to WhatsApp's 20 characters.
            { type: 'reply', reply: { id: 'decline:q1', title: 'No, thank you very m' } },
          ],
        },
      },
    });
    expect(bodies[2]).toMatchObject({
      type: 'interactive',
      interactive: { type: 'list', body: { text: 'Which time?' }, action: { button: 'Choose' } },
    });
    expect(
      (bodies[2]!.interactive as { action: { sections: { rows: unknown[] }[] } }).action.sections[0]!.rows,
    ).toEqual(['19:00', '19:30', '20:00', '20:30', '21:00'].map((t) => ({ id: `slot:${t}`, title: t })));
    // Inside the window a message with a template still goes as its free-form self.
    expect(
      whatsappMessage(
        { externalChatId: from, windowOpen: true },
        { body: 'hi', content: { template: TEMPLATE } },
      ),
    ).toMatchObject({ type: 'text' });
  });

  it('outside the 24-hour window refuses free text for good, and sends a template', async () => {
    const { from, userId, chat } = await person({ hoursAgo: 25 });
    const refused = await send(userId, 'Your table is ready');
    expect(await settled(refused, 'the refusal')).toMatchObject({
      status: 'FAILED',
      failureReason: WINDOW_CLOSED,
    });
    expect(api.callsTo(from)).toEqual([]);
    // Not the person's fault: the chat stays reachable.
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: chat.id } })).unreachableAt,
    ).toBeNull();

    const templated = await send(userId, 'Reminder: Friday 20:00', { template: TEMPLATE });
    expect((await settled(templated, 'the template to be sent')).status).toBe('SENT');
    expect(api.callsTo(from)).toMatchObject([
      {
        body: {
          to: from,
          type: 'template',
          template: {
            name: 'booking_reminder',
            language: { code: 'pt_PT' },
            components: [
              {
                type: 'body',
                parameters: [
                  { type: 'text', text: 'Ana' },
                  { type: 'text', text: 'Sexta 20:00' },
                ],
              },
            ],
          },
        },
      },
    ]);

    // Just inside the window (23 hours ago), free text goes.
    const recent = await person({ hoursAgo: 23 });
    const key = await send(recent.userId, 'Still in time');
    expect((await settled(key, 'the message to be sent')).status).toBe('SENT');
  });

  it('retries a rate limit (429) and a 5xx with backoff, then sends', async () => {
    const { from, userId } = await person();
    api.failNext(1, { status: 429, body: graphError(130429, 'Rate limit hit') }, from);
    api.failNext(2, { status: 503, body: graphError(2, 'Service temporarily unavailable') }, from);
    const key = await send(userId, 'fourth time lucky');
    const sent = await settled(key, 'the message to be sent after retries', 25_000);
    expect(sent).toMatchObject({ status: 'SENT', attempts: 4, rateLimits: 1 });
    const calls = api.callsTo(from);
    expect(calls).toHaveLength(4);
    // Exponential backoff from 2 s, the rate limits and the failures each on their own count:
    // the rate limit waits 2 s, the first failure 2 s, the second 4 s.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1900);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(1900);
    expect(calls[3]!.at - calls[2]!.at).toBeGreaterThanOrEqual(3900);
  });

  it('sends a reply split for its buttons part by part, counting them as they go, and after a failure part-way goes on from there', async () => {
    const { from, userId } = await person();
    const note = (n: number) =>
      `${n}. Send the venue this question: "${'Is the terrace open when it rains, and is it heated? '.repeat(12).trim()}"\nTo do this, press Confirm ${n}.`;
    const notes = [note(1), note(2)];
    const tail = `\n\n${notes.join('\n')}`;
    const message = {
      body: `Here is what I can do.${tail}`,
      content: {
        buttons: notes.map((_, i) => ({ id: `confirm:split${i}`, title: `Confirm ${i + 1}` })),
        keepEnd: tail.length,
        notes,
      },
    };
    const parts = whatsappMessages({ externalChatId: from, windowOpen: true }, message);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    // The second part meets a 5xx: the first is delivered, and is not sent again.
    api.failNext(1, { status: 503, body: graphError(2, 'Service temporarily unavailable') }, from, {
      after: 1,
    });
    // While WhatsApp holds each part, the row already says how many parts came before it: what a
    // crash at that moment leaves for the next attempt, which then goes on from there.
    const counted: (number | null)[] = [];
    let key = '';
    api.beforeAnswer = async (call) => {
      if (call.body.to === from) counted.push((await row(key)).partsSent);
    };
    key = await send(userId, message.body, message.content);
    const sent = await settled(key, 'the split reply to be sent', 20_000);
    api.beforeAnswer = null;
    const calls = api.callsTo(from);
    const delivered = calls.filter((c) => c.answeredId);
    expect(delivered.map((c) => c.body)).toMatchObject(parts);
    expect(calls).toHaveLength(parts.length + 1);
    // The first part, the second (refused), then the second again and each after it.
    expect(counted).toEqual([0, 1, ...parts.slice(1).map((_, i) => i + 1)]);
    expect(sent).toMatchObject({
      status: 'SENT',
      attempts: 2,
      partsSent: parts.length - 1,
      partsOf: parts.length,
      externalMessageId: delivered.at(-1)!.answeredId,
    });
  });

  it('fails for good on re-engagement (131047), and marks the chat unreachable on undeliverable (131026)', async () => {
    const first = await person();
    api.failNext(
      1,
      { status: 400, body: graphError(131047, 'Re-engagement message', 'More than 24 hours have passed') },
      first.from,
    );
    const reengage = await send(first.userId, 'too late');
    expect(await settled(reengage, 'the failure')).toMatchObject({
      status: 'FAILED',
      failureReason: 'WhatsApp 131047: (#131047) Re-engagement message (More than 24 hours have passed)',
    });
    expect(
      (await app.services.db.chat.findUniqueOrThrow({ where: { id: first.chat.id } })).unreachableAt,
    ).toBeNull();

    const second = await person();
    api.failNext(1, { status: 400, body: graphError(131026, 'Message undeliverable') }, second.from);
    const undeliverable = await send(second.userId, 'nobody home');
    expect(await settled(undeliverable, 'the failure')).toMatchObject({
      status: 'FAILED',
      failureReason: expect.stringMatching(/^WhatsApp 131026/),
    });
    const chat = await app.services.db.chat.findUniqueOrThrow({ where: { id: second.chat.id } });
    expect(chat.unreachableReason).toMatch(/131026/);
    expect(await row(await send(second.userId, 'also never'))).toMatchObject({
      status: 'FAILED',
      failureReason: 'The person has no chat with us',
    });
    expect(api.callsTo(second.from)).toHaveLength(1);
  });

  it("keeps a chat's messages in order, at most one a second", async () => {
    const { from, userId } = await person();
    const keys: string[] = [];
    for (const n of [1, 2, 3]) keys.push(await send(userId, `message ${n}`));
    await waitFor(
      async () => (await Promise.all(keys.map(row))).every((r) => r.status === 'SENT'),
      'all three to be sent',
      15_000,
    );
    const calls = api.callsTo(from);
    expect(calls.map((c) => (c.body.text as { body: string }).body)).toEqual([
      'message 1',
      'message 2',
      'message 3',
    ]);
    for (let i = 1; i < calls.length; i++)
      expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(900);
  });

  it('maps Cloud API errors to what the send queue does next', () => {
    const kind = (e: ReturnType<typeof whatsappSendError>) =>
      e.permanent ? (e.unreachable ? 'unreachable' : 'permanent') : 'retry';
    const cases: [number, unknown, string][] = [
      [429, graphError(130429, 'Rate limit hit').error, 'retry'],
      [400, graphError(80007, 'Rate limit issues').error, 'retry'],
      [400, graphError(4, 'Too many calls').error, 'retry'],
      [400, graphError(131056, 'Pair rate limit hit').error, 'retry'],
      [500, graphError(131000, 'Something went wrong').error, 'retry'],
      [502, null, 'retry'],
      [400, graphError(131047, 'Re-engagement message').error, 'permanent'],
      [400, graphError(131026, 'Message undeliverable').error, 'unreachable'],
      [400, graphError(100, 'Invalid parameter').error, 'permanent'],
      [401, graphError(190, 'Invalid OAuth access token').error, 'permanent'],
      [400, '360dialog says no', 'permanent'],
    ];
    for (const [status, error, expected] of cases)
      expect(kind(whatsappSendError(status, error)), JSON.stringify(error)).toBe(expected);
    expect(whatsappSendError(429, null, '7').retryAfterSeconds).toBe(7);
  });
});
