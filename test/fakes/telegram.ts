/**
 * Telegram's side of the webhook: builds updates in the Bot API's own shapes (@grammyjs/types)
 * and posts them the way Telegram does, with the bot's secret in
 * `X-Telegram-Bot-Api-Secret-Token`.
 */
import type { Message, Update } from '@grammyjs/types';

let nextUpdateId = Math.floor(Math.random() * 1_000_000_000);
let nextMessageId = 1;

export function textUpdate(input: {
  chatId: number;
  fromId?: number;
  text: string;
  firstName?: string;
}): Update {
  const from = {
    id: input.fromId ?? input.chatId,
    is_bot: false,
    first_name: input.firstName ?? 'Ana',
    language_code: 'pt',
  };
  const message = {
    message_id: nextMessageId++,
    date: Math.floor(Date.now() / 1000),
    chat: { id: input.chatId, type: 'private', first_name: from.first_name },
    from,
    text: input.text,
  } as Message.TextMessage;
  return { update_id: nextUpdateId++, message } as Update;
}

export function buttonUpdate(input: { chatId: number; data: string; messageId: number }): Update {
  const from = { id: input.chatId, is_bot: false, first_name: 'Ana' };
  return {
    update_id: nextUpdateId++,
    callback_query: {
      id: String(nextUpdateId),
      from,
      chat_instance: '1',
      data: input.data,
      message: {
        message_id: input.messageId,
        date: Math.floor(Date.now() / 1000),
        chat: { id: input.chatId, type: 'private', first_name: 'Ana' },
        text: 'Pick one',
      } as Message.TextMessage,
    },
  } as Update;
}

/** Posts a body to our webhook as Telegram would. */
export function postUpdate(
  baseUrl: string,
  bot: string,
  secret: string | null,
  body: Update | string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/webhooks/telegram/${bot}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret }),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
