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
  /**
   * How many characters at the end of the body are the code's own notes (what a Confirm button
   * does, its code): a channel that must shorten the body cuts before them, never into them.
   */
  keepEnd?: number;
}

/**
 * `text` within a channel's `limit` (as `size` measures it, characters by default), `escape`d
 * for its markup: whole when it fits; else cut before its last `keepEnd` characters, which are
 * kept, with "…" where it was cut. The cut falls between characters, never inside one or inside
 * an escape.
 */
export function fitText(
  text: string,
  limit: number,
  options: { keepEnd?: number; size?: (text: string) => number; escape?: (text: string) => string } = {},
): string {
  const escaped = options.escape ?? ((t: string) => t);
  const size = options.size ?? ((t: string) => t.length);
  const whole = escaped(text);
  if (size(whole) <= limit) return whole;
  const keep = Math.min(Math.max(options.keepEnd ?? 0, 0), text.length);
  const tail = escaped(text.slice(text.length - keep));
  const ellipsis = escaped('…');
  const budget = limit - size(tail) - size(ellipsis);
  // The notes alone do not fit: they are shortened like any text.
  if (budget < 0)
    return keep > 0 ? fitText(text.slice(text.length - keep), limit, { ...options, keepEnd: 0 }) : '';
  let head = '';
  let used = 0;
  for (const char of text.slice(0, text.length - keep)) {
    const part = escaped(char);
    const n = size(part);
    if (used + n > budget) break;
    head += part;
    used += n;
  }
  return `${head}${ellipsis}${tail}`;
}

/** Why a send did not go through, as the channel client tells it. */
export class SendError extends Error {
  override name = 'SendError';
  readonly retryAfterSeconds: number | null;
  readonly permanent: boolean;
  /** The person cannot be reached on this chat any more (blocked the bot, deleted the account). */
  readonly unreachable: boolean;
  /** The platform's rate limit (429 and its kin): waited out, never a reason to give up. */
  readonly rateLimited: boolean;
  constructor(
    message: string,
    options: {
      retryAfterSeconds?: number | null;
      permanent?: boolean;
      unreachable?: boolean;
      rateLimited?: boolean;
    } = {},
  ) {
    super(message);
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
    this.permanent = options.permanent ?? false;
    this.unreachable = options.unreachable ?? false;
    this.rateLimited = options.rateLimited ?? false;
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
  /** Tells the platform a button press was received (its `callbackId`), where it asks for that. */
  acknowledgeButton?(target: Omit<SendTarget, 'windowOpen'>, callbackId: string): Promise<void>;
}

export type ChannelSenders = Partial<Record<ChannelPlatform, ChannelSender>>;
