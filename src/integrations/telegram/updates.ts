/**
 * Telegram updates, normalised. The shapes come from @grammyjs/types (the Bot API's own types);
 * the zod schema checks only what we read, so new Telegram fields never break the webhook.
 */
import type { Update } from '@grammyjs/types';
import { z } from 'zod';
import type { NormalizedMessage } from '../normalized-message.ts';

const user = z.object({
  id: z.number().int(),
  is_bot: z.boolean().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
  language_code: z.string().optional(),
});

const message = z.object({
  message_id: z.number().int(),
  date: z.number().int(),
  chat: z.object({ id: z.number().int() }),
  from: user.optional(),
  text: z.string().optional(),
  caption: z.string().optional(),
  photo: z.array(z.object({ file_id: z.string(), width: z.number(), height: z.number() })).optional(),
  location: z.object({ latitude: z.number(), longitude: z.number() }).optional(),
  contact: z.object({ phone_number: z.string(), first_name: z.string().optional() }).optional(),
  reply_to_message: z.object({ message_id: z.number().int() }).optional(),
});

/** Just enough of an update to store it: its id, and what it is. */
export const telegramUpdateSchema = z
  .object({
    update_id: z.number().int(),
    message: message.optional(),
    edited_message: message.optional(),
    callback_query: z
      .object({
        id: z.string(),
        from: user,
        data: z.string().optional(),
        message: message.optional(),
      })
      .optional(),
  })
  .passthrough();

/**
 * An update that passed `telegramUpdateSchema`: typed as the Bot API's own `Update`, whose fields
 * we read were checked by the schema.
 */
export type TelegramUpdate = Update;

/** Checks the parts of an update we read; anything else Telegram sends passes through untouched. */
export function parseTelegramUpdate(body: unknown) {
  const parsed = telegramUpdateSchema.safeParse(body);
  return parsed.success
    ? { success: true as const, update: parsed.data as unknown as TelegramUpdate }
    : { success: false as const, error: parsed.error };
}

/**
 * The normalised message of an update, or null for updates we do not act on (edits, reactions,
 * membership changes, …), which are stored and marked ignored.
 */
export function normalizeTelegramUpdate(bot: string, update: TelegramUpdate): NormalizedMessage | null {
  const base = { platform: 'TELEGRAM' as const, account: bot };
  if (update.message) {
    const m = update.message;
    const largest = m.photo?.at(-1);
    return {
      ...base,
      externalChatId: String(m.chat.id),
      externalMessageId: String(m.message_id),
      sender: sender(m.from, m.chat.id),
      text: m.text ?? m.caption ?? null,
      images: largest ? [{ fileId: largest.file_id, width: largest.width, height: largest.height }] : [],
      location: m.location ? { latitude: m.location.latitude, longitude: m.location.longitude } : null,
      contact: m.contact ? { phone: m.contact.phone_number, name: m.contact.first_name ?? null } : null,
      button: null,
      replyTo: m.reply_to_message ? String(m.reply_to_message.message_id) : null,
      sentAt: new Date(m.date * 1000).toISOString(),
    };
  }
  if (update.callback_query?.message) {
    const q = update.callback_query;
    return {
      ...base,
      externalChatId: String(q.message!.chat.id),
      externalMessageId: null,
      sender: sender(q.from, q.from.id),
      text: null,
      images: [],
      location: null,
      contact: null,
      button: { payload: q.data ?? '', title: null },
      replyTo: String(q.message!.message_id),
      sentAt: new Date().toISOString(),
    };
  }
  return null;
}

function sender(
  from:
    | { id: number; first_name?: string; last_name?: string; username?: string; language_code?: string }
    | undefined,
  fallbackId: number,
) {
  const name = [from?.first_name, from?.last_name].filter(Boolean).join(' ');
  return {
    externalId: String(from?.id ?? fallbackId),
    displayName: name || from?.username || null,
    language: from?.language_code ?? null,
  };
}

/** What kind of update this is, for the inbound log. */
export function telegramEventType(update: TelegramUpdate): string {
  const known = [
    'message',
    'edited_message',
    'callback_query',
    'channel_post',
    'my_chat_member',
    'message_reaction',
  ];
  return (
    known.find((key) => key in update) ?? Object.keys(update).find((k) => k !== 'update_id') ?? 'unknown'
  );
}

/** The chat an update belongs to, when it has one (to keep its messages in order). */
export function telegramChatOf(update: TelegramUpdate): string | null {
  const m = update.message ?? update.edited_message ?? update.callback_query?.message;
  return m ? String(m.chat.id) : null;
}
