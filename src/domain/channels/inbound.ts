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
import type { Prisma } from '../../generated/prisma/client.ts';
import type { ChannelPlatform, InboundStatus } from '../../generated/prisma/enums.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import type { Database, Db } from '../../platform/db.ts';
import { defineTask, enqueue } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import { ensureConsumerAgent } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { type ImageLoader, imageLoader, type MediaLoaders } from './media.ts';
import type { NormalizedMessage } from './normalized.ts';

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
 * PostgreSQL text and jsonb hold neither NUL characters nor unpaired UTF-16 surrogates, both of
 * which a platform (or an attacker) can put in valid JSON. They become U+FFFD, so the event is
 * kept rather than the request failing.
 */
export function storableText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must go.
    /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}

function storable(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storable(v)]));
  }
  return value;
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
 * its chat's drain in the same transaction. Returns whether it was new.
 */
export async function recordInbound(db: Db, event: InboundRecord): Promise<{ stored: boolean }> {
  const status: InboundStatus = event.status ?? (event.normalized ? 'PENDING' : 'IGNORED');
  return db.$transaction(async (tx) => {
    const { count } = await tx.inboundEvent.createMany({
      data: [
        {
          platform: event.platform,
          account: event.account,
          externalId: event.externalId,
          externalChatId: event.externalChatId,
          eventType: event.eventType,
          raw: event.raw === undefined ? undefined : (storable(event.raw) as Prisma.InputJsonValue),
          rawText: event.rawText == null ? null : storableText(event.rawText),
          normalized: (storable(event.normalized ?? undefined) ?? undefined) as
            | Prisma.InputJsonValue
            | undefined,
          status,
          error: event.error ?? null,
        },
      ],
      skipDuplicates: true,
    });
    if (count === 1 && status === 'PENDING' && event.externalChatId) {
      await enqueue(
        tx,
        chatInboundTask,
        { platform: event.platform, account: event.account, externalChatId: event.externalChatId },
        { jobKey: chatKey(event.platform, event.account, event.externalChatId), jobKeyMode: 'replace' },
      );
    }
    return { stored: count === 1 };
  });
}

export interface InboundContext {
  /** The person behind the message, found or created on first contact, with their consumer agent. */
  userId: string;
  agentId: string;
  identityId: string;
  /** Where replies go (the send queue's chat). */
  chatId: string;
  logger: Logger;
  /**
   * The message's image `index` (of `message.images`), downloaded through the platform's media
   * API on first call, size-limited and checked to be an image; cached for this message only.
   * Rejects with a MediaError (too large, not an image, gone, unavailable) the handler can tell
   * the person about.
   */
  loadImage: ImageLoader;
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
  /** Schedules this chat's drain again shortly (when another drain holds the chat). */
  retryLater: () => Promise<void>;
}

/**
 * Processes a chat's pending events one at a time, oldest first, under the chat's advisory lock.
 * Returns how many it processed, or null when another drain holds the chat (it was rescheduled).
 */
export async function drainChat(
  deps: DrainDeps,
  chat: { platform: ChannelPlatform; account: string; externalChatId: string },
): Promise<number | null> {
  const result = await withAdvisoryLock(
    deps.database.pool,
    chatKey(chat.platform, chat.account, chat.externalChatId),
    async () => {
      let processed = 0;
      for (;;) {
        const next = await deps.database.prisma.inboundEvent.findFirst({
          where: { ...chat, status: 'PENDING' },
          orderBy: { sequence: 'asc' },
        });
        if (!next) return processed;
        await processOne(deps, next.id, next.normalized as unknown as NormalizedMessage);
        processed += 1;
      }
    },
  );
  if (result.locked) return result.value;
  await deps.retryLater();
  return null;
}

async function processOne(deps: DrainDeps, eventId: string, message: NormalizedMessage) {
  const db = deps.database.prisma;
  const logger = deps.logger.child({ 'inbound.id': eventId });
  try {
    const identity = await resolveSender(db, deps.keyring, message);
    await deps.handler(message, { ...identity, logger, loadImage: imageLoader(message, deps.media) });
    await db.inboundEvent.update({
      where: { id: eventId },
      data: { status: 'PROCESSED', processedAt: new Date() },
    });
  } catch (error) {
    // One message that cannot be handled must not hold up the chat: it is kept, failed, with
    // its error, for an operator to look at or retry.
    logger.error({ err: error }, 'inbound message failed');
    await db.inboundEvent.update({
      where: { id: eventId },
      data: {
        status: 'FAILED',
        error: (error as Error).message?.slice(0, 2000) ?? String(error),
        processedAt: new Date(),
      },
    });
  }
}

/**
 * The user behind a platform identity, created on first contact together with the identity and
 * their consumer agent. Safe when two chats of one new person arrive at once.
 */
export async function resolveSender(db: Db, keyring: SecretKeyring, message: NormalizedMessage) {
  const where = {
    platform_externalId: { platform: message.platform, externalId: message.sender.externalId },
  };
  let identity = await db.channelIdentity.findUnique({ where });
  if (!identity) {
    const userId = randomUUID();
    await db.$transaction(async (tx) => {
      await tx.user.create({ data: { id: userId, displayName: message.sender.displayName } });
      await tx.$executeRaw`
        INSERT INTO channel_identities (id, user_id, platform, external_id, display_name)
        VALUES (${randomUUID()}::uuid, ${userId}::uuid, ${message.platform}::"ChannelPlatform",
                ${message.sender.externalId}, ${message.sender.displayName})
        ON CONFLICT (platform, external_id) DO NOTHING`;
    });
    identity = await db.channelIdentity.findUniqueOrThrow({ where });
    // Lost the race: another drain created this person first; drop the spare user.
    if (identity.userId !== userId) await db.user.delete({ where: { id: userId } }).catch(() => {});
  }
  const agent = await ensureConsumerAgent(db, keyring, identity.userId);
  // The chat this person last spoke in: replies and notifications go there, and on WhatsApp it
  // opens the 24-hour window for free-form replies. Speaking again makes a chat reachable again.
  const lastInboundAt = new Date(message.sentAt);
  const chat = await db.chat.upsert({
    where: {
      platform_account_externalChatId: {
        platform: message.platform,
        account: message.account,
        externalChatId: message.externalChatId,
      },
    },
    create: {
      platform: message.platform,
      account: message.account,
      externalChatId: message.externalChatId,
      userId: identity.userId,
      lastInboundAt,
    },
    update: { lastInboundAt, unreachableAt: null, unreachableReason: null },
  });
  return { userId: identity.userId, identityId: identity.id, agentId: agent.id, chatId: chat.id };
}
