/**
 * MCP over HTTP: Streamable HTTP at `/mcp` (the current transport) and the legacy HTTP+SSE
 * transport at `/mcp/sse`, whose stream names `/mcp/messages?sessionId=…` as the place to post.
 *
 * Every request is authenticated first, by `Authorization: Bearer <API key>` as GraphQL does it
 * (a missing, wrong or non-key credential is a 401 with `WWW-Authenticate: Bearer`), then counted
 * against the same per-IP and per-key request limits as the API (a 429 with `Retry-After`). Each
 * tool call (not the protocol's own messages) also counts against the key's daily quota; a call
 * past it is an `isError` result that says when the quota resets (src/domain/tools/quota.ts). A
 * session is bound to the key that opened it: the same session id presented with another key is
 * refused (403), so a leaked session id is worth nothing without its key. Each request's own key
 * (its scopes and role as of now) is what tool calls run as.
 *
 * Sessions live in this process's memory, as the SDK's transports do: behind a load balancer with
 * several `api` processes, route by the `Mcp-Session-Id` header (or the `sessionId` query of the
 * legacy transport); a process that does not know a session answers 404, which tells a client to
 * start a new one. Idle sessions are closed after SESSION_IDLE_MS, and one key holds at most
 * SESSIONS_PER_KEY at a time (the oldest is closed for a new one).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { admit, type KeyActor, type Refuse } from '../api/admit-key.ts';
import type { PublishedTool } from '../domain/tools/network.ts';
import type { ToolQuota } from '../domain/tools/quota.ts';
import { type RequestContext, type Route, readBody, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Services } from '../wiring/services.ts';
import { authInfo, createMcpServer } from './server.ts';

export const MCP_PATH = '/mcp';
export const MCP_SSE_PATH = '/mcp/sse';
export const MCP_MESSAGES_PATH = '/mcp/messages';

/** A session nobody has used for this long is closed. */
export const SESSION_IDLE_MS = 30 * 60_000;
/** The most sessions one API key holds open at once. */
export const SESSIONS_PER_KEY = 20;

interface Session {
  apiKeyId: string;
  transport: StreamableHTTPServerTransport | SSEServerTransport;
  server: Server;
  usedAt: number;
}

export interface McpEndpoint {
  routes: Route[];
  /** Closes every session (at shutdown). */
  close(): Promise<void>;
  /** Open sessions, for tests and metrics. */
  sessionCount(): number;
}

export function mcpEndpoint(
  services: Services,
  metrics: Metrics,
  options: { tools: readonly PublishedTool[]; quota?: ToolQuota },
): McpEndpoint {
  const sessions = new Map<string, Session>();

  // A session outlives the request that opened it: its calls log under the process's logger,
  // with the key and session (server.ts), not under the first request's id.
  const newServer = () =>
    createMcpServer({
      db: services.db,
      tools: options.tools,
      timeoutMs: services.config.llm.toolTimeoutMs,
      quota: options.quota,
      now: services.now,
      logger: services.logger,
    });

  const forget = (id: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    void session.server.close().catch(() => {});
  };

  /** Keeps one key within its share of sessions: the least recently used goes first. */
  const makeRoom = (apiKeyId: string) => {
    const mine = [...sessions].filter(([, s]) => s.apiKeyId === apiKeyId);
    if (mine.length < SESSIONS_PER_KEY) return;
    mine.sort(([, a], [, b]) => a.usedAt - b.usedAt);
    for (const [id] of mine.slice(0, mine.length - SESSIONS_PER_KEY + 1)) forget(id);
  };

  const sweep = setInterval(() => {
    const cutoff = Date.now() - SESSION_IDLE_MS;
    for (const [id, session] of sessions) if (session.usedAt < cutoff) forget(id);
  }, 60_000);
  sweep.unref();

  /** Authenticates and rate limits (as public A2A does); answers the refusal itself and returns null. */
  const admitKey = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) =>
    admit(services, metrics, req, res, ctx, refuse, 'MCP');

  /**
   * A request's one JSON-RPC message; answers the refusal itself and returns undefined otherwise.
   * A batch (an array of messages, which MCP since 2025-06-18 no longer has) is refused: each
   * message is one request against the key's limits, as each is one tool call against its day.
   * An array of one message passes: Streamable HTTP answers it as an array of one.
   */
  const readMessage = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    const raw = await readBody(req, services.config.http.bodyLimitBytes);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      rpcError(res, 400, -32700, 'Parse error: the body is not JSON');
      return undefined;
    }
    if (Array.isArray(body) && body.length !== 1) {
      rpcError(res, 400, -32600, 'Invalid request: send one JSON-RPC message per request, not a batch');
      return undefined;
    }
    return body;
  };

  /** The session a request names, if it is this key's; answers the refusal itself otherwise. */
  const sessionFor = (id: string, actor: KeyActor, res: ServerResponse): Session | null => {
    const session = sessions.get(id);
    if (!session) {
      rpcError(res, 404, -32001, 'Session not found: start a new one');
      return null;
    }
    if (session.apiKeyId !== actor.apiKeyId) {
      rpcError(res, 403, -32000, 'This session belongs to another API key');
      return null;
    }
    session.usedAt = Date.now();
    return session;
  };

  const streamable = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const actor = await admitKey(req, res, ctx);
    if (!actor) return;
    const request = req as IncomingMessage & { auth?: ReturnType<typeof authInfo> };
    request.auth = authInfo(actor);
    let body: unknown;
    if (req.method === 'POST') {
      body = await readMessage(req, res);
      if (body === undefined) return;
    }
    const id = headerValue(req.headers['mcp-session-id']);
    if (id) {
      const session = sessionFor(id, actor, res);
      if (!session) return;
      if (!(session.transport instanceof StreamableHTTPServerTransport)) {
        rpcError(res, 400, -32000, 'This session uses the HTTP+SSE transport: post to its messages endpoint');
        return;
      }
      await session.transport.handleRequest(request, res, body);
      return;
    }
    if (
      req.method !== 'POST' ||
      !(Array.isArray(body) ? body.some(isInitializeRequest) : isInitializeRequest(body))
    ) {
      rpcError(
        res,
        400,
        -32000,
        'No session: start one with an initialize request (no Mcp-Session-Id header)',
      );
      return;
    }
    makeRoom(actor.apiKeyId);
    const server = newServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (sessionId) => {
        sessions.set(sessionId, { apiKeyId: actor.apiKeyId, transport, server, usedAt: Date.now() });
      },
      onsessionclosed: (sessionId) => forget(sessionId),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(request, res, body);
  };

  const sseOpen = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const actor = await admitKey(req, res, ctx);
    if (!actor) return;
    makeRoom(actor.apiKeyId);
    const transport = new SSEServerTransport(MCP_MESSAGES_PATH, res);
    const server = newServer();
    const sessionId = transport.sessionId;
    sessions.set(sessionId, { apiKeyId: actor.apiKeyId, transport, server, usedAt: Date.now() });
    transport.onclose = () => sessions.delete(sessionId);
    res.on('close', () => forget(sessionId));
    await server.connect(transport);
  };

  const sseMessage = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const actor = await admitKey(req, res, ctx);
    if (!actor) return;
    const id = ctx.url.searchParams.get('sessionId');
    if (!id) {
      req.resume();
      rpcError(res, 400, -32000, 'Name the session: ?sessionId= from the stream’s endpoint event');
      return;
    }
    const session = sessionFor(id, actor, res);
    if (!session) {
      req.resume();
      return;
    }
    if (!(session.transport instanceof SSEServerTransport)) {
      req.resume();
      rpcError(res, 400, -32000, 'This session uses Streamable HTTP: post to /mcp');
      return;
    }
    const body = await readMessage(req, res);
    if (body === undefined) return;
    const request = req as IncomingMessage & { auth?: ReturnType<typeof authInfo> };
    request.auth = authInfo(actor);
    // This transport takes one message and no array: an array of one is that message (readMessage).
    await session.transport.handlePostMessage(request, res, Array.isArray(body) ? body[0] : body);
  };

  return {
    routes: [
      { method: 'GET', path: MCP_SSE_PATH, handler: sseOpen },
      { method: 'POST', path: MCP_MESSAGES_PATH, handler: sseMessage },
      { method: '*', path: MCP_PATH, handler: streamable },
    ],
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((session) => session.server.close().catch(() => {})));
      sessions.clear();
    },
    sessionCount: () => sessions.size,
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** MCP's refusals: a 401 as OAuth bearer resources answer it, a 429 as a JSON-RPC error. */
const refuse: Refuse = (res, status, refusal) => {
  const body =
    status === 401
      ? { error: 'unauthorized', error_description: refusal.message }
      : { jsonrpc: '2.0', id: null, error: { code: -32000, message: refusal.message } };
  sendJson(res, status, body, refusal.headers);
};

function rpcError(res: ServerResponse, status: number, code: number, message: string) {
  sendJson(res, status, { jsonrpc: '2.0', id: null, error: { code, message } });
}
