/**
 * Inbound events: stored once per platform id, then processed chat by chat, in order.
 *
 * A webhook stores the raw event and its normalised message and, in the same transaction, adds
 * a job keyed by the chat (`chat:<platform>:<account>:<chat>`). graphile-worker keeps one pending
 * job per key, and adds a fresh one when the keyed job is already running, so a chat always has
 * a drain coming after its newest message. The drain holds a PostgreSQL advisory lock for the
 * chat while it works through the chat's pending events by `sequence`, so two drains never
 * interleave one chat, while different chats run in parallel. No queue per chat exists: a
 * million chats are a million rows and at most one small job each.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { ChannelPlatform, InboundStatus } from '../../generated/prisma/enums.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import { type Database, type Db, isPassingDatabaseFault } from '../../platform/db.ts';
import type { GroupCommit, Statement } from '../../platform/group-commit.ts';
import { defineTask, insertAndEnqueueStatement, runInsert } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import { storable, storableKey, storableText } from '../../platform/storable.ts';
import { consumerAgentInsert, ensureConsumerAgent } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { languageTag } from '../identity/language.ts';
import { type ImageLoader, imageLoader, type MediaLoaders } from './media.ts';
import type { NormalizedMessage } from './normalized.ts';
import { applyDeliveryStatus, type DeliveryReceipt, REPLY_WINDOW_MS } from './outbound.ts';

export const PLATFORMS = ['TELEGRAM', 'WHATSAPP', 'INSTAGRAM'] as const;

/** Drains one chat's pending inbound events, in order. */
export const chatInboundTask = defineTask({
  name: 'chat-inbound',
  schema: z.object({
    platform: z.enum(PLATFORMS),
    account: z.string().min(1),
    externalChatId: z.string().min(1),
  }),
  maxAttempts: 25,
});

export interface InboundRecord {
  platform: ChannelPlatform;
  account: string;
  externalId: string;
  externalChatId: string | null;
  eventType: string;
  raw?: unknown;
  rawText?: string | null;
  normalized: NormalizedMessage | null;
  /** IGNORED for events we keep but do not act on; FAILED for bodies we could not read. */
  status?: InboundStatus;
  error?: string | null;
}

/**
 * A chat several people talk in (a Telegram group): its id is not the sender's own, as a private
 * chat's, a WhatsApp number's or an Instagram thread's is. Each person keeps a history of their
 * own there, and their notices never go to it.
 */
export function isShared(message: Pick<NormalizedMessage, 'externalChatId' | 'sender'>): boolean {
  return message.sender.externalId !== message.externalChatId;
}

/** A stable id for a body that has none we can read (malformed JSON, unknown shapes). */
export function bodyId(body: Buffer | string): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

export function chatKey(platform: ChannelPlatform, account: string, externalChatId: string): string {
  return `chat:${platform.toLowerCase()}:${account}:${externalChatId}`;
}

/**
 * Stores an event unless the platform already delivered it (then nothing changes), and schedules
 * its chat's drain in the same statement. Returns whether it was new.
 *
 * One SQL statement (so one round trip, in a transaction of its own): webhooks call this for every
 * event, and an interactive transaction cost four round trips and half the server's CPU per
 * webhook. `insertAndEnqueue` (src/platform/jobs.ts) builds it: given the Database, a prepared
 * statement on its pool; given a Prisma client, the same statement through Prisma. The drain job
 * is the one `enqueue(db, chatInboundTask, chat, { jobKey: chatKey(…), jobKeyMode: 'replace' })`
 * would leave, and the statement guarantees what the chat needs: once the event is committed, a
 * drain job that has not yet started exists. When the chat's job is already waiting and due, it
 * is kept (locked until the commit) rather than rewritten: a busy chat costs one insert per
 * message.
 */
export async function recordInbound(
  db: Db | Database | GroupCommit,
  event: InboundRecord,
): Promise<{ stored: boolean }> {
  return { stored: (await runInsert(db, inboundStatement(event))).length === 1 };
}

/** The one statement `recordInbound` runs for an event (a row returned when it was new). */
export function inboundStatement(given: InboundRecord): Statement {
  // Every field a platform wrote, as PostgreSQL can hold it: an update's id, its chat's or an
  // unknown kind holding a NUL failed the insert, and with it every webhook of its group commit.
  // The same values name the chat's lock and its drain job, so the drain finds what was stored.
  // Ids are kept to a length their indexes hold too (storableKey).
  const kept = <T>(value: T): T => (typeof value === 'string' ? (storableText(value) as T) : value);
  const key = <T>(value: T): T => (typeof value === 'string' ? (storableKey(value) as T) : value);
  const event: InboundRecord = {
    ...given,
    externalId: key(given.externalId),
    externalChatId: key(given.externalChatId),
    eventType: key(given.eventType),
    error: kept(given.error),
  };
  const status: InboundStatus = event.status ?? (event.normalized ? 'PENDING' : 'IGNORED');
  const values: unknown[] = [
    event.platform,
    event.account,
    event.externalId,
    event.externalChatId,
    event.eventType,
    // As Prisma stored them: `raw` absent is SQL NULL and `raw: null` JSON null; `normalized` null is SQL NULL.
    event.raw === undefined ? null : JSON.stringify(storable(event.raw)),
    event.rawText == null ? null : storableText(event.rawText),
    event.normalized == null ? null : JSON.stringify(storable(event.normalized)),
    status,
    event.error ?? null,
  ];
  // A group commit runs a batch's statements in the order of their chats (keeping each chat's).
  const lockKey = event.externalChatId
    ? chatKey(event.platform, event.account, event.externalChatId)
    : undefined;
  const insert = { name: 'record-inbound', text: INSERT_EVENT, values, ...(lockKey ? { lockKey } : {}) };
  if (status === 'PENDING' && event.externalChatId) {
    // A platform without drains (CONSOLE) is refused by the task's schema, checked before the statement.
    const platform = event.platform as (typeof PLATFORMS)[number];
    const chat = { platform, account: event.account, externalChatId: event.externalChatId };
    return insertAndEnqueueStatement(insert, chatInboundTask, chat, {
      jobKey: chatKey(chat.platform, chat.account, chat.externalChatId),
      jobKeyMode: 'replace',
      keepWaiting: true,
    });
  }
  return insert;
}

/** One event of a platform's delivery: what to record, and the receipts it carries. */
export interface ChannelEvent {
  record: InboundRecord;
  receipts?: readonly DeliveryReceipt[];
}

/** What recording one delivery's events found, for the webhook's count of outcomes. */
export interface RecordedCounts {
  /** Events stored for the first time. */
  stored: number;
  /** Events the platform had delivered before. */
  duplicates: number;
  /** New events kept as FAILED (could not be read). */
  failed: number;
  /** New events that are messages to process. */
  messages: number;
  /** New events that do something: messages, receipts, and events recorded as processed. */
  actionable: number;
}

/**
 * Records a delivery's events one by one, in the platform's order (so a chat's messages keep
 * theirs), each once with its chat's drain job (`recordInbound`), and applies their receipts.
 *
 * A receipt is applied before its event is recorded, every time it arrives: it only moves a row
 * forward, so a redelivered receipt changes nothing, and a crash between the two cannot lose it
 * (the platform redelivers and it is applied then). It is one indexed UPDATE, the only work done
 * before the answer besides storing.
 */
export async function recordChannelEvents(
  db: Db | Database | { database: Database; inbound: GroupCommit },
  events: readonly ChannelEvent[],
): Promise<RecordedCounts> {
  const counts: RecordedCounts = { stored: 0, duplicates: 0, failed: 0, messages: 0, actionable: 0 };
  let stored: boolean[];
  if ('inbound' in db) {
    // Every receipt first, then the events together in one batch of the group commit.
    for (const { receipts = [] } of events) {
      for (const receipt of receipts) await applyDeliveryStatus(db.database.prisma, receipt);
    }
    const rows = await db.inbound.query(events.map(({ record }) => inboundStatement(record)));
    stored = rows.map((r) => r.length === 1);
  } else {
    const prisma = 'pool' in db ? db.prisma : db;
    stored = [];
    for (const { record, receipts = [] } of events) {
      for (const receipt of receipts) await applyDeliveryStatus(prisma, receipt);
      stored.push((await recordInbound(db, record)).stored);
    }
  }
  for (const [i, { record, receipts = [] }] of events.entries()) {
    if (!stored[i]) {
      counts.duplicates += 1;
      continue;
    }
    counts.stored += 1;
    if (record.status === 'FAILED') counts.failed += 1;
    else if (record.normalized || receipts.length || record.status === 'PROCESSED') counts.actionable += 1;
    if (record.normalized) counts.messages += 1;
  }
  return counts;
}

/** $1–$10: the event's columns, `recordInbound`'s `values`; a row when the event was new. */
const INSERT_EVENT = `
  INSERT INTO inbound_events (id, platform, account, external_id, external_chat_id, event_type,
                              raw, raw_text, normalized, status, error)
  VALUES (gen_random_uuid(), $1::text::"ChannelPlatform", $2::text, $3::text, $4::text, $5::text,
          $6::text::jsonb, $7::text, $8::text::jsonb, $9::text::"InboundStatus", $10::text)
  ON CONFLICT DO NOTHING
  RETURNING 1`;

export interface InboundContext {
  /** The person behind the message, found or created on first contact, with their consumer agent. */
  userId: string;
  agentId: string;
  identityId: string;
  /** Where replies go (the send queue's chat). */
  chatId: string;
  /** The stored inbound event: replies are keyed by it, so a retried message is answered once. */
  eventId: string;
  /** When the platform's delivery reached us. */
  receivedAt: Date;
  logger: Logger;
  /**
   * The message's image `index` (of `message.images`), downloaded through the platform's media
   * API on first call, size-limited and checked to be an image; cached for this message only.
   * Rejects with a MediaError (too large, not an image, gone, unavailable) the handler can tell
   * the person about.
   */
  loadImage: ImageLoader;
}

/**
 * Thrown by a handler that cannot deal with a message yet (the person's other turn is running,
 * no model answers): the message stays pending, first in its chat's line, and the chat's drain
 * comes back after `delayMs`.
 */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
  readonly delayMs: number;
  constructor(delayMs: number, reason: string) {
    super(reason);
    this.delayMs = delayMs;
  }
}

/** What processing a message means. The default acknowledges it; the consumer agent replaces it. */
export type InboundHandler = (message: NormalizedMessage, context: InboundContext) => Promise<void>;

export const acknowledge: InboundHandler = async (message, { logger }) => {
  logger.info(
    { 'chat.platform': message.platform, 'chat.id': message.externalChatId },
    'inbound message acknowledged',
  );
};

export interface DrainDeps {
  database: Database;
  keyring: SecretKeyring;
  logger: Logger;
  handler: InboundHandler;
  /** How each channel fetches images, for the handler's `loadImage`; without one it rejects. */
  media?: MediaLoaders;
  /** Aborted when the process is stopping: no next message is begun, the rest waits. */
  signal?: AbortSignal;
}

/**
 * What a drain did, and what should happen next: `retryAfterMs` set means the chat still has
 * pending work and its drain must run again after that long (the caller schedules it; the
 * domain does not know about jobs).
 */
export interface DrainOutcome {
  /** How many events it processed, or null when another drain holds the chat. */
  processed: number | null;
  retryAfterMs: number | null;
}

/** How much of a failed message's error is kept with it (operators see its first line). */
export const ERROR_CHARS = 2000;

/** How long a drain that found its chat held by another waits before it looks again. */
export const BUSY_RETRY_MS = 1000;

/** How many of a chat's pending events a drain reads at once. */
const DRAIN_PAGE = 20;
/** A message hit by a passing database fault is tried again after this long… */
const PASSING_FAULT_RETRY_MS = 5_000;
/** …while it was received less than this long ago; past it, it is kept failed for an operator. */
const PASSING_FAULT_WAIT_MS = 15 * 60_000;

/**
 * Whether a message received at `receivedAt` that met `error` is handled again later rather than
 * failed: a database fault that passes, while the message is young enough to wait for it.
 */
export function waitsOutDatabaseFault(error: unknown, receivedAt: Date, now: number): boolean {
  return isPassingDatabaseFault(error) && now - receivedAt.getTime() < PASSING_FAULT_WAIT_MS;
}

/**
 * Processes a chat's pending events one at a time, oldest first, under the chat's advisory lock.
 * Stops at a message whose handler asked for time, which keeps its place in the line.
 *
 * The events are read a page at a time, and a page shorter than a full one is the last: an
 * event committed after this drain's job was taken has a job of its own (the chat's job key
 * adds a fresh job while the keyed one runs, see `recordInbound`), and one committed before was
 * in the page, since a job being added to is locked until its event commits and is taken only
 * after. So a drain of one message reads once, not once more to find nothing.
 */
export async function drainChat(
  deps: DrainDeps,
  chat: { platform: ChannelPlatform; account: string; externalChatId: string },
): Promise<DrainOutcome> {
  const result = await withAdvisoryLock(
    deps.database.locks,
    chatKey(chat.platform, chat.account, chat.externalChatId),
    async () => {
      let processed = 0;
      for (;;) {
        const page = await deps.database.prisma.inboundEvent.findMany({
          where: { ...chat, status: 'PENDING' },
          orderBy: { sequence: 'asc' },
          select: { id: true, receivedAt: true, normalized: true },
          take: DRAIN_PAGE,
        });
        for (const next of page) {
          // Stopping: the message keeps its place for the drain that comes next.
          if (deps.signal?.aborted) return { processed, retryAfterMs: 0 };
          const outcome = await processOne(deps, next, next.normalized as unknown as NormalizedMessage);
          // The message keeps its place: nothing behind it in this chat goes first.
          if (outcome.retryAfterMs !== null) return { processed, retryAfterMs: outcome.retryAfterMs };
          processed += 1;
        }
        if (page.length < DRAIN_PAGE) return { processed, retryAfterMs: null };
      }
    },
  );
  return result.locked ? result.value : { processed: null, retryAfterMs: BUSY_RETRY_MS };
}

/**
 * What a drained message's commits are, and what each keeps true across a crash (the drain's
 * promise: each stored message handled, in its chat's order, and marked once):
 *
 * - A known sender in the chat they last spoke in (the usual message) commits **once**: after the
 *   handler, one statement stamps the chat's `last_inbound_at` and marks the event PROCESSED
 *   (`finishStatement`). Nothing is written before the handler, which is safe because what the
 *   handler's writes read of the chat already holds: it is reachable, it is the person's most
 *   recent chat (where their notices go), and its WhatsApp window is open with an hour to spare
 *   (`touchLater`). A crash before that commit leaves the event PENDING and the chat as it was:
 *   the message is handled again by the next drain, and then both are written together.
 * - Otherwise the chat is written before the handler, as the handler's replies need it to be
 *   (made, made reachable again, its window opened), and the event is marked after it: two
 *   commits. A person's first message makes the person, their identity, their consumer agent
 *   (with its registration job) and the chat in one statement (`makePerson`), so it costs two as
 *   well.
 *
 * The order with the outside world: a handler sends no message itself (only typing indicators,
 * which may repeat harmlessly). A reply is a row in the send queue keyed by the event
 * (`reply:<eventId>`), committed by the handler before the event is marked, and sent later by the
 * chat's send drain. So a crash after the reply was queued and
 * before the mark handles the message again and queues nothing new (the key dedupes): sent once;
 * a crash before the reply was queued queues it on the retry: never lost. The mark comes last for
 * exactly this reason, and must not move before the handler.
 */
async function processOne(
  deps: DrainDeps,
  event: { id: string; receivedAt: Date },
  message: NormalizedMessage,
): Promise<{ retryAfterMs: number | null }> {
  const db = deps.database.prisma;
  const eventId = event.id;
  const logger = deps.logger.child({ 'inbound.id': eventId });
  let touch: ChatTouch | null = null;
  try {
    const { touch: later, ...identity } = await resolveSender(db, deps.keyring, message);
    touch = later;
    await deps.handler(message, {
      ...identity,
      eventId,
      receivedAt: event.receivedAt,
      logger,
      loadImage: imageLoader(message, deps.media),
    });
    await db.$executeRaw(finishStatement(eventId, 'PROCESSED', null, touch));
    return { retryAfterMs: null };
  } catch (error) {
    if (error instanceof RetryLaterError) {
      logger.info({ 'retry.ms': error.delayMs, reason: error.message }, 'inbound message waits');
      return { retryAfterMs: error.delayMs };
    }
    // A database fault that passes (a dropped connection, a pool timeout, a deadlock) is no
    // reason to fail the person's message: it waits and is handled again, for as long as such
    // faults are likely to pass.
    if (waitsOutDatabaseFault(error, event.receivedAt, Date.now())) {
      logger.warn({ err: error }, 'inbound message waits out a database fault');
      return { retryAfterMs: PASSING_FAULT_RETRY_MS };
    }
    // One message that cannot be handled must not hold up the chat: it is kept, failed, with
    // its error, for an operator to look at or retry. The person did speak: the chat is stamped too.
    logger.error({ err: error }, 'inbound message failed');
    const reason = (error as Error).message?.slice(0, ERROR_CHARS) ?? String(error);
    await db.$executeRaw(finishStatement(eventId, 'FAILED', reason, touch));
    return { retryAfterMs: null };
  }
}

/** The chat stamp a drain leaves for the event's final commit (see `processOne`). */
export interface ChatTouch {
  chatId: string;
  lastInboundAt: Date;
}

/**
 * The event's final state and, when the sender's chat was not written before the handler, its
 * `last_inbound_at`, in one statement (one commit). Only the time: the chat was reachable when
 * the drain chose to wait, and a send drain that found it unreachable since then is right.
 */
function finishStatement(
  eventId: string,
  status: 'PROCESSED' | 'FAILED',
  error: string | null,
  touch: ChatTouch | null,
) {
  const at = new Date();
  return Prisma.sql`
    WITH touched AS (
      UPDATE chats
         SET last_inbound_at = GREATEST(last_inbound_at, ${touch?.lastInboundAt ?? null}::timestamptz),
             updated_at = ${at}::timestamptz
       WHERE id = ${touch?.chatId ?? null}::uuid
    )
    UPDATE inbound_events
       SET status = ${status}::text::"InboundStatus", error = coalesce(${error}::text, error),
           processed_at = ${at}::timestamptz
     WHERE id = ${eventId}::uuid`;
}

/**
 * How long a chat's WhatsApp window must still have to run for its stamp to wait for the event's
 * final commit: far longer than any handler runs, so a reply sent meanwhile finds it open.
 */
const TOUCH_LATER_MARGIN_MS = 3_600_000;

/**
 * Whether the sender's chat may be stamped after the handler rather than before: it is the
 * person's most recent reachable chat (so routing is the same either way) and its window stays open
 * past any handler's run (so a reply sent before the stamp is judged the same).
 */
function touchLater(
  latest:
    | { platform: ChannelPlatform; account: string; externalChatId: string; lastInboundAt: Date | null }
    | undefined,
  message: NormalizedMessage,
  now: Date,
): boolean {
  return (
    latest !== undefined &&
    latest.platform === message.platform &&
    latest.account === message.account &&
    latest.externalChatId === message.externalChatId &&
    latest.lastInboundAt !== null &&
    now.getTime() - latest.lastInboundAt.getTime() < REPLY_WINDOW_MS - TOUCH_LATER_MARGIN_MS
  );
}

/**
 * A chat marked unreachable (the person blocked us) is reachable again once they write; a message
 * sent well before that mark, handled late (an operator's retry of a failed message, a long
 * delayed redelivery), leaves it as it is. "Well before": the platform's clock (the message's
 * time, to the second) and ours (the mark) may differ by a little, and a chat wrongly left
 * unreachable would ignore the person, where one wrongly cleared costs one refused send. For an
 * upsert of `chats` whose new row is `excluded`.
 */
const REACHABLE_AGAIN = `unreachable_at = CASE WHEN excluded.last_inbound_at >= chats.unreachable_at - interval '5 minutes'
                                        THEN NULL ELSE chats.unreachable_at END,
          unreachable_reason = CASE WHEN excluded.last_inbound_at >= chats.unreachable_at - interval '5 minutes'
                                    THEN NULL ELSE chats.unreachable_reason END`;
const reachableAgain = Prisma.raw(REACHABLE_AGAIN);

/**
 * The user behind a platform identity, created on first contact together with the identity, their
 * consumer agent and the chat. Safe when two chats of one new person arrive at once.
 *
 * The chat this person last spoke in gets the message's time: replies and notifications go there,
 * and on WhatsApp it opens the 24-hour window for free-form replies; speaking again makes a chat
 * reachable again. That is written here, unless it can wait for the event's final commit: then
 * `touch` says what to write (see `processOne`).
 */
export async function resolveSender(
  db: Db,
  keyring: SecretKeyring,
  message: NormalizedMessage,
  again = false,
): Promise<{ userId: string; identityId: string; agentId: string; chatId: string; touch: ChatTouch | null }> {
  const where = {
    platform_externalId: { platform: message.platform, externalId: message.sender.externalId },
  };
  // With their consumer agent and their most recent reachable chat, in the same query: someone
  // who wrote before has both.
  const include = {
    user: {
      select: {
        agent: { select: { id: true } },
        chats: {
          where: { unreachableAt: null },
          orderBy: { lastInboundAt: { sort: 'desc', nulls: 'last' } },
          take: 1,
          select: { id: true, platform: true, account: true, externalChatId: true, lastInboundAt: true },
        },
      },
    },
  } as const;
  const lastInboundAt = new Date(message.sentAt);
  let identity = await db.channelIdentity.findUnique({ where, include });
  if (!identity) {
    const made = await makePerson(db, keyring, message, lastInboundAt);
    if (made) return { ...made, touch: null };
    // Another drain made this person first (this one wrote nothing): theirs, with this chat.
    identity = await db.channelIdentity.findUniqueOrThrow({ where, include });
  }
  const { userId } = identity;
  // An agent with a user is that user's consumer agent; a person made without one gets it here.
  const agentId = identity.user.agent?.id ?? (await ensureConsumerAgent(db, keyring, userId)).id;
  const latest = identity.user.chats[0];
  if (latest && touchLater(latest, message, new Date())) {
    return {
      userId,
      identityId: identity.id,
      agentId,
      chatId: latest.id,
      touch: { chatId: latest.id, lastInboundAt },
    };
  }
  // An older message delivered late (a redelivery) never moves the chat's last message back.
  // Written only for a person not purged: the purge holds their row while it erases, so a purge
  // under way is waited for (FOR SHARE) and then seen, and no chat is written back for an account
  // erased since its identity was read above.
  const [chat] = await db.$queryRaw<{ id: string }[]>`
    WITH alive AS (SELECT id FROM users WHERE id = ${userId}::uuid AND purged_at IS NULL FOR SHARE)
    INSERT INTO chats (id, platform, account, external_chat_id, user_id, last_inbound_at, shared, updated_at)
    SELECT gen_random_uuid(), ${message.platform}::text::"ChannelPlatform", ${message.account},
           ${message.externalChatId}, alive.id, ${lastInboundAt}::timestamptz, ${isShared(message)}, now()
    FROM alive
    ON CONFLICT (platform, account, external_chat_id) DO UPDATE
      SET last_inbound_at = GREATEST(chats.last_inbound_at, excluded.last_inbound_at),
          ${reachableAgain}, updated_at = now()
    RETURNING id::text`;
  if (!chat) {
    // Purged meanwhile: the identity went with the account, and whoever writes now is new to us.
    if (!again) return resolveSender(db, keyring, message, true);
    throw new Error(`the chat of ${message.platform} ${message.externalChatId} was not written`);
  }
  return { userId, identityId: identity.id, agentId, chatId: chat.id, touch: null };
}

/**
 * A person's first message: their user, their identity, their consumer agent with its
 * registration job, and the chat, in one statement (one round trip, one commit); null, having
 * written nothing, when another drain made the person first.
 *
 * Every row hangs off the identity's insert: `ON CONFLICT DO NOTHING` makes it the race's
 * referee (a concurrent insert of the same identity is waited for, then found), and the user,
 * agent and chat are inserted from what it returned, so the loser adds no row at all. Foreign
 * keys are checked at the end of the statement, so the identity may name the user inserted
 * beside it. The chat is an upsert, as `resolveSender`'s for a known sender: a chat that exists
 * (in a group, say, someone else's) is kept as it is, stamped and made reachable, and is the one
 * returned.
 */
async function makePerson(
  db: Db,
  keyring: SecretKeyring,
  message: NormalizedMessage,
  lastInboundAt: Date,
): Promise<{ userId: string; identityId: string; agentId: string; chatId: string } | null> {
  const userId = randomUUID();
  const identityId = randomUUID();
  const values: unknown[] = [
    identityId,
    userId,
    message.platform,
    message.sender.externalId,
    message.sender.displayName,
    message.account,
    message.externalChatId,
    lastInboundAt,
    // The language their app is set to, where the platform says (Telegram): their notices are
    // written in it, and the agent knows it, until they choose another with /language.
    message.sender.language ? languageTag(message.sender.language) : null,
  ];
  const agent = consumerAgentInsert(keyring, values.length + 1);
  values.push(...agent.values);
  const rows = await db.$queryRawUnsafe<{ chat_id: string | null }[]>(
    `
    WITH identity AS (
      INSERT INTO channel_identities (id, user_id, platform, external_id, display_name)
      VALUES ($1::uuid, $2::uuid, $3::text::"ChannelPlatform", $4::text, $5::text)
      ON CONFLICT (platform, external_id) DO NOTHING
      RETURNING user_id
    ),
    person AS (
      INSERT INTO users (id, display_name, language, updated_at)
      SELECT user_id, $5::text, $9::text, now() FROM identity
      RETURNING id
    ),
    agent AS (${agent.insert}),
    chat AS (
      INSERT INTO chats (id, platform, account, external_chat_id, user_id, last_inbound_at, shared,
                         updated_at)
      SELECT gen_random_uuid(), $3::text::"ChannelPlatform", $6::text, $7::text, id, $8::timestamptz,
             $7::text <> $4::text, now()
      FROM person
      ON CONFLICT (platform, account, external_chat_id) DO UPDATE
        SET last_inbound_at = GREATEST(chats.last_inbound_at, excluded.last_inbound_at),
            ${REACHABLE_AGAIN}, updated_at = excluded.updated_at
      RETURNING id
    )
    SELECT (SELECT id::text FROM chat) AS chat_id, ${agent.job} AS job
    FROM agent`,
    ...values,
  );
  const made = rows[0];
  if (!made) return null;
  // The job hangs off the agent alone; a chat that returned nothing would be a broken upsert.
  if (made.chat_id === null) throw new Error('the first contact made no chat');
  return { userId, identityId, agentId: agent.id, chatId: made.chat_id };
}

/**
 * How many chat messages received in the 24 hours before `now` could not be handled (FAILED), by
 * channel (lower-case platform, every one listed): each may be a person left without an answer.
 * For `/metrics`; by the (status, received_at) index.
 */
export async function failedInboundLastDay(
  db: Db,
  now: Date,
): Promise<{ channel: string; failed: number }[]> {
  const rows = await db.$queryRaw<{ channel: string; failed: number }[]>`
    SELECT lower(platform::text) AS channel, count(*)::int AS failed FROM inbound_events
    WHERE status = 'FAILED' AND received_at > ${new Date(now.getTime() - 86_400_000)}
    GROUP BY platform`;
  return PLATFORMS.map((platform) => {
    const channel = platform.toLowerCase();
    return { channel, failed: rows.find((r) => r.channel === channel)?.failed ?? 0 };
  });
}
