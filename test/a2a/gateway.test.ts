/**
 * The embedded ClawPulse gateway follows CLAWPULSE.md's gateway API, driven by the product's own
 * ClawPulse client twice over: through the real HTTP server (the route under `/clawpulse`) and
 * through the in-process `fetch` the product's agents use. Both run one API on one database, so
 * every rule is checked on both paths.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedGateway, type EmbeddedGateway } from '../../src/a2a/gateway/embedded.ts';
import {
  type ClawPulseClient,
  ClawPulseError,
  createClawPulseClient,
} from '../../src/integrations/clawpulse/client.ts';
import {
  consumerAgentId,
  type SignedEnvelope,
  signEnvelope,
  venueAgentId,
} from '../../src/integrations/clawpulse/wire.ts';
import { connectDatabase } from '../../src/platform/db.ts';
import { createHttpServer, type HttpServer } from '../../src/platform/http.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createMetrics } from '../../src/platform/metrics.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const API_KEY = 'embedded-gateway-test-key-0123456789';
const BODY_LIMIT = 16 * 1024;

let database: TestDatabase;
let gateway: EmbeddedGateway;
let server: HttpServer;
let httpBase: string;
let nowMs = Date.parse('2026-12-04T10:00:00.000Z');
const clock = { now: () => new Date(nowMs), advance: (ms: number) => (nowMs += ms) };

beforeAll(async () => {
  database = await createTestDatabase();
  gateway = createEmbeddedGateway({
    db: database.prisma,
    apiKey: API_KEY,
    visibilityTimeoutSeconds: 60,
    bodyLimitBytes: BODY_LIMIT,
    now: clock.now,
    hostedHere: async (agentId) => HOSTED.has(agentId),
  });
  server = createHttpServer({
    routes: [gateway.route],
    logger: createLogger('silent'),
    metrics: createMetrics(),
    proxy: { mode: 'none' },
  });
  httpBase = `http://127.0.0.1:${await server.listen(0, '127.0.0.1')}/clawpulse`;
});
afterAll(async () => {
  await server?.close(1000);
  await database?.drop();
});

/** A signed envelope from `from` to `to`, as a sender would post it. */
function envelope(from: string, to: string, note = 'hello'): SignedEnvelope {
  return signEnvelope(
    {
      protocol: 'agp/1',
      id: randomUUID(),
      from,
      to,
      intent: 'venue.question',
      payload: { text: note },
      agent_context: {},
      ttl_ms: 30_000,
      timestamp: clock.now().toISOString(),
    },
    { kid: 'k1', secret: Buffer.from('a-signing-secret-of-32-bytes-abc') },
    Math.floor(nowMs / 1000),
  );
}

const consumer = () => consumerAgentId(randomUUID());
const venue = () => venueAgentId(randomUUID());
/** Agents the installation runs itself (its venues' and people's): outside callers may not act as them. */
const HOSTED = new Set<string>();

async function failure(call: Promise<unknown>): Promise<ClawPulseError> {
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ClawPulseError);
  return error as ClawPulseError;
}

const storedFor = (agentId: string) =>
  database.prisma.gatewayMessage.findMany({ where: { toAgent: agentId }, orderBy: { sequence: 'asc' } });

const transports = [
  { name: 'over HTTP', base: () => httpBase, fetch: () => fetch },
  { name: 'in process', base: () => gateway.baseUrl, fetch: () => gateway.fetch },
];

describe.each(transports)('the embedded gateway $name', (transport) => {
  let client: ClawPulseClient;
  beforeAll(() => {
    client = createClawPulseClient({
      baseUrl: transport.base(),
      apiKey: API_KEY,
      timeoutMs: 5000,
      fetch: transport.fetch(),
    });
  });
  /** A request of our own, for what the client would never send. */
  const raw = (path: string, init: RequestInit = {}) =>
    transport.fetch()(`${transport.base()}${path}`, {
      ...init,
      headers: { 'x-api-key': API_KEY, 'content-type': 'application/json', ...init.headers },
    });

  /** A registered agent of each side. */
  async function pair() {
    const from = consumer();
    const to = venue();
    await client.register({ agentId: from, kind: 'consumer', dna: {} });
    await client.register({ agentId: to, kind: 'venue', dna: {} });
    return { from, to };
  }

  it('answers 401 without the key or with a wrong one, and does nothing', async () => {
    const agentId = venue();
    for (const apiKey of ['wrong-key', `${API_KEY}x`, API_KEY.slice(0, -1)]) {
      const other = createClawPulseClient({
        baseUrl: transport.base(),
        apiKey,
        timeoutMs: 5000,
        fetch: transport.fetch(),
      });
      const error = await failure(other.register({ agentId, kind: 'venue', dna: {} }));
      expect(error.kind).toBe('unauthorized');
      expect(error.status).toBe(401);
    }
    const anonymous = await transport.fetch()(`${transport.base()}/api/agents/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agentId, kind: 'venue', dna: {} }),
    });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({ error: 'Send the gateway key as X-API-Key' });
    const reading = await transport.fetch()(`${transport.base()}/api/agents/${agentId}/inbox`);
    expect(reading.status).toBe(401);
    expect(await database.prisma.gatewayAgent.findUnique({ where: { agentId } })).toBeNull();
  });

  it('registers an agent, and registering again replaces its profile', async () => {
    const agentId = venue();
    await client.register({ agentId, kind: 'venue', dna: { persona: { name: 'First' } } });
    const first = await database.prisma.gatewayAgent.findUniqueOrThrow({ where: { agentId } });
    expect(first).toMatchObject({ kind: 'venue', dna: { persona: { name: 'First' } } });
    clock.advance(1000);
    await client.register({ agentId, kind: 'venue', dna: { persona: { name: 'Second' } } });
    const second = await database.prisma.gatewayAgent.findUniqueOrThrow({ where: { agentId } });
    expect(second.dna).toEqual({ persona: { name: 'Second' } });
    expect(second.registeredAt).toEqual(first.registeredAt);
    expect(second.updatedAt.getTime()).toBe(first.updatedAt.getTime() + 1000);

    const answer = await raw('/api/agents/register', {
      method: 'POST',
      body: JSON.stringify({ agentId, kind: 'venue', dna: {} }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ agentId });
  });

  it('refuses an agent id of no known form, a kind its id contradicts, and DNA that is no object', async () => {
    const ids = ['venue-not-a-uuid', 'someone', `platform-${'x'.repeat(65)}`, `consumer-${randomUUID()}-x`];
    for (const agentId of ids) {
      const error = await failure(client.register({ agentId, kind: 'venue', dna: {} }));
      expect(error.kind, agentId).toBe('permanent');
      expect(error.status, agentId).toBe(400);
    }
    const agentId = venue();
    expect((await failure(client.register({ agentId, kind: 'consumer', dna: {} }))).status).toBe(400);
    expect((await failure(client.register({ agentId, kind: 'venue', dna: [1] }))).status).toBe(400);
    expect((await failure(client.register({ agentId, kind: 'robot' as 'venue', dna: {} }))).status).toBe(400);
    expect(await database.prisma.gatewayAgent.findUnique({ where: { agentId } })).toBeNull();
    await client.register({ agentId: 'platform-agnt.test_1', kind: 'platform', dna: {} });
  });

  it('answers 404 for a recipient that is not registered, and stores nothing', async () => {
    const { from } = await pair();
    const to = venue();
    const error = await failure(client.send({ to, from, payload: envelope(from, to) }));
    expect(error.kind).toBe('unknown_recipient');
    expect(error.status).toBe(404);
    expect(await storedFor(to)).toEqual([]);
  });

  it('accepts a message with 202 and its id, and hands it out as sent', async () => {
    const { from, to } = await pair();
    const payload = envelope(from, to);
    const answer = await raw('/api/agents/message', {
      method: 'POST',
      body: JSON.stringify({ to, from, payload, priority: 'high' }),
    });
    expect(answer.status).toBe(202);
    const { id } = (await answer.json()) as { id: string };
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await client.inbox(to)).toEqual([
      { id, from, to, priority: 'high', payload, receivedAt: clock.now().toISOString() },
    ]);
  });

  it('hands an inbox out oldest first, however the sends interleave with other inboxes', async () => {
    const { from, to } = await pair();
    const { to: other } = await pair();
    const sent: string[] = [];
    for (let n = 0; n < 6; n++) {
      // Same clock reading for all: arrival order, not time, decides.
      sent.push((await client.send({ to, from, payload: envelope(from, to, `m${n}`) })).id);
      await client.send({ to: other, from, payload: envelope(from, other) });
    }
    const messages = await client.inbox(to);
    expect(messages.map((m) => m.id)).toEqual(sent);
    expect(messages.map((m) => JSON.parse((m.payload as SignedEnvelope).envelope).payload.text)).toEqual([
      'm0',
      'm1',
      'm2',
      'm3',
      'm4',
      'm5',
    ]);
  });

  it('hides what it handed out for the visibility timeout, then hands it out again until it is acknowledged', async () => {
    const { from, to } = await pair();
    const { id } = await client.send({ to, from, payload: envelope(from, to) });
    expect((await client.inbox(to)).map((m) => m.id)).toEqual([id]);
    expect(await client.inbox(to)).toEqual([]);
    clock.advance(59_999);
    expect(await client.inbox(to)).toEqual([]);
    clock.advance(1);
    const again = await client.inbox(to);
    expect(again.map((m) => m.id)).toEqual([id]);
    const [row] = await storedFor(to);
    expect(row!.deliveryCount).toBe(2);

    expect(await client.ack(to, [id])).toBe(1);
    clock.advance(120_000);
    expect(await client.inbox(to)).toEqual([]);
  });

  it('takes an acknowledgement twice harmlessly, and never acknowledges another inbox’s messages', async () => {
    const { from, to } = await pair();
    const { to: other } = await pair();
    const mine = await client.send({ to, from, payload: envelope(from, to) });
    const theirs = await client.send({ to: other, from, payload: envelope(from, other) });
    const answer = await raw(`/api/agents/${to}/inbox/ack`, {
      method: 'POST',
      body: JSON.stringify({ ids: [mine.id, theirs.id, 'not-an-id', randomUUID()] }),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ acked: 1 });
    expect(await client.ack(to, [mine.id])).toBe(0);
    expect(await client.ack(to, [mine.id.toUpperCase(), mine.id])).toBe(0);
    expect((await client.inbox(other)).map((m) => m.id)).toEqual([theirs.id]);
    expect(await client.inbox(to)).toEqual([]);
  });

  it('never hands one message to two readers of an inbox within a visibility window', async () => {
    const { from, to } = await pair();
    const sent = new Set<string>();
    for (let n = 0; n < 60; n++) sent.add((await client.send({ to, from, payload: envelope(from, to) })).id);
    const reads = await Promise.all(Array.from({ length: 6 }, () => client.inbox(to, 15)));
    const handed = reads.flat().map((m) => m.id);
    expect(new Set(handed).size).toBe(handed.length);
    // What the concurrent readers skipped (rows another held) is still there for the next read.
    const rest = (await client.inbox(to)).map((m) => m.id);
    expect(new Set([...handed, ...rest])).toEqual(sent);
    expect(handed.length + rest.length).toBe(60);
  });

  it('hands out at most `limit` messages, 1 to 100, 100 by default', async () => {
    const { from, to } = await pair();
    for (let n = 0; n < 103; n++) await client.send({ to, from, payload: envelope(from, to) });
    expect(await client.inbox(to, 2)).toHaveLength(2);
    expect(await client.inbox(to, 1)).toHaveLength(1);
    for (const limit of ['0', '101', '-1', '1.5', 'abc', '', '1e2']) {
      const answer = await raw(`/api/agents/${to}/inbox?limit=${limit}`);
      expect(answer.status, limit).toBe(400);
      expect(await answer.json(), limit).toEqual({ error: 'limit: a whole number from 1 to 100' });
    }
    const rest = await raw(`/api/agents/${to}/inbox`);
    expect(((await rest.json()) as { messages: unknown[] }).messages).toHaveLength(100);
    expect(await client.inbox(to, 100)).toHaveLength(0);
  });

  it('refuses bodies that are not the wire’s shape with 400 and stores nothing', async () => {
    const { from, to } = await pair();
    const payload = envelope(from, to);
    const bodies: [string, unknown][] = [
      ['not JSON', '{"to":'],
      ['an array', JSON.stringify([{ to, from, payload }])],
      ['no payload', JSON.stringify({ to, from })],
      ['a string payload', JSON.stringify({ to, from, payload: JSON.stringify(payload) })],
      ['no sig', JSON.stringify({ to, from, payload: { ...payload, sig: undefined } })],
      ['a number sig', JSON.stringify({ to, from, payload: { ...payload, sig: 1 } })],
      ['a string ts', JSON.stringify({ to, from, payload: { ...payload, ts: String(payload.ts) } })],
      ['an object envelope', JSON.stringify({ to, from, payload: { ...payload, envelope: {} } })],
      ['no kid', JSON.stringify({ to, from, payload: { ...payload, kid: null } })],
      ['an unknown priority', JSON.stringify({ to, from, payload, priority: 'urgent' })],
      ['a bad recipient', JSON.stringify({ to: `${to}x`, from, payload })],
      ['a bad sender', JSON.stringify({ to, from: 'me', payload })],
      ['no recipient', JSON.stringify({ from, payload })],
      // Text PostgreSQL cannot keep, which a signed envelope cannot be changed to make keepable.
      ['a NUL in the envelope', JSON.stringify({ to, from, payload: { ...payload, kid: 'k\u0000' } })],
      ['a lone surrogate', JSON.stringify({ to, from, payload: { ...payload, envelope: '\ud800' } })],
    ];
    for (const [what, body] of bodies) {
      const answer = await raw('/api/agents/message', { method: 'POST', body: body as string });
      expect(answer.status, what).toBe(400);
      expect(await answer.json(), what).toEqual({ error: expect.any(String) });
    }
    const textPlain = await raw('/api/agents/message', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ to, from, payload }),
    });
    expect(textPlain.status).toBe(415);
    const huge = await raw('/api/agents/message', {
      method: 'POST',
      body: JSON.stringify({ to, from, payload: { ...payload, envelope: 'x'.repeat(BODY_LIMIT) } }),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ error: `Request body over ${BODY_LIMIT} bytes` });
    expect(await storedFor(to)).toEqual([]);

    for (const body of [{}, { ids: 'x' }, { ids: [1] }, { ids: Array(1001).fill('x') }]) {
      expect(
        (await raw(`/api/agents/${to}/inbox/ack`, { method: 'POST', body: JSON.stringify(body) })).status,
      ).toBe(400);
    }
    expect((await raw('/api/agents/someone/inbox')).status).toBe(400);
    const register = await raw('/api/agents/register', {
      method: 'POST',
      body: JSON.stringify({ agentId: to, kind: 'venue', dna: { name: 'Casa\u0000' } }),
    });
    expect(register.status).toBe(400);
    // Nested deeper than the store's jsonb takes (written out: serialising it would overflow the
    // stack): refused, where the store's failure told the caller to try again later, for ever.
    const deep = await raw('/api/agents/register', {
      method: 'POST',
      body: `{"agentId":"${to}","kind":"venue","dna":${'{"d":'.repeat(2_500)}{}${'}'.repeat(2_500)}}`,
    });
    expect(deep.status).toBe(400);
    expect(await deep.json()).toEqual({ error: 'The body nests objects or arrays more than 64 deep' });
  });

  it('answers unknown paths 404 and wrong methods 405, as JSON', async () => {
    const missing = await raw('/api/agents');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'No gateway route /api/agents' });
    const wrong = await raw('/api/agents/register');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(await wrong.json()).toEqual({ error: '/api/agents/register takes POST' });
  });
});

describe("the installation's own agents", () => {
  it('are not read, acknowledged or registered over HTTP by another holder of the key; in process they are', async () => {
    const ours = venue();
    const person = consumer();
    HOSTED.add(ours);
    HOSTED.add(person);
    const own = createClawPulseClient({
      baseUrl: gateway.baseUrl,
      apiKey: API_KEY,
      timeoutMs: 5000,
      fetch: gateway.fetch,
    });
    const outside = createClawPulseClient({ baseUrl: httpBase, apiKey: API_KEY, timeoutMs: 5000 });
    await own.register({ agentId: ours, kind: 'venue', dna: { name: 'ours' } });
    await own.register({ agentId: person, kind: 'consumer', dna: {} });
    // Anyone may still write to them: receivers verify envelopes.
    const sent = await outside.send({ to: ours, from: person, payload: envelope(person, ours) });

    for (const refused of [
      () => outside.inbox(ours),
      () => outside.ack(ours, [sent.id]),
      () => outside.register({ agentId: ours, kind: 'venue', dna: { name: 'theirs' } }),
      () => outside.inbox(person),
    ]) {
      const error = await failure(refused());
      expect(error.status).toBe(403);
    }
    // Nothing was handed out, acknowledged or replaced: the installation reads its own inbox.
    expect((await own.inbox(ours)).map((m) => m.id)).toEqual([sent.id]);
    expect(await own.ack(ours, [sent.id])).toBe(1);
    const profile = await database.prisma.gatewayAgent.findUniqueOrThrow({ where: { agentId: ours } });
    expect(profile.dna).toEqual({ name: 'ours' });
    // The key is still checked first: without it, 401, and nothing said of whose agent it is.
    const keyless = await fetch(`${httpBase}/api/agents/${ours}/inbox`);
    expect(keyless.status).toBe(401);
    // An agent of another installation is served over HTTP as before.
    const theirs = venue();
    await outside.register({ agentId: theirs, kind: 'venue', dna: {} });
    expect(await outside.inbox(theirs)).toEqual([]);
  });
});

describe('the in-process fetch', () => {
  it('answers only its own origin, so a misconfigured client fails instead of reaching the network', async () => {
    const client = createClawPulseClient({
      baseUrl: 'http://127.0.0.1:9',
      apiKey: API_KEY,
      timeoutMs: 1000,
      fetch: gateway.fetch,
    });
    const error = await failure(client.inbox(venue()));
    expect(error.kind).toBe('transient');
    expect(error.message).toContain('only answers http://clawpulse.internal');
  });

  it('rejects as fetch does when the caller has given up', async () => {
    const call = gateway.fetch(`${gateway.baseUrl}/api/agents/${venue()}/inbox`, {
      headers: { 'x-api-key': API_KEY },
      signal: AbortSignal.abort(),
    });
    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('when its database does not answer', () => {
  it('answers 503, which the client takes as a failure to retry later', async () => {
    const gone = connectDatabase(database.url, 1);
    await gone.close();
    const broken = createEmbeddedGateway({
      db: gone.prisma,
      apiKey: API_KEY,
      visibilityTimeoutSeconds: 60,
      bodyLimitBytes: BODY_LIMIT,
      hostedHere: async () => false,
    });
    const client = createClawPulseClient({
      baseUrl: broken.baseUrl,
      apiKey: API_KEY,
      timeoutMs: 5000,
      fetch: broken.fetch,
    });
    const error = await failure(client.inbox(venue()));
    expect(error.kind).toBe('transient');
    expect(error.status).toBe(503);
    expect(error.retryable).toBe(true);
    // The key is still checked first.
    const wrongKey = await broken.fetch(`${broken.baseUrl}/api/agents/${venue()}/inbox`);
    expect(wrongKey.status).toBe(401);
  });
});

describe('a short visibility timeout on the real clock', () => {
  it('hands an unacknowledged message out again once the timeout has passed, over HTTP and in process', async () => {
    const quick = createEmbeddedGateway({
      db: database.prisma,
      apiKey: API_KEY,
      visibilityTimeoutSeconds: 1,
      bodyLimitBytes: BODY_LIMIT,
      hostedHere: async () => false,
    });
    const quickServer = createHttpServer({
      routes: [quick.route],
      logger: createLogger('silent'),
      metrics: createMetrics(),
      proxy: { mode: 'none' },
    });
    const port = await quickServer.listen(0, '127.0.0.1');
    try {
      const overHttp = createClawPulseClient({
        baseUrl: `http://127.0.0.1:${port}/clawpulse`,
        apiKey: API_KEY,
        timeoutMs: 5000,
      });
      const inProcess = createClawPulseClient({
        baseUrl: quick.baseUrl,
        apiKey: API_KEY,
        timeoutMs: 5000,
        fetch: quick.fetch,
      });
      const from = consumer();
      const to = venue();
      await overHttp.register({ agentId: to, kind: 'venue', dna: {} });
      const { id } = await inProcess.send({ to, from, payload: envelope(from, to) });
      const handedAt = Date.now();
      expect((await overHttp.inbox(to)).map((m) => m.id)).toEqual([id]);
      expect(await inProcess.inbox(to)).toEqual([]);
      // Wait out the one-second window on the wall clock the gateway reads.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, handedAt + 1100 - Date.now())));
      expect((await inProcess.inbox(to)).map((m) => m.id)).toEqual([id]);
      expect(await overHttp.inbox(to)).toEqual([]);
      expect(await inProcess.ack(to, [id])).toBe(1);
    } finally {
      await quickServer.close(1000);
    }
  });
});
