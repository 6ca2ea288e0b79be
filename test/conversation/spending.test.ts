import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { BudgetExceededError, type LlmRequest } from '../../src/domain/conversation/messages.ts';
import { BUSY_REPLY } from '../../src/domain/conversation/turn.ts';
import { agentEnv, startAppWithWorker, stopAll, TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import { gatewayOver } from '../factories/gateway.ts';
import { anthropicMessage, type ScriptedFake, startFakeAnthropic } from '../fakes/anthropic.ts';
import { type FakeBotApi, postUpdate, startFakeBotApi, textUpdate } from '../fakes/telegram.ts';
import type { TestApp } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { type WorkerApp, waitFor } from '../helpers/jobs.ts';

const DAY = 24 * 3600_000;

let database: TestDatabase;
let model: ScriptedFake;
beforeAll(async () => {
  database = await createTestDatabase();
  model = await startFakeAnthropic();
});
afterAll(async () => {
  await model.close();
  await database.drop();
});

/**
 * A gateway with its own day (each test lives on a day of its own, so platform totals of one test
 * do not reach another), its metrics and captured logs. Every model answer costs `tokens` input
 * tokens.
 */
let nextDay = 0;
function gatewayWith(env: Record<string, string>) {
  const config = loadConfig({
    NODE_ENV: 'test',
    ANTHROPIC_API_KEY: 'sk-ant-test',
    ANTHROPIC_BASE_URL: model.url,
    LLM_USER_DAILY_TOKENS: '8000',
    LLM_NEW_USER_DAILY_TOKENS: '1000',
    ...env,
  });
  return gatewayOver(config, database.prisma, Date.UTC(2030, 0, 1, 8) + nextDay++ * 7 * DAY);
}

/** Each answer uses `tokens` input tokens (and the fake's 6 output tokens). */
function answersCost(tokens: number) {
  model.respond(() => ({ body: anthropicMessage({ text: 'ok', usage: { input_tokens: tokens } }) }));
}

const newUser = () => database.prisma.user.create({ data: { displayName: 'Newcomer' } });
const hello = (userId: string): LlmRequest => ({
  purpose: 'conversation',
  system: [{ text: 'You are a booking assistant.' }],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
  userId,
});

async function counted(counter: Counter, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

/** How many calls of `userId` get through before one is refused, and the refusal. */
async function spendUntilRefused(gateway: ReturnType<typeof gatewayWith>['gateway'], userId: string) {
  for (let calls = 0; calls < 50; calls++) {
    try {
      await gateway.complete(hello(userId));
    } catch (error) {
      if (error instanceof BudgetExceededError) return { calls, scope: error.scope };
      throw error;
    }
  }
  return { calls: 50, scope: null };
}

describe('a new account', () => {
  it('starts with a small daily allowance, not the full budget', async () => {
    const { gateway, metrics } = gatewayWith({});
    const person = await newUser();
    answersCost(494); // 500 tokens a call, with the 6 output tokens
    const before = model.requests.length;
    // 1000 tokens: two calls, then refused, without a model call.
    expect(await spendUntilRefused(gateway, person.id)).toEqual({ calls: 2, scope: 'new_account' });
    expect(model.requests.length).toBe(before + 2);
    expect(await counted(metrics.llmBudgetRefusals, { scope: 'new_account' })).toBe(1);
  });

  it('has its allowance doubled by each earlier day it was used, up to the full budget', async () => {
    const { gateway, advance } = gatewayWith({});
    const person = await newUser();
    answersCost(494);
    const allowed: number[] = [];
    for (let day = 0; day < 6; day++) {
      allowed.push((await spendUntilRefused(gateway, person.id)).calls);
      advance(DAY);
    }
    // 1000, 2000, 4000, then the full 8000 tokens a day.
    expect(allowed).toEqual([2, 4, 8, 16, 16, 16]);
  });

  it('gets nothing from merely being old: only days of use count', async () => {
    const { gateway, now } = gatewayWith({});
    const person = await database.prisma.user.create({
      data: { displayName: 'Old but unused', createdAt: new Date(now().getTime() - 400 * DAY) },
    });
    answersCost(494);
    expect(await spendUntilRefused(gateway, person.id)).toEqual({ calls: 2, scope: 'new_account' });
  });
});

describe('the platform ceiling', () => {
  it('stops every call once the day’s tokens across all accounts reach it, however many sign up', async () => {
    const { gateway, metrics, logs, advance } = gatewayWith({ LLM_PLATFORM_DAILY_TOKENS: '5000' });
    answersCost(494);
    // Ten fresh accounts, each within its own allowance: together they reach the ceiling.
    const outcomes = [];
    for (let i = 0; i < 10; i++) outcomes.push(await spendUntilRefused(gateway, (await newUser()).id));
    expect(outcomes.slice(0, 5)).toEqual(Array(5).fill({ calls: 2, scope: 'new_account' }));
    expect(outcomes.slice(5)).toEqual(Array(5).fill({ calls: 0, scope: 'platform' }));
    expect(await counted(metrics.llmBudgetRefusals, { scope: 'platform' })).toBe(5);
    expect(await counted(metrics.llmPlatformBudgetUsed as unknown as Counter, { limit: 'tokens' })).toBe(1);
    const ceiling = logs.filter((l) => l.msg.includes('platform daily'));
    // Said once, not once per refused call.
    expect(ceiling).toHaveLength(1);
    expect(ceiling[0]).toMatchObject({ level: 50, 'budget.scope': 'platform' });

    // Midnight UTC opens a new day.
    advance(DAY);
    expect((await spendUntilRefused(gateway, (await newUser()).id)).scope).toBe('new_account');
  });

  it('can be set in dollars', async () => {
    // claude-sonnet-4-6: $3 per million input tokens, $15 per million output tokens.
    const { gateway, metrics } = gatewayWith({
      LLM_PLATFORM_DAILY_USD: '0.01',
      LLM_NEW_USER_DAILY_TOKENS: '8000',
    });
    answersCost(994); // 994 × 3 + 6 × 15 = 3072 micro-dollars a call
    const first = await spendUntilRefused(gateway, (await newUser()).id);
    expect(first).toEqual({ calls: 4, scope: 'platform' });
    expect(await counted(metrics.llmPlatformBudgetUsed as unknown as Counter, { limit: 'cost' })).toBeCloseTo(
      (4 * 3072) / 10_000,
    );
  });
});

describe('a person over the ceiling', () => {
  let telegram: FakeBotApi;
  let app: TestApp;
  let worker: WorkerApp;
  const { name: BOT, secret: SECRET } = TELEGRAM_BOT;

  beforeAll(async () => {
    telegram = await startFakeBotApi();
    ({ app, worker } = await startAppWithWorker({
      ...telegramEnv(telegram),
      ...agentEnv(model),
      LLM_PLATFORM_DAILY_TOKENS: '3000',
    }));
  });
  afterAll(() => stopAll(worker, app, telegram));

  const sent = (chatId: number) =>
    telegram.calls.filter((c) => c.method === 'sendMessage' && String(c.params.chat_id) === String(chatId));
  async function reply(chatId: number, n: number): Promise<string> {
    const call = await waitFor(() => Promise.resolve(sent(chatId)[n - 1]), `reply ${n}`, 15_000);
    return String(call.params.text).replace(/\\([_*[\]()~`>#+\-=|{}.!\\])/g, '$1');
  }

  it('is told the assistant is busy (a message, not silence), and operators see it on /metrics', async () => {
    model.respond(() => ({ body: anthropicMessage({ text: 'Hi!', usage: { input_tokens: 2994 } }) }));
    const chatId = 700_000_000 + Math.floor(Math.random() * 1_000_000);
    await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId, text: 'hello' }));
    expect(await reply(chatId, 1)).toBe('Hi!');

    const before = model.requests.length;
    const other = chatId + 1;
    await postUpdate(app.url, BOT, SECRET, textUpdate({ chatId: other, text: 'hello' }));
    expect(await reply(other, 1)).toBe(BUSY_REPLY);
    expect(model.requests.length).toBe(before);
    expect(await worker.metrics()).toMatch(/llm_budget_refusals_total\{scope="platform"\} 1/);
    expect(await worker.metrics()).toMatch(/llm_platform_budget_used_ratio\{limit="tokens"\} 1/);
  });
});
