// `npm run telegram:webhook -- <bot>`: points the bot's webhook at PUBLIC_URL with its secret.
import { ConfigError, loadConfig } from '../src/config/index.ts';
import { registerTelegramWebhook } from '../src/integrations/telegram/webhook.ts';

try {
  const config = loadConfig();
  const names = process.argv.slice(2);
  const bots = names.length ? names : config.channels.telegram.bots.map((b) => b.name);
  if (!bots.length) throw new Error('No Telegram bots configured (TELEGRAM_BOTS)');
  for (const bot of bots) {
    const { url } = await registerTelegramWebhook(config, bot);
    console.log(`${bot}: webhook set to ${url}`);
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : (error as Error).message);
  process.exit(1);
}
