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
  /**
   * What each button does, as written at the end of the body (inside `keepEnd`): `notes[i]` is
   * button i's. A channel that cannot carry all of them in one message with the buttons splits
   * the message (`fitWithButtons`) rather than show a button without what it does. Notes past the
   * last button have none.
   */
  notes?: string[];
}

export type OutboundButton = NonNullable<OutboundContent['buttons']>[number];

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

/**
 * `text` in order, in parts each within `limit` (as `size` measures): each part ends at the last
 * line break that fits, else the last space, else between characters.
 */
export function pieces(text: string, limit: number, size: (text: string) => number): string[] {
  const parts: string[] = [];
  let rest = text;
  while (size(rest) > limit) {
    let cut = 0;
    let used = 0;
    let lastSpace = -1;
    let lastLine = -1;
    for (const char of rest) {
      const n = size(char);
      if (used + n > limit) break;
      used += n;
      cut += char.length;
      if (char === '\n') lastLine = cut;
      if (char === ' ') lastSpace = cut;
    }
    // A line break first, so the note's last line (its code) is never cut in two.
    const at = lastLine > 0 ? lastLine : lastSpace > 0 ? lastSpace : Math.max(cut, 1);
    parts.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest) parts.push(rest);
  return parts;
}

/** One message as a channel sends it: its text and the buttons under it. */
export interface FittedMessage {
  text: string;
  buttons: OutboundButton[];
}

/**
 * A message with buttons for a channel whose message with buttons carries at most `withButtons`
 * (as `size` measures), and a message without any at most `alone`. When the body's notes fit under
 * the buttons, it is one message: the body cut before its notes (`fitText`), with every button.
 * When they do not, a button must still never reach the person without what it does (pressing
 * "Confirm 2" on a description cut off would confirm something unread): the body's own text goes
 * first on its own, then the notes in as few messages as they fit whole, each message carrying
 * the buttons of the notes in it. A note too long for any message with buttons is sent without
 * its button, whole, in as many messages as it takes (`pieces`): its typed code, at its end, still
 * confirms it.
 */
export function fitWithButtons(
  body: string,
  content: OutboundContent,
  limits: { withButtons: number; alone: number; size?: (text: string) => number },
): FittedMessage[] {
  const size = limits.size ?? ((t: string) => t.length);
  const buttons = content.buttons ?? [];
  const notes = content.notes ?? [];
  const keep = Math.min(Math.max(content.keepEnd ?? 0, 0), body.length);
  if (notes.length === 0 || size(body.slice(body.length - keep)) <= limits.withButtons) {
    return [{ text: fitText(body, limits.withButtons, { keepEnd: keep, size }), buttons }];
  }
  const messages: FittedMessage[] = [];
  const head = body.slice(0, body.length - keep).trimEnd();
  if (head) messages.push({ text: fitText(head, limits.alone, { size }), buttons: [] });
  let text = '';
  let carried: OutboundButton[] = [];
  const flush = () => {
    if (text) messages.push({ text, buttons: carried });
    text = '';
    carried = [];
  };
  notes.forEach((note, index) => {
    const button = buttons[index];
    if (size(note) > limits.withButtons) {
      flush();
      // Whole, in as many messages as it takes, its code (at its end) in the last: cut to one
      // message, it would lose the code, and nothing could confirm it.
      for (const part of pieces(note, limits.alone, size)) messages.push({ text: part, buttons: [] });
      return;
    }
    const joined = text ? `${text}\n${note}` : note;
    if (size(joined) > limits.withButtons) {
      flush();
      text = note;
    } else {
      text = joined;
    }
    if (button) carried.push(button);
  });
  flush();
  // A button with no note (no tool adds one today) says what it does itself: it goes last.
  const last = messages.at(-1);
  if (!last) return [{ text: fitText(body, limits.withButtons, { keepEnd: keep, size }), buttons }];
  last.buttons.push(...buttons.slice(notes.length));
  return messages;
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
  /**
   * Of a message sent in parts (`sendInParts`), how many the platform took before this failure
   * (`sent`), of how many (`of`).
   */
  readonly parts: { sent: number; of: number } | null;
  constructor(
    message: string,
    options: {
      retryAfterSeconds?: number | null;
      permanent?: boolean;
      unreachable?: boolean;
      rateLimited?: boolean;
      parts?: { sent: number; of: number } | null;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
    this.permanent = options.permanent ?? false;
    this.unreachable = options.unreachable ?? false;
    this.rateLimited = options.rateLimited ?? false;
    this.parts = options.parts ?? null;
  }
}

/**
 * Sends a message's platform requests in order, from the first the platform has not yet taken
 * (`parts`, counted by an earlier attempt that failed part-way), and answers with the last one's
 * id: the one whose read receipt means everything was seen. A failure part-way is thrown as a
 * SendError that says how many parts are delivered, of how many, so the next attempt goes on from
 * there rather than send the person the first parts again. Should the message now split into
 * another number of parts (the chat's window closed, a new version splits otherwise), the count
 * says nothing about these parts, and all of them are sent.
 *
 * `counted`, when given, is awaited after each part but the last with the parts delivered so far,
 * before the next is sent: written down, the count survives a crash between two parts, which a
 * count kept for the failure alone would not.
 */
export async function sendInParts<R>(
  requests: readonly R[],
  parts: { sent: number; of: number | null } | undefined,
  send: (request: R) => Promise<string>,
  counted?: (parts: { sent: number; of: number }) => Promise<void>,
): Promise<{ externalMessageId: string }> {
  const from =
    parts && parts.of === requests.length && parts.sent > 0 && parts.sent < requests.length ? parts.sent : 0;
  let id = '';
  for (let index = from; index < requests.length; index++) {
    if (index > from && counted) await counted({ sent: index, of: requests.length });
    try {
      id = await send(requests[index] as R);
    } catch (error) {
      if (index === 0) throw error;
      const failure = error instanceof SendError ? error : null;
      throw new SendError(error instanceof Error ? error.message : String(error), {
        retryAfterSeconds: failure?.retryAfterSeconds,
        permanent: failure?.permanent,
        unreachable: failure?.unreachable,
        rateLimited: failure?.rateLimited,
        parts: { sent: index, of: requests.length },
        cause: error,
      });
    }
  }
  return { externalMessageId: id };
}

export interface SendTarget {
  account: string;
  externalChatId: string;
  /** The person wrote within the last 24 hours (WhatsApp's customer-service window). */
  windowOpen: boolean;
}

/** One channel's way of sending. Throws SendError; anything else counts as "try again later". */
export interface ChannelSender {
  /**
   * Sends `message`; `parts`: of a message the channel sends in parts, how many an earlier attempt
   * delivered, of how many (`sendInParts`); absent for a first attempt. `partsCounted`: awaited
   * between parts with how many are delivered, for the caller to write down before the next goes.
   */
  send(
    target: SendTarget,
    message: {
      body: string;
      content: OutboundContent;
      parts?: { sent: number; of: number | null };
      partsCounted?: (parts: { sent: number; of: number }) => Promise<void>;
    },
  ): Promise<{ externalMessageId: string }>;
  /** Messages per second allowed per account (bot, number) and per chat. */
  limits: { perAccount: number; perChat: number };
  /** Shows the person that a reply is being written, where the channel can. */
  typing?(target: Omit<SendTarget, 'windowOpen'>): Promise<void>;
  /** Tells the platform a button press was received (its `callbackId`), where it asks for that. */
  acknowledgeButton?(target: Omit<SendTarget, 'windowOpen'>, callbackId: string): Promise<void>;
}

export type ChannelSenders = Partial<Record<ChannelPlatform, ChannelSender>>;
