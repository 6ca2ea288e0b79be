/**
 * The image loaders of the configured channels: what the inbound drain hands to a handler's
 * `loadImage` (src/domain/channels/media.ts). Each fetches through its platform's media API with
 * the limits of src/integrations/media-download.ts.
 */
import type { Config } from '../config/index.ts';
import { instagramMediaLoader } from './instagram/media.ts';
import { MEDIA_TIMEOUT_MS, type MediaLimits } from './media-download.ts';
import type { MediaLoaders } from './media-loader.ts';
import { telegramMediaLoader } from './telegram/media.ts';
import { whatsappMediaLoader } from './whatsapp/media.ts';

/**
 * The image loaders of every configured channel, with the configured size limit. Outside
 * production, plain-http image URLs are allowed (tests and local fakes); in production only https.
 */
export function mediaLoaders(
  config: Pick<Config, 'channels' | 'production'>,
  options: { timeoutMs?: number } = {},
): MediaLoaders {
  const { channels } = config;
  const limits: MediaLimits = {
    maxBytes: channels.media.maxBytes,
    timeoutMs: options.timeoutMs ?? MEDIA_TIMEOUT_MS,
  };
  const loaders: MediaLoaders = {};
  if (channels.telegram.bots.length) {
    loaders.TELEGRAM = telegramMediaLoader({
      apiUrl: channels.telegram.apiUrl,
      bots: new Map(channels.telegram.bots.map((bot) => [bot.name, bot.token])),
      ...limits,
    });
  }
  if (channels.whatsapp.numbers.length) {
    loaders.WHATSAPP = whatsappMediaLoader({
      graphApiUrl: channels.whatsapp.graphApiUrl,
      dialogApiUrl: channels.whatsapp.dialogApiUrl,
      numbers: channels.whatsapp.numbers,
      ...limits,
    });
  }
  if (channels.instagram.accounts.length) {
    loaders.INSTAGRAM = instagramMediaLoader({
      accounts: channels.instagram.accounts.map((account) => account.name),
      allowHttp: !config.production,
      hosts: channels.instagram.mediaHosts,
      ...limits,
    });
  }
  return loaders;
}
