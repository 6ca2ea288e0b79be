import type { Config } from '../config.ts';
import type { ChannelSenders } from '../domain/channels/outbound.ts';
import { createTelegramClient, telegramSender } from './telegram/client.ts';

/** The senders of every configured channel; a channel with no accounts configured has none. */
export function channelSenders(config: Config['channels']): ChannelSenders {
  const senders: ChannelSenders = {};
  if (config.telegram.bots.length) {
    senders.TELEGRAM = telegramSender(
      new Map(
        config.telegram.bots.map((bot) => [
          bot.name,
          createTelegramClient({ apiUrl: config.telegram.apiUrl, token: bot.token }),
        ]),
      ),
    );
  }
  return senders;
}
