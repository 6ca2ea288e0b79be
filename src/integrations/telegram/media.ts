/**
 * Telegram images by `file_id`: `getFile` names the file (and often its size), then
 * `GET <api>/file/bot<token>/<file_path>` returns it. Telegram keeps the path valid for at least
 * an hour and lets bots download up to 20 MB; past that `getFile` answers "file is too big".
 *
 * The bot token is part of both URLs, so no error message here contains a URL.
 */
import type { File } from '@grammyjs/types';
import { downloadImage, fetchMedia, type MediaLimits, statedSize } from '../media-download.ts';
import {
  type ChannelMediaLoader,
  MediaGoneError,
  MediaTooLargeError,
  MediaUnavailableError,
} from '../media-loader.ts';

export function telegramMediaLoader(
  options: MediaLimits & {
    apiUrl: string;
    /** Bot name (the inbound account) → token. */
    bots: Map<string, string>;
  },
): ChannelMediaLoader {
  return async (account, fileId) => {
    const token = options.bots.get(account);
    if (!token) throw new MediaUnavailableError(`no Telegram bot named ${account} is configured`);
    const file = await getFile(options, token, fileId);
    const size = statedSize(file.file_size);
    if (size !== null && size > options.maxBytes) throw new MediaTooLargeError(options.maxBytes, size);
    if (!file.file_path) throw new MediaGoneError('Telegram: the file has no download path');
    return downloadImage(`${options.apiUrl}/file/bot${token}/${file.file_path}`, {
      ...options,
      platform: 'Telegram',
      statedSize: size,
    });
  };
}

async function getFile(options: MediaLimits & { apiUrl: string }, token: string, fileId: string) {
  const response = await fetchMedia(
    'Telegram',
    `${options.apiUrl}/bot${token}/getFile`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ file_id: fileId }),
    },
    options.timeoutMs,
  );
  const body = (await response.json().catch(() => null)) as
    | { ok: true; result: File }
    | { ok: false; error_code?: number; description?: string }
    | null;
  if (body?.ok && body.result && typeof body.result === 'object') return body.result;
  const code = (body && !body.ok && body.error_code) || response.status;
  const description = (body && !body.ok && body.description) || `HTTP ${response.status}`;
  if (code === 400 && /too big/i.test(description)) throw new MediaTooLargeError(options.maxBytes, null);
  // "wrong file_id or the file is temporarily unavailable", or an id of another bot.
  if (code === 400 || code === 404) throw new MediaGoneError(`Telegram: ${description}`);
  // 401/403 (our token), 429, 5xx, or an answer that is not the Bot API's.
  throw new MediaUnavailableError(`Telegram getFile: ${description}`);
}
