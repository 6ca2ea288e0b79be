import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/domain/conversation/messages.ts';
import {
  type ChatRef,
  compactSession,
  createSessionStore,
  estimateTokens,
  forStorage,
  type Session,
} from '../../src/domain/conversation/sessions.ts';
import { generateFernetKey } from '../../src/platform/fernet.ts';
import { memoryRedis } from '../../src/platform/redis.ts';
import { capturingLogger } from '../helpers/logs.ts';
import { createTestRedis } from '../helpers/redis.ts';

type TestRedis = Awaited<ReturnType<typeof createTestRedis>>;
let redis: TestRedis;

beforeAll(async () => {
  redis = await createTestRedis();
});

afterAll(async () => {
  await redis?.close();
});

const IDLE = 3600;
let chats = 0;
/** A chat no other test uses. */
function newChat(): ChatRef {
  return { platform: 'telegram', account: 'agnt_bot', externalChatId: String(700_000 + ++chats) };
}
const rawKey = (chat: ChatRef) =>
  `${redis.keyPrefix}session:${chat.platform}:${chat.account}:${chat.externalChatId}`;

/** A pino logger whose lines land in an array, and its warnings. */
function capturingLoggerWithWarnings() {
  const { logger, lines } = capturingLogger('debug');
  return { logger, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

function store(
  keys: string[],
  options: { now?: () => Date; handle?: TestRedis | ReturnType<typeof memoryRedis> } = {},
) {
  const log = capturingLoggerWithWarnings();
  const sessions = createSessionStore({
    redis: options.handle ?? redis,
    keys,
    idleSeconds: IDLE,
    logger: log.logger,
    now: options.now,
  });
  return { sessions, ...log };
}

const user = (text: string): ChatMessage => ({ role: 'user', content: [{ type: 'text', text }] });
const assistant = (text: string): ChatMessage => ({ role: 'assistant', content: [{ type: 'text', text }] });

const history: ChatMessage[] = [
  user('Mesa para 2 amanhã às 20h em Alfama? 🍷'),
  {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Vou procurar.' },
      { type: 'tool_use', id: 'toolu_01', name: 'search_venues', input: { area: 'Alfama', partySize: 2 } },
    ],
  },
  {
    role: 'user',
    content: [{ type: 'tool_result', toolUseId: 'toolu_01', content: '{"venues":[{"name":"Tasca"}]}' }],
  },
  assistant('A Tasca tem mesa às 20h. Reservo?'),
];

// Python's `cryptography` is the reference the stored sessions must stay readable by (see
// test/unit/fernet.test.ts); if it is missing this fails, by design.
const PYTHON = process.env.PYTHON ?? 'python3';
const HELPER = fileURLToPath(new URL('../helpers/fernet_interop.py', import.meta.url));

function python(request: Record<string, unknown>): Record<string, unknown> {
  const result = spawnSync(PYTHON, [HELPER], { input: JSON.stringify(request), encoding: 'utf8' });
  if (result.error)
    throw new Error(`Cannot run ${PYTHON} (${result.error.message}); install python3-cryptography`);
  if (result.status !== 0)
    throw new Error(`${PYTHON} ${HELPER} failed (exit ${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** What Python's MultiFernet(keys) reads from a token: the JSON, or 'invalid'. */
function pythonReads(keys: string[], token: string): unknown {
  const answer = python({ op: 'decrypt', keys, token, ttl: IDLE });
  if (answer.invalid) return 'invalid';
  return JSON.parse(Buffer.from(String(answer.plaintext_b64), 'base64').toString('utf8'));
}

describe('session store on Redis', () => {
  it('round-trips a session under the documented key, stamping updatedAt', async () => {
    const at = new Date('2026-11-02T10:00:00.000Z');
    const { sessions } = store([generateFernetKey()], { now: () => at });
    const chat = newChat();
    expect(await sessions.load(chat)).toEqual({ messages: [], summary: null, updatedAt: at.toISOString() });

    await sessions.save(chat, { messages: history, summary: 'Ana likes fado.', updatedAt: 'ignored' });
    expect(await redis.client!.exists(rawKey(chat))).toBe(1);
    expect(await sessions.load(chat)).toEqual({
      messages: history,
      summary: 'Ana likes fado.',
      updatedAt: at.toISOString(),
    });
    // Chats are kept apart by every part of the reference.
    expect((await sessions.load({ ...chat, account: 'other_bot' })).messages).toEqual([]);

    await sessions.clear(chat);
    expect(await redis.client!.exists(rawKey(chat))).toBe(0);
    expect((await sessions.load(chat)).messages).toEqual([]);
  });

  it('stores a Fernet token that Python decrypts to the session JSON', async () => {
    const key = String(python({ op: 'generate_key' }).key);
    const { sessions } = store([key]);
    const chat = newChat();
    await sessions.save(chat, { messages: history, summary: null, updatedAt: '' });

    const token = await redis.client!.get(rawKey(chat));
    expect(token).toMatch(/^gAAAAA[A-Za-z0-9_-]+={0,2}$/);
    const loaded = await sessions.load(chat);
    expect(pythonReads([key], token!)).toEqual({
      v: 1,
      messages: history,
      summary: null,
      updatedAt: loaded.updatedAt,
    });
  });

  it('loads a session token that Python made', async () => {
    const key = generateFernetKey();
    const chat = newChat();
    const session = {
      v: 1,
      messages: history,
      summary: 'Prefers terraces.',
      updatedAt: '2026-11-02T10:00:00.000Z',
    };
    const plaintext = Buffer.from(JSON.stringify(session), 'utf8').toString('base64');
    const token = String(python({ op: 'encrypt', keys: [key], plaintext_b64: plaintext }).token);
    await redis.client!.set(rawKey(chat), token);

    const { sessions, warnings } = store([key]);
    expect(await sessions.load(chat)).toEqual({
      messages: history,
      summary: 'Prefers terraces.',
      updatedAt: '2026-11-02T10:00:00.000Z',
    });
    expect(warnings()).toEqual([]);
  });

  it('rotates keys: an old session still loads, and the next save uses the new first key', async () => {
    const oldKey = generateFernetKey();
    const newKey = generateFernetKey();
    const chat = newChat();
    await store([oldKey]).sessions.save(chat, { messages: history, summary: null, updatedAt: '' });

    const rotated = store([newKey, oldKey]);
    const loaded = await rotated.sessions.load(chat);
    expect(loaded.messages).toEqual(history);
    expect(rotated.warnings()).toEqual([]);

    await rotated.sessions.save(chat, { ...loaded, messages: [...loaded.messages, user('Sim!')] });
    const token = (await redis.client!.get(rawKey(chat)))!;
    expect(pythonReads([newKey], token)).toMatchObject({ v: 1, messages: [...history, user('Sim!')] });
    expect(pythonReads([oldKey], token)).toBe('invalid');
    // Once the old key is retired, the re-encrypted session is unaffected.
    expect((await store([newKey]).sessions.load(chat)).messages).toEqual([...history, user('Sim!')]);
  });

  it('discards a tampered session: empty, a warning, and the key removed', async () => {
    const key = generateFernetKey();
    const { sessions, warnings } = store([key]);
    const chat = newChat();
    await sessions.save(chat, { messages: history, summary: 'secret summary', updatedAt: '' });
    const bytes = Buffer.from((await redis.client!.get(rawKey(chat)))!, 'base64url');
    bytes[40]! ^= 0x01;
    await redis.client!.set(rawKey(chat), bytes.toString('base64').replaceAll('+', '-').replaceAll('/', '_'));

    const loaded = await sessions.load(chat);
    expect(loaded).toMatchObject({ messages: [], summary: null });
    expect(await redis.client!.exists(rawKey(chat))).toBe(0);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      msg: 'chat session could not be decrypted: discarded',
      'session.reason': 'bad-hmac',
      'session.platform': 'telegram',
    });
    // The log line carries nothing of the session.
    expect(JSON.stringify(warnings())).not.toContain('secret summary');
  });

  it('discards a session written with a key it does not have', async () => {
    const chat = newChat();
    await store([generateFernetKey()]).sessions.save(chat, {
      messages: history,
      summary: null,
      updatedAt: '',
    });
    const stranger = store([generateFernetKey()]);
    expect((await stranger.sessions.load(chat)).messages).toEqual([]);
    expect(stranger.warnings()).toHaveLength(1);
    expect(await redis.client!.exists(rawKey(chat))).toBe(0);
  });

  it('discards a decryptable value that is not a session of this format', async () => {
    const key = generateFernetKey();
    const { sessions, warnings } = store([key]);
    const cases = [
      'not json at all',
      JSON.stringify({ v: 2, messages: [] }),
      JSON.stringify({
        v: 1,
        messages: [{ role: 'system' }],
        summary: null,
        updatedAt: '2026-01-01T00:00:00Z',
      }),
    ];
    for (const plaintext of cases) {
      const chat = newChat();
      const token = String(
        python({ op: 'encrypt', keys: [key], plaintext_b64: Buffer.from(plaintext).toString('base64') })
          .token,
      );
      await redis.client!.set(rawKey(chat), token);
      expect((await sessions.load(chat)).messages).toEqual([]);
      expect(await redis.client!.exists(rawKey(chat))).toBe(0);
    }
    expect(warnings().map((w) => w['session.reason'])).toEqual([
      'not JSON',
      'not a session of this version',
      'not a session of this version',
    ]);
  });

  it('sets the idle expiry as the Redis TTL, afresh on every save', async () => {
    const { sessions } = store([generateFernetKey()]);
    const chat = newChat();
    await sessions.save(chat, { messages: history, summary: null, updatedAt: '' });
    const ttl = await redis.client!.ttl(rawKey(chat));
    expect(ttl).toBeGreaterThan(IDLE - 5);
    expect(ttl).toBeLessThanOrEqual(IDLE);

    await redis.client!.expire(rawKey(chat), 30);
    await sessions.save(chat, { messages: history, summary: null, updatedAt: '' });
    expect(await redis.client!.ttl(rawKey(chat))).toBeGreaterThan(IDLE - 5);
  });

  it("also enforces the idle limit through the token's own timestamp", async () => {
    let now = new Date('2026-11-02T10:00:00Z');
    const { sessions, warnings, lines } = store([generateFernetKey()], { now: () => now });
    const chat = newChat();
    await sessions.save(chat, { messages: history, summary: null, updatedAt: '' });

    // Exactly the idle time later it is still there…
    now = new Date(now.getTime() + IDLE * 1000);
    expect((await sessions.load(chat)).messages).toEqual(history);
    // …a second more and it is gone, even though Redis (on the real clock) still holds the value.
    now = new Date(now.getTime() + 1000);
    expect(await sessions.load(chat)).toEqual({ messages: [], summary: null, updatedAt: now.toISOString() });
    expect(await redis.client!.exists(rawKey(chat))).toBe(0);
    // Expiry is ordinary: no warning.
    expect(warnings()).toEqual([]);
    expect(lines.map((l) => l.msg)).toContain('chat session expired: starting afresh');
  });

  it('keeps no images: save replaces them with a note', async () => {
    const key = generateFernetKey();
    const { sessions } = store([key]);
    const chat = newChat();
    const withImage: ChatMessage = {
      role: 'user',
      content: [
        { type: 'image', mediaType: 'image/jpeg', data: Buffer.alloc(3000, 7).toString('base64') },
        { type: 'text', text: 'Is this place open?' },
      ],
    };
    await sessions.save(chat, { messages: [withImage], summary: null, updatedAt: '' });
    const token = (await redis.client!.get(rawKey(chat)))!;
    expect(pythonReads([key], token)).toMatchObject({ messages: forStorage([withImage]) });
    expect((await sessions.load(chat)).messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: '[An image (image/jpeg) was shared here; it is not kept.]' },
          { type: 'text', text: 'Is this place open?' },
        ],
      },
    ]);
  });
});

describe('session store without Redis', () => {
  it('keeps sessions in this process with the same expiry and encryption', async () => {
    let now = new Date('2026-11-02T10:00:00Z');
    const handle = memoryRedis('mem:');
    const { sessions } = store([generateFernetKey()], { handle, now: () => now });
    const chat = newChat();
    expect((await sessions.load(chat)).messages).toEqual([]);

    await sessions.save(chat, { messages: history, summary: 'ok', updatedAt: '' });
    expect(await sessions.load(chat)).toMatchObject({ messages: history, summary: 'ok' });

    now = new Date(now.getTime() + (IDLE - 1) * 1000);
    // Saving renews the idle time.
    await sessions.save(chat, { messages: history, summary: 'renewed', updatedAt: '' });
    now = new Date(now.getTime() + (IDLE - 1) * 1000);
    expect((await sessions.load(chat)).summary).toBe('renewed');
    now = new Date(now.getTime() + 2000);
    expect((await sessions.load(chat)).messages).toEqual([]);

    await sessions.save(chat, { messages: history, summary: null, updatedAt: '' });
    await sessions.clear(chat);
    expect((await sessions.load(chat)).messages).toEqual([]);
  });
});

describe('forStorage', () => {
  it('replaces only image blocks, and leaves the input alone', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: [{ type: 'image', mediaType: 'image/png', data: 'AAAA' }] },
      { role: 'user', content: [{ type: 'image', mediaType: 'text/html"><script>', data: 'AAAA' }] },
      ...history,
    ];
    const copy = structuredClone(messages);
    const stored = forStorage(messages);
    expect(messages).toEqual(copy);
    expect(stored.slice(2)).toEqual(history);
    expect(stored[0]!.content).toEqual([
      { type: 'text', text: '[An image (image/png) was shared here; it is not kept.]' },
    ]);
    // A strange media type is not copied into the history.
    expect(stored[1]!.content).toEqual([
      { type: 'text', text: '[An image was shared here; it is not kept.]' },
    ]);
  });
});

describe('estimateTokens', () => {
  it('counts about four characters a token, a fixed cost per image, and the summary', () => {
    const text = estimateTokens({ messages: [user('x'.repeat(400))], summary: null });
    expect(text).toBeGreaterThanOrEqual(100);
    expect(text).toBeLessThan(115);
    expect(
      estimateTokens({ messages: [user('x'.repeat(400))], summary: 'y'.repeat(400) }),
    ).toBeGreaterThanOrEqual(text + 100);
    const image = estimateTokens({
      messages: [
        { role: 'user', content: [{ type: 'image', mediaType: 'image/jpeg', data: 'A'.repeat(400_000) }] },
      ],
      summary: null,
    });
    expect(image).toBeGreaterThan(1000);
    expect(image).toBeLessThan(2000);
    expect(estimateTokens({ messages: [], summary: null })).toBe(0);
  });
});

describe('compactSession', () => {
  /** A turn: the person asks, the assistant calls `tools` tools (each with a result), then answers. */
  function turn(n: number, tools = 0, size = 200): ChatMessage[] {
    const messages: ChatMessage[] = [user(`question ${n} ${'q'.repeat(size)}`)];
    for (let t = 0; t < tools; t++) {
      const id = `toolu_${n}_${t}`;
      messages.push({
        role: 'assistant',
        content: [{ type: 'tool_use', id, name: 'search_venues', input: { query: `q${n}` } }],
      });
      messages.push({
        role: 'user',
        content: [{ type: 'tool_result', toolUseId: id, content: 'r'.repeat(size) }],
      });
    }
    messages.push(assistant(`answer ${n} ${'a'.repeat(size)}`));
    return messages;
  }

  /** Every tool_use in `messages` has its tool_result right after it, and the other way round. */
  function expectPairsIntact(messages: ChatMessage[]) {
    const uses = messages.flatMap((m) => m.content.flatMap((c) => (c.type === 'tool_use' ? [c.id] : [])));
    const results = messages.flatMap((m) =>
      m.content.flatMap((c) => (c.type === 'tool_result' ? [c.toolUseId] : [])),
    );
    expect(results.sort()).toEqual(uses.sort());
  }

  const session = (messages: ChatMessage[], summary: string | null = null): Session => ({
    messages,
    summary,
    updatedAt: '2026-11-02T10:00:00.000Z',
  });

  it('returns the very same session when it is within budget', async () => {
    const s = session([...turn(1), ...turn(2)]);
    let calls = 0;
    const result = await compactSession(s, {
      historyTokens: estimateTokens(s),
      summarize: async () => {
        calls++;
        return 'never';
      },
    });
    expect(result).toBe(s);
    expect(calls).toBe(0);
  });

  it('folds the oldest turns into the summary and keeps whole newest turns within budget', async () => {
    const messages = [...turn(1, 2), ...turn(2), ...turn(3, 1), ...turn(4), ...turn(5, 3), ...turn(6)];
    const s = session(messages, 'Earlier: Ana is vegetarian.');
    const budget = 600;
    expect(estimateTokens(s)).toBeGreaterThan(budget);
    const calls: { messages: ChatMessage[]; previous: string | null }[] = [];
    const result = await compactSession(s, {
      historyTokens: budget,
      summarize: async (folded, previous) => {
        calls.push({ messages: folded, previous });
        return 'Ana is vegetarian and asked about questions 1 to 4.';
      },
    });

    expect(calls).toHaveLength(1);
    const folded = calls[0]!.messages;
    expect(calls[0]!.previous).toBe('Earlier: Ana is vegetarian.');
    // The oldest messages were summarised and the rest kept: nothing lost, nothing twice.
    expect([...folded, ...result.messages]).toEqual(messages);
    expect(folded.length).toBeGreaterThan(0);
    expect(result.summary).toBe('Ana is vegetarian and asked about questions 1 to 4.');
    // The kept history starts a turn, with no pair split on either side of the cut.
    expect(result.messages[0]!.role).toBe('user');
    expect(result.messages[0]!.content.some((c) => c.type === 'tool_result')).toBe(false);
    expectPairsIntact(result.messages);
    expectPairsIntact(folded);
    expect(estimateTokens(result)).toBeLessThanOrEqual(budget);
    expect(result.messages.at(-1)).toEqual(messages.at(-1));
  });

  it('never cuts between a tool_use and its tool_result, even where the budget would', async () => {
    // The newest turn is a long tool exchange; a budget-only cut would fall inside it.
    const messages = [...turn(1), ...turn(2), ...turn(3, 4, 120)];
    const lastTurn = turn(3, 4, 120);
    const budget = Math.ceil(estimateTokens(session(lastTurn)) * 1.5);
    const result = await compactSession(session(messages), {
      historyTokens: budget,
      summarize: async () => 'summary',
    });
    expect(result.messages).toEqual(lastTurn);
    expectPairsIntact(result.messages);
  });

  it('keeps the newest turn whole even when it alone is over budget', async () => {
    const messages = [...turn(1), ...turn(2, 3, 800)];
    const result = await compactSession(session(messages), {
      historyTokens: 300,
      summarize: async () => 'short',
    });
    expect(result.messages).toEqual(turn(2, 3, 800));
    expect(result.summary).toBe('short');
  });

  it('clips a summary that would break the budget', async () => {
    const messages = [...turn(1), ...turn(2), ...turn(3), ...turn(4)];
    const budget = 400;
    const result = await compactSession(session(messages), {
      historyTokens: budget,
      summarize: async () => 'long summary '.repeat(1000),
    });
    expect(result.summary!.length).toBeLessThan(budget * 4);
    expect(result.summary!.endsWith('…')).toBe(true);
    expect(estimateTokens(result)).toBeLessThanOrEqual(budget);
  });

  it('drops the oldest turns and keeps the previous summary when summarising fails', async () => {
    const messages = [...turn(1, 1), ...turn(2), ...turn(3), ...turn(4, 1), ...turn(5)];
    const budget = 500;
    const log = capturingLoggerWithWarnings();
    const result = await compactSession(session(messages, 'Earlier summary.'), {
      historyTokens: budget,
      summarize: async () => {
        throw new Error('cheap model unavailable');
      },
      logger: log.logger,
    });
    expect(result.summary).toBe('Earlier summary.');
    expect(result.messages.length).toBeLessThan(messages.length);
    expect(messages.slice(-result.messages.length)).toEqual(result.messages);
    expect(result.messages[0]!.role).toBe('user');
    expectPairsIntact(result.messages);
    expect(estimateTokens(result)).toBeLessThanOrEqual(budget);
    expect(log.warnings()).toHaveLength(1);
  });
});
