/**
 * MCP as a developer's agent sees it: the official MCP client from the SDK, over both transports
 * (Streamable HTTP at /mcp, HTTP+SSE at /mcp/sse), against the real server on a loopback port,
 * with organisation API keys.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerTools } from '../../src/domain/conversation/assembly.ts';
import { authenticateApiKey } from '../../src/domain/identity/api-keys.ts';
import type { AnyTool, ToolCaller } from '../../src/domain/tools/contract.ts';
import { runTool } from '../../src/domain/tools/run.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { tag } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { apiKey, type Key, person } from '../helpers/authz.ts';

let app: TestApp;
let writeKey: Key;
let readKey: Key;
let otherKey: Key;
let developerId: string;
let venueId: string;
let word: string;
const date = Temporal.Now.plainDateISO('Europe/Lisbon').add({ days: 7 }).toString();

const TOOLS = [
  'agnt.ping',
  'agnt.search_venues',
  'agnt.list_venues',
  'agnt.get_venue',
  'agnt.check_availability',
  'agnt.confirm_booking',
  'agnt.get_booking',
  'agnt.cancel_booking',
];

beforeAll(async () => {
  app = await startTestApp();
  const db = app.services.db;
  // Booking is a pro tool: the developers' organisation is on the pro tier (set by hand: billing is off).
  const organization = await db.organization.create({
    data: { name: `Developers ${tag()}`, developerTier: 'PRO' },
  });
  const developer = await person(app, organization.id, 'OWNER');
  developerId = developer.userId;
  writeKey = await apiKey(app, organization.id, developer.userId, ['read', 'write']);
  readKey = await apiKey(app, organization.id, developer.userId, ['read']);
  otherKey = await apiKey(app, organization.id, developer.userId, ['read', 'write']);
  word = `mcpword${tag()
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')}`;
  venueId = (await createBookableVenue(db, { name: `Tasca ${word}`, city: 'Lisboa' })).id;
});

afterAll(async () => {
  await app?.close();
});

type TransportKind = 'streamable' | 'sse';

async function connect(kind: TransportKind, key: string): Promise<Client> {
  const client = new Client({ name: 'agnt-test', version: '1.0.0' });
  const requestInit = { headers: { authorization: `Bearer ${key}` } };
  const transport =
    kind === 'streamable'
      ? new StreamableHTTPClientTransport(new URL('/mcp', app.url), { requestInit })
      : new SSEClientTransport(new URL('/mcp/sse', app.url), { requestInit });
  await client.connect(transport);
  return client;
}

function structured<T = Record<string, unknown>>(answer: unknown): T {
  const result = answer as CallToolResult;
  expect(result.isError, JSON.stringify(result)).toBeFalsy();
  return result.structuredContent as T;
}

function errorText(answer: unknown): string {
  const result = answer as CallToolResult;
  expect(result.isError, JSON.stringify(result)).toBe(true);
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

describe.each(['streamable', 'sse'] as const)('MCP over %s', (kind) => {
  it('refuses a client without an API key: 401 with WWW-Authenticate: Bearer', async () => {
    const response =
      kind === 'streamable'
        ? await fetch(new URL('/mcp', app.url), {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: 1,
              method: 'initialize',
              params: {
                protocolVersion: '2025-06-18',
                capabilities: {},
                clientInfo: { name: 'x', version: '1' },
              },
            }),
          })
        : await fetch(new URL('/mcp/sse', app.url), { headers: { accept: 'text/event-stream' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await response.body?.cancel();

    const client = new Client({ name: 'agnt-test', version: '1.0.0' });
    const transport =
      kind === 'streamable'
        ? new StreamableHTTPClientTransport(new URL('/mcp', app.url))
        : new SSEClientTransport(new URL('/mcp/sse', app.url));
    await expect(client.connect(transport)).rejects.toThrow();

    const wrong = await fetch(new URL(kind === 'streamable' ? '/mcp' : '/mcp/sse', app.url), {
      method: kind === 'streamable' ? 'POST' : 'GET',
      headers: { authorization: 'Bearer agnt_test_notakey', accept: 'application/json, text/event-stream' },
      body: kind === 'streamable' ? '{}' : undefined,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    await wrong.body?.cancel();
  });

  it('lists every tool with its input and output schema, and venue cards as resources', async () => {
    const client = await connect(kind, writeKey.secret);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
      for (const tool of tools) {
        expect(tool.description, tool.name).toBeTruthy();
        expect(tool.inputSchema.type, tool.name).toBe('object');
        expect(tool.outputSchema?.type, tool.name).toBe('object');
      }
      const book = tools.find((t) => t.name === 'agnt.confirm_booking')!;
      expect(book.inputSchema.required).toEqual(
        expect.arrayContaining(['venue_id', 'date', 'time', 'party_size']),
      );
      expect(book.annotations?.readOnlyHint).toBe(false);
      expect(tools.find((t) => t.name === 'agnt.search_venues')!.annotations?.readOnlyHint).toBe(true);
      // Cancelling undoes what the person has: a client asks before it runs it; booking does not.
      expect(tools.find((t) => t.name === 'agnt.cancel_booking')!.annotations?.destructiveHint).toBe(true);
      expect(book.annotations?.destructiveHint).toBe(false);

      const { resourceTemplates } = await client.listResourceTemplates();
      expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual(['agnt://venues/{id}']);
      const card = await client.readResource({ uri: `agnt://venues/${venueId}` });
      const content = card.contents[0] as { text: string; mimeType: string };
      expect(content.mimeType).toBe('application/json');
      expect(JSON.parse(content.text)).toMatchObject({ venueId, name: `Tasca ${word}` });
      const { resources } = await client.listResources();
      expect(resources.length).toBeGreaterThan(0);
      expect(resources.every((r) => /^agnt:\/\/venues\/[0-9a-f-]{36}$/.test(r.uri) && r.name)).toBe(true);
      // Reading resources is a call like any other: counted against the key's day and audited.
      const audited = await app.services.db.toolCall.findMany({
        where: { apiKeyId: writeKey.id, tool: { in: ['agnt.get_venue', 'agnt.list_venues'] } },
        orderBy: { createdAt: 'desc' },
        take: 2,
      });
      expect(audited.map((a) => [a.tool, a.outcome, a.channel]).sort()).toEqual([
        ['agnt.get_venue', 'OK', 'MCP'],
        ['agnt.list_venues', 'OK', 'MCP'],
      ]);
      await expect(client.readResource({ uri: `agnt://venues/${crypto.randomUUID()}` })).rejects.toThrow(
        /Resource not found/,
      );

      const ping = structured(await client.callTool({ name: 'agnt.ping', arguments: {} }));
      expect(ping).toMatchObject({ ok: true, scopes: ['read', 'write'] });
    } finally {
      await client.close();
    }
  });

  it('does not search near the key creator’s own location: a key has none', async () => {
    // The developer once shared where they are, in chat.
    await app.services.db.user.update({
      where: { id: developerId },
      data: { latitude: 38.7139, longitude: -9.1394 },
    });
    const client = await connect(kind, readKey.secret);
    try {
      const near = structured<{ venues: unknown[]; note?: string }>(
        await client.callTool({ name: 'agnt.search_venues', arguments: { query: word, near_me: true } }),
      );
      expect(near).toEqual({
        venues: [],
        note: 'An API key has no location of its own: give latitude and longitude.',
      });
    } finally {
      await client.close();
    }
  });

  it('searches, checks availability, books, reads the booking back and cancels it', async () => {
    const client = await connect(kind, writeKey.secret);
    try {
      const found = structured<{ venues: { venueId: string; name: string }[] }>(
        await client.callTool({ name: 'agnt.search_venues', arguments: { query: word } }),
      );
      expect(found.venues.map((v) => v.venueId)).toEqual([venueId]);

      const listed = structured<{ venues: { venueId: string }[]; totalCount: number }>(
        await client.callTool({ name: 'agnt.list_venues', arguments: { limit: 100 } }),
      );
      expect(listed.totalCount).toBeGreaterThanOrEqual(1);

      const free = structured<{ slots: { date: string; time: string }[] }>(
        await client.callTool({
          name: 'agnt.check_availability',
          arguments: { venue_id: venueId, date, party_size: 2 },
        }),
      );
      const time = kind === 'streamable' ? '19:00' : '20:00';
      expect(free.slots).toContainEqual({ date, time });

      const booked = structured<{ bookingId: string; status: string; date: string; time: string }>(
        await client.callTool({
          name: 'agnt.confirm_booking',
          arguments: { venue_id: venueId, date, time, party_size: 2, special_requests: 'window seat' },
        }),
      );
      expect(booked).toMatchObject({ status: 'REQUESTED', date, time });
      const row = await app.services.db.booking.findUniqueOrThrow({ where: { id: booked.bookingId } });
      // The key books for the member who created it, as every write a key makes.
      expect(row).toMatchObject({
        source: 'MCP',
        guestId: developerId,
        requestedById: developerId,
        partySize: 2,
      });

      const again = structured<{ bookingId: string }>(
        await client.callTool({
          name: 'agnt.confirm_booking',
          arguments: { venue_id: venueId, date, time, party_size: 2 },
        }),
      );
      expect(again.bookingId).toBe(booked.bookingId);

      const read = structured(
        await client.callTool({ name: 'agnt.get_booking', arguments: { booking_id: booked.bookingId } }),
      );
      expect(read).toMatchObject({
        bookingId: booked.bookingId,
        status: 'REQUESTED',
        specialRequests: 'window seat',
      });

      const cancelled = structured(
        await client.callTool({ name: 'agnt.cancel_booking', arguments: { booking_id: booked.bookingId } }),
      );
      expect(cancelled).toMatchObject({ bookingId: booked.bookingId, status: 'CANCELLED_BY_GUEST' });
      expect(
        (await app.services.db.booking.findUniqueOrThrow({ where: { id: booked.bookingId } })).status,
      ).toBe('CANCELLED_BY_GUEST');
      // Asked again (the first answer lost): the booking as it stands, not an error.
      const twice = await client.callTool({
        name: 'agnt.cancel_booking',
        arguments: { booking_id: booked.bookingId },
      });
      expect(twice.isError).toBeFalsy();
      expect(structured(twice)).toMatchObject({ bookingId: booked.bookingId, status: 'CANCELLED_BY_GUEST' });
      expect(
        await app.services.db.bookingTransition.count({
          where: { bookingId: booked.bookingId, toStatus: 'CANCELLED_BY_GUEST' },
        }),
      ).toBe(1);

      const audit = await app.services.db.toolCall.findMany({
        where: { apiKeyId: writeKey.id, tool: 'agnt.confirm_booking', outcome: 'OK' },
      });
      expect(audit.length).toBeGreaterThanOrEqual(2);
      expect(audit.every((a) => a.channel === 'MCP' && a.userId === developerId)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('does not let a READ key book: an error result, and nothing booked', async () => {
    const client = await connect(kind, readKey.secret);
    try {
      const before = await app.services.db.booking.count({ where: { venueId } });
      const result = (await client.callTool({
        name: 'agnt.confirm_booking',
        arguments: { venue_id: venueId, date, time: '21:00', party_size: 2 },
      })) as CallToolResult;
      expect(errorText(result)).toMatch(/^READ_ONLY_KEY: /);
      expect(await app.services.db.booking.count({ where: { venueId } })).toBe(before);
      // Reading is what it may do.
      structured(await client.callTool({ name: 'agnt.get_venue', arguments: { venue_id: venueId } }));
    } finally {
      await client.close();
    }
  });

  it("does not let a key of a free-tier organisation book at another's venue (PRO_TIER_REQUIRED, nothing booked), only at its own", async () => {
    const db = app.services.db;
    const free = await db.organization.create({ data: { name: `Free ${tag()}` } });
    const owner = await person(app, free.id, 'OWNER');
    const key = await apiKey(app, free.id, owner.userId, ['read', 'write']);
    const client = await connect(kind, key.secret);
    try {
      const before = await db.booking.count({ where: { venueId } });
      const result = (await client.callTool({
        name: 'agnt.confirm_booking',
        arguments: { venue_id: venueId, date, time: '21:00', party_size: 2 },
      })) as CallToolResult;
      expect(errorText(result)).toMatch(/^PRO_TIER_REQUIRED: /);
      expect(await db.booking.count({ where: { venueId } })).toBe(before);
      // Everything else is the free tier's.
      structured(await client.callTool({ name: 'agnt.get_venue', arguments: { venue_id: venueId } }));
      // Its own organisation's venue is its own to book at on any tier, as through GraphQL.
      const own = await createBookableVenue(db, {
        name: `Own ${tag()}`,
        city: 'Lisboa',
        organizationId: free.id,
      });
      structured(
        await client.callTool({
          name: 'agnt.confirm_booking',
          arguments: { venue_id: own.id, date, time: '21:00', party_size: 2 },
        }),
      );
      expect(await db.booking.count({ where: { venueId: own.id } })).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('returns every failure as a tool result with isError, the session going on', async () => {
    const client = await connect(kind, writeKey.secret);
    try {
      const unknown = (await client.callTool({ name: 'agnt.nothing', arguments: {} })) as CallToolResult;
      expect(errorText(unknown)).toMatch(/no tool called "agnt.nothing"/);
      const invalid = (await client.callTool({
        name: 'agnt.check_availability',
        arguments: { venue_id: venueId, date: 'tomorrow', party_size: 0 },
      })) as CallToolResult;
      expect(errorText(invalid)).toMatch(/date: .*party_size: /);
      const missing = (await client.callTool({
        name: 'agnt.get_booking',
        arguments: { booking_id: '00000000-0000-4000-8000-000000000000' },
      })) as CallToolResult;
      expect(errorText(missing)).toMatch(/No such booking/);
      const closed = (await client.callTool({
        name: 'agnt.confirm_booking',
        arguments: { venue_id: venueId, date, time: '09:00', party_size: 2 },
      })) as CallToolResult;
      expect(errorText(closed)).toBeTruthy();
      // Still connected and answering.
      structured(await client.callTool({ name: 'agnt.ping', arguments: {} }));
    } finally {
      await client.close();
    }
  });

  it('refuses a session id presented with another API key', async () => {
    if (kind === 'streamable') {
      const client = await connect(kind, writeKey.secret);
      const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
      expect(sessionId).toBeTruthy();
      const hijack = await fetch(new URL('/mcp', app.url), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${otherKey.secret}`,
          'mcp-session-id': sessionId,
          'mcp-protocol-version': '2025-06-18',
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
      });
      expect(hijack.status).toBe(403);
      expect(await hijack.json()).toMatchObject({
        error: { message: 'This session belongs to another API key' },
      });
      // The session itself goes on for its own key.
      structured(await client.callTool({ name: 'agnt.ping', arguments: {} }));
      await client.close();
      return;
    }
    const abort = new AbortController();
    const stream = await fetch(new URL('/mcp/sse', app.url), {
      headers: { authorization: `Bearer ${writeKey.secret}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let text = '';
    while (!/data: (\S+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const endpoint = /data: (\S+)/.exec(text)![1]!;
    expect(endpoint).toMatch(/^\/mcp\/messages\?sessionId=/);
    const hijack = await fetch(new URL(endpoint, app.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${otherKey.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    expect(hijack.status).toBe(403);
    abort.abort();
  });
});

describe('MCP request limits', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await startTestApp({ database: app.database, env: { RATE_LIMIT_PER_API_KEY: '3' } });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('counts each request against the key like the API does: 429 with Retry-After past the limit', async () => {
    const db = limited.services.db;
    const organization = await db.organization.create({ data: { name: `Busy ${tag()}` } });
    const owner = await person(limited, organization.id, 'OWNER');
    const key = await apiKey(limited, organization.id, owner.userId, ['read']);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i += 1) {
      const response = await fetch(new URL('/mcp', limited.url), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key.secret}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        }),
      });
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.body?.cancel();
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('reads an array of one message as that message over HTTP+SSE too', async () => {
    const organization = await limited.services.db.organization.create({ data: { name: `Old ${tag()}` } });
    const owner = await person(limited, organization.id, 'OWNER');
    const key = await apiKey(limited, organization.id, owner.userId, ['read']);
    const abort = new AbortController();
    const stream = await fetch(new URL('/mcp/sse', limited.url), {
      headers: { authorization: `Bearer ${key.secret}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    const reader = stream.body!.getReader();
    let text = '';
    const until = async (pattern: RegExp) => {
      while (!pattern.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      return pattern.exec(text)!;
    };
    const endpoint = (await until(/data: (\S+)/))[1]!;
    const posted = await fetch(new URL(endpoint, limited.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          jsonrpc: '2.0',
          id: 7,
          method: 'initialize',
          params: {
            protocolVersion: '2025-06-18',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        },
      ]),
    });
    expect(posted.status).toBe(202);
    const answer = JSON.parse((await until(/data: (\{.*"id":7.*\})\n/))[1]!);
    expect(answer).toMatchObject({ jsonrpc: '2.0', id: 7, result: { serverInfo: expect.any(Object) } });
    abort.abort();
  });

  it('refuses a batch of messages in one request, which would pass the limits a hundred at a time', async () => {
    const db = limited.services.db;
    const { key, post, sessionId } = await rawSession(limited, 'Batcher');
    // Three calls in the key's third request of the minute.
    const call = (id: number) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'agnt.ping', arguments: {} },
    });
    const batch = await post([call(2), call(3), call(4)], sessionId);
    expect(batch.status).toBe(400);
    expect(await batch.json()).toMatchObject({ error: { code: -32600 } });
    expect(await db.toolCall.count({ where: { apiKeyId: key.id } })).toBe(0);
  });

  it('answers a request whose parameters are not what its method takes with "Invalid params", not an error of ours', async () => {
    const { post, sessionId } = await rawSession(app, 'Sloppy');
    /** The JSON-RPC answer, whether it came as JSON or as one event of a stream. */
    const answer = async (response: Response) => {
      const text = await response.text();
      const data = text.startsWith('{') ? text : /^data: (.*)$/m.exec(text)?.[1];
      return JSON.parse(data ?? 'null') as { error?: { code: number; message: string } };
    };
    for (const [method, params] of [
      ['tools/call', { name: 'agnt.ping', arguments: null }],
      ['tools/call', { name: 5 }],
      ['tools/call', undefined],
      ['resources/read', {}],
    ] as const) {
      const response = await post(
        { jsonrpc: '2.0', id: 7, method, ...(params ? { params } : {}) },
        sessionId,
      );
      const { error } = await answer(response);
      expect(error?.code, `${method} ${JSON.stringify(params)}`).toBe(-32602);
      expect(error?.message).toMatch(/Invalid/);
    }
  });
});

/**
 * A Streamable HTTP session opened by hand (initialize, then initialized) with a new organisation's
 * READ key on `target`, and a way to post JSON-RPC to it.
 */
async function rawSession(target: TestApp, label: string) {
  const db = target.services.db;
  const organization = await db.organization.create({ data: { name: `${label} ${tag()}` } });
  const owner = await person(target, organization.id, 'OWNER');
  const key = await apiKey(target, organization.id, owner.userId, ['read']);
  const post = (body: unknown, sessionId?: string) =>
    fetch(new URL('/mcp', target.url), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key.secret}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
        ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      },
      body: JSON.stringify(body),
    });
  const opened = await post({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
  });
  const sessionId = opened.headers.get('mcp-session-id')!;
  await opened.body?.cancel();
  expect(sessionId).toBeTruthy();
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, sessionId)).body?.cancel();
  return { key, post, sessionId };
}

/** The tool caller an MCP call with this key is: the key, acting as the developer who made it. */
async function keyCaller(secret: string): Promise<ToolCaller> {
  const actor = await authenticateApiKey(app.services.db, secret, {
    keyPrefix: app.services.config.auth.apiKeyPrefix,
  });
  return {
    userId: developerId,
    actor,
    channel: 'mcp',
    agentId: null,
    now: () => new Date(),
    logger: createLogger('silent'),
  };
}

describe('the tool contract, whoever calls', () => {
  it('keeps chat’s own tools from API keys: refused before they run, and audited', async () => {
    const db = app.services.db;
    const tools = new Map(consumerTools(app.services).map((tool) => [tool.name, tool]));
    const result = await runTool(
      { db, timeoutMs: 5000 },
      'remember',
      // As if it were published to keys by mistake: the runner still refuses it.
      tools.get('remember') as unknown as AnyTool,
      { content: 'Likes a window seat' },
      await keyCaller(writeKey.secret),
    );
    expect(result).toMatchObject({
      outcome: 'REFUSED',
      error: 'NOT_ALLOWED: This tool is not offered to API keys',
    });
    expect(await db.memory.count({ where: { userId: developerId } })).toBe(0);
    const audit = await db.toolCall.findFirstOrThrow({ where: { apiKeyId: writeKey.id, tool: 'remember' } });
    expect(audit).toMatchObject({ channel: 'MCP', outcome: 'REFUSED', userId: developerId });
  });

  it('keeps a bounded record of a call whatever its input: a megabyte sent is not a megabyte kept', async () => {
    const db = app.services.db;
    const search = consumerTools(app.services).find((tool) => tool.name === 'search_venues')!;
    const huge = 'x'.repeat(1_000_000);
    const result = await runTool(
      { db, timeoutMs: 5000 },
      'search_venues',
      search as unknown as AnyTool,
      { query: huge },
      await keyCaller(readKey.secret),
    );
    expect(result).toMatchObject({ outcome: 'INVALID' });
    const audit = await db.toolCall.findFirstOrThrow({
      where: { apiKeyId: readKey.id, tool: 'search_venues', outcome: 'INVALID' },
    });
    expect(audit.input).toMatchObject({ truncated: true });
    expect(JSON.stringify(audit.input).length).toBeLessThan(13_000);
  });
});
