/**
 * The send queue. Every message to a person (replies, reminders, notifications) is a row in
 * `outbound_messages`, routed when it is queued to the person's most recently active reachable
 * chat. Sending works like receiving: a job keyed by the chat drains that chat's pending messages
 * in order under the chat's advisory lock, so a chat's messages arrive in the order they were
 * queued, one at a time, within the platform's per-chat and per-account rate limits.
 *
 * A platform that says "later" (429 with retry_after, 5xx, network) leaves the message pending
 * and the chat's drain comes back then; one that says "never" (the person blocked the bot, the
 * WhatsApp window is closed and there is no template) fails the message with the reason and,
 * where it applies, marks the chat unreachable.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Chat, OutboundMessage, Prisma } from '../../generated/prisma/client.ts';
import type { ChannelPlatform } from '../../generated/prisma/enums.ts';
import { type ChannelSenders, type OutboundContent, SendError } from '../../integrations/channel-sender.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import type { Database, DbOrTx } from '../../platform/db.ts';
import { defineTask, type InsertStatement, insertAndEnqueue } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import { storable, storableKey, storableText } from '../../platform/storable.ts';
import type { TokenBuckets } from '../../platform/token-bucket.ts';

// The channel clients' contract, named here too for the domain's files that queue and send.
export type { ChannelSenders, OutboundContent } from '../../integrations/channel-sender.ts';

/** Drains one chat's pending outbound messages, in order. */
export const chatSendTask = defineTask({
  name: 'chat-send',
  schema: z.object({ chatId: z.uuid() }),
  maxAttempts: 25,
});

export function sendKey(chatId: string): string {
  return `send:${chatId}`;
}

/**
 * Queues a message for a person (no-op when `dedupeKey` was queued before). It goes to `chat` or
 * `chatId` when given, else to their most recently active reachable chat of their own (never one
 * shared with others, a group); a person with none gets the message failed with that reason,
 * so it shows up instead of waiting forever.
 */
export async function queueMessage(
  tx: DbOrTx,
  message: {
    userId: string;
    bookingId?: string | null;
    kind: string;
    body: string;
    dedupeKey: string;
    data?: Prisma.InputJsonValue;
    content?: OutboundContent;
    /** Send to this chat (a reply goes where the person spoke). */
    chatId?: string;
    /** The chat to send to, as the caller has just read it (not read again). */
    chat?: Chat;
  },
): Promise<{ queued: boolean }> {
  const chat = message.chat
    ? message.chat
    : message.chatId
      ? await tx.chat.findUnique({ where: { id: message.chatId } })
      : await tx.chat.findFirst({
          where: { userId: message.userId, unreachableAt: null, shared: false },
          orderBy: { lastInboundAt: { sort: 'desc', nulls: 'last' } },
        });
  const reachable = chat && !chat.unreachableAt ? chat : null;
  if (reachable) {
    // The row and, only when it is new, its chat's send job, in one statement.
    const { stored } = await insertAndEnqueue(
      tx,
      outboundInsert({
        id: randomUUID(),
        userId: message.userId,
        bookingId: message.bookingId ?? null,
        channel: 'CHAT',
        chatId: reachable.id,
        emailTo: null,
        subject: null,
        kind: message.kind,
        body: message.body,
        content: message.content ?? {},
        data: message.data ?? {},
        dedupeKey: message.dedupeKey,
      }),
      chatSendTask,
      { chatId: reachable.id },
      // preserve_run_at: a drain already waiting out a rate limit or a retry_after keeps its time.
      { jobKey: sendKey(reachable.id), jobKeyMode: 'preserve_run_at' },
    );
    return { queued: stored };
  }
  const { count } = await tx.outboundMessage.createMany({
    data: [
      {
        userId: message.userId,
        bookingId: message.bookingId ?? null,
        chatId: null,
        kind: message.kind,
        body: message.body,
        content: (message.content ?? {}) as Prisma.InputJsonValue,
        data: message.data ?? {},
        dedupeKey: message.dedupeKey,
        status: 'FAILED',
        failureReason: chat ? `unreachable: ${chat.unreachableReason}` : 'The person has no chat with us',
      },
    ],
    skipDuplicates: true,
  });
  return { queued: count === 1 };
}

/**
 * A new PENDING outbound row as one `INSERT … ON CONFLICT DO NOTHING RETURNING 1` (nothing for a
 * dedupe key queued before), for `insertAndEnqueue` to add its send job in the same statement.
 */
export function outboundInsert(
  row: Pick<
    OutboundMessage,
    | 'id'
    | 'userId'
    | 'bookingId'
    | 'channel'
    | 'chatId'
    | 'emailTo'
    | 'subject'
    | 'kind'
    | 'body'
    | 'dedupeKey'
  > & { content: unknown; data: unknown },
): InsertStatement {
  const at = new Date();
  return {
    name: 'outbound-message',
    text: `
      INSERT INTO outbound_messages (id, user_id, booking_id, channel, chat_id, email_to, subject, kind,
                                     body, content, data, dedupe_key, created_at, updated_at)
      VALUES ($1::uuid, $2::uuid, $3::uuid, $4::"OutboundChannel", $5::uuid, $6::text, $7::text, $8::text,
              $9::text, $10::text::jsonb, $11::text::jsonb, $12::text, $13::timestamptz, $13::timestamptz)
      ON CONFLICT DO NOTHING
      RETURNING 1`,
    values: [
      row.id,
      row.userId,
      row.bookingId,
      row.channel,
      row.chatId,
      row.emailTo,
      // What we send may carry a model's words: kept as PostgreSQL can hold them (a NUL failed
      // the insert, and the person was sent an apology instead of their answer).
      row.subject === null ? null : storableText(row.subject),
      row.kind,
      storableText(row.body),
      JSON.stringify(storable(row.content)),
      JSON.stringify(storable(row.data)),
      row.dedupeKey,
      at,
    ],
  };
}

export interface SendDeps {
  database: Database;
  senders: ChannelSenders;
  buckets: TokenBuckets;
  logger: Logger;
  now: () => Date;
  /**
   * Aborted when the process is stopping: no next message is sent, the rest waits for the next
   * drain (a send cut short by the stop could be made twice).
   */
  signal?: AbortSignal;
}

/**
 * What a send drain did, and what should happen next: `retryAfterMs` set means the chat's drain
 * must run again after that long (a rate limit, a platform asking to wait, another drain holding
 * the chat). The caller schedules it; the domain does not know about jobs.
 */
export interface SendDrainOutcome {
  /** How many messages it sent, or null when another drain holds the chat. */
  sent: number | null;
  retryAfterMs: number | null;
}

/** How long after a person's last message a free-form reply may go (WhatsApp's customer-service window). */
export const REPLY_WINDOW_MS = 24 * 3_600_000;

/** The platforms that take free text only within REPLY_WINDOW_MS of the person's last message. */
export const WINDOWED_PLATFORMS = ['WHATSAPP', 'INSTAGRAM'] as const satisfies readonly ChannelPlatform[];

/**
 * How much of the window must be left for a notice to be routed to a chat: it is sent after it is
 * queued (the chat's drain, a rate limit), and must still find the window open.
 */
export const NOTICE_WINDOW_MARGIN_MS = 3_600_000;

/**
 * The chats that take a notice's free text now (Prisma's where): every chat on a platform without
 * a window, and a WhatsApp or Instagram chat whose person wrote within the window, less the margin.
 */
export function takesFreeText(now: Date): Prisma.ChatWhereInput {
  return {
    OR: [{ platform: { notIn: [...WINDOWED_PLATFORMS] } }, { lastInboundAt: { gt: freeTextSince(now) } }],
  };
}

/** The person's last message after this, a windowed platform's chat takes free text (`takesFreeText`). */
export function freeTextSince(now: Date): Date {
  return new Date(now.getTime() - REPLY_WINDOW_MS + NOTICE_WINDOW_MARGIN_MS);
}
/**
 * A message the platform keeps refusing "for now" is given up after this many tries (rate limits
 * are not counted against it: they are waited out).
 */
export const MAX_SEND_ATTEMPTS = 10;
/** The longest wait between tries when the platform does not say how long. */
const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * Sends a chat's pending messages, oldest first. Stops (and comes back later) when a rate limit
 * or the platform asks it to wait, so later messages never overtake earlier ones.
 * Returns how many were sent, or null when another drain holds the chat.
 */
export async function drainSends(deps: SendDeps, chatId: string): Promise<SendDrainOutcome> {
  const db = deps.database.prisma;
  const result = await withAdvisoryLock(deps.database.locks, sendKey(chatId), async () => {
    let sent = 0;
    for (;;) {
      const chat = await db.chat.findUnique({ where: { id: chatId } });
      if (!chat) return { sent, retryAfterMs: null };
      const next = await db.outboundMessage.findFirst({
        where: { chatId, status: 'PENDING' },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      });
      if (!next) return { sent, retryAfterMs: null };
      if (deps.signal?.aborted) return { sent, retryAfterMs: 0 };
      const outcome = await sendOne(deps, chat, next);
      if (typeof outcome === 'object') return { sent, retryAfterMs: outcome.waitMs };
      if (outcome === 'sent') sent += 1;
    }
  });
  return result.locked ? result.value : { sent: null, retryAfterMs: 1000 };
}

async function sendOne(
  deps: SendDeps,
  chat: Chat,
  message: OutboundMessage,
): Promise<'sent' | 'failed' | { waitMs: number }> {
  const db = deps.database.prisma;
  const logger = deps.logger.child({ 'outbound.id': message.id, 'chat.id': chat.id });
  const fail = async (reason: string) => {
    await db.outboundMessage.update({
      where: { id: message.id },
      data: { status: 'FAILED', failureReason: reason },
    });
    logger.warn({ 'outbound.reason': reason }, 'outbound message failed');
    return 'failed' as const;
  };
  if (chat.unreachableAt) return fail(`unreachable: ${chat.unreachableReason}`);
  const sender = deps.senders[chat.platform];
  if (!sender) return fail(`${chat.platform} is not configured`);

  // The chat's own token first, and the bot's (or number's) only once the chat may send: a take
  // that gets a token keeps it, so asking both at once spent a token of the bot, shared by all its
  // chats, each time one busy chat waited for its own limit. And the chat's token is given back
  // when the bot's limit says wait, or a saturated bot would keep every chat waiting twice over.
  const chatKey = `send:chat:${chat.id}`;
  const chatWait = await deps.buckets.take(chatKey, sender.limits.perChat, 1);
  if (chatWait > 0) return { waitMs: chatWait };
  const accountWait = await deps.buckets.take(
    `send:${chat.platform}:${chat.account}`,
    sender.limits.perAccount,
    sender.limits.perAccount,
  );
  if (accountWait > 0) {
    await deps.buckets.giveBack(chatKey, sender.limits.perChat, 1);
    return { waitMs: accountWait };
  }

  const now = deps.now();
  const windowOpen =
    chat.lastInboundAt !== null && now.getTime() - chat.lastInboundAt.getTime() < REPLY_WINDOW_MS;
  // Parts the platform took are not sent again, whatever comes of the message: their count is
  // written before the next part goes (so a crash between two parts does not send the first again)
  // and on a failure part-way; like a sent message's record, it is written again on failure, never
  // left to a retry that would send those parts again.
  let counted = { sent: message.partsSent, of: message.partsOf };
  const countParts = async (parts: { sent: number; of: number }) => {
    if (parts.sent === counted.sent && parts.of === counted.of) return;
    await writtenAgainOnFailure(
      () =>
        db.outboundMessage.update({
          where: { id: message.id },
          data: { partsSent: parts.sent, partsOf: parts.of },
        }),
      logger,
    );
    counted = parts;
  };
  let externalMessageId: string | null;
  try {
    ({ externalMessageId } = await sender.send(
      { account: chat.account, externalChatId: chat.externalChatId, windowOpen },
      {
        body: message.body,
        content: message.content as OutboundContent,
        parts: { sent: message.partsSent, of: message.partsOf },
        partsCounted: countParts,
      },
    ));
  } catch (error) {
    const sendError = error instanceof SendError ? error : null;
    if (sendError?.parts) await countParts(sendError.parts);
    if (sendError?.permanent) {
      if (sendError.unreachable) {
        await db.chat.update({
          where: { id: chat.id },
          data: { unreachableAt: now, unreachableReason: sendError.message.slice(0, 500) },
        });
      }
      return fail(sendError.message.slice(0, 2000));
    }
    const attempts = message.attempts + 1;
    // A rate limit is waited out however often it comes (a busy group), and counted apart: only
    // failures give up, however many rate limits came before them.
    const rateLimits = message.rateLimits + (sendError?.rateLimited ? 1 : 0);
    const failures = attempts - rateLimits;
    if (failures >= MAX_SEND_ATTEMPTS && !sendError?.rateLimited)
      return fail(`gave up after ${failures} attempts: ${(error as Error).message}`);
    await db.outboundMessage.update({ where: { id: message.id }, data: { attempts, rateLimits } });
    // The platform's own retry_after when it gave one, else exponential backoff from 2 s (at most
    // MAX_BACKOFF_MS), over the rate limits for a rate limit and over the failures for a failure.
    const delayMs = sendError?.retryAfterSeconds
      ? sendError.retryAfterSeconds * 1000
      : Math.min(MAX_BACKOFF_MS, 2000 * 2 ** ((sendError?.rateLimited ? rateLimits : failures) - 1));
    logger.info({ err: error, 'outbound.retry_ms': delayMs }, 'send deferred');
    return { waitMs: delayMs };
  }
  // Sent: what follows is bookkeeping, not a send. A write that fails is written again (it is the
  // same write), never taken for a failed send, which would send the message a second time.
  await writtenAgainOnFailure(
    () =>
      db.outboundMessage.update({
        where: { id: message.id },
        data: { status: 'SENT', externalMessageId, sentAt: now, attempts: { increment: 1 } },
      }),
    logger,
  );
  if (externalMessageId && (WINDOWED_PLATFORMS as readonly ChannelPlatform[]).includes(chat.platform)) {
    // Receipts that overtook this write. Not a reason to send again should it fail: they wait
    // for the retention job, and the message stays SENT.
    await takeHeldReceipts(db, chat.platform, externalMessageId).catch((error: unknown) =>
      logger.warn({ err: error }, 'receipts held for a sent message could not be applied'),
    );
  }
  return 'sent';
}

/** Pauses between writes of a sent message's record, before the drain's job is left to retry. */
const RECORD_RETRY_MS = [100, 500, 2_000];

async function writtenAgainOnFailure(write: () => Promise<unknown>, logger: Logger): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await write();
      return;
    } catch (error) {
      const pause = RECORD_RETRY_MS[attempt];
      // Out of tries: the job's retry sends it again, the one way left to get it recorded.
      if (pause === undefined) throw error;
      logger.warn({ err: error }, 'a sent message could not be recorded as sent; writing it again');
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

/** A platform's receipt for a message we sent, which it names by its own id for it. */
export interface DeliveryReceipt {
  platform: ChannelPlatform;
  externalMessageId: string;
  status: 'DELIVERED' | 'READ' | 'FAILED';
  at: Date;
  error?: string | null;
  /**
   * The platform says the person cannot be reached there (WhatsApp's 131026: blocked us, not on
   * WhatsApp): the chat is marked unreachable until they write again, as a refused send marks it.
   */
  unreachable?: boolean;
}

/**
 * Delivery receipts from the platforms' webhooks move a sent message forward (never back); how
 * many messages moved.
 *
 * A receipt can overtake the send queue's write of the message as sent, with the platform's id
 * for it (the platform answers the send, then its webhook comes before our write): one that names
 * no message we know is held (`held_receipts`) for the send queue to apply once the message has
 * that id (`takeHeldReceipts`). The queue may write the message and look for held receipts
 * between this receipt's first try and its holding, so a held receipt is tried once more: one of
 * the two sees the other's write, and a receipt applied twice changes nothing.
 */
export async function applyDeliveryStatus(db: DbOrTx, receipt: DeliveryReceipt): Promise<number> {
  // As PostgreSQL can hold them (a NUL failed the statement): an id no message of ours has, then.
  const input: DeliveryReceipt = {
    ...receipt,
    externalMessageId: storableKey(receipt.externalMessageId),
    ...(receipt.error != null ? { error: storableText(receipt.error) } : {}),
  };
  const moved = await moveForward(db, input);
  if (moved > 0) return moved;
  // Not when we know the message: the receipt came again, or after a later one (read, then delivered).
  const held = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO held_receipts (id, platform, external_message_id, status, at, error, unreachable)
    SELECT gen_random_uuid(), ${input.platform}::"ChannelPlatform", ${input.externalMessageId},
           ${input.status}::"OutboundStatus", ${input.at}, ${input.error ?? null},
           ${input.unreachable ?? false}
    WHERE NOT EXISTS (
      SELECT 1 FROM outbound_messages m JOIN chats c ON c.id = m.chat_id
      WHERE m.external_message_id = ${input.externalMessageId}
        AND c.platform = ${input.platform}::"ChannelPlatform")
    RETURNING id`;
  if (held.length === 0) return 0;
  const again = await moveForward(db, input);
  if (again > 0) await db.heldReceipt.deleteMany({ where: { id: (held[0] as { id: string }).id } });
  return again;
}

/**
 * Applies, in the order they happened, and deletes the receipts held for a message the send
 * queue has just written down as sent with this id (`applyDeliveryStatus`); how many there were.
 */
export async function takeHeldReceipts(
  db: DbOrTx,
  platform: ChannelPlatform,
  externalMessageId: string,
): Promise<number> {
  const held = await db.$queryRaw<
    { status: DeliveryReceipt['status']; at: Date; error: string | null; unreachable: boolean }[]
  >`
    DELETE FROM held_receipts
    WHERE platform = ${platform}::"ChannelPlatform" AND external_message_id = ${externalMessageId}
    RETURNING status::text AS status, at, error, unreachable`;
  // A delivery and its reading can bear the same second: delivered first.
  const rank = { DELIVERED: 0, READ: 1, FAILED: 2 };
  held.sort((a, b) => a.at.getTime() - b.at.getTime() || rank[a.status] - rank[b.status]);
  for (const receipt of held) await moveForward(db, { platform, externalMessageId, ...receipt });
  return held.length;
}

async function moveForward(db: DbOrTx, input: DeliveryReceipt): Promise<number> {
  const where = { externalMessageId: input.externalMessageId, chat: { platform: input.platform } };
  if (input.status === 'FAILED') {
    const reason = input.error ?? 'the platform reported the message failed';
    const { count } = await db.outboundMessage.updateMany({
      where: { ...where, status: { in: ['SENT', 'DELIVERED'] } },
      data: { status: 'FAILED', failureReason: reason },
    });
    if (input.unreachable) {
      // Not when the person has written since the message was sent: they are reachable again.
      await db.$executeRaw`
        UPDATE chats SET unreachable_at = ${input.at}, unreachable_reason = ${reason.slice(0, 500)},
               updated_at = now()
        FROM outbound_messages AS m
        WHERE m.chat_id = chats.id AND m.external_message_id = ${input.externalMessageId}
          AND chats.platform = ${input.platform}::"ChannelPlatform" AND chats.unreachable_at IS NULL
          AND (chats.last_inbound_at IS NULL OR chats.last_inbound_at < coalesce(m.sent_at, m.created_at))`;
    }
    return count;
  }
  if (input.status === 'DELIVERED') {
    const { count } = await db.outboundMessage.updateMany({
      where: { ...where, status: 'SENT' },
      data: { status: 'DELIVERED', deliveredAt: input.at },
    });
    return count;
  }
  const { count } = await db.outboundMessage.updateMany({
    where: { ...where, status: { in: ['SENT', 'DELIVERED'] } },
    data: { status: 'READ', readAt: input.at },
  });
  return count;
}
