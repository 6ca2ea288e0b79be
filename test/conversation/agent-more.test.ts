/**
 * More of the consumer agent end to end: a photo reaches the model as an image block, a long
 * history is summarised by the cheap model, and with Anthropic failing Ollama answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_REPLY } from '../../src/domain/conversation/turn.ts';
import { agentEnv, startAppWithWorker, stopAll, TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import { telegramChats } from '../factories/chats.ts';
import { anthropicError, anthropicMessage, startFakeAnthropic } from '../fakes/anthropic.ts';
import { jpeg } from '../fakes/media.ts';
import { ollamaMessage, startFakeOllama } from '../fakes/ollama.ts';
import { type FakeBotApi, photoUpdate, postUpdate, startFakeBotApi, textUpdate } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { metric, type WorkerApp, waitFor } from '../helpers/jobs.ts';

const { name: BOT, secret: SECRET } = TELEGRAM_BOT;

let telegram: FakeBotApi;
let anthropic: Awaited<ReturnType<typeof startFakeAnthropic>>;
let ollama: Awaited<ReturnType<typeof startFakeOllama>>;
let app: TestApp;
let worker: WorkerApp;
let nextChat = Math.floor(Math.random() * 1_000_000_000);

beforeAll(async () => {
  telegram = await startFakeBotApi();
  anthropic = await startFakeAnthropic();
  ollama = await startFakeOllama();
  ({ app, worker } = await startAppWithWorker({
    ...telegramEnv(telegram),
    ...agentEnv(anthropic),
    OLLAMA_URL: ollama.url,
    OLLAMA_MODEL: 'qwen3:8b',
    // A small history budget, so a few turns are enough to need a summary.
    SESSION_HISTORY_TOKENS: '200',
  }));
});
afterAll(() => stopAll(worker, app, telegram, anthropic, ollama));

const { nthReply, sent } = telegramChats(() => ({ app, telegram }));
const reply = async (chatId: number, n = 1) => (await nthReply(chatId, n)).text;

describe('the consumer agent, further', () => {
  it('passes a photo to the model as an image block, and keeps only a note of it in the session', async () => {
    const bytes = jpeg(4096);
    telegram.addFile('menu-photo', { bytes });
    let images: Record<string, unknown>[] = [];
    anthropic.respond((body) => {
      images = (body.messages.at(-1).content as Record<string, unknown>[]).filter((b) => b.type === 'image');
      return { body: anthropicMessage({ text: 'That looks like a seafood menu.' }) };
    });
    const chatId = nextChat++;
    const update = photoUpdate({ chatId, fileId: 'menu-photo', caption: 'What is this?' });
    expect((await postUpdate(app.url, BOT, SECRET, update)).status).toBe(200);
    expect(await reply(chatId)).toBe('That looks like a seafood menu.');
    expect(images).toEqual([
      { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: bytes.toString('base64') } },
    ]);
    const session = await app.services.sessions.load({
      platform: 'TELEGRAM',
      account: BOT,
      externalChatId: String(chatId),
    });
    expect(JSON.stringify(session.messages)).not.toContain(bytes.toString('base64').slice(0, 40));
  });

  it('summarises a long history with the cheap model and carries the summary into the prompt', async () => {
    const chatId = nextChat++;
    const summaries: unknown[] = [];
    let lastConversation: { messages: unknown[] } | null = null;
    anthropic.respond((body) => {
      if (body.model === 'claude-haiku-4-5') {
        summaries.push(body);
        return {
          body: anthropicMessage({ text: 'Ana wants seafood in Lisbon for 4 on Friday.', model: body.model }),
        };
      }
      lastConversation = body;
      return { body: anthropicMessage({ text: `Noted (${'ok '.repeat(40)})` }) };
    });
    for (let i = 1; i <= 5; i++) {
      const text = `Message ${i}: I would like seafood in Lisbon for four people on Friday, somewhere with a view of the river.`;
      expect((await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text }))).status).toBe(200);
      await reply(chatId, i);
    }
    expect(summaries.length).toBeGreaterThan(0);
    expect(JSON.stringify(lastConversation)).toContain('Ana wants seafood in Lisbon for 4 on Friday.');
    expect(JSON.stringify(lastConversation)).not.toContain('Message 1:');
    const chat = await app.services.db.chat.findFirstOrThrow({ where: { externalChatId: String(chatId) } });
    const userId = chat.userId;
    // The summary is kept for dreaming, as the start of a chain begun in this chat.
    expect(
      await app.services.db.sessionSummary.findUnique({
        where: { chatId_userId: { chatId: chat.id, userId } },
      }),
    ).toMatchObject({
      userId,
      summary: 'Ana wants seafood in Lisbon for 4 on Friday.',
      startedAt: expect.any(Date),
    });
    expect(
      await app.services.db.llmUsage.count({
        where: { userId, purpose: 'cheap', model: 'claude-haiku-4-5' },
      }),
    ).toBe(summaries.length);
  });

  it('falls back to Ollama when Anthropic fails, and counts the switch', async () => {
    anthropic.respond(() => anthropicError(500));
    ollama.respond(() => ({ body: ollamaMessage({ text: 'Olá from the local model.' }) }));
    const chatId = nextChat++;
    expect((await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'hello?' }))).status).toBe(200);
    expect(await reply(chatId)).toBe('Olá from the local model.');
    const metrics = await worker.metrics();
    expect(
      metric(metrics, 'llm_fallbacks_total{from="anthropic",to="ollama",reason="server_error"}'),
    ).toBeGreaterThan(0);
  });

  it('answers once, with no apology first, a message whose turn met a database fault that passes', async () => {
    anthropic.respond(() => ({ body: anthropicMessage({ text: 'Here is your answer.' }) }));
    // The answer's first write meets a deadlock, once: the turn fails after the model answered.
    const db = app.services.db;
    await db.$executeRawUnsafe('CREATE SEQUENCE turn_fault_once');
    await db.$executeRawUnsafe(`
      CREATE FUNCTION turn_fault_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('turn_fault_once') = 1 THEN
          RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01';
        END IF;
        RETURN NEW;
      END $$`);
    await db.$executeRawUnsafe(
      'CREATE TRIGGER turn_fault_once BEFORE INSERT ON outbound_messages FOR EACH ROW EXECUTE FUNCTION turn_fault_once()',
    );
    try {
      const chatId = nextChat++;
      expect((await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'hello?' }))).status).toBe(
        200,
      );
      // Handled again a few seconds later, and answered then.
      expect(await reply(chatId)).toBe('Here is your answer.');
      await waitFor(
        () => db.inboundEvent.findFirst({ where: { externalChatId: String(chatId), status: 'PROCESSED' } }),
        'the message to be handled',
      );
      // The fault did come, and the person got the answer alone.
      const [fired] = await db.$queryRawUnsafe<{ is_called: boolean }[]>(
        'SELECT is_called FROM turn_fault_once',
      );
      expect(fired?.is_called).toBe(true);
      expect(sent(chatId)).toHaveLength(1);
    } finally {
      await db.$executeRawUnsafe('DROP TRIGGER turn_fault_once ON outbound_messages');
      await db.$executeRawUnsafe('DROP FUNCTION turn_fault_once()');
      await db.$executeRawUnsafe('DROP SEQUENCE turn_fault_once');
    }
  });

  it('tells the person when their message cannot be answered, and keeps it failed with its error', async () => {
    // A 400 means our request is wrong: no fallback, no retry.
    anthropic.respond(() => anthropicError(400, 'messages: text content blocks must be non-empty'));
    const chatId = nextChat++;
    expect((await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'hello?' }))).status).toBe(200);
    expect(await reply(chatId)).toBe(ERROR_REPLY);
    const event = await waitFor(
      () =>
        app.services.db.inboundEvent.findFirst({
          where: { externalChatId: String(chatId), status: 'FAILED' },
        }),
      'the message to be failed',
    );
    expect(event.error).toContain('non-empty');
  });
});
