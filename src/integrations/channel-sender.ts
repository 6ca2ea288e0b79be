/**
 * What every channel client offers the send queue (src/domain/channels/outbound.ts): a sender
 * that renders a queued message on its platform, its rate limits, and SendError, whose fields
 * say whether to try again later, give up, or stop writing to the chat.
 */
import type { ChannelPlatform } from '../generated/prisma/enums.ts';

/** What a message may carry beyond its text; each channel renders what it can. */
export interface OutboundContent {
  images?: { url: string; caption?: string }[];
  /** Up to 3 quick buttons (WhatsApp's limit); `id` comes back as the button payload. */
  buttons?: { id: string; title: string }[];
  /** A pre-approved WhatsApp template, for outside the 24-hour window. */
  template?: { name: string; language: string; parameters: string[] };
}

/** Why a send did not go through, as the channel client tells it. */
export class SendError extends Error {
  override name = 'SendError';
  readonly retryAfterSeconds: number | null;
  readonly permanent: boolean;
  /** The person cannot be reached on this chat any more (blocked the bot, deleted the account). */
  readonly unreachable: boolean;
  constructor(
    message: string,
    options: { retryAfterSeconds?: number | null; permanent?: boolean; unreachable?: boolean } = {},
  ) {
    super(message);
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
    this.permanent = options.permanent ?? false;
    this.unreachable = options.unreachable ?? false;
  }
}

export interface SendTarget {
  account: string;
  externalChatId: string;
  /** The person wrote within the last 24 hours (WhatsApp's customer-service window). */
  windowOpen: boolean;
}

/** One channel's way of sending. Throws SendError; anything else counts as "try again later". */
export interface ChannelSender {
  send(
    target: SendTarget,
    message: { body: string; content: OutboundContent },
  ): Promise<{ externalMessageId: string }>;
  /** Messages per second allowed per account (bot, number) and per chat. */
  limits: { perAccount: number; perChat: number };
  /** Shows the person that a reply is being written, where the channel can. */
  typing?(target: Omit<SendTarget, 'windowOpen'>): Promise<void>;
}

export type ChannelSenders = Partial<Record<ChannelPlatform, ChannelSender>>;
