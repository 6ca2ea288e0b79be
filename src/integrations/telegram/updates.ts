/**
 * Telegram updates, normalised. The shapes come from @grammyjs/types (the Bot API's own types);
 * the zod schema checks only what we read, so new Telegram fields never break the webhook.
 */
import type { Update } from '@grammyjs/types';
import { z } from 'zod';
import { type NormalizedMessage, sentAt } from '../normalized-message.ts';

const user = z.object({
  id: z.number().int(),
  is_bot: z.boolean().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
  language_code: z.string().optional(),
});

const message = z
  .object({
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
    /** Set when a chat, not a person, speaks: a channel's post, an anonymous group admin. */
    sender_chat: z.object({ id: z.number().int() }).optional(),
  })
  // The rest (a service message's fields, which mark it as one) is kept, not checked.
  .passthrough();

/**
 * The fields that make a message a service message (someone joined, left, pinned, renamed the
 * group, a video chat started, …): Telegram sends them to bots in groups, and nobody said anything.
 */
const SERVICE_FIELDS = [
  'new_chat_members',
  'left_chat_member',
  'new_chat_title',
  'new_chat_photo',
  'delete_chat_photo',
  'group_chat_created',
  'supergroup_chat_created',
  'channel_chat_created',
  'message_auto_delete_timer_changed',
  'migrate_to_chat_id',
  'migrate_from_chat_id',
  'pinned_message',
  'forum_topic_created',
  'forum_topic_edited',
  'forum_topic_closed',
  'forum_topic_reopened',
  'general_forum_topic_hidden',
  'general_forum_topic_unhidden',
  'video_chat_scheduled',
  'video_chat_started',
  'video_chat_ended',
  'video_chat_participants_invited',
  'write_access_allowed',
  'users_shared',
  'chat_shared',
  'boost_added',
  'chat_background_set',
  'proximity_alert_triggered',
  'giveaway_created',
  'giveaway_completed',
] as const;

/**
 * Whether a message is a person speaking: not a service message, not another bot, and not a chat
 * speaking as itself (`sender_chat`: a linked channel's post, an anonymous admin, whose `from` is
 * one stand-in account shared by every group, which would make one "person" of them all).
 */
function fromAPerson(m: object & { from?: { is_bot?: boolean }; sender_chat?: unknown }): boolean {
  return !SERVICE_FIELDS.some((field) => field in m) && !m.from?.is_bot && m.sender_chat === undefined;
}

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
 * membership changes, service messages, other bots, a chat speaking as itself), which are stored
 * and marked ignored.
 */
export function normalizeTelegramUpdate(bot: string, update: TelegramUpdate): NormalizedMessage | null {
  const base = { platform: 'TELEGRAM' as const, account: bot };
  if (update.message) {
    const m = update.message;
    if (!fromAPerson(m)) return null;
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
      sentAt: sentAt(m.date * 1000),
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
      button: { payload: q.data ?? '', title: null, callbackId: q.id },
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
