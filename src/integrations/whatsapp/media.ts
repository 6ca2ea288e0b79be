/**
 * WhatsApp images by media id, in two steps on both providers:
 * - Meta: `GET <graph>/<media id>` with the number's Bearer token answers
 *   `{ url, mime_type, sha256, file_size, id }`; the `url` (valid for about 5 minutes) is then
 *   fetched with the same Bearer token.
 * - 360dialog: `GET <360dialog>/<media id>` with `D360-API-KEY` answers the same; the file is
 *   fetched through 360dialog, with the `url`'s host (`https://lookaside.fbsbx.com`) replaced by
 *   360dialog's and the same key, as 360dialog documents.
 * A stated size over the limit, or a `mime_type` that is not one of our image types, is refused
 * before the download.
 */

import { downloadImage, fetchMedia, type MediaLimits, statedSize } from '../media-download.ts';
import { type ChannelMediaLoader, MediaGoneError, MediaUnavailableError } from '../media-loader.ts';
import type { WhatsAppProvider } from './client.ts';

/** Graph error codes worth trying again later: throttling and Meta's own trouble. */
const RETRY_CODES = new Set([1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004]);
/** Media ids are digits; anything else would put more than an id in the path. */
const MEDIA_ID = /^[\w.-]{1,200}$/;

export function whatsappMediaLoader(
  options: MediaLimits & {
    graphApiUrl: string;
    dialogApiUrl: string;
    numbers: readonly { phoneNumberId: string; provider: WhatsAppProvider; accessToken: string }[];
  },
): ChannelMediaLoader {
  const numbers = new Map(options.numbers.map((n) => [n.phoneNumberId, n]));
  return async (account, mediaId) => {
    const number = numbers.get(account);
    if (!number) throw new MediaUnavailableError(`no WhatsApp number with id ${account} is configured`);
    if (!MEDIA_ID.test(mediaId)) throw new MediaGoneError('WhatsApp: not a media id');
    const meta = number.provider === 'meta';
    const base = meta ? options.graphApiUrl : options.dialogApiUrl;
    const auth: Record<string, string> = meta
      ? { authorization: `Bearer ${number.accessToken}` }
      : { 'd360-api-key': number.accessToken };

    const response = await fetchMedia('WhatsApp', `${base}/${mediaId}`, { headers: auth }, options.timeoutMs);
    const body = (await response.json().catch(() => null)) as {
      url?: unknown;
      mime_type?: unknown;
      file_size?: unknown;
      error?: { code?: unknown; message?: unknown };
    } | null;
    if (!response.ok || typeof body?.url !== 'string') throw mediaUrlError(response.status, body?.error);

    // A stated size or type that rules the file out stops here, before the download.
    const declaredType = typeof body.mime_type === 'string' ? body.mime_type : null;
    return downloadImage(downloadUrl(body.url, meta, base), {
      ...options,
      platform: 'WhatsApp',
      headers: auth,
      statedSize: statedSize(body.file_size),
      declaredType,
    });
  };
}

/**
 * Where the file is fetched. Meta's URL as given, if it is https or on the configured Graph API
 * (a loopback fake in tests): the token goes with it, so never over plain http elsewhere.
 * Through 360dialog, the URL's path and query on 360dialog's API.
 */
function downloadUrl(url: string, meta: boolean, base: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MediaUnavailableError('WhatsApp answered a media URL that is not a URL');
  }
  if (!meta) return `${base}${parsed.pathname}${parsed.search}`;
  if (parsed.protocol === 'https:' || parsed.origin === new URL(base).origin) return parsed.href;
  throw new MediaUnavailableError('WhatsApp answered a media URL that is not https');
}

/** A refused media-URL request: the id is unknown or expired (gone), or Meta is in trouble. */
function mediaUrlError(status: number, error: { code?: unknown; message?: unknown } | undefined) {
  const code = typeof error?.code === 'number' ? error.code : null;
  const text = `WhatsApp${code === null ? '' : ` ${code}`}: ${
    typeof error?.message === 'string' ? error.message.slice(0, 300) : `HTTP ${status}`
  }`;
  if (status === 429 || status >= 500 || (code !== null && RETRY_CODES.has(code)))
    return new MediaUnavailableError(text);
  // 190 and other 401/403: our token, not the person's image.
  if (status === 401 || status === 403 || code === 190) return new MediaUnavailableError(text);
  // 100 ("Object with ID … does not exist"), 404, and other refusals of this id.
  if (status >= 400) return new MediaGoneError(text);
  return new MediaUnavailableError(`${text} (an answer without a media URL)`);
}
