/**
 * One shape for an inbound message, whatever the channel: what each platform's wire parser
 * (src/integrations/<platform>/) makes of a webhook body. Webhooks store it beside the raw event;
 * the dispatcher (and later the consumer agent) reads only this.
 */
import type { ChannelPlatform } from '../generated/prisma/enums.ts';

export interface InboundSender {
  /** The platform's id for the person (Telegram user id, WhatsApp number, Instagram-scoped id). */
  externalId: string;
  displayName: string | null;
  /** Language the platform reports for them, if any (BCP 47). */
  language: string | null;
}

export interface NormalizedMessage {
  platform: ChannelPlatform;
  account: string;
  /** The conversation: Telegram chat id, WhatsApp number, Instagram thread. */
  externalChatId: string;
  /** The platform's message id, for replies and reactions. */
  externalMessageId: string | null;
  sender: InboundSender;
  text: string | null;
  /** Images by reference (the platform's file id); downloaded when processed, never here. */
  images: { fileId: string; width: number | null; height: number | null }[];
  location: { latitude: number; longitude: number } | null;
  contact: { phone: string; name: string | null } | null;
  /**
   * A button or quick reply the person pressed. `callbackId`: the press's own id where the
   * platform wants it acknowledged (Telegram's callback query, which the client shows loading
   * until it is answered).
   */
  button: { payload: string; title: string | null; callbackId?: string } | null;
  /** The message this one answers, by the platform's id. */
  replyTo: string | null;
  /** When the platform says it was sent (`sentAt`). */
  sentAt: string;
}

/** The earliest a platform's clock is taken at its word for when a message was sent. */
const EARLIEST_SENT = Date.UTC(2000, 0, 1);
/** How far ahead of ours a platform's clock is taken at its word. */
const AHEAD_MS = 86_400_000;

/**
 * When a message was sent, as a platform says it (`epochMs`), or when we received it (`now`) when
 * what it says cannot be: before 2000, more than a day ahead of us, or no instant at all (a
 * WhatsApp time in milliseconds where seconds are meant reads as the year 58903, which as a chat's
 * last message kept its replies outside their 24-hour window for good).
 */
export function sentAt(epochMs: number, now = new Date()): string {
  const plausible =
    Number.isFinite(epochMs) && epochMs >= EARLIEST_SENT && epochMs <= now.getTime() + AHEAD_MS;
  return (plausible ? new Date(epochMs) : now).toISOString();
}
