/**
 * `npm run chat` as a person uses it: the real script in a child process, lines on its stdin, the
 * conversation on its stdout, the consumer agent behind it talking to the Anthropic fake, and the
 * database checked afterwards for what the turns left (tool audit, the send queue).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyringSpec } from '../../src/domain/agents/secrets.ts';
import { drainSends } from '../../src/domain/channels/outbound.ts';
import { UNAVAILABLE_REPLY } from '../../src/domain/conversation/turn.ts';
import { generateSigningKey } from '../../src/domain/identity/signing-keys.ts';
import { generateFernetKey } from '../../src/platform/fernet.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createTokenBuckets } from '../../src/platform/token-bucket.ts';
import { anthropicError, anthropicMessage, type FakeReply, startFakeAnthropic } from '../fakes/anthropic.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testRedisUrl } from '../helpers/env.ts';
import { createTestRedis } from '../helpers/redis.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROMPT = 'you> ';
const NAME = `tester-${randomBytes(4).toString('hex')}`;

let database: TestDatabase;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let model: Awaited<ReturnType<typeof startFakeAnthropic>>;
let chat: ChildProcessWithoutNullStreams;
let stdout = '';
let stderr = '';
let exited: Promise<number | null>;
/** Requests the model refuses (overloaded) before it answers again. */
let overloaded = 0;
/** Runs while the model is being asked, i.e. in the middle of a turn. */
let duringModelCall: (() => Promise<void>) | null = null;

const say = (text: string): FakeReply => ({ body: anthropicMessage({ text }) });

/** Resolves with everything the script prints from `from` until its next prompt. */
function untilPrompt(from: number, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const printed = stdout.slice(from);
      if (!printed.endsWith(PROMPT)) return;
      done();
      resolve(printed.slice(0, -PROMPT.length));
    };
    const fail = (why: string) => () => {
      done();
      reject(new Error(`${why}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    };
    const timer = setTimeout(fail('no prompt came'), timeoutMs);
    const onExit = fail('the script exited');
    const done = () => {
      clearTimeout(timer);
      chat.stdout.off('data', check);
      chat.off('exit', onExit);
    };
    chat.stdout.on('data', check);
    chat.on('exit', onExit);
    check();
  });
}

/** Types a line and returns what the script printed in answer, up to its next prompt. */
async function type(line: string): Promise<string> {
  const from = stdout.length;
  chat.stdin.write(`${line}\n`);
  return untilPrompt(from);
}

const consoleChat = () =>
  database.prisma.chat.findUniqueOrThrow({
    where: {
      platform_account_externalChatId: { platform: 'CONSOLE', account: 'terminal', externalChatId: NAME },
    },
  });

/** What a worker's chat-send job does for the chat: there is no CONSOLE sender. */
const drainChat = async (chatId: string, retryLater: (delayMs: number) => Promise<void>) => {
  const { sent, retryAfterMs } = await drainSends(
    {
      database,
      senders: {},
      buckets: createTokenBuckets(redis),
      logger: createLogger('silent'),
      now: () => new Date(),
    },
    chatId,
  );
  // What the task does with the outcome: schedule the chat's next drain.
  if (retryAfterMs !== null) await retryLater(retryAfterMs);
  return sent;
};

const consoleUser = async () =>
  (
    await database.prisma.channelIdentity.findUniqueOrThrow({
      where: { platform_externalId: { platform: 'CONSOLE', externalId: NAME } },
    })
  ).userId;

beforeAll(async () => {
  [database, redis, model] = await Promise.all([
    createTestDatabase(),
    createTestRedis(),
    startFakeAnthropic(),
  ]);
  const jwt = await generateSigningKey();
  // A model that looks the person's bookings up when asked about them, and otherwise says hello.
  model.respond(async (body: { messages: { role: string; content: string | { type: string }[] }[] }) => {
    await duringModelCall?.();
    if (overloaded > 0) {
      overloaded -= 1;
      return anthropicError(529);
    }
    const last = body.messages.at(-1)!;
    const blocks = typeof last.content === 'string' ? [] : last.content;
    if (blocks.some((block) => block.type === 'tool_result')) return say('You have no bookings coming up.');
    if (JSON.stringify(last.content).includes('my bookings')) {
      return { body: anthropicMessage({ toolUses: [{ name: 'list_my_bookings', input: {} }] }) };
    }
    return say('Hello from the model!');
  });

  chat = spawn('node_modules/.bin/node', ['scripts/chat.ts', '--as', NAME], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: database.url,
      REDIS_URL: testRedisUrl(),
      REDIS_KEY_PREFIX: redis.keyPrefix,
      SEED_DEMO: 'false',
      SESSION_KEYS: generateFernetKey(),
      AGENT_SECRET_KEYS: generateKeyringSpec(),
      JWT_PRIVATE_KEY: jwt.privateKeyPem,
      JWT_KEY_ID: jwt.keyId,
      ANTHROPIC_API_KEY: 'sk-ant-test-key',
      ANTHROPIC_BASE_URL: model.url,
      LOG_LEVEL: 'silent',
      AGENT_UNAVAILABLE_RETRY_MS: '300',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  chat.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  chat.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  exited = new Promise((resolve) => chat.once('exit', (code) => resolve(code)));
  const banner = await untilPrompt(0, 20_000);
  expect(banner).toContain(`talking to your consumer agent as "${NAME}"`);
}, 30_000);

afterAll(async () => {
  if (chat && chat.exitCode === null) chat.kill('SIGKILL');
  await model?.close();
  await redis?.close();
  await database?.drop();
});

describe('npm run chat', () => {
  it("prints the model's answer to a plain message", async () => {
    const answer = await type('hi there');
    expect(answer).toBe('agnt> Hello from the model!\n');
    expect(model.requests).toHaveLength(1);
    expect(JSON.stringify(model.requests[0]!.body.messages)).toContain('hi there');
  });

  it('answers /help without asking the model, and /press with no buttons without sending anything', async () => {
    const before = model.requests.length;
    const help = await type('/help');
    expect(help).toMatch(/^agnt> Just write to me as you would to a friend\. I can:\n/);
    expect(help).toContain('\n      /reset — start our conversation afresh\n');
    expect(await type('/press 1')).toBe('(the last reply has no buttons)\n');
    expect(model.requests.length).toBe(before);
  });

  it('runs a tool the model calls, prints the answer that follows, and audits the call for the person', async () => {
    const before = model.requests.length;
    const answer = await type('what are my bookings?');
    expect(answer).toBe('agnt> You have no bookings coming up.\n');
    expect(model.requests.length).toBe(before + 2);

    const userId = await consoleUser();
    const calls = await database.prisma.toolCall.findMany({ where: { userId } });
    expect(calls).toMatchObject([{ tool: 'list_my_bookings', outcome: 'OK', input: {} }]);
  });

  it('with no model answering, says so, waits and tries the same message again, answering it once', async () => {
    overloaded = 1;
    const answer = await type('anyone there?');
    expect(answer).toBe(
      [
        `agnt> ${UNAVAILABLE_REPLY}`,
        '(waiting 1 s: no language model available)',
        'agnt> Hello from the model!',
        '',
      ].join('\n'),
    );
    // One event for both tries: the apology and the answer are keyed by the same id.
    const rows = await database.prisma.outboundMessage.findMany({
      where: { userId: await consoleUser(), kind: { in: ['unavailable', 'reply'] } },
      orderBy: { createdAt: 'desc' },
      take: 2,
    });
    const [reply, apology] = rows.map((row) => row.dedupeKey.split(':'));
    expect(apology![0]).toBe('unavailable');
    expect(reply).toEqual(['reply', apology![1]]);
  });

  it("holds the chat's send lock through a turn: a worker's drain meanwhile comes back later instead of failing the reply", async () => {
    const chatId = (await consoleChat()).id;
    const outcomes: (number | null)[] = [];
    const retries: number[] = [];
    duringModelCall = async () => {
      outcomes.push(
        await drainChat(chatId, async (delayMs) => {
          retries.push(delayMs);
        }),
      );
    };
    try {
      expect(await type('still there?')).toBe('agnt> Hello from the model!\n');
    } finally {
      duringModelCall = null;
    }
    expect(outcomes).toEqual([null]);
    expect(retries).toEqual([1000]);
  });

  it('leaves the send queue nothing to deliver: every reply is SENT, and a drain of the chat sends none', async () => {
    const userId = await consoleUser();
    const chatRow = await consoleChat();
    expect(chatRow.userId).toBe(userId);
    const rows = await database.prisma.outboundMessage.findMany({
      where: { userId },
      orderBy: { createdAt: 'asc' },
    });
    expect(rows.map((row) => [row.kind, row.status, row.chatId])).toEqual([
      ['reply', 'SENT', chatRow.id],
      ['command', 'SENT', chatRow.id],
      ['reply', 'SENT', chatRow.id],
      ['unavailable', 'SENT', chatRow.id],
      ['reply', 'SENT', chatRow.id],
      ['reply', 'SENT', chatRow.id],
    ]);
    for (const row of rows) expect(row.sentAt).toBeInstanceOf(Date);

    // The chat-send job the replies enqueued, run as a worker would: nothing pending for it to fail.
    expect(await drainChat(chatRow.id, () => Promise.reject(new Error('the drain should not wait')))).toBe(0);
    expect(await database.prisma.outboundMessage.count({ where: { userId, status: { not: 'SENT' } } })).toBe(
      0,
    );
  });

  it('exits with code 0 on /quit', async () => {
    chat.stdin.write('/quit\n');
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
  });
});
