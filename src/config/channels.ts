/**
 * The messaging channels: Telegram bots, WhatsApp numbers and Instagram accounts (each a JSON
 * list), their APIs, send rates, and the images fetched from them.
 */
import { z } from 'zod';
import { json, optional, positiveInt, trimSlash, url } from './parse.ts';

const telegramBots = z
  .array(
    z.object({
      name: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'a bot name is lower-case letters, digits, - and _'),
      token: z.string().regex(/^\d+:[\w-]{20,}$/, 'not a Telegram bot token'),
      secret: z
        .string()
        .regex(
          /^[A-Za-z0-9_-]{16,256}$/,
          'the webhook secret is 16-256 characters of A-Z, a-z, 0-9, _ and -',
        ),
    }),
    { error: 'a JSON list of {"name","token","secret"}' },
  )
  .min(1);

/**
 * One WhatsApp number. Its webhook secrets are mandatory: Meta signs every delivery with the app
 * secret (X-Hub-Signature-256) and checks our verify token in the GET handshake; 360dialog's own
 * signature is optional, so the secret we give it to send back in a header is the only guard.
 */
const whatsappSecret = (what: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `required: ${what}` : 'must be a string'),
    })
    .min(16, `${what}: at least 16 characters`);
const whatsappNumberBase = {
  name: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'a number name is lower-case letters, digits, - and _'),
  phoneNumberId: z
    .string()
    .regex(/^\d{5,30}$/, 'the phone number id is the digits Meta shows for the number'),
};
const whatsappNumbers = z
  .array(
    z.discriminatedUnion(
      'provider',
      [
        z.object({
          ...whatsappNumberBase,
          provider: z.literal('meta'),
          accessToken: whatsappSecret('the Cloud API access token (a system user token)'),
          appSecret: whatsappSecret('the Meta app secret, which X-Hub-Signature-256 is checked with'),
          verifyToken: whatsappSecret('the verify token Meta echoes in the GET handshake'),
        }),
        z.object({
          ...whatsappNumberBase,
          provider: z.literal('360dialog'),
          accessToken: whatsappSecret("the number's D360-API-KEY"),
          webhookSecret: whatsappSecret('the secret 360dialog sends back in X-Webhook-Secret'),
        }),
      ],
      { error: 'each number needs "provider": "meta" or "360dialog"' },
    ),
    { error: 'a JSON list of numbers (see the README, "Connecting WhatsApp")' },
  )
  .min(1)
  .refine(
    (numbers) => new Set(numbers.map((n) => n.name)).size === numbers.length,
    'number names must differ',
  )
  .refine(
    (numbers) => new Set(numbers.map((n) => n.phoneNumberId)).size === numbers.length,
    'phone number ids must differ',
  );

// Instagram: every secret is required, since the app secret is the only thing that tells
// Meta's webhooks from anyone else's POST, and the verify token guards the subscription.
const instagramAccounts = z
  .array(
    z.object({
      name: z
        .string({ error: 'each account needs a name (its webhook is /webhooks/instagram/<name>)' })
        .regex(/^[a-z0-9_-]{1,40}$/, 'an account name is lower-case letters, digits, - and _'),
      accountId: z
        .string({ error: 'the Instagram professional account id is required (digits, as a string)' })
        .regex(/^\d{1,30}$/, 'the Instagram professional account id is digits, as a string'),
      accessToken: z
        .string({ error: 'the page access token is required (it sends messages)' })
        .regex(/^[\w-]{20,1024}$/, 'not a Graph API access token'),
      appSecret: z
        .string({
          error: 'the app secret is required (it checks X-Hub-Signature-256 on every webhook)',
        })
        .regex(/^[A-Za-z0-9]{16,128}$/, 'not a Meta app secret'),
      verifyToken: z
        .string({ error: 'the verify token is required (Meta sends it in the subscription handshake)' })
        .regex(/^[\x21-\x7e]{16,256}$/, 'the verify token is 16-256 printable characters, no spaces'),
    }),
    { error: 'a JSON list of {"name","accountId","accessToken","appSecret","verifyToken"}' },
  )
  .min(1)
  .refine((list) => new Set(list.map((a) => a.name)).size === list.length, 'account names must differ')
  .refine(
    (list) => new Set(list.map((a) => a.accountId)).size === list.length,
    'each Instagram account id may be configured once',
  );

export const channelsEnv = z.object({
  TELEGRAM_BOTS: optional(json(telegramBots)),
  TELEGRAM_API_URL: url.default('https://api.telegram.org'),
  WHATSAPP_NUMBERS: optional(json(whatsappNumbers)),
  WHATSAPP_GRAPH_API_URL: url.default('https://graph.facebook.com/v23.0'),
  WHATSAPP_DIALOG_API_URL: url.default('https://waba-v2.360dialog.io'),
  WHATSAPP_SEND_PER_SECOND: positiveInt.default(20),
  WHATSAPP_SEND_PER_CHAT_PER_SECOND: positiveInt.default(1),
  INSTAGRAM_ACCOUNTS: optional(json(instagramAccounts)),
  INSTAGRAM_GRAPH_API_URL: url.default('https://graph.facebook.com/v23.0'),
  INSTAGRAM_SEND_PER_SECOND: positiveInt.default(20),
  INSTAGRAM_SEND_PER_CHAT_PER_SECOND: positiveInt.default(1),
  // Hosts Instagram images are fetched from (`*.` for subdomains): Meta's CDN, nothing else.
  INSTAGRAM_MEDIA_HOSTS: z
    .string()
    .regex(
      /^ *(\*\.)?[A-Za-z0-9.[\]:-]+ *(, *(\*\.)?[A-Za-z0-9.[\]:-]+ *)*$/,
      'host names (or *.domain for its subdomains), comma-separated',
    )
    .default('*.cdninstagram.com,*.fbcdn.net,lookaside.fbsbx.com'),
  // Images people send are fetched when processed; larger ones are refused (the model's limit is 5 MB).
  MEDIA_MAX_BYTES: positiveInt.default(5 * 1024 * 1024),
});

export function channelsConfig(e: z.output<typeof channelsEnv>) {
  return {
    telegram: {
      /** Each bot: its name in webhook URLs (/webhooks/telegram/<name>), token and webhook secret. */
      bots: e.TELEGRAM_BOTS ?? [],
      apiUrl: trimSlash(e.TELEGRAM_API_URL),
    },
    whatsapp: {
      /** Each number: its name in webhook URLs (/webhooks/whatsapp/<name>), provider and secrets. */
      numbers: e.WHATSAPP_NUMBERS ?? [],
      graphApiUrl: trimSlash(e.WHATSAPP_GRAPH_API_URL),
      dialogApiUrl: trimSlash(e.WHATSAPP_DIALOG_API_URL),
      /** Messages per second per number, and to one person (Meta allows bursts, then 131056). */
      limits: { perAccount: e.WHATSAPP_SEND_PER_SECOND, perChat: e.WHATSAPP_SEND_PER_CHAT_PER_SECOND },
    },
    instagram: {
      /**
       * Each account: its name in webhook URLs (/webhooks/instagram/<name>), the Instagram
       * professional account id (`entry.id` and `recipient.id` in webhooks), the page access
       * token that sends, and the Meta app's secret and webhook verify token.
       */
      accounts: e.INSTAGRAM_ACCOUNTS ?? [],
      /** The Graph API with its version: sends go to `<graphApiUrl>/me/messages`. */
      graphApiUrl: trimSlash(e.INSTAGRAM_GRAPH_API_URL),
      /**
       * Hosts image URLs may point at (`*.domain`: its subdomains). Webhook bodies name the URL,
       * so anything else would have us fetch wherever a forged or odd attachment points.
       */
      mediaHosts: e.INSTAGRAM_MEDIA_HOSTS.split(',').map((host) => host.trim().toLowerCase()),
      /** Messages per second per account and per chat (the send queue's token buckets). */
      limits: {
        perAccount: e.INSTAGRAM_SEND_PER_SECOND,
        perChat: e.INSTAGRAM_SEND_PER_CHAT_PER_SECOND,
      },
    },
    media: {
      /** Largest image fetched from a platform; a larger one is refused (stated) or cut off (streamed). */
      maxBytes: e.MEDIA_MAX_BYTES,
    },
  };
}
