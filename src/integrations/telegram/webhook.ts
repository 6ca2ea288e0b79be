import type { Config } from '../../config/index.ts';
import { createTelegramClient } from './client.ts';

/** The updates we act on; Telegram sends nothing else to the webhook. */
export const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/**
 * Points a bot's webhook at this server (`PUBLIC_URL/webhooks/telegram/<bot>`) with the bot's
 * secret, which Telegram then echoes in `X-Telegram-Bot-Api-Secret-Token` on every update.
 */
export async function registerTelegramWebhook(
  config: Pick<Config, 'channels' | 'http'>,
  botName: string,
): Promise<{ url: string }> {
  const bot = config.channels.telegram.bots.find((b) => b.name === botName);
  if (!bot) throw new Error(`No Telegram bot named "${botName}" in TELEGRAM_BOTS`);
  const url = `${config.http.publicUrl.replace(/\/$/, '')}/webhooks/telegram/${bot.name}`;
  const client = createTelegramClient({ apiUrl: config.channels.telegram.apiUrl, token: bot.token });
  await client.call('setWebhook', {
    url,
    secret_token: bot.secret,
    allowed_updates: [...ALLOWED_UPDATES],
  });
  return { url };
}
