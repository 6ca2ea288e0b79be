/**
 * Chat sessions: the recent history of one chat (platform + account + chat), kept in Redis as one
 * Fernet token so that Python's `cryptography.fernet.Fernet` (or `MultiFernet`) reads it with the
 * same key. The plaintext is UTF-8 JSON: `{"v":1,"messages":[…],"summary":…,"updatedAt":"…"}`.
 *
 * A session lives `idleSeconds` after its last save, enforced twice: by the Redis TTL (set afresh
 * on each save) and by the token's own timestamp (the Fernet ttl on load), so a value restored from
 * a dump or copied between instances cannot outlive the limit either.
 *
 * Keys rotate as with `MultiFernet`: the first key encrypts, any decrypts, and a session written
 * with an old key is re-encrypted with the first one the next time it is saved. A value that no key
 * opens, or that is not a session, is discarded (warned, deleted) and the chat starts afresh: a
 * lost history is a nuisance, a conversation that cannot go on is worse. Redis itself failing is
 * thrown, though: answering without the history would be wrong, and the message's job retries.
 *
 * One writer per chat is assumed (the per-user lock, user-lock.ts); concurrent saves of one chat
 * would simply leave the last one.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { createFernet, InvalidTokenError } from '../../platform/fernet.ts';
import type { Logger } from '../../platform/logger.ts';
import type { RedisHandle } from '../../platform/redis.ts';
import type { ChatMessage, ContentBlock } from './messages.ts';

export interface Session {
  messages: ChatMessage[];
  summary: string | null;
  /** ISO time of the last save. */
  updatedAt: string;
}

export interface ChatRef {
  platform: string;
  account: string;
  externalChatId: string;
}

export interface SessionStore {
  /** The chat's session, or an empty one (new, expired, or discarded because it could not be decrypted/parsed — logged at warn, never thrown). */
  load(chat: ChatRef): Promise<Session>;
  /** Stores the session (images replaced by notes, `updatedAt` stamped now) and sets the idle expiry afresh. */
  save(chat: ChatRef, session: Session): Promise<void>;
  clear(chat: ChatRef): Promise<void>;
}

// The plaintext format's version, so that a later change can still read (or knowingly drop) old
// sessions; Python readers should check it too.
const FORMAT_VERSION = 1;

const block = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('image'), mediaType: z.string(), data: z.string() }),
  z.object({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown() }),
  z.object({
    type: z.literal('tool_result'),
    toolUseId: z.string(),
    content: z.string(),
    isError: z.boolean().optional(),
  }),
]);

const stored = z.object({
  v: z.literal(FORMAT_VERSION),
  messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content: z.array(block) })),
  summary: z.string().nullable(),
  updatedAt: z.iso.datetime({ offset: true }),
});

// KEYS[1] session; ARGV[1] the value that was read. Deletes it only if it is still that value, so
// discarding a bad session never deletes a good one another process saved in the meantime.
const DISCARD_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type RedisWithDiscard = Redis & { agntSessionDiscard(key: string, value: string): Promise<number> };

/** Where a session's token is kept: Redis, or this process's memory when there is none. */
interface TokenStore {
  get(key: string): Promise<string | null>;
  set(key: string, token: string, ttlSeconds: number): Promise<void>;
  /** Deletes `key` if it still holds `token`. */
  discard(key: string, token: string): Promise<void>;
  delete(key: string): Promise<void>;
}

export function createSessionStore(deps: {
  redis: RedisHandle;
  keys: readonly string[];
  idleSeconds: number;
  logger: Logger;
  now?: () => Date;
}): SessionStore {
  const now = deps.now ?? (() => new Date());
  if (!(Number.isInteger(deps.idleSeconds) && deps.idleSeconds > 0)) {
    throw new RangeError('Session idleSeconds must be a positive whole number');
  }
  const fernet = createFernet(deps.keys, { now });
  const tokens = deps.redis.client
    ? redisTokens(deps.redis.client as RedisWithDiscard)
    : memoryTokens(() => now().getTime());
  const keyOf = (chat: ChatRef) => sessionKey(deps.redis.keyPrefix, chat);
  const empty = (): Session => ({ messages: [], summary: null, updatedAt: now().toISOString() });

  return {
    async load(chat) {
      const key = keyOf(chat);
      const token = await tokens.get(key);
      if (token === null) return empty();
      const log = deps.logger.child({ 'session.platform': chat.platform, 'session.account': chat.account });
      let plaintext: string;
      try {
        plaintext = fernet.decrypt(token, { ttlSeconds: deps.idleSeconds }).toString('utf8');
      } catch (error) {
        if (!(error instanceof InvalidTokenError)) throw error;
        await tokens.discard(key, token);
        // Outliving the idle limit is what sessions do; anything else is a wrong key or tampering.
        if (error.reason === 'expired') log.debug('chat session expired: starting afresh');
        else log.warn({ 'session.reason': error.reason }, 'chat session could not be decrypted: discarded');
        return empty();
      }
      let parsed: z.infer<typeof stored>;
      try {
        parsed = stored.parse(JSON.parse(plaintext));
      } catch (error) {
        await tokens.discard(key, token);
        // The message names what was wrong, never the content (which is the person's chat).
        const reason = error instanceof z.ZodError ? 'not a session of this version' : 'not JSON';
        log.warn({ 'session.reason': reason }, 'chat session could not be read: discarded');
        return empty();
      }
      return {
        messages: parsed.messages as ChatMessage[],
        summary: parsed.summary,
        updatedAt: parsed.updatedAt,
      };
    },

    async save(chat, session) {
      const plaintext = JSON.stringify({
        v: FORMAT_VERSION,
        messages: forStorage(session.messages),
        summary: session.summary,
        updatedAt: now().toISOString(),
      });
      await tokens.set(keyOf(chat), fernet.encrypt(plaintext), deps.idleSeconds);
    },

    async clear(chat) {
      await tokens.delete(keyOf(chat));
    },
  };
}

/**
 * `<prefix>session:<platform>:<account>:<chat>`. Each part is URI-encoded (a no-op for the ids
 * platforms use) so that a ':' inside one can never make two chats share a key.
 */
function sessionKey(prefix: string, chat: ChatRef): string {
  const parts = [chat.platform, chat.account, chat.externalChatId].map(encodeURIComponent);
  return `${prefix}session:${parts.join(':')}`;
}

function redisTokens(client: RedisWithDiscard): TokenStore {
  client.defineCommand('agntSessionDiscard', { numberOfKeys: 1, lua: DISCARD_SCRIPT });
  return {
    get: (key) => client.get(key),
    async set(key, token, ttlSeconds) {
      await client.set(key, token, 'EX', ttlSeconds);
    },
    async discard(key, token) {
      await client.agntSessionDiscard(key, token);
    },
    async delete(key) {
      await client.del(key);
    },
  };
}

/**
 * Without Redis: a map in this process with the same expiry. Sessions are then per process, and
 * lost on restart; the Redis mode is logged at start-up.
 */
function memoryTokens(clock: () => number): TokenStore {
  const entries = new Map<string, { token: string; expiresAt: number }>();
  let writes = 0;
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= clock()) entries.delete(key);
    return entries.get(key) ?? null;
  };
  return {
    get: async (key) => live(key)?.token ?? null,
    async set(key, token, ttlSeconds) {
      // Expired entries are dropped now and then, so chats that never come back do not pile up.
      if (++writes % 500 === 0) for (const k of [...entries.keys()]) live(k);
      entries.set(key, { token, expiresAt: clock() + ttlSeconds * 1000 });
    },
    async discard(key, token) {
      if (live(key)?.token === token) entries.delete(key);
    },
    async delete(key) {
      entries.delete(key);
    },
  };
}

// Rough, provider-neutral: about 4 characters a token for text and JSON, a few tokens of framing
// per message and block, and Anthropic's figure for an image of about a megapixel.
const CHARS_PER_TOKEN = 4;
const MESSAGE_OVERHEAD = 4;
const BLOCK_OVERHEAD = 3;
const IMAGE_TOKENS = 1600;

/** Rough token estimate of messages (+ summary) — ~4 chars per token, images a fixed cost. */
export function estimateTokens(session: Pick<Session, 'messages' | 'summary'>): number {
  let tokens = session.summary ? Math.ceil(session.summary.length / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD : 0;
  for (const message of session.messages) tokens += messageTokens(message);
  return tokens;
}

function messageTokens(message: ChatMessage): number {
  let tokens = MESSAGE_OVERHEAD;
  for (const content of message.content) tokens += BLOCK_OVERHEAD + blockTokens(content);
  return tokens;
}

function blockTokens(content: ContentBlock): number {
  switch (content.type) {
    case 'text':
      return Math.ceil(content.text.length / CHARS_PER_TOKEN);
    case 'image':
      return IMAGE_TOKENS;
    case 'tool_use':
      return Math.ceil(
        (content.name.length + (JSON.stringify(content.input) ?? '').length) / CHARS_PER_TOKEN,
      );
    case 'tool_result':
      return Math.ceil(content.content.length / CHARS_PER_TOKEN);
  }
}

// After compaction the kept turns take at most this share of the budget and the summary at most
// `SUMMARY_SHARE`, so a compacted session is well within budget and the next few turns do not
// trigger another summary at once.
const KEEP_SHARE = 0.5;
const SUMMARY_SHARE = 0.25;

/**
 * When the history is over `historyTokens`, folds the oldest messages into the summary with
 * `summarize` (the cheap model), keeping the newest turns; never splits a tool_use from its
 * tool_result, and the kept history starts with a user message that is not a tool_result. Returns
 * the session unchanged when within budget. If summarize throws, keeps the session but drops the
 * oldest turns rather than failing.
 *
 * A turn starts at a user message without tool results (what the person wrote) and runs through
 * the assistant's tool calls, their results and the answer; cuts are made only between turns. The
 * newest turn is always kept, even if it alone is over budget: it is the one being answered.
 */
export async function compactSession(
  session: Session,
  options: {
    historyTokens: number;
    summarize: (messages: ChatMessage[], previousSummary: string | null) => Promise<string>;
    /** Told when `summarize` fails (the session is then shortened without a new summary). */
    logger?: Logger;
  },
): Promise<Session> {
  if (estimateTokens(session) <= options.historyTokens) return session;
  const { messages } = session;
  const starts = messages.flatMap((message, index) => (isTurnStart(message) ? [index] : []));
  if (starts.length === 0) return session;

  // The earliest turn start from which the rest fits the keep share; the newest turn regardless.
  const keepBudget = options.historyTokens * KEEP_SHARE;
  let cut = starts[starts.length - 1]!;
  let kept = messages.slice(cut).reduce((sum, message) => sum + messageTokens(message), 0);
  for (let i = starts.length - 2; i >= 0; i--) {
    const start = starts[i]!;
    const more = messages.slice(start, cut).reduce((sum, message) => sum + messageTokens(message), 0);
    if (kept + more > keepBudget) break;
    kept += more;
    cut = start;
  }
  // Anything before the first turn start (a history that begins mid-turn) is folded in as well.
  const folded = messages.slice(0, cut);
  if (folded.length === 0) return session;

  const maxSummaryChars = Math.floor(options.historyTokens * SUMMARY_SHARE * CHARS_PER_TOKEN);
  let summary = session.summary;
  try {
    const fresh = (await options.summarize(folded, session.summary)).trim();
    summary = fresh ? clip(fresh, maxSummaryChars) : summary;
  } catch (error) {
    options.logger?.warn(
      { err: error, 'session.dropped': folded.length },
      'could not summarise the chat history: its oldest turns are dropped without a summary',
    );
  }
  if (summary && summary.length > maxSummaryChars) summary = clip(summary, maxSummaryChars);
  return { messages: messages.slice(cut), summary, updatedAt: session.updatedAt };
}

function isTurnStart(message: ChatMessage): boolean {
  return message.role === 'user' && !message.content.some((content) => content.type === 'tool_result');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Images are not kept in sessions: replaced by a short text note. */
export function forStorage(messages: ChatMessage[]): ChatMessage[] {
  return messages.map((message) =>
    message.content.some((content) => content.type === 'image')
      ? {
          role: message.role,
          content: message.content.map(
            (content): ContentBlock =>
              content.type === 'image'
                ? {
                    type: 'text',
                    text: `[An ${imageKind(content.mediaType)} was shared here; it is not kept.]`,
                  }
                : content,
          ),
        }
      : message,
  );
}

function imageKind(mediaType: string): string {
  // The media type came from a platform: only a plain `image/…` name goes into the history.
  return /^image\/[\w.+-]{1,40}$/.test(mediaType) ? `image (${mediaType})` : 'image';
}
