/**
 * The LLM gateway against loopback Anthropic and Ollama servers (the real SDK and fetch over real
 * HTTP) and a real database: what each provider is sent, what comes back, the usage ledger, the
 * fallback and its breaker, and the budgets.
 */
import { createServer } from 'node:http';
import type { Counter } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createLlmGateway } from '../../src/domain/conversation/gateway.ts';
import {
  BudgetExceededError,
  type LlmRequest,
  LlmUnavailableError,
} from '../../src/domain/conversation/messages.ts';
import { createModelRouter, LlmRequestError } from '../../src/integrations/llm/router.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { gatewayOver } from '../factories/gateway.ts';
import {
  anthropicError,
  anthropicMessage,
  type FakeReply,
  type ScriptedFake,
  startFakeAnthropic,
} from '../fakes/anthropic.ts';
import { ollamaError, ollamaMessage, startFakeOllama } from '../fakes/ollama.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const API_KEY = 'sk-ant-test-0123456789abcdef';
// Half an hour into the second UTC day of a month: yesterday is this month, last month is a day away.
const START = new Date('2026-12-02T00:30:00.000Z');
const YESTERDAY = new Date('2026-12-01T23:59:00.000Z');
const LAST_MONTH = new Date('2026-11-30T23:59:00.000Z');

let database: TestDatabase;
let anthropic: ScriptedFake;
let ollama: ScriptedFake;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});
beforeEach(async () => {
  anthropic = await startFakeAnthropic();
  ollama = await startFakeOllama();
});
afterEach(async () => {
  await anthropic.close();
  await ollama.close();
});

/** A gateway over the fakes (or whichever are given), its metrics, captured logs and clock. */
function gatewayWith(
  options: { anthropic?: string | null; ollama?: string | null; env?: Record<string, string> } = {},
) {
  const anthropicUrl = options.anthropic === undefined ? anthropic.url : options.anthropic;
  const ollamaUrl = options.ollama === undefined ? ollama.url : options.ollama;
  const config = loadConfig({
    NODE_ENV: 'test',
    ...(anthropicUrl ? { ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: anthropicUrl } : {}),
    ...(ollamaUrl ? { OLLAMA_URL: ollamaUrl, OLLAMA_MODEL: 'qwen3:8b' } : {}),
    LLM_TIMEOUT_MS: '2000',
    LLM_BREAKER_FAILURES: '3',
    LLM_BREAKER_COOLDOWN_MS: '30000',
    LLM_USER_DAILY_TOKENS: '10000',
    LLM_ORG_MONTHLY_TOKENS: '100000',
    ...options.env,
  });
  return gatewayOver(config, database.prisma, START.getTime());
}

async function newUser() {
  return database.prisma.user.create({ data: { displayName: 'Ana' } });
}

async function newOrganization() {
  return database.prisma.organization.create({ data: { name: `Org ${Math.random()}` } });
}

function hello(extra: Partial<LlmRequest> = {}): LlmRequest {
  return {
    purpose: 'conversation',
    system: [{ text: 'You are a booking assistant.', cache: true }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
    ...extra,
  };
}

/** A counter's value summed over the series matching `labels`. */
async function counted(counter: Counter, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A URL where nothing listens. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const WARN = 40;
const ERROR = 50;

describe('Anthropic requests', () => {
  it('sends the system prompt with a breakpoint at the end of its stable prefix, tools, images and tool results', async () => {
    const { gateway } = gatewayWith();
    await gateway.complete({
      purpose: 'conversation',
      system: [
        { text: 'You are a booking assistant.', cache: true },
        { text: 'Rules: never book without asking.', cache: true },
        { text: 'Today is Tuesday; the person is in Lisbon.' },
      ],
      tools: [
        {
          name: 'search_venues',
          description: 'Finds venues.',
          inputSchema: { type: 'object', properties: { query: { type: 'string' } } },
        },
        {
          name: 'book_table',
          description: 'Books a table.',
          inputSchema: { type: 'object', properties: { venueId: { type: 'string' } } },
        },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Is this place open?' },
            { type: 'image', mediaType: 'image/jpeg', data: 'aGVsbG8=' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me look.' },
            { type: 'tool_use', id: 'toolu_01', name: 'search_venues', input: { query: 'Tasca' } },
            { type: 'tool_use', id: 'toolu_02', name: 'book_table', input: { venueId: 'v1' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolUseId: 'toolu_01', content: '{"venues":[]}' },
            { type: 'tool_result', toolUseId: 'toolu_02', content: '{"error":"closed"}', isError: true },
          ],
        },
      ],
    });

    expect(anthropic.requests).toHaveLength(1);
    const [request] = anthropic.requests;
    expect(request!.path).toBe('/v1/messages');
    expect(request!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request!.headers['anthropic-version']).toEqual(expect.any(String));
    expect(request!.body).toEqual({
      model: 'claude-sonnet-4-6',
      max_tokens: 1024,
      system: [
        { type: 'text', text: 'You are a booking assistant.' },
        { type: 'text', text: 'Rules: never book without asking.', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'Today is Tuesday; the person is in Lisbon.' },
      ],
      tools: [
        {
          name: 'search_venues',
          description: 'Finds venues.',
          input_schema: { type: 'object', properties: { query: { type: 'string' } } },
        },
        {
          name: 'book_table',
          description: 'Books a table.',
          input_schema: { type: 'object', properties: { venueId: { type: 'string' } } },
          cache_control: { type: 'ephemeral' },
        },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Is this place open?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'aGVsbG8=' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me look.' },
            { type: 'tool_use', id: 'toolu_01', name: 'search_venues', input: { query: 'Tasca' } },
            { type: 'tool_use', id: 'toolu_02', name: 'book_table', input: { venueId: 'v1' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01', content: '{"venues":[]}' },
            { type: 'tool_result', tool_use_id: 'toolu_02', content: '{"error":"closed"}', is_error: true },
          ],
        },
      ],
      // Conversation calls cache up to their last message, for the next round of the tool loop.
      cache_control: { type: 'ephemeral' },
    });
  });

  it('puts no system breakpoint when the first part changes per turn', async () => {
    const { gateway } = gatewayWith();
    await gateway.complete(
      hello({
        system: [{ text: 'Now: 10:31' }, { text: 'Persona', cache: true }],
      }),
    );
    expect(anthropic.requests[0]!.body.system).toEqual([
      { type: 'text', text: 'Now: 10:31' },
      { type: 'text', text: 'Persona' },
    ]);
  });

  it('picks the model by purpose: cheap calls go to the cheap model, without conversation caching', async () => {
    const { gateway } = gatewayWith();
    const response = await gateway.complete(hello({ purpose: 'cheap', maxTokens: 400 }));
    const { body } = anthropic.requests[0]!;
    expect(body.model).toBe('claude-haiku-4-5');
    expect(body.max_tokens).toBe(400);
    expect(body.cache_control).toBeUndefined();
    expect(body.tools).toBeUndefined();
    expect(response.model).toBe('claude-haiku-4-5');

    await gateway.complete(hello({ purpose: 'conversation' }));
    expect(anthropic.requests[1]!.body.model).toBe('claude-sonnet-4-6');
  });

  it('translates tool_use answers, stop reasons and usage', async () => {
    const { gateway } = gatewayWith();
    anthropic.enqueue(
      {
        body: anthropicMessage({
          text: 'Let me look that up.',
          toolUses: [{ id: 'toolu_abc', name: 'search_venues', input: { query: 'sushi' } }],
          usage: {
            input_tokens: 1000,
            output_tokens: 200,
            cache_read_input_tokens: 5000,
            cache_creation_input_tokens: 2000,
          },
        }),
      },
      { body: anthropicMessage({ text: 'Cut off', stopReason: 'max_tokens' }) },
      { body: anthropicMessage({ text: 'Paused', stopReason: 'pause_turn' }) },
    );
    const response = await gateway.complete(hello());
    expect(response).toEqual({
      content: [
        { type: 'text', text: 'Let me look that up.' },
        { type: 'tool_use', id: 'toolu_abc', name: 'search_venues', input: { query: 'sushi' } },
      ],
      stopReason: 'tool_use',
      usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 5000, cacheWriteTokens: 2000 },
      provider: 'anthropic',
      model: 'claude-sonnet-4-6',
    });
    expect((await gateway.complete(hello())).stopReason).toBe('max_tokens');
    expect((await gateway.complete(hello())).stopReason).toBe('other');
  });
});

describe('the usage ledger', () => {
  it('records one row per answered call, with its cost, for the person and organisation', async () => {
    const { gateway, metrics } = gatewayWith();
    const user = await newUser();
    const organization = await newOrganization();
    anthropic.enqueue({
      body: anthropicMessage({
        text: 'Hi',
        usage: {
          input_tokens: 1000,
          output_tokens: 200,
          cache_read_input_tokens: 5000,
          cache_creation_input_tokens: 2000,
        },
      }),
    });
    await gateway.complete(hello({ userId: user.id, organizationId: organization.id }));

    const rows = await database.prisma.llmUsage.findMany({ where: { userId: user.id } });
    expect(rows).toEqual([
      expect.objectContaining({
        userId: user.id,
        organizationId: organization.id,
        purpose: 'conversation',
        provider: 'anthropic',
        model: 'claude-sonnet-4-6',
        inputTokens: 1000,
        outputTokens: 200,
        cacheReadTokens: 5000,
        cacheWriteTokens: 2000,
        // $3 in, $15 out per Mtok: 1000×3 + 200×15 + 5000×0.3 (reads) + 2000×3.75 (writes).
        costMicros: 15_000n,
        createdAt: START,
      }),
    ]);
    expect(await counted(metrics.llmTokens, { provider: 'anthropic', kind: 'cache_read' })).toBe(5000);
    expect(await counted(metrics.llmCalls, { provider: 'anthropic', outcome: 'ok' })).toBe(1);
  });

  it('prices a dated model name by its family, and LLM_PRICES overrides the built-in table', async () => {
    const { gateway } = gatewayWith({ env: { LLM_PRICES: '{"claude-haiku-4-5":{"input":2,"output":10}}' } });
    const user = await newUser();
    anthropic.enqueue({
      body: anthropicMessage({
        text: 'Hi',
        model: 'claude-haiku-4-5-20251001',
        usage: { input_tokens: 100, output_tokens: 10 },
      }),
    });
    await gateway.complete(hello({ purpose: 'cheap', userId: user.id }));
    const row = await database.prisma.llmUsage.findFirstOrThrow({ where: { userId: user.id } });
    expect(row.model).toBe('claude-haiku-4-5-20251001');
    expect(row.costMicros).toBe(100n * 2n + 10n * 10n);
  });

  it('records calls to an unknown model at no cost, warning once', async () => {
    const { gateway, logs } = gatewayWith();
    const user = await newUser();
    const model = `claude-unknown-${Date.now()}`;
    anthropic.respond(() => ({ body: anthropicMessage({ text: 'Hi', model }) }));
    await gateway.complete(hello({ userId: user.id }));
    await gateway.complete(hello({ userId: user.id }));
    const rows = await database.prisma.llmUsage.findMany({ where: { userId: user.id } });
    expect(rows.map((r) => r.costMicros)).toEqual([0n, 0n]);
    expect(logs.filter((l) => l['llm.model'] === model && l.level === WARN)).toHaveLength(1);
  });
});

describe('Ollama', () => {
  it('is sent the conversation in its own shapes, and its tool calls come back with ids', async () => {
    const { gateway } = gatewayWith({ anthropic: null });
    const user = await newUser();
    ollama.enqueue({
      body: ollamaMessage({
        toolCalls: [
          { name: 'search_venues', arguments: { query: 'ramen' } },
          { name: 'search_venues', arguments: { query: 'udon' } },
        ],
        promptTokens: 321,
        evalTokens: 45,
      }),
    });
    const response = await gateway.complete({
      purpose: 'conversation',
      userId: user.id,
      system: [{ text: 'You are a booking assistant.', cache: true }, { text: 'Today is Tuesday.' }],
      tools: [{ name: 'search_venues', description: 'Finds venues.', inputSchema: { type: 'object' } }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Is this place open?' },
            { type: 'image', mediaType: 'image/png', data: 'aGVsbG8=' },
          ],
        },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_01', name: 'search_venues', input: { query: 'Tasca' } }],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', toolUseId: 'toolu_01', content: 'timed out', isError: true }],
        },
      ],
    });

    expect(ollama.requests).toHaveLength(1);
    expect(ollama.requests[0]!.body).toEqual({
      model: 'qwen3:8b',
      stream: false,
      options: { num_predict: 1024 },
      tools: [
        {
          type: 'function',
          function: { name: 'search_venues', description: 'Finds venues.', parameters: { type: 'object' } },
        },
      ],
      messages: [
        { role: 'system', content: 'You are a booking assistant.\n\nToday is Tuesday.' },
        { role: 'user', content: 'Is this place open?', images: ['aGVsbG8='] },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ function: { name: 'search_venues', arguments: { query: 'Tasca' } } }],
        },
        { role: 'tool', content: 'Error: timed out', tool_name: 'search_venues' },
      ],
    });

    expect(response.provider).toBe('ollama');
    expect(response.stopReason).toBe('tool_use');
    expect(response.usage).toEqual({
      inputTokens: 321,
      outputTokens: 45,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
    const uses = response.content.filter((b) => b.type === 'tool_use');
    expect(uses.map((u) => u.input)).toEqual([{ query: 'ramen' }, { query: 'udon' }]);
    for (const use of uses) expect(use.id).toMatch(/^toolu_[A-Za-z0-9_-]+$/);
    expect(new Set(uses.map((u) => u.id)).size).toBe(2);

    const row = await database.prisma.llmUsage.findFirstOrThrow({ where: { userId: user.id } });
    expect(row).toEqual(
      expect.objectContaining({ provider: 'ollama', model: 'qwen3:8b', inputTokens: 321, costMicros: 0n }),
    );
  });

  it('uses its one model for every purpose and answers plain text as end_turn', async () => {
    const { gateway } = gatewayWith({ anthropic: null });
    ollama.enqueue({ body: ollamaMessage({ text: '<think>they want a summary</think>Summary: sushi.' }) });
    const response = await gateway.complete(hello({ purpose: 'cheap', maxTokens: 300 }));
    expect(ollama.requests[0]!.body.model).toBe('qwen3:8b');
    expect(ollama.requests[0]!.body.options).toEqual({ num_predict: 300 });
    expect(response.content).toEqual([{ type: 'text', text: 'Summary: sushi.' }]);
    expect(response.stopReason).toBe('end_turn');
  });
});

describe('fallback to Ollama', () => {
  it.each([
    ['server_error', anthropicError(500)],
    ['server_error', anthropicError(503)],
    ['overloaded', anthropicError(529)],
    ['rate_limited', anthropicError(429)],
    ['timeout', { body: anthropicMessage({ text: 'too late' }), delayMs: 1500 }],
  ] as [string, FakeReply][])('answers from Ollama when Anthropic fails with %s', async (reason, reply) => {
    const timeout: Record<string, string> = reason === 'timeout' ? { LLM_TIMEOUT_MS: '300' } : {};
    const { gateway, metrics, logs } = gatewayWith({ env: timeout });
    const user = await newUser();
    anthropic.enqueue(reply);
    ollama.enqueue({ body: ollamaMessage({ text: 'Olá from Ollama' }) });

    const response = await gateway.complete(hello({ userId: user.id }));

    expect(response.provider).toBe('ollama');
    expect(response.content).toEqual([{ type: 'text', text: 'Olá from Ollama' }]);
    expect(anthropic.requests).toHaveLength(1);
    expect(ollama.requests).toHaveLength(1);
    expect(await counted(metrics.llmFallbacks, { from: 'anthropic', to: 'ollama', reason })).toBe(1);
    expect(await counted(metrics.llmCalls, { provider: 'anthropic', outcome: 'failed' })).toBe(1);
    expect(await counted(metrics.llmCalls, { provider: 'ollama', outcome: 'ok' })).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: WARN,
        'llm.provider': 'anthropic',
        'llm.reason': reason,
        'llm.fallback': 'ollama',
      }),
    );
    // Only the answer is charged.
    const rows = await database.prisma.llmUsage.findMany({ where: { userId: user.id } });
    expect(rows.map((r) => r.provider)).toEqual(['ollama']);
  });

  it('answers from Ollama when Anthropic is unreachable', async () => {
    const { gateway, metrics } = gatewayWith({ anthropic: await deadUrl() });
    const response = await gateway.complete(hello());
    expect(response.provider).toBe('ollama');
    expect(await counted(metrics.llmFallbacks, { reason: 'network' })).toBe(1);
  });

  it('falls back on a refused key, and logs it as an error', async () => {
    const { gateway, metrics, logs } = gatewayWith();
    anthropic.enqueue(anthropicError(401, 'invalid x-api-key'));
    const response = await gateway.complete(hello());
    expect(response.provider).toBe('ollama');
    expect(await counted(metrics.llmFallbacks, { reason: 'misconfigured' })).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: ERROR, 'llm.provider': 'anthropic', 'llm.reason': 'misconfigured' }),
    );
  });

  it('goes straight to Ollama when Anthropic is not configured (Ollama is then the provider, not a fallback)', async () => {
    const { gateway, metrics } = gatewayWith({ anthropic: null });
    const response = await gateway.complete(hello());
    expect(response.provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(0);
    expect(await counted(metrics.llmCalls, { provider: 'ollama', outcome: 'ok' })).toBe(1);
    expect(await counted(metrics.llmFallbacks, {})).toBe(0);
    expect(gatewayWith({ anthropic: null }).gateway.status().anthropic).toBeNull();
  });

  it('does not fall back when Anthropic rejects the request itself (400): that is our bug', async () => {
    const { gateway, metrics } = gatewayWith();
    anthropic.enqueue(anthropicError(400, 'messages: roles must alternate'));
    const failure = gateway.complete(hello());
    await expect(failure).rejects.toBeInstanceOf(LlmRequestError);
    await expect(failure).rejects.toMatchObject({ provider: 'anthropic', status: 400 });
    expect(ollama.requests).toHaveLength(0);
    expect(await counted(metrics.llmCalls, { provider: 'anthropic', outcome: 'rejected' })).toBe(1);
    expect(gateway.status().anthropic?.consecutiveFailures).toBe(0);
  });
});

describe('the circuit breaker', () => {
  it('opens after N failures, skips Anthropic until the cooldown, then lets one trial through', async () => {
    const { gateway, metrics, advance } = gatewayWith();
    anthropic.enqueue(anthropicError(529), anthropicError(529), anthropicError(529));

    for (let i = 0; i < 3; i++) expect((await gateway.complete(hello())).provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(3);
    expect(gateway.status()).toMatchObject({
      available: true,
      anthropic: {
        state: 'open',
        consecutiveFailures: 3,
        retryAt: new Date(START.getTime() + 30_000),
        models: ['claude-sonnet-4-6', 'claude-haiku-4-5'],
      },
      ollama: { state: 'closed', models: ['qwen3:8b'] },
    });

    // Open: Anthropic is not even asked.
    advance(29_999);
    expect((await gateway.complete(hello())).provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(3);
    expect(await counted(metrics.llmFallbacks, { reason: 'circuit_open' })).toBe(1);

    // Half-open: the trial fails, and the circuit opens for another cooldown.
    advance(1);
    expect(gateway.status().anthropic?.state).toBe('half_open');
    anthropic.enqueue(anthropicError(500));
    expect((await gateway.complete(hello())).provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(4);
    expect(gateway.status().anthropic?.state).toBe('open');
    expect((await gateway.complete(hello())).provider).toBe('ollama');
    expect(anthropic.requests).toHaveLength(4);

    // The next trial succeeds and closes it.
    advance(30_000);
    expect((await gateway.complete(hello())).provider).toBe('anthropic');
    expect(anthropic.requests).toHaveLength(5);
    expect(gateway.status().anthropic).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect((await gateway.complete(hello())).provider).toBe('anthropic');
  });
});

describe('when nothing can answer', () => {
  it('throws LlmUnavailableError when neither provider is reachable, and records nothing', async () => {
    const { gateway, metrics } = gatewayWith({ anthropic: await deadUrl(), ollama: await deadUrl() });
    const user = await newUser();
    await expect(gateway.complete(hello({ userId: user.id }))).rejects.toBeInstanceOf(LlmUnavailableError);
    expect(await counted(metrics.llmCalls, { outcome: 'failed' })).toBe(2);
    expect(await database.prisma.llmUsage.count({ where: { userId: user.id } })).toBe(0);
  });

  it('throws LlmUnavailableError when Anthropic fails and no Ollama is configured', async () => {
    const { gateway } = gatewayWith({ ollama: null });
    anthropic.enqueue(anthropicError(529));
    await expect(gateway.complete(hello())).rejects.toBeInstanceOf(LlmUnavailableError);
  });

  it('throws LlmUnavailableError when Ollama fails too', async () => {
    const { gateway } = gatewayWith();
    anthropic.enqueue(anthropicError(500));
    ollama.enqueue(ollamaError(404, 'model "qwen3:8b" not found, try pulling it first'));
    await expect(gateway.complete(hello())).rejects.toBeInstanceOf(LlmUnavailableError);
    expect(ollama.requests).toHaveLength(1);
  });

  it('throws LlmUnavailableError when Ollama, the only provider, times out', async () => {
    const { gateway } = gatewayWith({ anthropic: null, env: { LLM_TIMEOUT_MS: '300' } });
    ollama.enqueue({ body: ollamaMessage({ text: 'too late' }), delayMs: 1500 });
    const failure = gateway.complete(hello());
    await expect(failure).rejects.toBeInstanceOf(LlmUnavailableError);
    await expect(failure).rejects.toMatchObject({ cause: { name: 'OllamaCallError', reason: 'timeout' } });
  });

  it('throws LlmUnavailableError when no provider is configured, and says so in /readyz', async () => {
    const { gateway } = gatewayWith({ anthropic: null, ollama: null });
    await expect(gateway.complete(hello())).rejects.toThrow('No language model is configured');
    expect(gateway.status()).toEqual({ available: false, anthropic: null, ollama: null });
  });
});

describe('budgets', () => {
  async function spent(
    tokens: number,
    at: Date,
    who: { userId?: string; organizationId?: string },
    kind: 'input' | 'cache_read' = 'input',
  ) {
    await database.prisma.llmUsage.create({
      data: {
        ...who,
        purpose: 'conversation',
        provider: 'anthropic',
        model: 'claude-sonnet-4-6',
        inputTokens: kind === 'input' ? tokens : 0,
        outputTokens: 0,
        cacheReadTokens: kind === 'cache_read' ? tokens : 0,
        costMicros: 0n,
        createdAt: at,
      },
    });
  }

  it("refuses a person over today's budget without calling any model", async () => {
    const { gateway, metrics } = gatewayWith();
    const user = await newUser();
    await spent(6_000, new Date(START.getTime() - 10 * 60_000), { userId: user.id });
    await spent(4_000, START, { userId: user.id });

    const failure = gateway.complete(hello({ userId: user.id }));
    await expect(failure).rejects.toBeInstanceOf(BudgetExceededError);
    await expect(failure).rejects.toMatchObject({ scope: 'user' });
    expect(anthropic.requests).toHaveLength(0);
    expect(ollama.requests).toHaveLength(0);
    expect(await counted(metrics.llmBudgetRefusals, { scope: 'user' })).toBe(1);
  });

  it("refuses an organisation over this month's budget without calling any model", async () => {
    const { gateway } = gatewayWith();
    const user = await newUser();
    const organization = await newOrganization();
    // Spent by others in the organisation, earlier this month.
    await spent(100_000, YESTERDAY, { organizationId: organization.id });

    const failure = gateway.complete(hello({ userId: user.id, organizationId: organization.id }));
    await expect(failure).rejects.toMatchObject({ name: 'BudgetExceededError', scope: 'organization' });
    expect(anthropic.requests).toHaveLength(0);
    expect(ollama.requests).toHaveLength(0);
  });

  it("does not count a person's usage of yesterday, an organisation's of last month, or cache reads", async () => {
    const { gateway } = gatewayWith();
    const user = await newUser();
    const organization = await newOrganization();
    await spent(50_000, YESTERDAY, { userId: user.id });
    await spent(500_000, LAST_MONTH, { organizationId: organization.id });
    await spent(99_000, YESTERDAY, { organizationId: organization.id });
    await spent(50_000, START, { userId: user.id }, 'cache_read');
    await spent(9_999, START, { userId: user.id });

    const response = await gateway.complete(hello({ userId: user.id, organizationId: organization.id }));
    expect(response.provider).toBe('anthropic');
    // That call's own tokens (12 in, 6 out) take the person over for the rest of the day.
    await expect(gateway.complete(hello({ userId: user.id }))).rejects.toBeInstanceOf(BudgetExceededError);
  });

  it('a new UTC day gives the person a fresh budget', async () => {
    const { gateway, advance } = gatewayWith();
    const user = await newUser();
    await spent(10_000, START, { userId: user.id });
    await expect(gateway.complete(hello({ userId: user.id }))).rejects.toBeInstanceOf(BudgetExceededError);
    advance(24 * 3600_000);
    expect((await gateway.complete(hello({ userId: user.id }))).provider).toBe('anthropic');
  });
});

describe('the fakes', () => {
  it('refuse a request without an API key, as Anthropic does', async () => {
    const response = await fetch(`${anthropic.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [] }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const withKey = await fetch(`${anthropic.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' },
      body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(withKey.status).toBe(200);
    expect(anthropic.requests).toHaveLength(2);
  });
});

// The real logger is quiet in tests; this only checks the gateway takes it.
it('works with the application logger and no metrics', async () => {
  const { llm } = loadConfig({ NODE_ENV: 'test', OLLAMA_URL: ollama.url });
  const logger = createLogger('silent');
  const gateway = createLlmGateway({
    models: createModelRouter(llm, { logger }),
    budgets: llm.budgets,
    prices: llm.prices,
    maxOutputTokens: llm.maxOutputTokens,
    db: database.prisma,
    logger,
  });
  expect((await gateway.complete(hello())).provider).toBe('ollama');
});
