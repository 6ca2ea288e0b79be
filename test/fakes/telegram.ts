/**
 * Telegram's side of the webhook: builds updates in the Bot API's own shapes (@grammyjs/types)
 * and posts them the way Telegram does, with the bot's secret in
 * `X-Telegram-Bot-Api-Secret-Token`.
 */
import type { Message, Update } from '@grammyjs/types';
import { type FakeFile, type FileServed, serveFile } from './media.ts';
import { type LoopbackReply, startLoopbackServer } from './server.ts';

let nextUpdateId = Math.floor(Math.random() * 1_000_000_000);
let nextMessageId = 1;

export function textUpdate(input: {
  chatId: number;
  fromId?: number;
  text: string;
  firstName?: string;
  /** When the person sent it; now by default. */
  sentAt?: Date;
}): Update {
  const from = {
    id: input.fromId ?? input.chatId,
    is_bot: false,
    first_name: input.firstName ?? 'Ana',
    language_code: 'pt',
  };
  const message = {
    message_id: nextMessageId++,
    date: Math.floor((input.sentAt?.getTime() ?? Date.now()) / 1000),
    chat: { id: input.chatId, type: input.chatId < 0 ? 'group' : 'private', first_name: from.first_name },
    from,
    text: input.text,
  } as Message.TextMessage;
  return { update_id: nextUpdateId++, message } as Update;
}

/** A photo message: Telegram sends each size it made, smallest first; `fileId` is the largest. */
export function photoUpdate(input: { chatId: number; fileId: string; caption?: string }): Update {
  const from = { id: input.chatId, is_bot: false, first_name: 'Ana', language_code: 'pt' };
  const message = {
    message_id: nextMessageId++,
    date: Math.floor(Date.now() / 1000),
    chat: { id: input.chatId, type: input.chatId < 0 ? 'group' : 'private', first_name: from.first_name },
    from,
    photo: [
      { file_id: `${input.fileId}-thumb`, file_unique_id: 'thumb', width: 90, height: 67, file_size: 1200 },
      { file_id: input.fileId, file_unique_id: 'large', width: 1280, height: 960, file_size: 90000 },
    ],
    ...(input.caption ? { caption: input.caption } : {}),
  } as Message.PhotoMessage;
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
        chat: { id: input.chatId, type: input.chatId < 0 ? 'group' : 'private', first_name: 'Ana' },
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

export interface BotApiCall {
  token: string;
  method: string;
  params: Record<string, unknown>;
  at: number;
}

export interface FakeBotApi {
  /** Base URL for TELEGRAM_API_URL. */
  url: string;
  calls: BotApiCall[];
  /** The next `times` calls of `method` get this answer instead of success. */
  failNext(method: string, times: number, answer: { status: number; body: Record<string, unknown> }): void;
  /**
   * A file `getFile` knows under `fileId`, served at `/file/bot<token>/<path>`. `statedSize` is
   * the `file_size` getFile answers (by default the real size; null leaves it out).
   */
  addFile(fileId: string, file: FakeFile & { statedSize?: number | null; path?: string }): void;
  /** Every file download, in order. */
  downloads: FileServed[];
  close(): Promise<void>;
}

/** A loopback Telegram Bot API: records every call and answers like Telegram (or fails on demand). */
export async function startFakeBotApi(): Promise<FakeBotApi> {
  const calls: BotApiCall[] = [];
  const failures: {
    method: string;
    left: number;
    answer: { status: number; body: Record<string, unknown> };
  }[] = [];
  let messageId = 1000;
  const files = new Map<string, FakeFile & { statedSize?: number | null; path: string }>();
  const downloads: FileServed[] = [];
  const server = await startLoopbackServer(async ({ raw }, res, req) => {
    const answer = (status: number, body: unknown): LoopbackReply => ({ status, body });
    const download = /^\/file\/bot[^/]+\/(.+)$/.exec(req.url ?? '');
    if (req.method === 'GET' && download) {
      const file = [...files.values()].find((f) => f.path === download[1]);
      if (!file) return answer(404, { ok: false, error_code: 404, description: 'Not Found' });
      downloads.push(await serveFile(req, res, download[1]!, file));
      return;
    }
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    if (!match) return answer(404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, method] = match as unknown as [string, string, string];
    const params = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    calls.push({ token, method, params, at: Date.now() });
    const failure = failures.find((f) => f.method === method && f.left > 0);
    if (failure) {
      failure.left -= 1;
      return answer(failure.answer.status, failure.answer.body);
    }
    if (method === 'getFile') {
      const file = files.get(String(params.file_id));
      if (!file) {
        return answer(400, {
          ok: false,
          error_code: 400,
          description: 'Bad Request: wrong file_id or the file is temporarily unavailable',
        });
      }
      const size = file.statedSize === undefined ? file.bytes.length : file.statedSize;
      return answer(200, {
        ok: true,
        result: {
          file_id: params.file_id,
          file_unique_id: `u${String(params.file_id).slice(0, 10)}`,
          ...(size === null ? {} : { file_size: size }),
          file_path: file.path,
        },
      });
    }
    if (method === 'sendMessage' || method === 'sendPhoto') {
      return answer(200, {
        ok: true,
        result: {
          message_id: messageId++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(params.chat_id), type: 'private' },
          text: params.text,
        },
      });
    }
    return answer(200, { ok: true, result: true });
  });
  const { port } = server;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext(method, times, answer) {
      failures.push({ method, left: times, answer });
    },
    addFile(fileId, file) {
      files.set(fileId, { ...file, path: file.path ?? `photos/file_${files.size}.jpg` });
    },
    downloads,
    close: server.close,
  };
}
