/**
 * `POST /webhooks/telegram/<bot>`: Telegram's updates for one of our bots, through the webhook
 * pipeline (./pipeline.ts, ./channel.ts).
 *
 * Verify (the secret Telegram echoes in `X-Telegram-Bot-Api-Secret-Token`), parse, record (raw and
 * normalised, deduplicated by `update_id`, with the chat's drain job), answer 200. Nothing slow
 * runs before the answer. A body we cannot read is still answered 200, so Telegram stops
 * redelivering it, and kept for inspection; only a wrong secret is refused (401), and then
 * nothing is stored.
 */
import type { Config } from '../config/index.ts';
import {
  normalizeTelegramUpdate,
  parseTelegramUpdate,
  telegramChatOf,
  telegramEventType,
} from '../integrations/telegram/updates.ts';
import { type ChannelWebhookOptions, issuesLine, recordChannelBody, targetByPath } from './channel.ts';
import { webhookRoute } from './pipeline.ts';
import { secretsMatch } from './verify.ts';

export const TELEGRAM_PATH = '/webhooks/telegram/';

type Bot = Config['channels']['telegram']['bots'][number];

export function telegramWebhook(
  options: ChannelWebhookOptions & { bots: Config['channels']['telegram']['bots'] },
) {
  return webhookRoute<Bot>(
    {
      provider: 'telegram',
      target: targetByPath(TELEGRAM_PATH, options.bots),
      unknownTarget: { error: 'Unknown bot', outcome: 'unknown_bot' },
      verifyRequest: (req, bot) =>
        secretsMatch(req.headers['x-telegram-bot-api-secret-token'], bot.secret)
          ? null
          : { error: 'Bad or missing X-Telegram-Bot-Api-Secret-Token' },
      record: recordChannelBody<Bot>(options, {
        platform: 'TELEGRAM',
        label: 'telegram',
        unreadable: 'Telegram update',
        account: (bot) => bot.name,
        events: (json, bot) => {
          const parsed = parseTelegramUpdate(json);
          if (!parsed.success) return { ok: false, error: issuesLine(parsed.error.issues) };
          const { update } = parsed;
          return {
            ok: true,
            events: [
              {
                record: {
                  platform: 'TELEGRAM',
                  account: bot.name,
                  externalId: String(update.update_id),
                  externalChatId: telegramChatOf(update),
                  eventType: telegramEventType(update),
                  raw: json,
                  normalized: normalizeTelegramUpdate(bot.name, update),
                },
              },
            ],
          };
        },
        outcome: (counts) => (counts.duplicates ? 'duplicate' : counts.messages ? 'accepted' : 'ignored'),
      }),
    },
    options,
  );
}
