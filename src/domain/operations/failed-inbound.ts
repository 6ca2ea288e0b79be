/**
 * Chat messages that could not be handled, as operators see them: a message whose handling threw
 * (anything but a database fault that passes, which waits) is kept FAILED with its error, so that
 * it holds up nothing behind it in its chat (src/domain/channels/inbound.ts). Operators list them
 * and, once the cause is mended, hand one back to its chat's drain (`retryInboundMessage`), which
 * handles it as if it had just arrived: its reply is keyed by the message, so one already sent
 * before the failure is not sent again.
 *
 * What the person wrote is not shown: the error, the chat and the times are what an operator
 * needs, and the words stay where they are.
 */
import type { ChannelPlatform, InboundStatus } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { enqueue } from '../../platform/jobs.ts';
import { isUuid } from '../../platform/uuid.ts';
import { chatInboundTask, chatKey, ERROR_CHARS, PLATFORMS } from '../channels/inbound.ts';

export interface InboundMessageRecord {
  id: string;
  platform: ChannelPlatform;
  account: string;
  externalChatId: string | null;
  eventType: string;
  status: InboundStatus;
  error: string | null;
  /** Orders the chat's messages; the list's cursor. */
  sequence: bigint;
  receivedAt: Date;
  processedAt: Date | null;
}

/** A page of failed messages, newest first; `after`/`before` are sequences. */
export interface InboundPage {
  after?: string;
  before?: string;
  limit: number;
  inverted?: boolean;
}

/**
 * What an operator sees of an error: its first line that says something, at most 300 characters.
 * The stored error is kept whole; the lines after can carry the values the failed call was given
 * (a database client prints its arguments), which may be what the person wrote. For the database
 * client's own errors ("Invalid `prisma.x.create()` invocation:", the arguments, then the reason),
 * the reason, its last line, is added.
 */
export function errorSummary(error: string | null): string | null {
  if (error === null) return null;
  // Stored cut at ERROR_CHARS: its last line may then be from the arguments, not the reason.
  const whole = error.length < ERROR_CHARS;
  const lines = error
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const first = lines[0] ?? '';
  const summary =
    whole && /^Invalid `[^`]+` invocation/.test(first) && lines.length > 1
      ? `${first} ${lines.at(-1)}`
      : first;
  return summary.length > 300 ? `${summary.slice(0, 299)}…` : summary;
}

/** How far a platform's clock (a message's own time) may run ahead of ours. */
const CLOCK_LEEWAY_MS = 10_000;

const SELECT = {
  id: true,
  platform: true,
  account: true,
  externalChatId: true,
  eventType: true,
  status: true,
  error: true,
  sequence: true,
  receivedAt: true,
  processedAt: true,
} as const;

/** Failed chat messages, newest first, of one channel or all. */
export async function failedInboundMessages(
  db: Db,
  filter: { platform?: ChannelPlatform | null },
  page: InboundPage,
): Promise<InboundMessageRecord[]> {
  const sequence = {
    ...(page.after ? { lt: cursor(page.after, 'after') } : {}),
    ...(page.before ? { gt: cursor(page.before, 'before') } : {}),
  };
  return db.inboundEvent.findMany({
    where: {
      status: 'FAILED',
      ...(filter.platform ? { platform: filter.platform } : {}),
      ...(page.after || page.before ? { sequence } : {}),
    },
    orderBy: { sequence: page.inverted ? 'asc' : 'desc' },
    take: page.limit,
    select: SELECT,
  });
}

/** The messages with these ids, in no order. */
export async function inboundMessagesById(db: Db, ids: readonly string[]): Promise<InboundMessageRecord[]> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return [];
  return db.inboundEvent.findMany({ where: { id: { in: valid } }, select: SELECT });
}

/**
 * Hands a failed message back to its chat's drain: PENDING again, its error cleared, and the
 * chat's drain job scheduled in the same transaction (as a new message's is). Only a FAILED
 * message that was read (a body we could not read has nothing to handle) can be retried.
 */
export async function retryInboundMessage(db: Db, input: { id: string }): Promise<InboundMessageRecord> {
  const found = isUuid(input.id)
    ? await db.inboundEvent.findUnique({
        where: { id: input.id },
        select: { ...SELECT, normalized: true },
      })
    : null;
  if (!found) throw new NotFoundError('No such chat message');
  if (found.status !== 'FAILED') {
    throw new ConflictError(`Only a failed message can be retried; this one is ${found.status}`);
  }
  const platform = PLATFORMS.find((p) => p === found.platform);
  if (!platform) throw new ConflictError('A message of a terminal conversation cannot be retried');
  if (found.normalized === null || !found.externalChatId) {
    throw new ConflictError('This message could not be read when it arrived: there is nothing to handle');
  }
  const externalChatId = found.externalChatId;
  // The person was told to send it again when it failed; once they have written since (answered
  // or not yet), an answer to this one would come out of turn, and perhaps twice.
  const sender = String((found.normalized as { sender?: { externalId?: unknown } }).sender?.externalId);
  return db.$transaction(async (tx) => {
    const [later] = await tx.$queryRaw<{ at: Date }[]>`
      SELECT received_at AS at FROM inbound_events
      WHERE platform = ${platform}::"ChannelPlatform" AND account = ${found.account}
        AND external_chat_id = ${externalChatId} AND status <> 'IGNORED' AND sequence > ${found.sequence}
        AND normalized -> 'sender' ->> 'externalId' = ${sender}
      LIMIT 1`;
    // Answered messages are deleted before failed ones (retention): the person's chats say too
    // (their last message's time as the platform gave it, so a few seconds' leeway for its clock).
    const [wroteSince] = await tx.$queryRaw<{ at: Date }[]>`
      SELECT c.last_inbound_at AS at FROM channel_identities i JOIN chats c ON c.user_id = i.user_id
      WHERE i.platform = ${platform}::"ChannelPlatform" AND i.external_id = ${sender}
        AND c.last_inbound_at > ${new Date(found.receivedAt.getTime() + CLOCK_LEEWAY_MS)}
      LIMIT 1`;
    if (later || wroteSince) {
      throw new ConflictError(
        'The person has written in this chat since this message failed (they were asked to send it again): it is not answered now, out of turn',
      );
    }
    const { count } = await tx.inboundEvent.updateMany({
      where: { id: found.id, status: 'FAILED' },
      data: { status: 'PENDING', error: null, processedAt: null },
    });
    if (count === 0) throw new ConflictError('The message was retried meanwhile');
    await enqueue(
      tx,
      chatInboundTask,
      { platform, account: found.account, externalChatId },
      { jobKey: chatKey(platform, found.account, externalChatId), jobKeyMode: 'replace' },
    );
    return tx.inboundEvent.findUniqueOrThrow({ where: { id: found.id }, select: SELECT });
  });
}

function cursor(value: string, field: string): bigint {
  if (!/^\d{1,18}$/.test(value)) throw new ValidationError('This is not a cursor of this list', field);
  return BigInt(value);
}
