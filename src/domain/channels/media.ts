/**
 * Images people send, kept by reference and fetched only when something asks for them.
 *
 * An inbound message stores each image as the platform's reference (Telegram `file_id`, WhatsApp
 * media id, Instagram CDN URL); nothing is downloaded when the webhook arrives, and nothing
 * downloaded is written anywhere. A handler that wants the bytes (the consumer agent, to show them
 * to the model) calls `loadImage(index)` on its context: the channel's loader
 * (src/integrations/media-loader.ts) fetches them through the platform's media API, size-limited
 * and checked to be an image, once per message, or fails with a typed MediaError.
 */
import {
  type LoadedImage,
  MediaError,
  type MediaLoaders,
  MediaUnavailableError,
} from '../../integrations/media-loader.ts';
import type { NormalizedMessage } from './normalized.ts';

// The loaders' contract, named here too for the domain's files that hand images to handlers.
export type { MediaLoaders } from '../../integrations/media-loader.ts';

/** `loadImage` of a handler's context: the message's images, fetched on first use, once each. */
export type ImageLoader = (index: number) => Promise<LoadedImage>;

/**
 * The lazy loader for one message's images. Nothing is fetched until asked; each image is fetched
 * at most once for the message (concurrent calls share the download), except after a failure
 * worth retrying (`unavailable`), which the next call tries again. Loaded bytes live only as long
 * as the message's processing.
 */
export function imageLoader(
  message: Pick<NormalizedMessage, 'platform' | 'account' | 'images'>,
  loaders: MediaLoaders | undefined,
): ImageLoader {
  const cache = new Map<number, Promise<LoadedImage>>();
  return (index) => {
    const image = Number.isInteger(index) ? message.images[index] : undefined;
    if (!image) {
      return Promise.reject(
        new RangeError(`the message has ${message.images.length} image(s); there is no image ${index}`),
      );
    }
    const cached = cache.get(index);
    if (cached) return cached;
    const load = loaders?.[message.platform];
    const pending = load
      ? load(message.account, image.fileId)
      : Promise.reject(new MediaUnavailableError(`no media loader is configured for ${message.platform}`));
    const result = pending.catch((error: unknown) => {
      if (!(error instanceof MediaError) || error.retryable) cache.delete(index);
      throw error;
    });
    cache.set(index, result);
    return result;
  };
}
