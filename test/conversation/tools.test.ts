/**
 * The tool framework: the 19 consumer tools as the model sees them (names, JSON schemas with
 * bounds on every string), each a definition of the one tool contract with an output schema and
 * its callers, and how a call is run (strings cleaned of control characters, invalid input,
 * timeouts and answers that break the output schema returned as results, an audit row for every
 * call).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONSUMER_TOOLS } from '../../src/domain/agents/dna.ts';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { runToolCall, type ToolContext, toolSpecs } from '../../src/domain/conversation/tools.ts';
import { defineTool, jsonSchema, sanitize } from '../../src/domain/tools/contract.ts';
import { networkTools } from '../../src/domain/tools/network.ts';
import { runTool } from '../../src/domain/tools/run.ts';
import { toolContext } from '../factories/tools.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let userId: string;
beforeAll(async () => {
  app = await startTestApp();
  userId = (await app.services.db.user.create({ data: { displayName: 'Tess' } })).id;
});
afterAll(() => app.close());

const context = (): ToolContext => toolContext(userId);

/** Every string schema under `schema` that has no bound on its length. */
function unboundedStrings(schema: unknown, path = '$'): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const node = schema as Record<string, unknown>;
  const found: string[] = [];
  if (node.type === 'string' && node.maxLength === undefined && !node.enum && !node.format && !node.pattern) {
    found.push(path);
  }
  for (const [key, value] of Object.entries(node)) {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) found.push(...unboundedStrings(v, `${path}.${key}[${i}]`));
    } else if (value && typeof value === 'object') found.push(...unboundedStrings(value, `${path}.${key}`));
  }
  return found;
}

describe('the consumer tools', () => {
  it('are the 19 of the agent DNA, each with a description and a JSON schema the model can use', () => {
    const tools = consumerTools(app.services);
    expect(tools.map((t) => t.name)).toEqual([...CONSUMER_TOOLS]);
    expect(tools).toHaveLength(19);
    for (const spec of toolSpecs(tools)) {
      expect(spec.description.length, spec.name).toBeGreaterThan(20);
      expect(spec.inputSchema.type, spec.name).toBe('object');
      expect(spec.inputSchema).not.toHaveProperty('$schema');
    }
  });

  it('bound the length of every string they take', () => {
    // (The check itself finds an unbounded string.)
    expect(unboundedStrings(z.toJSONSchema(z.object({ a: z.array(z.string()) })))).toEqual([
      '$.properties.a.items',
    ]);
    for (const spec of toolSpecs(consumerTools(app.services))) {
      expect(unboundedStrings(spec.inputSchema), spec.name).toEqual([]);
    }
  });

  it('each have a side-effect class: money for booking a delivery, writes for changes, reads otherwise', () => {
    const classes = Object.fromEntries(consumerTools(app.services).map((t) => [t.name, t.sideEffect]));
    expect(classes.confirm_delivery).toBe('MONEY');
    for (const name of [
      'create_booking',
      'modify_booking',
      'cancel_booking',
      'leave_feedback',
      'remember',
      'update_profile',
      'set_reminder',
      'ask_venue',
    ]) {
      expect(classes[name], name).toBe('WRITE');
    }
    for (const name of [
      'search_venues',
      'suggest_venues',
      'get_venue_details',
      'check_availability',
      'list_my_bookings',
      'get_weather',
      'get_directions',
      'recall',
      'get_delivery_status',
    ]) {
      expect(classes[name], name).toBe('READ');
    }
  });
});

describe('the consumer tools, as the one tool contract', () => {
  // The tools MCP and public A2A publish (network.ts) where chat has them too. Every other one acts
  // for the person in their own chat (their memories, profile, location, name or money): it is
  // never offered to an API key, which acts as the member who created it.
  const FOR_KEYS = [
    'search_venues',
    'get_venue_details',
    'check_availability',
    'create_booking',
    'cancel_booking',
  ];

  it('each have an output schema that is plain JSON Schema, for every adapter to publish', () => {
    for (const tool of consumerTools(app.services)) {
      expect(tool.output, tool.name).toBeInstanceOf(z.ZodType);
      const schema = jsonSchema(tool.output, 'output');
      expect(schema.type, tool.name).toBe('object');
      expect(schema, tool.name).not.toHaveProperty('$schema');
    }
  });

  it('are offered to API keys exactly where MCP and public A2A publish them; the personal ones never', () => {
    const tools = consumerTools(app.services);
    const published = networkTools({ db: app.services.db, bookings: app.services.bookings });
    const forKeys = tools.filter((tool) => tool.callers.apiKey).map((tool) => tool.name);
    expect(forKeys.sort()).toEqual([...FOR_KEYS].sort());
    // The published tool is chat's definition (the same factory: its input, output and class).
    for (const name of forKeys) {
      const mine = tools.find((tool) => tool.name === name)!;
      const theirs = published.find((p) => p.tool.name === name)?.tool;
      expect(theirs, name).toBeDefined();
      expect(jsonSchema(theirs!.input, 'input'), name).toEqual(jsonSchema(mine.input, 'input'));
      expect(jsonSchema(theirs!.output, 'output'), name).toEqual(jsonSchema(mine.output, 'output'));
      expect(theirs!.sideEffect, name).toBe(mine.sideEffect);
    }
    const personal = tools.filter((tool) => !FOR_KEYS.includes(tool.name));
    expect(personal).toHaveLength(14);
    for (const tool of personal) {
      expect(tool.callers, tool.name).toEqual({ person: true });
      expect(
        published.some((p) => p.tool.name === tool.name),
        tool.name,
      ).toBe(false);
    }
  });
});

describe('running a tool call', () => {
  const echo = defineTool({
    name: 'echo',
    description: 'Echoes its input',
    sideEffect: 'READ',
    callers: { person: true },
    input: z.object({ text: z.string().max(20) }),
    output: z.object({ echoed: z.string() }),
    run: async (input) => ({ echoed: input.text }),
  });
  const slow = defineTool({
    name: 'slow',
    description: 'Never answers in time',
    sideEffect: 'READ',
    callers: { person: true },
    input: z.object({}),
    output: z.object({}),
    run: (_input, _context, signal) =>
      new Promise<Record<string, never>>((resolve) => {
        const timer = setTimeout(() => resolve({}), 5000);
        signal.addEventListener('abort', () => clearTimeout(timer));
      }),
  });
  const broken = defineTool({
    name: 'broken',
    description: 'Fails with a secret in its error',
    sideEffect: 'WRITE',
    callers: { person: true },
    input: z.object({}),
    output: z.object({}),
    run: async () => {
      throw new Error('connection string postgres://secret@db');
    },
  });
  // Answers other than it promises (a count as a string, a field missing): a bug of ours.
  const liar = defineTool({
    name: 'liar',
    description: 'Breaks its output schema',
    sideEffect: 'READ',
    callers: { person: true },
    input: z.object({}),
    output: z.object({ count: z.number().int(), venue: z.string() }),
    run: async () => ({ count: 'three', secret: 'postgres://secret@db' }) as never,
  });
  const tools = new Map([echo, slow, broken, liar].map((t) => [t.name, t as never]));
  const run = (name: string, input: unknown) =>
    runToolCall(
      { db: app.services.db, timeoutMs: 200, tools },
      { type: 'tool_use', id: `t-${name}`, name, input },
      context(),
    );

  it('strips control characters and direction overrides from every string before checking it', async () => {
    expect(
      sanitize({ a: 'ok\u0000\u0007\u202e\u2066', b: ['x\u001by'], 'k\u0000': 'tab\tand\nnewline' }),
    ).toEqual({
      a: 'ok',
      b: ['xy'],
      k: 'tab\tand\nnewline',
    });
    const outcome = await run('echo', { text: 'hi\u0000there\u202e' });
    expect(outcome).toMatchObject({ outcome: 'OK', isError: false });
    expect(JSON.parse(outcome.content)).toEqual({ echoed: 'hithere' });
  });

  it('returns invalid input, timeouts and failures as error results, and audits each call', async () => {
    const invalid = await run('echo', { text: 'x'.repeat(21) });
    expect(invalid).toMatchObject({ outcome: 'INVALID', isError: true });
    expect(JSON.parse(invalid.content).error).toMatch(/^text: .*20 characters/);

    const timedOut = await run('slow', {});
    expect(timedOut).toMatchObject({ outcome: 'TIMEOUT', isError: true });

    const failed = await run('broken', {});
    expect(failed).toMatchObject({ outcome: 'ERROR', isError: true });
    // The model is not shown what went wrong inside.
    expect(failed.content).not.toContain('secret');

    const audit = await app.services.db.toolCall.findMany({
      where: { userId },
      orderBy: { createdAt: 'asc' },
    });
    expect(audit.map((a) => [a.tool, a.outcome, a.sideEffect])).toEqual([
      ['echo', 'OK', 'READ'],
      ['echo', 'INVALID', 'READ'],
      ['slow', 'TIMEOUT', 'READ'],
      ['broken', 'ERROR', 'WRITE'],
    ]);
    expect(audit[0]!.input).toEqual({ text: 'hithere' });
    expect(audit[2]!.durationMs).toBeGreaterThanOrEqual(190);
  });

  it('audits a call whose name or answer holds text PostgreSQL cannot keep', async () => {
    const before = new Date();
    // A lone surrogate passes the input's cleaning and comes back in the answer; a NUL in a name.
    expect(await run('echo', { text: 'a\ud800' })).toMatchObject({ outcome: 'OK' });
    expect(await run('no\u0000such', {})).toMatchObject({ outcome: 'INVALID' });
    const audit = await app.services.db.toolCall.findMany({
      where: { userId, createdAt: { gte: before } },
      orderBy: { createdAt: 'asc' },
    });
    expect(audit.map((a) => [a.tool, a.outcome, a.result])).toEqual([
      ['echo', 'OK', { echoed: 'a\ufffd' }],
      ['no\ufffdsuch', 'INVALID', null],
    ]);
  });

  it('times out a call whose quota check outlasts its time, without starting the tool or leaving a rejection unhandled', async () => {
    let started = 0;
    const counted = defineTool({
      name: 'counted',
      description: 'Counts its runs',
      sideEffect: 'WRITE',
      callers: { person: true },
      input: z.object({}),
      output: z.object({}),
      run: async () => {
        started += 1;
        return {};
      },
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const result = await runTool(
        {
          db: app.services.db,
          timeoutMs: 50,
          quota: () => new Promise((resolve) => setTimeout(resolve, 150)),
        },
        'counted',
        counted as never,
        {},
        { ...context(), channel: 'chat' as const },
      );
      expect(result).toMatchObject({ outcome: 'TIMEOUT', value: null });
      // A turn of the event loop for a rejection nobody handled to be reported.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(started).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('tells a write that timed out what to do next in the caller’s own terms: chat looks first, a key asks again', async () => {
    const hangs = defineTool({
      name: 'hangs',
      description: 'Never answers',
      sideEffect: 'WRITE',
      callers: { person: true, apiKey: true },
      input: z.object({}),
      output: z.object({}),
      run: () => new Promise<Record<string, never>>(() => {}),
    });
    const deps = { db: app.services.db, timeoutMs: 50 };
    const inChat = await runTool(
      deps,
      'hangs',
      hangs as never,
      {},
      { ...context(), channel: 'chat' as const },
    );
    expect(inChat.error).toMatch(/do not repeat it; check its status \(list_my_bookings/);
    const byKey = await runTool(
      deps,
      'hangs',
      hangs as never,
      {},
      {
        ...context(),
        channel: 'mcp' as const,
        actor: {
          kind: 'apiKey' as const,
          apiKeyId: randomUUID(),
          organizationId: randomUUID(),
          userId,
          scopes: ['read', 'write'],
          role: 'ADMIN' as const,
        },
      },
    );
    expect(byKey).toMatchObject({ outcome: 'TIMEOUT' });
    expect(byKey.error).toMatch(/send the same request again \(the same table answers with the same booking/);
  });

  it('returns an answer that breaks the output schema as an error, never the answer itself', async () => {
    const lied = await run('liar', {});
    expect(lied).toMatchObject({ outcome: 'ERROR', isError: true });
    expect(JSON.parse(lied.content)).toEqual({
      error: 'The tool failed unexpectedly; it may work if tried again later',
    });
    expect(lied.content).not.toContain('secret');
    const audit = await app.services.db.toolCall.findFirstOrThrow({
      where: { userId, tool: 'liar' },
    });
    expect(audit).toMatchObject({ outcome: 'ERROR', result: null });
  });
});
