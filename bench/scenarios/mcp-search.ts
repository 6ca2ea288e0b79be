/**
 * Venue search as a developer's agent runs it over MCP, beside the same search over GraphQL, on
 * one server in one run: `tools/call agnt.search_venues` over Streamable HTTP (one session, the
 * answer as the SSE stream a client gets) and `venues(text, near)` over HTTP, both with the same
 * API key, both answering the same page of 20 (the GraphQL query asks for what the tool returns).
 * The city is venue-search's (2,000 venues around Lisbon); the 16 requests are its four words
 * from its four points within 5 km, ordered by relevance (the tool's order when there are words).
 *
 * Before any load, each body's answer over MCP is checked against the same body's over GraphQL:
 * the same venues in the same order. The table prints both and the ratio (MCP / GraphQL): what
 * the MCP layer (JSON-RPC, the session, the tool runner's checks and audit row, SSE framing)
 * costs on top of the same search.
 */
import { randomBytes } from 'node:crypto';
import { createApiKey } from '../../src/domain/identity/api-keys.ts';
import { AGNT_METRICS_PATH, type AgntParams, prepareAgnt, serveAgnt } from '../lib/agnt.ts';
import { type LoadResult, runLoad } from '../lib/load.ts';
import { defineCustomScenario, type LoadRequest } from '../lib/scenario.ts';
import { POINTS, seedCity, WORDS } from './venue-search.ts';

const PAGE_SIZE = 20;
const RADIUS_KM = 5;
const PROTOCOL_VERSION = '2025-06-18';
const REQUEST_ID = '__REQUEST_ID__';

const QUERY = `query SearchVenues($text: String!, $near: NearInput!) {
  venues(text: $text, near: $near, first: ${PAGE_SIZE}) {
    totalCount
    edges { distanceMeters node { id name category cuisines priceLevel address { city region } } }
  }
}`;

interface Row {
  via: 'GraphQL' | 'MCP';
  result: LoadResult;
}

export default defineCustomScenario<AgntParams>(import.meta.url, {
  name: 'mcp-search',
  description: `agnt.search_venues over MCP (Streamable HTTP) beside the same venues(text, near 5 km, first: ${PAGE_SIZE}) over GraphQL, one server`,
  serve: serveAgnt,
  async measure(run) {
    const { durationSeconds, warmupSeconds } = run.options;
    const connections = 10;
    run.progress('seeding the city and starting a server');
    const agnt = await prepareAgnt();
    let server: Awaited<ReturnType<typeof run.start>> | undefined;
    try {
      await seedCity(agnt);
      const db = agnt.database.prisma;
      const organization = await db.organization.create({ data: { name: 'Bench Developers' } });
      const owner = await db.user.create({
        data: { email: `bench-dev-${randomBytes(4).toString('hex')}@example.test` },
      });
      await db.membership.create({
        data: { organizationId: organization.id, userId: owner.id, role: 'OWNER' },
      });
      const { secret } = await createApiKey(
        db,
        { organizationId: organization.id, createdById: owner.id, name: 'bench', scopes: ['read'] },
        { keyPrefix: agnt.config.auth.apiKeyPrefix },
      );
      const authorization = `Bearer ${secret}`;
      server = await run.start(agnt.params);
      const origin = server.origin;
      const sessionId = await openSession(origin, authorization);

      const searches = WORDS.flatMap((text) => POINTS.map((point) => ({ text, ...point })));
      const graphql: LoadRequest = {
        method: 'POST',
        path: '/graphql',
        headers: { 'content-type': 'application/json', authorization },
        bodies: searches.map(({ text, latitude, longitude }) =>
          JSON.stringify({
            query: QUERY,
            operationName: 'SearchVenues',
            variables: { text, near: { latitude, longitude, radiusMeters: RADIUS_KM * 1000 } },
          }),
        ),
      };
      const mcp: LoadRequest = {
        method: 'POST',
        path: '/mcp',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization,
          'mcp-session-id': sessionId,
          'mcp-protocol-version': PROTOCOL_VERSION,
        },
        bodies: searches.map(({ text, latitude, longitude }) =>
          JSON.stringify({
            jsonrpc: '2.0',
            // Every request its own id: the session routes answers by id.
            id: REQUEST_ID,
            method: 'tools/call',
            params: {
              name: 'agnt.search_venues',
              arguments: { query: text, latitude, longitude, radius_km: RADIUS_KM, limit: PAGE_SIZE },
            },
          }),
        ),
        vary: [{ token: REQUEST_ID }],
        answers: { ok: '"structuredContent"' },
      };

      run.progress('checking that both ways answer the same venues');
      for (const [index, search] of searches.entries()) {
        const viaGraphql = await graphqlIds(origin, graphql, index);
        const viaMcp = await mcpIds(origin, mcp, index);
        if (viaGraphql.length !== PAGE_SIZE || viaGraphql.join() !== viaMcp.join()) {
          throw new Error(
            `"${search.text}" near ${search.name}: GraphQL found ${viaGraphql.length} venues, MCP ${viaMcp.length}, or in another order`,
          );
        }
      }

      const rows: Row[] = [];
      for (const [via, request] of [
        ['GraphQL', graphql],
        ['MCP', mcp],
      ] as const) {
        if (run.signal.aborted) break;
        run.progress(`${via}: warming up ${warmupSeconds} s, measuring ${durationSeconds} s`);
        if (warmupSeconds > 0)
          await runLoad({ origin, request }, { connections, durationSeconds: warmupSeconds }, run.signal);
        rows.push({
          via,
          result: await runLoad({ origin, request }, { connections, durationSeconds }, run.signal),
        });
      }
      return report(rows, connections);
    } finally {
      await server?.stop();
      await agnt.cleanup();
    }
  },
});

/** Initialises an MCP session as a client does (initialize, then initialized) and returns its id. */
async function openSession(origin: string, authorization: string): Promise<string> {
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization,
  };
  const response = await fetch(new URL('/mcp', origin), {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'bench', version: '1' },
      },
    }),
  });
  const sessionId = response.headers.get('mcp-session-id');
  const text = await response.text();
  if (response.status !== 200 || !sessionId)
    throw new Error(`initialize answered ${response.status} ${text.slice(0, 300)}`);
  const initialized = await fetch(new URL('/mcp', origin), {
    method: 'POST',
    headers: { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL_VERSION },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`initialized answered ${initialized.status}`);
  return sessionId;
}

async function graphqlIds(origin: string, request: LoadRequest, index: number): Promise<string[]> {
  const response = await fetch(new URL(request.path, origin), {
    method: 'POST',
    headers: request.headers,
    body: request.bodies![index],
  });
  const answer = (await response.json()) as {
    data?: { venues?: { edges: { node: { id: string } }[] } };
    errors?: unknown[];
  };
  if (answer.errors) throw new Error(`GraphQL answered ${JSON.stringify(answer.errors).slice(0, 300)}`);
  // Relay global ids: base64 of `Venue:<uuid>`.
  return (
    answer.data?.venues?.edges.map((edge) => Buffer.from(edge.node.id, 'base64').toString().split(':')[1]!) ??
    []
  );
}

async function mcpIds(origin: string, request: LoadRequest, index: number): Promise<string[]> {
  const response = await fetch(new URL(request.path, origin), {
    method: 'POST',
    headers: request.headers,
    body: request.bodies![index]!.replace(`"${REQUEST_ID}"`, '"check"'),
  });
  const text = await response.text();
  // An SSE stream of one event: `event: message` then `data: <JSON-RPC response>`.
  const data = /^data: (.*)$/m.exec(text)?.[1];
  if (!data) throw new Error(`tools/call answered ${response.status} ${text.slice(0, 300)}`);
  const answer = JSON.parse(data) as {
    result?: { isError?: boolean; structuredContent?: { venues: { venueId: string }[] } };
  };
  if (answer.result?.isError) throw new Error(`agnt.search_venues failed: ${data.slice(0, 300)}`);
  return answer.result?.structuredContent?.venues.map((venue) => venue.venueId) ?? [];
}

function report(rows: Row[], connections: number) {
  const fixed = (n: number, digits = 1) => n.toFixed(digits);
  const graphql = rows.find((r) => r.via === 'GraphQL')?.result;
  const mcp = rows.find((r) => r.via === 'MCP')?.result;
  const notes = [
    `${connections} connections, closed loop; the same 16 searches both ways, checked to find the same venues in the same order.`,
  ];
  if (graphql && mcp) {
    notes.push(
      `MCP / GraphQL: ${fixed(mcp.requestsPerSecond / graphql.requestsPerSecond, 2)}× the requests per second, ${fixed(mcp.p50Ms / graphql.p50Ms, 2)}× the p50 latency.`,
    );
  }
  return {
    header: ['via', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'failures'],
    rows: rows.map(({ via, result }) => [
      via,
      fixed(result.requestsPerSecond, 0),
      fixed(result.p50Ms, 2),
      fixed(result.p99Ms, 2),
      String(result.requests),
      String(result.failures),
    ]),
    notes,
    failures: rows.reduce((sum, { result }) => sum + result.failures, 0),
    data: { connections, rows, metricsPath: AGNT_METRICS_PATH },
  };
}
