import { SendError } from '../../integrations/channel-sender.ts';
import { registerTelegramWebhook } from '../../integrations/telegram/webhook.ts';
import { ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { mutation } from './mutation.ts';

mutation('registerTelegramWebhook', {
  description: "Platform admins: points a configured bot's webhook at this server, with its secret.",
  input: (t) => ({ bot: t.string() }),
  payload: builder.simpleObject('RegisterTelegramWebhookPayload', {
    fields: (t) => ({
      bot: t.string(),
      url: t.string({ description: 'Where Telegram now posts the bot’s updates.' }),
    }),
  }),
  errors: [ValidationError],
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => {
    if (!ctx.services.config.channels.telegram.bots.some((b) => b.name === input.bot)) {
      throw new ValidationError(`No Telegram bot named "${input.bot}" is configured`, 'bot');
    }
    try {
      const { url } = await registerTelegramWebhook(ctx.services.config, input.bot);
      return { bot: input.bot, url };
    } catch (error) {
      // Telegram's refusal (a revoked token, a URL it cannot reach) is the operator's to fix.
      if (error instanceof SendError) throw new ValidationError(error.message, 'bot');
      throw error;
    }
  },
});
