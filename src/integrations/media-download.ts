/**
 * The bounded HTTP download every channel's image loader ends with (see
 * src/integrations/media-loader.ts for what loaders return and how they fail).
 *
 * A download is refused before it starts when the platform states a size over the limit or a
 * type that is not an image; otherwise the body is streamed and abandoned as soon as it passes
 * the limit. Every request has a timeout that covers its body too. The bytes are returned, never
 * written anywhere.
 */
import {
  declaredTypeAllowed,
  type LoadedImage,
  MediaGoneError,
  MediaNotImageError,
  MediaTooLargeError,
  MediaUnavailableError,
  toLoadedImage,
} from './media-loader.ts';

export const MEDIA_TIMEOUT_MS = 15_000;

export interface MediaLimits {
  maxBytes: number;
  /** For each request, its body included. */
  timeoutMs: number;
}

/** Fetch with the request's time limit; no answer (refused, reset, timed out) is `unavailable`. */
export async function fetchMedia(
  platform: string,
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string> | undefined;
    body?: string;
    redirect?: RequestRedirect;
  },
  timeoutMs: number,
): Promise<Response> {
  try {
    return await fetch(url, { redirect: 'error', ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    // The message names neither the URL nor a header: both can carry credentials.
    throw new MediaUnavailableError(`${platform} did not answer: ${describe(error)}`, { cause: error });
  }
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  const code = typeof e?.cause?.code === 'string' ? ` (${e.cause.code})` : '';
  return `${e?.message ?? String(error)}${code}`;
}

/** A size as platforms state it (a number, or digits in a string); null when absent or unreadable. */
export function statedSize(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  return null;
}

export interface DownloadOptions extends MediaLimits {
  /** Names the platform in errors. */
  platform: string;
  headers?: Record<string, string>;
  /** What the platform said before the download, checked before it starts. */
  statedSize?: number | null;
  declaredType?: string | null;
  /** Statuses that mean the file is gone (expired or deleted); by default 404 and 410. */
  goneStatuses?: readonly number[];
  /** Throws to refuse a URL (the first, and each redirect) before any request is sent to it. */
  checkUrl?: (url: URL) => void;
}

/** GETs an image: stated limits first, then the status, the declared type and the streamed size. */
export async function downloadImage(url: string, options: DownloadOptions): Promise<LoadedImage> {
  const { platform, maxBytes } = options;
  if (options.statedSize != null && options.statedSize > maxBytes)
    throw new MediaTooLargeError(maxBytes, options.statedSize);
  if (!declaredTypeAllowed(options.declaredType)) throw new MediaNotImageError(options.declaredType ?? null);

  const response = await followRedirects(url, options);
  const discard = () => response.body?.cancel().catch(() => {});
  if (!response.ok) {
    await discard();
    if ((options.goneStatuses ?? [404, 410]).includes(response.status))
      throw new MediaGoneError(`${platform}: the file is no longer available (HTTP ${response.status})`);
    throw new MediaUnavailableError(`${platform}: the file download answered HTTP ${response.status}`);
  }
  const contentType = response.headers.get('content-type');
  if (!declaredTypeAllowed(contentType)) {
    await discard();
    throw new MediaNotImageError(contentType);
  }
  const length = statedSize(response.headers.get('content-length'));
  if (length !== null && length > maxBytes) {
    await discard();
    throw new MediaTooLargeError(maxBytes, length);
  }
  const bytes = await readLimited(platform, response, maxBytes);
  return toLoadedImage(bytes, contentType ?? options.declaredType ?? null);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * GETs `url`, following a CDN's redirects by hand: credentials go only to the origin they were
 * meant for (a redirect elsewhere drops them, custom headers such as `D360-API-KEY` included),
 * never from https down to http, and each hop has its own time limit.
 */
async function followRedirects(url: string, options: DownloadOptions): Promise<Response> {
  let target = new URL(url);
  let headers = options.headers;
  for (let hop = 0; ; hop++) {
    options.checkUrl?.(target);
    const response = await fetchMedia(
      options.platform,
      target.href,
      { headers, redirect: 'manual' },
      options.timeoutMs,
    );
    const location = REDIRECTS.has(response.status) ? response.headers.get('location') : null;
    if (!location) return response;
    await response.body?.cancel().catch(() => {});
    let next: URL;
    try {
      next = new URL(location, target);
    } catch {
      throw new MediaUnavailableError(`${options.platform}: the download redirected to something not a URL`);
    }
    if (hop + 1 > MAX_REDIRECTS)
      throw new MediaUnavailableError(`${options.platform}: the download redirected too many times`);
    if (next.protocol !== 'https:' && !(next.protocol === 'http:' && target.protocol === 'http:'))
      throw new MediaUnavailableError(`${options.platform}: the download redirected away from https`);
    if (next.origin !== target.origin) headers = undefined;
    target = next;
  }
}

/** The body, up to `maxBytes`; reading stops (and the connection is dropped) past it. */
async function readLimited(platform: string, response: Response, maxBytes: number): Promise<Buffer> {
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      throw new MediaUnavailableError(`${platform}: the download broke off: ${describe(error)}`, {
        cause: error,
      });
    }
    if (chunk.done) break;
    size += chunk.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new MediaTooLargeError(maxBytes, null);
    }
    chunks.push(chunk.value);
  }
  return Buffer.concat(chunks, size);
}
