/**
 * WhatsApp Cloud API webhooks, parsed and normalised (recording them is the domain's:
 * src/domain/channels/whatsapp.ts). Meta and 360dialog post the same shape:
 * `entry[].changes[]` whose `value` carries `messages[]` (from people), `statuses[]` (receipts for
 * what we sent) and `contacts[]` (the senders' profile names), under `metadata.phone_number_id`.
 *
 * One delivery can hold many messages and statuses, of several numbers, so a payload becomes a
 * list of events, each stored on its own and deduplicated by its own id: a message by its `wamid`,
 * a status by `<wamid>:<status>` (one message has several statuses). The schemas check only what
 * we read, element by element, so one odd message is kept as FAILED without losing its neighbours
 * and new Meta fields never break the webhook.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { InboundStatus } from '../../generated/prisma/enums.ts';
import { type NormalizedMessage, sentAt } from '../normalized-message.ts';

const change = z.object({ field: z.string(), value: z.unknown() });

/** The envelope: anything else at this level is an unknown shape, kept as FAILED. */
export const whatsappPayloadSchema = z
  .object({
    // Meta always sends it; if present it must be WhatsApp's (not an Instagram or Page payload).
    object: z.literal('whatsapp_business_account').optional(),
    entry: z.array(z.object({ id: z.string().optional(), changes: z.array(change) }).passthrough()).min(1),
  })
  .passthrough();

export type WhatsAppPayload = z.infer<typeof whatsappPayloadSchema>;

const changeValue = z
  .object({
    metadata: z.object({ phone_number_id: z.string().min(1) }).passthrough(),
    contacts: z.array(z.unknown()).optional(),
    messages: z.array(z.unknown()).optional(),
    statuses: z.array(z.unknown()).optional(),
  })
  .passthrough();

const contact = z.object({
  wa_id: z.string(),
  profile: z.object({ name: z.string().optional() }).optional(),
});

const timestamp = z.union([z.string(), z.number()]).optional();
/**
 * Ids become keys (the dedupe key, the chat's job key), so they are held to what WhatsApp uses:
 * wa_ids are digits, wamids base64. A NUL or a lone surrogate would fail the insert and turn a
 * delivery into an endless 500-and-redeliver loop instead of a kept FAILED event.
 */
const waId = z.string().regex(/^[\w.+:=-]{1,128}$/, 'not a WhatsApp id');
const messageId = z.string().regex(/^[\w.+/=:-]{1,256}$/, 'not a WhatsApp message id');
const kind = z.string().regex(/^[a-z_]{1,50}$/, 'not a WhatsApp message or status type');
const reply = z.object({ id: z.string(), title: z.string().optional() });

const message = z
  .object({
    id: messageId,
    from: waId,
    timestamp,
    type: kind,
    context: z.object({ id: z.string().optional() }).passthrough().optional(),
    text: z.object({ body: z.string() }).optional(),
    image: z.object({ id: z.string(), caption: z.string().optional() }).passthrough().optional(),
    location: z.object({ latitude: z.number(), longitude: z.number() }).passthrough().optional(),
    contacts: z
      .array(
        z
          .object({
            name: z.object({ formatted_name: z.string().optional() }).passthrough().optional(),
            phones: z
              .array(z.object({ phone: z.string().optional(), wa_id: z.string().optional() }).passthrough())
              .optional(),
          })
          .passthrough(),
      )
      .optional(),
    interactive: z
      .object({ type: z.string(), button_reply: reply.optional(), list_reply: reply.optional() })
      .passthrough()
      .optional(),
    button: z.object({ payload: z.string().optional(), text: z.string().optional() }).optional(),
  })
  .passthrough();

type WhatsAppMessage = z.infer<typeof message>;

const status = z
  .object({
    id: messageId,
    status: kind,
    timestamp,
    recipient_id: waId.optional(),
    errors: z
      .array(
        z
          .object({
            code: z.number().optional(),
            title: z.string().optional(),
            message: z.string().optional(),
            error_data: z.object({ details: z.string().optional() }).passthrough().optional(),
          })
          .passthrough(),
      )
      .optional(),
  })
  .passthrough();

/** Checks the envelope; what is inside is checked element by element in `whatsappEvents`. */
export function parseWhatsAppPayload(body: unknown) {
  const parsed = whatsappPayloadSchema.safeParse(body);
  return parsed.success
    ? { success: true as const, payload: parsed.data }
    : { success: false as const, error: parsed.error };
}

/** An event as the inbound log stores it (see `recordInbound` in src/domain/channels/inbound.ts). */
export interface WhatsAppInboundRecord {
  platform: 'WHATSAPP';
  account: string;
  externalId: string;
  externalChatId: string | null;
  eventType: string;
  raw: unknown;
  normalized: NormalizedMessage | null;
  /** IGNORED for events we keep but do not act on; FAILED for parts we could not read. */
  status?: InboundStatus;
  error?: string | null;
}

/** A receipt for a message we sent: what its outbound row moves forward to. */
export interface DeliveryUpdate {
  platform: 'WHATSAPP';
  externalMessageId: string;
  status: 'DELIVERED' | 'READ' | 'FAILED';
  at: Date;
  error?: string | null;
}

/** One thing to store: an inbound event, and for a receipt the outbound row it moves forward. */
export interface WhatsAppEvent {
  record: WhatsAppInboundRecord;
  delivery: DeliveryUpdate | null;
}

/**
 * The id of a change or message that carries none we can use: the same as the inbound log's
 * `bodyId` of its JSON, so a redelivered one is recognised as the same event.
 */
function derivedId(json: string): string {
  return `sha256:${createHash('sha256').update(json).digest('hex')}`;
}

/** Receipts we act on; `sent` only confirms what the send queue already recorded. */
const DELIVERY = { delivered: 'DELIVERED', read: 'READ', failed: 'FAILED' } as const;
const RECEIPTS = new Set(['sent', 'delivered', 'read', 'failed']);

/**
 * The events of one delivery. `account` is the number whose URL (and secret) it came through;
 * `accountFor` maps a `metadata.phone_number_id` to the account its events belong to, or null
 * when it is not a number that URL may speak for (those changes are kept as FAILED).
 */
export function whatsappEvents(
  payload: WhatsAppPayload,
  options: { account: string; accountFor: (phoneNumberId: string) => string | null; now?: Date },
): WhatsAppEvent[] {
  const now = options.now ?? new Date();
  const events: WhatsAppEvent[] = [];
  const keep = (record: Omit<WhatsAppInboundRecord, 'platform'>, delivery: DeliveryUpdate | null = null) =>
    events.push({ record: { platform: 'WHATSAPP', ...record }, delivery });

  for (const entry of payload.entry) {
    for (const c of entry.changes) {
      const changeId = derivedId(JSON.stringify(c));
      const value = c.field === 'messages' ? changeValue.safeParse(c.value) : null;
      if (!value) {
        // Other subscriptions (template status, account updates, …): kept, not acted on.
        keep({
          account: options.account,
          externalId: changeId,
          externalChatId: null,
          eventType: printable(`change.${c.field}`).slice(0, 100),
          raw: c,
          normalized: null,
        });
        continue;
      }
      if (!value.success) {
        keep({
          account: options.account,
          externalId: changeId,
          externalChatId: null,
          eventType: 'unknown',
          raw: c,
          normalized: null,
          status: 'FAILED',
          error: describeIssues(value.error),
        });
        continue;
      }
      const { metadata, contacts = [], messages = [], statuses = [] } = value.data;
      const account = options.accountFor(metadata.phone_number_id);
      if (!account) {
        keep({
          account: options.account,
          externalId: changeId,
          externalChatId: null,
          eventType: 'unknown_number',
          raw: c,
          normalized: null,
          status: 'FAILED',
          error: printable(
            `phone number id ${metadata.phone_number_id} is not a number this webhook serves`,
          ).slice(0, 2000),
        });
        continue;
      }
      const names = new Map<string, string | null>();
      for (const item of contacts) {
        const parsed = contact.safeParse(item);
        if (parsed.success) names.set(parsed.data.wa_id, parsed.data.profile?.name ?? null);
      }

      // A message or receipt that does not parse is kept, failed, under an id derived from it.
      const unreadable = (item: unknown, raw: unknown, error: z.ZodError) =>
        keep({
          account,
          externalId: derivedId(JSON.stringify(item) ?? 'undefined'),
          externalChatId: null,
          eventType: 'unknown',
          raw,
          normalized: null,
          status: 'FAILED',
          error: describeIssues(error),
        });

      for (const item of messages) {
        const parsed = message.safeParse(item);
        if (!parsed.success) {
          unreadable(item, { metadata, message: item }, parsed.error);
          continue;
        }
        const m = parsed.data;
        const normalized = normalizeWhatsAppMessage(account, m, names.get(m.from) ?? null, now);
        keep({
          account,
          externalId: m.id,
          externalChatId: m.from,
          eventType: `message.${m.type}`.slice(0, 100),
          raw: { metadata, contacts: contacts.length ? contacts : undefined, message: item },
          normalized,
        });
      }

      for (const item of statuses) {
        const parsed = status.safeParse(item);
        if (!parsed.success) {
          unreadable(item, { metadata, status: item }, parsed.error);
          continue;
        }
        const s = parsed.data;
        const target = DELIVERY[s.status as keyof typeof DELIVERY];
        keep(
          {
            account,
            externalId: `${s.id}:${s.status}`.slice(0, 500),
            externalChatId: s.recipient_id ?? null,
            eventType: `status.${s.status}`.slice(0, 100),
            raw: { metadata, status: item },
            normalized: null,
            // Receipts are applied as they are recorded (below); unknown ones are kept aside.
            status: RECEIPTS.has(s.status) ? 'PROCESSED' : 'IGNORED',
          },
          target
            ? {
                platform: 'WHATSAPP',
                externalMessageId: s.id,
                status: target,
                at: new Date(secondsAt(s.timestamp, now)),
                error: target === 'FAILED' ? failureReason(s.errors) : null,
                // 131026: undeliverable (blocked us, not on WhatsApp), as a refused send is read.
                ...(target === 'FAILED' && s.errors?.some((e) => e.code === 131026)
                  ? { unreachable: true }
                  : {}),
              }
            : null,
        );
      }
    }
  }
  return events;
}

/**
 * The normalised form of a message we can act on, or null for kinds we keep but do not hand on
 * (reactions, stickers, voice notes, documents, orders, system notices, unsupported).
 */
export function normalizeWhatsAppMessage(
  account: string,
  m: WhatsAppMessage,
  displayName: string | null,
  now: Date,
): NormalizedMessage | null {
  const base: NormalizedMessage = {
    platform: 'WHATSAPP',
    account,
    externalChatId: m.from,
    externalMessageId: m.id,
    sender: { externalId: m.from, displayName, language: null },
    text: null,
    images: [],
    location: null,
    contact: null,
    button: null,
    replyTo: m.context?.id ?? null,
    sentAt: secondsAt(m.timestamp, now),
  };
  switch (m.type) {
    case 'text':
      return m.text ? { ...base, text: m.text.body } : null;
    case 'image':
      // By media id: the image is fetched through the media API when processed, never here.
      return m.image
        ? {
            ...base,
            text: m.image.caption ?? null,
            images: [{ fileId: m.image.id, width: null, height: null }],
          }
        : null;
    case 'location':
      return m.location
        ? { ...base, location: { latitude: m.location.latitude, longitude: m.location.longitude } }
        : null;
    case 'contacts': {
      const first = m.contacts?.[0];
      const phone = first?.phones?.find((p) => p.phone || p.wa_id);
      return first && phone
        ? {
            ...base,
            contact: { phone: (phone.phone ?? phone.wa_id)!, name: first.name?.formatted_name ?? null },
          }
        : null;
    }
    case 'interactive': {
      const choice = m.interactive?.button_reply ?? m.interactive?.list_reply;
      return choice ? { ...base, button: { payload: choice.id, title: choice.title ?? null } } : null;
    }
    case 'button':
      // A quick-reply button of a template message.
      return m.button
        ? {
            ...base,
            button: { payload: m.button.payload ?? m.button.text ?? '', title: m.button.text ?? null },
          }
        : null;
    default:
      return null;
  }
}

/** WhatsApp's time of a message or status, in seconds (see `sentAt`). */
function secondsAt(value: string | number | undefined, now: Date): string {
  return sentAt(value === undefined || value === '' ? Number.NaN : Number(value) * 1000, now);
}

function failureReason(errors: z.infer<typeof status>['errors']): string {
  const e = errors?.[0];
  if (!e) return 'WhatsApp reported the message failed';
  const details = e.error_data?.details ?? e.message;
  return printable(
    `WhatsApp ${e.code ?? '?'}: ${e.title ?? 'failed'}${details && details !== e.title ? ` (${details})` : ''}`,
  ).slice(0, 2000);
}

/** Zod's issues as one line for the event's `error` (paths are the sender's keys: cleaned). */
export function describeIssues(error: z.ZodError): string {
  return printable(
    error.issues
      .map((i) => `${i.path.join('.')}: ${i.message}`)
      .join('; ')
      .slice(0, 2000),
  );
}

/** Text PostgreSQL can store: no control characters, no surrogates (paired or not). */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: they are what is being removed
  return text.replace(/[\u0000-\u001f\ud800-\udfff]/g, '\ufffd');
}
