import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueMessage } from '../../src/domain/channels/outbound.ts';
import { startAppWithWorker, stopAll, TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import { type FakeBotApi, postUpdate, startFakeBotApi, textUpdate } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { platformAdminToken, type WorkerApp, waitFor } from '../helpers/jobs.ts';

const { name: BOT, secret: SECRET, token: TOKEN } = TELEGRAM_BOT;

let api: FakeBotApi;
let app: TestApp;
let worker: WorkerApp;

beforeAll(async () => {
  api = await startFakeBotApi();
  ({ app, worker } = await startAppWithWorker({ PUBLIC_URL: 'https://agnt.example', ...telegramEnv(api) }));
});
afterAll(() => stopAll(worker, app, api));

const Register = `mutation Register($bot: String!) {
  registerTelegramWebhook(input: { bot: $bot }) {
    __typename
    ... on RegisterTelegramWebhookPayload { bot url }
    ... on ValidationError { field message }
  }
}`;

describe('Telegram, beyond text', () => {
  it('registers the webhook with its secret and the updates we act on (platform admins)', async () => {
    const admin = await platformAdminToken(app);
    const res = await app.gql<{ registerTelegramWebhook: unknown }, { bot: string }>(
      Register,
      { bot: BOT },
      { token: admin },
    );
    expect(res.data?.registerTelegramWebhook).toEqual({
      __typename: 'RegisterTelegramWebhookPayload',
      bot: BOT,
      url: 'https://agnt.example/webhooks/telegram/agnt',
    });
    const call = api.calls.find((c) => c.method === 'setWebhook');
    expect(call).toMatchObject({
      token: TOKEN,
      params: {
        url: 'https://agnt.example/webhooks/telegram/agnt',
        secret_token: SECRET,
        allowed_updates: ['message', 'callback_query'],
      },
    });
    const unknown = await app.gql<{ registerTelegramWebhook: unknown }, { bot: string }>(
      Register,
      { bot: 'nope' },
      { token: admin },
    );
    expect(unknown.data?.registerTelegramWebhook).toMatchObject({
      __typename: 'ValidationError',
      field: 'bot',
    });
    const someone = await app.signIn();
    const refused = await app.gql<{ registerTelegramWebhook: unknown }, { bot: string }>(
      Register,
      { bot: BOT },
      { token: someone.token },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('sends buttons as an inline keyboard, a picture as a photo, and shows typing', async () => {
    const chatId = Math.floor(Math.random() * 1e9);
    await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'hi' }));
    const chat = await waitFor(
      () =>
        app.services.db.chat.findFirst({ where: { platform: 'TELEGRAM', externalChatId: String(chatId) } }),
      'the chat',
    );
    await queueMessage(app.services.db, {
      userId: chat.userId,
      kind: 'test',
      body: 'Harbour Lights at 20:00?',
      dedupeKey: `buttons:${chatId}`,
      content: {
        images: [{ url: 'https://images.example/harbour.jpg' }],
        buttons: [
          { id: 'book:yes', title: 'Book it' },
          { id: 'book:no', title: 'Something else' },
        ],
      },
    });
    const photo = await waitFor(
      async () =>
        api.calls.find((c) => c.method === 'sendPhoto' && String(c.params.chat_id) === String(chatId)),
      'the photo',
    );
    expect(photo.params).toEqual({
      chat_id: String(chatId),
      photo: 'https://images.example/harbour.jpg',
      caption: 'Harbour Lights at 20:00?',
      parse_mode: 'MarkdownV2',
      reply_markup: {
        inline_keyboard: [
          [
            { text: 'Book it', callback_data: 'book:yes' },
            { text: 'Something else', callback_data: 'book:no' },
          ],
        ],
      },
    });
    await app.services.senders.TELEGRAM!.typing!({ account: BOT, externalChatId: String(chatId) });
    expect(api.calls.at(-1)).toMatchObject({
      method: 'sendChatAction',
      params: { chat_id: String(chatId), action: 'typing' },
    });
  });
});
