/**
 * A person talking to the app over Telegram: chat ids no other test uses, their messages and
 * button presses posted through the real webhook, and the bot's replies as the fake recorded them.
 */
import { expect } from 'vitest';
import { buttonUpdate, type FakeBotApi, postUpdate, textUpdate } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { waitFor } from '../helpers/jobs.ts';
import { TELEGRAM_BOT } from './apps.ts';

/** MarkdownV2 escapes taken back out, so a reply reads as the person sees it. */
export const unescapeMarkdownV2 = (text: string) => text.replace(/\\([_*[\]()~`>#+\-=|{}.!\\])/g, '$1');

/** Conversations with TELEGRAM_BOT; `app` and `telegram` are read when called (set in beforeAll). */
export function telegramChats(get: () => { app: TestApp; telegram: FakeBotApi }) {
  const { name, secret } = TELEGRAM_BOT;
  const sent = (chatId: number) =>
    get().telegram.calls.filter(
      (c) => c.method === 'sendMessage' && String(c.params.chat_id) === String(chatId),
    );
  const chats = {
    sent,
    async write(chatId: number, text: string) {
      expect((await postUpdate(get().app.url, name, secret, textUpdate({ chatId, text }))).status).toBe(200);
    },
    async press(chatId: number, data: string) {
      const update = buttonUpdate({ chatId, data, messageId: 1 });
      expect((await postUpdate(get().app.url, name, secret, update)).status).toBe(200);
    },
    /** The n-th message sent to the chat (waiting for it), unescaped, with its buttons. */
    async nthReply(chatId: number, n: number, timeoutMs = 15_000) {
      const message = await waitFor(() => Promise.resolve(sent(chatId)[n - 1]), `reply ${n}`, timeoutMs);
      return {
        text: unescapeMarkdownV2(String(message.params.text)),
        buttons: (
          (
            message.params.reply_markup as
              | { inline_keyboard?: { text: string; callback_data: string }[][] }
              | undefined
          )?.inline_keyboard ?? []
        ).flat(),
      };
    },
    /** The chat's row once the app has recorded it. */
    chat: (chatId: number, what = 'the chat') =>
      waitFor(
        () =>
          get().app.services.db.chat.findFirst({
            where: { platform: 'TELEGRAM', externalChatId: String(chatId) },
          }),
        what,
      ),
    /** The person behind the chat. */
    userOf: async (chatId: number) => (await chats.chat(chatId)).userId,
  };
  return chats;
}
