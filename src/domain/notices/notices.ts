/**
 * `queueNotice`, the one way the rest of the code tells a person something that is not a reply in
 * a conversation: it writes the notice in the person's language (templates.ts) and routes it.
 *
 * - Their most recently active reachable chat (or `chatId`, when given and reachable): the chat's
 *   send queue, exactly as `queueMessage` does for every chat message. A WhatsApp or Instagram
 *   chat counts only while the person wrote in the last 24 hours, less an hour (the platforms take
 *   free text only then, and notices carry no template).
 * - Else their email address: an `outbound_messages` row with `channel = EMAIL`, PENDING, and its
 *   own `notice-email` job, in the caller's transaction (email.ts sends it).
 * - Else neither: the row is written FAILED with the reason, so it shows up instead of waiting.
 * - An erased (purged) account is told nothing, and nothing is written for it; one being deleted
 *   only what still moves of its own (its bookings' answers, its delivery under way).
 *
 * `dedupeKey` makes queueing the same notice twice a no-op, whichever way it went the first time.
 */
import { randomUUID } from 'node:crypto';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { insertAndEnqueue } from '../../platform/jobs.ts';
import {
  freeTextSince,
  outboundInsert,
  queueMessage,
  takesFreeText,
  WINDOWED_PLATFORMS,
} from '../channels/outbound.ts';
import { noticeEmailKey, noticeEmailTask } from './email.ts';
import { type NoticeKind, type NoticeParams, renderNotice } from './templates.ts';

export interface Notice<K extends NoticeKind> {
  userId: string;
  kind: K;
  params: NoticeParams[K];
  bookingId?: string | null;
  dedupeKey: string;
  /** Send to this chat when it is reachable (a notice about a conversation goes where it happened). */
  chatId?: string | null;
  /** Kept with the message, for dashboards and tests (ids, dates, counts). */
  data?: Prisma.InputJsonObject;
}

export interface QueuedNotice {
  /** False when `dedupeKey` was queued before (nothing was written this time). */
  queued: boolean;
  /**
   * The way it was routed now; null when the person has no way to be reached (the row is FAILED).
   * When `queued` is false the first queueing's row stands, whichever way that one went.
   */
  via: 'CHAT' | 'EMAIL' | null;
}

/** Queues `notice` for its person, in their language, by chat or else email (see the top of this file). */
export async function queueNotice<K extends NoticeKind>(
  db: DbOrTx,
  notice: Notice<K>,
): Promise<QueuedNotice> {
  // The row and its job commit together: a caller outside a transaction gets one here.
  // A transaction's client has $transaction too (it nests); only the root client can $connect.
  if ('$connect' in db) return (db as Db).$transaction((tx) => routeNotice(tx, notice));
  return routeNotice(db, notice);
}

/**
 * A chat a notice may go to at `now`: still reaching the person, theirs alone (a group is never
 * where a person's own notice goes), and taking free text (a WhatsApp or Instagram chat only
 * within 24 hours of the person's last message, less a margin: notices carry no approved
 * template). `noticeChatSql` is the same rule in SQL.
 */
export function noticeChat(now: Date): Prisma.ChatWhereInput {
  return { unreachableAt: null, shared: false, ...takesFreeText(now) };
}

/** `noticeChat` in SQL, for chat `c` (a caller choosing whom a notice can reach by chat). */
export function noticeChatSql(now: Date): Prisma.Sql {
  return Prisma.sql`(c.unreachable_at IS NULL AND NOT c.shared
    AND (c.platform::text <> ALL(${[...WINDOWED_PLATFORMS]}::text[]) OR c.last_inbound_at > ${freeTextSince(now)}))`;
}

/**
 * What a person whose account is being deleted is still told, until the purge: their bookings'
 * answers and changes and their delivery under way, which are still theirs and still move. Not
 * reminders, check-ins, requests for feedback, venues' answers, or their organisations' news.
 */
const TOLD_WHILE_DELETED: ReadonlySet<NoticeKind> = new Set<NoticeKind>([
  'booking.requested',
  'booking.confirmed',
  'booking.declined',
  'booking.cancelled_by_venue',
  'booking.changed',
  'booking.expired',
  'booking.escalated',
  'booking.not_answered_yet',
  'delivery.driver_assigned',
  'delivery.picked_up',
  'delivery.completed',
  'delivery.ended',
]);

async function routeNotice<K extends NoticeKind>(tx: DbOrTx, notice: Notice<K>): Promise<QueuedNotice> {
  // The person with the chat they last wrote from that still reaches them, in one read; a chat
  // that does not take a notice (`noticeChat`) is passed over, for another chat or their email,
  // rather than written to and refused.
  const open = noticeChat(new Date());
  const user = await tx.user.findUnique({
    where: { id: notice.userId },
    select: {
      email: true,
      language: true,
      deletedAt: true,
      purgedAt: true,
      chats: {
        where: open,
        orderBy: { lastInboundAt: { sort: 'desc', nulls: 'last' } },
        take: 1,
      },
    },
  });
  // An account erased (or never there) is told nothing, and nothing is kept for it; one being
  // deleted, only what still moves of its own (TOLD_WHILE_DELETED).
  if (!user || user.purgedAt) return { queued: false, via: null };
  if (user.deletedAt && !TOLD_WHILE_DELETED.has(notice.kind)) return { queued: false, via: null };
  const chosen = notice.chatId
    ? await tx.chat.findFirst({
        where: { id: notice.chatId, userId: notice.userId, ...open },
      })
    : null;
  const chat = chosen ?? user?.chats[0] ?? null;
  const data: Prisma.InputJsonObject = { ...notice.data, language: user?.language ?? null };

  if (chat) {
    const { body } = renderNotice(notice.kind, notice.params, { language: user?.language, via: 'CHAT' });
    const { queued } = await queueMessage(tx, {
      userId: notice.userId,
      bookingId: notice.bookingId ?? null,
      kind: notice.kind,
      body,
      dedupeKey: notice.dedupeKey,
      data,
      chat,
    });
    return { queued, via: 'CHAT' };
  }

  const rendered = renderNotice(notice.kind, notice.params, { language: user?.language, via: 'EMAIL' });
  const row = {
    userId: notice.userId,
    bookingId: notice.bookingId ?? null,
    kind: notice.kind,
    body: rendered.body,
    subject: rendered.subject,
    data,
    dedupeKey: notice.dedupeKey,
  };
  if (!user?.email) {
    // The reason names what is missing: a chat the person blocked, or one past its window.
    const chats = await tx.chat.findMany({
      where: { userId: notice.userId, shared: false },
      orderBy: { lastInboundAt: { sort: 'desc', nulls: 'last' } },
      select: { unreachableAt: true, unreachableReason: true },
      take: 20,
    });
    const blocked = chats.find((chat) => chat.unreachableAt);
    const { count } = await tx.outboundMessage.createMany({
      data: [
        {
          ...row,
          status: 'FAILED',
          failureReason: blocked
            ? `The person has no reachable chat (unreachable: ${blocked.unreachableReason}) and no email address`
            : chats.length
              ? "The person's chats are past the 24 hours after their last message in which WhatsApp and Instagram take one, and they have no email address"
              : 'The person has no chat with us and no email address',
        },
      ],
      skipDuplicates: true,
    });
    return { queued: count === 1, via: null };
  }
  const stored = await queueEmail(tx, { ...row, emailTo: user.email });
  return { queued: stored, via: 'EMAIL' };
}

/** An email to queue: to `emailTo`, for or on behalf of the person `userId`. */
export interface QueuedEmail {
  userId: string;
  bookingId?: string | null;
  kind: string;
  emailTo: string;
  subject: string;
  body: string;
  data?: Prisma.InputJsonObject;
  dedupeKey: string;
}

/**
 * Queues one email as a notice's is queued: an `outbound_messages` row (EMAIL, PENDING) and, only
 * when the row is new, its `notice-email` job, in one statement on `tx`. Queueing `dedupeKey`
 * again writes nothing (false).
 */
export async function queueEmail(tx: DbOrTx, email: QueuedEmail): Promise<boolean> {
  const id = randomUUID();
  const { stored } = await insertAndEnqueue(
    tx,
    outboundInsert({
      ...email,
      bookingId: email.bookingId ?? null,
      data: email.data ?? {},
      id,
      channel: 'EMAIL',
      chatId: null,
      content: {},
    }),
    noticeEmailTask,
    { messageId: id },
    { jobKey: noticeEmailKey(id) },
  );
  return stored;
}
