/**
 * The tool framework: the 17 consumer tools as the model sees them (names, JSON schemas with
 * bounds on every string), and how a call is run (strings cleaned of control characters, invalid
 * input and timeouts returned as results, an audit row for every call).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONSUMER_TOOLS } from '../../src/domain/agents/dna.ts';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import {
  defineTool,
  runToolCall,
  sanitize,
  type ToolContext,
  toolSpecs,
} from '../../src/domain/conversation/tools.ts';
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
  it('are the 17 of the agent DNA, each with a description and a JSON schema the model can use', () => {
    const tools = consumerTools(app.services);
    expect(tools.map((t) => t.name)).toEqual([...CONSUMER_TOOLS]);
    expect(tools).toHaveLength(17);
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
      'ask_venue',
    ]) {
      expect(classes[name], name).toBe('WRITE');
    }
    for (const name of [
      'search_venues',
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

describe('running a tool call', () => {
  const echo = defineTool({
    name: 'echo',
    description: 'Echoes its input',
    sideEffect: 'READ',
    input: z.object({ text: z.string().max(20) }),
    run: async (input) => ({ echoed: input.text }),
  });
  const slow = defineTool({
    name: 'slow',
    description: 'Never answers in time',
    sideEffect: 'READ',
    input: z.object({}),
    run: (_input, _context, signal) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, 5000);
        signal.addEventListener('abort', () => clearTimeout(timer));
      }),
  });
  const broken = defineTool({
    name: 'broken',
    description: 'Fails with a secret in its error',
    sideEffect: 'WRITE',
    input: z.object({}),
    run: async () => {
      throw new Error('connection string postgres://secret@db');
    },
  });
  const tools = new Map([echo, slow, broken].map((t) => [t.name, t as never]));
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
});
