import type { Config } from '../config/index.ts';
import type { ChannelSenders } from './channel-sender.ts';
import { createInstagramClient, instagramSender } from './instagram/client.ts';
import { createTelegramClient, telegramSender } from './telegram/client.ts';
import { createWhatsAppClient, whatsappSender } from './whatsapp/client.ts';

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
  if (config.instagram.accounts.length) {
    senders.INSTAGRAM = instagramSender(
      new Map(
        config.instagram.accounts.map((account) => [
          account.name,
          createInstagramClient({
            graphApiUrl: config.instagram.graphApiUrl,
            accessToken: account.accessToken,
          }),
        ]),
      ),
      config.instagram.limits,
    );
  }
  if (config.whatsapp.numbers.length) {
    const { whatsapp } = config;
    senders.WHATSAPP = whatsappSender(
      new Map(
        whatsapp.numbers.map((number) => [
          number.phoneNumberId,
          createWhatsAppClient({
            provider: number.provider,
            apiUrl: number.provider === 'meta' ? whatsapp.graphApiUrl : whatsapp.dialogApiUrl,
            phoneNumberId: number.phoneNumberId,
            accessToken: number.accessToken,
          }),
        ]),
      ),
      whatsapp.limits,
    );
  }
  return senders;
}
