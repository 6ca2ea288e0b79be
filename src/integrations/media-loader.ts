/**
 * What every channel's image loader offers (src/integrations/<platform>/media.ts): the bytes of
 * one image by the platform's reference (Telegram `file_id`, WhatsApp media id, Instagram CDN
 * URL), size-limited and checked to be an image, or a typed failure.
 *
 * Failures are typed, so a handler can tell the person what went wrong: the picture is too large,
 * is not a picture we can read, is no longer available, or the platform did not answer (worth
 * trying again later). How a message's images are loaded lazily, once each, is the domain's
 * (src/domain/channels/media.ts).
 */
import { createHash } from 'node:crypto';
import type { ChannelPlatform } from '../generated/prisma/enums.ts';

/** The image types we accept: what the model reads (JPEG, PNG, WebP, GIF). */
export const IMAGE_MIME_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'] as const;
export type ImageMimeType = (typeof IMAGE_MIME_TYPES)[number];

export interface LoadedImage {
  bytes: Buffer;
  /** From the bytes themselves (their signature), not from what the server said. */
  mimeType: ImageMimeType;
  /** Hex SHA-256 of `bytes`. */
  sha256: string;
}

/** Fetches one image of a channel, by the account that received it and the platform's reference. */
export type ChannelMediaLoader = (account: string, fileId: string) => Promise<LoadedImage>;

/** The loader of each configured channel. */
export type MediaLoaders = Partial<Record<ChannelPlatform, ChannelMediaLoader>>;

export type MediaErrorCode = 'too_large' | 'not_an_image' | 'gone' | 'unavailable';

/** Why an image could not be loaded. `retryable` is true only when trying later may succeed. */
export class MediaError extends Error {
  readonly code: MediaErrorCode;
  readonly retryable: boolean;
  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaError';
    this.code = code;
    this.retryable = code === 'unavailable';
  }
}

/** Larger than the configured limit, as the platform stated or as the bytes turned out. */
export class MediaTooLargeError extends MediaError {
  readonly maxBytes: number;
  /** The size, when the platform stated it (null when the download was stopped at the limit). */
  readonly size: number | null;
  constructor(maxBytes: number, size: number | null) {
    super(
      'too_large',
      size === null
        ? `the image is larger than the limit of ${maxBytes} bytes`
        : `the image is ${size} bytes, over the limit of ${maxBytes}`,
    );
    this.name = 'MediaTooLargeError';
    this.maxBytes = maxBytes;
    this.size = size;
  }
}

/** Not a JPEG, PNG, WebP or GIF (by the declared type or by the bytes). */
export class MediaNotImageError extends MediaError {
  /** What the platform said it was, if anything. */
  readonly declaredType: string | null;
  constructor(declaredType: string | null, detail?: string) {
    super('not_an_image', detail ?? `not a supported image (${declaredType ?? 'unknown type'})`);
    this.name = 'MediaNotImageError';
    this.declaredType = declaredType;
  }
}

/** The platform no longer has it, or never had it under this reference (expired, deleted, 404). */
export class MediaGoneError extends MediaError {
  constructor(message: string) {
    super('gone', message);
    this.name = 'MediaGoneError';
  }
}

/** The platform did not answer, answered 5xx or 429, timed out, or refused our credentials. */
export class MediaUnavailableError extends MediaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
    this.name = 'MediaUnavailableError';
  }
}

/** The image type the bytes' signature shows, or null for anything else. */
export function sniffImageType(bytes: Uint8Array): ImageMimeType | null {
  const at = (offset: number, ...values: number[]) => values.every((v, i) => bytes[offset + i] === v);
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0x47, 0x49, 0x46, 0x38) && (at(4, 0x37, 0x61) || at(4, 0x39, 0x61))) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return null;
}

/** Types a server may give image bytes that say nothing either way; the bytes then decide. */
const NEUTRAL_TYPES = new Set(['application/octet-stream', 'binary/octet-stream', '']);

/**
 * Whether a declared content type (header or API field) rules the file out before its bytes are
 * read: anything that is not one of our image types, or a type that says nothing.
 */
export function declaredTypeAllowed(declared: string | null | undefined): boolean {
  if (declared == null) return true;
  const type = declared.split(';')[0]!.trim().toLowerCase();
  return NEUTRAL_TYPES.has(type) || (IMAGE_MIME_TYPES as readonly string[]).includes(type);
}

/** The loaded image of these bytes, or MediaNotImageError when they are not one of our types. */
export function toLoadedImage(bytes: Buffer, declaredType: string | null): LoadedImage {
  const mimeType = sniffImageType(bytes);
  if (!mimeType) {
    throw new MediaNotImageError(
      declaredType,
      `the file is not a JPEG, PNG, WebP or GIF image (declared ${declaredType ?? 'nothing'})`,
    );
  }
  return { bytes, mimeType, sha256: createHash('sha256').update(bytes).digest('hex') };
}
