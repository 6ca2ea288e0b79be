/**
 * Instagram messaging webhooks (Meta Graph, `object: "instagram"`), parsed and normalised
 * (recording them is the domain's: src/domain/channels/instagram.ts).
 *
 * One POST carries `entry[]`, each for one of our Instagram accounts, each with `messaging[]`
 * events. Every event is stored on its own, deduplicated by its own id (the message's `mid`, or
 * an id derived from the event for postbacks without one, receipts and the rest), so a batch that
 * Meta redelivers, or splits differently, is stored once. The zod schemas check only what we
 * read; anything else Meta adds passes through into the stored raw event.
 *
 * Two Instagram things have no field of their own in NormalizedMessage, so they travel in
 * `replyTo` with a prefix: a reply to one of our stories has `replyTo: "story:<story id>"`, and a
 * mention of us in the person's story has `replyTo: "story_mention"` with the story itself in
 * `images` (by its CDN URL, never downloaded here: Meta forbids keeping story media).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type NormalizedMessage, sentAt } from '../normalized-message.ts';

/** `replyTo` of a message that answers one of our stories: `story:<id>`. */
export const STORY_REPLY_PREFIX = 'story:';
/** `replyTo` of a message that mentions us in the person's story. */
export const STORY_MENTION = 'story_mention';

/** Meta sends ids as strings; a number here would have lost digits already, so it is refused. */
const party = z.object({ id: z.string().min(1) });

/** Milliseconds since the epoch (Meta's messaging timestamps); seconds and numeric strings too. */
const timestamp = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).transform((t) =>
  // Instagram sends milliseconds; a few Messenger payloads carry seconds.
  t < 1e11 ? t * 1000 : t,
);

const attachment = z
  .object({
    type: z.string(),
    payload: z.object({ url: z.string().optional() }).passthrough().nullish(),
  })
  .passthrough();

const message = z
  .object({
    mid: z.string().min(1),
    text: z.string().optional(),
    attachments: z.array(attachment).optional(),
    quick_reply: z.object({ payload: z.string() }).passthrough().optional(),
    reply_to: z
      .object({
        mid: z.string().optional(),
        story: z.object({ id: z.string().optional(), url: z.string().optional() }).passthrough().optional(),
      })
      .passthrough()
      .optional(),
    is_echo: z.boolean().optional(),
    is_deleted: z.boolean().optional(),
  })
  .passthrough();

/** One `entry[].messaging[]` event: a message, postback, receipt, reaction, … */
export const instagramEventSchema = z
  .object({
    sender: party,
    recipient: party,
    timestamp,
    message: message.optional(),
    postback: z
      .object({ mid: z.string().optional(), title: z.string().optional(), payload: z.string().optional() })
      .passthrough()
      .optional(),
    read: z.object({ mid: z.string().optional(), watermark: z.number().optional() }).passthrough().optional(),
    delivery: z
      .object({ mids: z.array(z.string()).optional(), watermark: z.number().optional() })
      .passthrough()
      .optional(),
  })
  .passthrough();

export type InstagramEvent = z.output<typeof instagramEventSchema>;
/** An event as Meta sends it (what the fakes build). */
export type InstagramEventInput = z.input<typeof instagramEventSchema>;

/**
 * The envelope. Events are left unparsed here and checked one by one, so one odd event in a batch
 * is kept as failed while its neighbours are processed.
 */
export const instagramWebhookSchema = z
  .object({
    object: z.literal('instagram'),
    entry: z.array(
      z
        .object({
          id: z.string().min(1),
          time: z.number().optional(),
          messaging: z.array(z.unknown()).optional(),
        })
        .passthrough(),
    ),
  })
  .passthrough();

export type InstagramWebhook = z.output<typeof instagramWebhookSchema>;

export interface InstagramAccountRef {
  /** Our name for the account (webhook URL, chats' `account`). */
  name: string;
  /** The Instagram professional account id: `entry.id`, and `recipient.id` of messages to us. */
  accountId: string;
}

/** What one messaging event is, and how it is stored. */
export type ClassifiedEvent =
  | {
      kind: 'message';
      externalId: string;
      externalChatId: string;
      eventType: string;
      normalized: NormalizedMessage;
    }
  | {
      /** Delivery or read receipts for messages we sent. */
      kind: 'status';
      externalId: string;
      externalChatId: string;
      eventType: 'read' | 'delivery';
      status: 'READ' | 'DELIVERED';
      mids: string[];
      at: Date;
    }
  | { kind: 'ignored'; externalId: string; externalChatId: string | null; eventType: string }
  | { kind: 'invalid'; externalId: string; eventType: string; error: string };

/** A stable id for an event that carries none of its own: the same event always hashes the same. */
export function derivedId(prefix: string, value: unknown): string {
  return `${prefix}:${createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 40)}`;
}

function issues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.join('.')}: ${i.message}`)
    .join('; ')
    .slice(0, 2000);
}

/** Sorts one messaging event into what we do with it; never throws. */
export function classifyInstagramEvent(account: InstagramAccountRef, raw: unknown): ClassifiedEvent {
  const parsed = instagramEventSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      kind: 'invalid',
      externalId: derivedId('invalid', raw),
      eventType: 'invalid_event',
      error: issues(parsed.error),
    };
  }
  const event = parsed.data;
  // The person is whoever is not us: the sender of what they send, the recipient of our echoes.
  const fromUs = event.sender.id === account.accountId;
  const person = fromUs ? event.recipient.id : event.sender.id;
  // As the platform says, or when we received it when what it says cannot be (sentAt).
  const sent = sentAt(event.timestamp);
  const at = new Date(sent);

  if (event.message) {
    const m = event.message;
    if (m.is_echo || fromUs) {
      // Our own messages coming back (sent by us, or by someone in the Instagram app): kept, no more.
      return { kind: 'ignored', externalId: m.mid, externalChatId: person, eventType: 'echo' };
    }
    if (m.is_deleted) {
      // The person unsent a message; its mid is taken by the original, so this id is derived.
      return {
        kind: 'ignored',
        externalId: `deleted:${m.mid}`,
        externalChatId: person,
        eventType: 'message_deleted',
      };
    }
    const normalized = normalizeMessage(account, person, event, m);
    const eventType = m.quick_reply
      ? 'quick_reply'
      : m.reply_to?.story
        ? 'story_reply'
        : normalized.replyTo === STORY_MENTION
          ? 'story_mention'
          : 'message';
    return { kind: 'message', externalId: m.mid, externalChatId: person, eventType, normalized };
  }

  if (event.postback) {
    const p = event.postback;
    return {
      kind: 'message',
      // Postbacks carry a mid from Graph v11; older ones get an id from who pressed what, when.
      externalId: p.mid ?? derivedId('postback', [person, event.timestamp, p.payload ?? null]),
      externalChatId: person,
      eventType: 'postback',
      normalized: {
        platform: 'INSTAGRAM',
        account: account.name,
        externalChatId: person,
        externalMessageId: p.mid ?? null,
        sender: { externalId: person, displayName: null, language: null },
        text: null,
        images: [],
        location: null,
        contact: null,
        button: { payload: p.payload ?? '', title: p.title ?? null },
        replyTo: null,
        sentAt: sent,
      },
    };
  }

  if (event.read) {
    // Instagram's `messaging_seen` names the message read; Messenger's watermark form names none.
    const mids = event.read.mid ? [event.read.mid] : [];
    return {
      kind: 'status',
      externalId: event.read.mid
        ? `read:${event.read.mid}`
        : derivedId('read', [person, event.read.watermark ?? null]),
      externalChatId: person,
      eventType: 'read',
      status: 'READ',
      mids,
      at,
    };
  }

  if (event.delivery) {
    const mids = event.delivery.mids ?? [];
    return {
      kind: 'status',
      externalId: derivedId('delivery', [person, mids, event.delivery.watermark ?? null]),
      externalChatId: person,
      eventType: 'delivery',
      status: 'DELIVERED',
      mids,
      at,
    };
  }

  // Reactions, edits, referrals, …: kept under what they are, not acted on.
  const known = ['sender', 'recipient', 'timestamp'];
  const eventType = Object.keys(raw as object).find((key) => !known.includes(key)) ?? 'unknown';
  return { kind: 'ignored', externalId: derivedId(eventType, raw), externalChatId: person, eventType };
}

function normalizeMessage(
  account: InstagramAccountRef,
  person: string,
  event: InstagramEvent,
  m: NonNullable<InstagramEvent['message']>,
): NormalizedMessage {
  const attachments = m.attachments ?? [];
  // Images by reference: their CDN URL, fetched (size-limited) when processed, if ever.
  const images = attachments
    .filter((a) => a.type === 'image' && a.payload?.url)
    .map((a) => ({ fileId: a.payload!.url!, width: null, height: null }));
  const mention = attachments.find((a) => a.type === 'story_mention');
  if (mention?.payload?.url) images.push({ fileId: mention.payload.url, width: null, height: null });
  const story = m.reply_to?.story;
  const replyTo = m.reply_to?.mid
    ? m.reply_to.mid
    : story
      ? `${STORY_REPLY_PREFIX}${story.id ?? story.url ?? ''}`
      : mention
        ? STORY_MENTION
        : null;
  return {
    platform: 'INSTAGRAM',
    account: account.name,
    externalChatId: person,
    externalMessageId: m.mid,
    // Webhooks carry only the Instagram-scoped id; a name needs the User Profile API.
    sender: { externalId: person, displayName: null, language: null },
    // A quick reply's text is the tapped button's title, which `button` carries.
    text: m.quick_reply ? null : (m.text ?? null),
    images,
    location: null,
    contact: null,
    button: m.quick_reply ? { payload: m.quick_reply.payload, title: m.text ?? null } : null,
    replyTo,
    sentAt: sentAt(event.timestamp),
  };
}
