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
  /** When the platform says it was sent. */
  sentAt: string;
}
