/**
 * The Telegram Bot API for one bot: method calls over HTTPS (base URL from config, so tests point
 * it at a loopback fake), with the Bot API's own types from @grammyjs/types. Errors become
 * SendErrors the send queue understands: 429 carries `retry_after`; 403 ("bot was blocked by the
 * user", "user is deactivated") means the person is unreachable; other 4xx are permanent; 5xx and
 * network failures are worth retrying.
 */
import type { ApiMethods, Message } from '@grammyjs/types';
import { type ChannelSender, fitText, type OutboundContent, SendError } from '../channel-sender.ts';

type Params<M extends keyof ApiMethods<unknown>> = Parameters<ApiMethods<unknown>[M]>[0];
type Result<M extends keyof ApiMethods<unknown>> = ReturnType<ApiMethods<unknown>[M]>;

export interface TelegramClient {
  call<M extends keyof ApiMethods<unknown>>(method: M, params: Params<M>): Promise<Result<M>>;
}

export function createTelegramClient(options: {
  apiUrl: string;
  token: string;
  timeoutMs?: number;
}): TelegramClient {
  return {
    async call(method, params) {
      let response: Response;
      try {
        response = await fetch(`${options.apiUrl}/bot${options.token}/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(params ?? {}),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        throw new SendError(`Telegram did not answer: ${(error as Error).message}`);
      }
      const body = (await response.json().catch(() => null)) as
        | { ok: true; result: unknown }
        | { ok: false; error_code?: number; description?: string; parameters?: { retry_after?: number } }
        | null;
      if (body?.ok) return body.result as never;
      const code = (body && 'error_code' in body && body.error_code) || response.status;
      const description = (body && 'description' in body && body.description) || `HTTP ${response.status}`;
      if (code === 429) {
        throw new SendError(`Telegram: ${description}`, {
          retryAfterSeconds: body && !body.ok ? (body.parameters?.retry_after ?? 1) : 1,
          rateLimited: true,
        });
      }
      if (code === 403)
        throw new SendError(`Telegram: ${description}`, { permanent: true, unreachable: true });
      if (code >= 400 && code < 500) throw new SendError(`Telegram: ${description}`, { permanent: true });
      throw new SendError(`Telegram: ${description}`);
    },
  };
}

/** Escapes text for MarkdownV2, where these characters are syntax unless escaped. */
export function escapeMarkdownV2(text: string): string {
  return text.replace(/[_*[\]()~`>#+\-=|{}.!\\]/g, (c) => `\\${c}`);
}

/** Sends text (MarkdownV2-escaped), photos and inline keyboards for the configured bots. */
export function telegramSender(bots: Map<string, TelegramClient>): ChannelSender {
  return {
    // Telegram: about 30 messages a second per bot, and one a second to a chat.
    limits: { perAccount: 30, perChat: 1 },
    async typing(target) {
      await bots
        .get(target.account)
        ?.call('sendChatAction', { chat_id: target.externalChatId, action: 'typing' });
    },
    // Until a callback query is answered the person's client shows the button loading.
    async acknowledgeButton(target, callbackId) {
      await bots.get(target.account)?.call('answerCallbackQuery', { callback_query_id: callbackId });
    },
    async send(target, message) {
      const client = bots.get(target.account);
      if (!client) throw new SendError(`No Telegram bot named ${target.account}`, { permanent: true });
      const chat_id = target.externalChatId;
      const content: OutboundContent = message.content ?? {};
      const reply_markup = content.buttons?.length
        ? {
            inline_keyboard: [
              content.buttons.map((b) => ({ text: b.title, callback_data: b.id.slice(0, 64) })),
            ],
          }
        : undefined;
      let sent: Message;
      const image = content.images?.[0];
      if (image) {
        sent = await client.call('sendPhoto', {
          chat_id,
          photo: image.url,
          caption: fitText(message.body, 1024, { keepEnd: content.keepEnd, escape: escapeMarkdownV2 }),
          parse_mode: 'MarkdownV2',
          ...(reply_markup ? { reply_markup } : {}),
        });
      } else {
        sent = await client.call('sendMessage', {
          chat_id,
          text: fitText(message.body, 4096, { keepEnd: content.keepEnd, escape: escapeMarkdownV2 }),
          parse_mode: 'MarkdownV2',
          ...(reply_markup ? { reply_markup } : {}),
        });
      }
      return { externalMessageId: String(sent.message_id) };
    },
  };
}
