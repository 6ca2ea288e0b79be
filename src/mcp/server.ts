/**
 * The MCP server for one session: the network's tools (src/domain/tools/network.ts) with their
 * input and output schemas, and each venue as a resource (`agnt://venues/{id}`, its card as JSON).
 * A tool call runs through the one tool runner (src/domain/tools/run.ts), as the API key of the
 * HTTP request it came in on, so input checks, the key's scope, the quota seam, the timeout and the
 * audit row are chat's own; every failure, an unknown tool included, comes back as a result with
 * `isError` and words the calling model can act on, never as a protocol error. Reading resources
 * runs the same tools (`agnt.list_venues`, `agnt.get_venue`), so a card read is a call like any
 * other: counted against the key's day and audited.
 */

import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type Tool as McpTool,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Actor } from '../domain/identity/actor.ts';
import type { ToolCaller } from '../domain/tools/contract.ts';
import { jsonSchema } from '../domain/tools/contract.ts';
import type { PublishedTool } from '../domain/tools/network.ts';
import type { ToolQuota } from '../domain/tools/quota.ts';
import { runTool, type ToolResult } from '../domain/tools/run.ts';
import { LIST_VENUES_MAX } from '../domain/tools/venues.ts';
import type { Db } from '../platform/db.ts';
import type { Logger } from '../platform/logger.ts';

export const SERVER_INFO = { name: 'agnt', version: '0.1.0' } as const;

export interface McpServerDeps {
  db: Db;
  tools: readonly PublishedTool[];
  timeoutMs: number;
  quota?: ToolQuota;
  now: () => Date;
  logger: Logger;
}

const VENUE_URI = /^agnt:\/\/venues\/([0-9a-f-]{36})$/i;

/** How a request's verified API key travels to the handlers: the transports hand `req.auth` on. */
export function authInfo(actor: Extract<Actor, { kind: 'apiKey' }>): AuthInfo {
  return { token: '', clientId: actor.apiKeyId, scopes: actor.scopes, extra: { actor } };
}

function actorOf(auth: AuthInfo | undefined): Extract<Actor, { kind: 'apiKey' }> {
  const actor = auth?.extra?.actor as Actor | undefined;
  // The HTTP routes authenticate every request before a transport sees it; this is unreachable.
  if (actor?.kind !== 'apiKey') throw new McpError(ErrorCode.InvalidRequest, 'No API key');
  return actor;
}

/** A refusal that names its cause (`DAILY_QUOTA_EXCEEDED: …`), as against a venue not found. */
const CODED = /^[A-Z][A-Z_]+: /;

/** The protocol error for a resource read whose tool did not answer OK. */
function resourceError(result: ToolResult, uri?: string): McpError {
  const error = result.error ?? 'Failed';
  if (uri && result.outcome === 'REFUSED' && !CODED.test(error)) {
    return new McpError(-32002, 'Resource not found', { uri });
  }
  return new McpError(
    result.outcome === 'ERROR' || result.outcome === 'TIMEOUT'
      ? ErrorCode.InternalError
      : ErrorCode.InvalidRequest,
    error,
    uri ? { uri } : undefined,
  );
}

export function createMcpServer(deps: McpServerDeps): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {}, resources: {} },
    instructions:
      'AGNT books tables at restaurants, bars and cafés. Find a venue (agnt.search_venues), check its free times (agnt.check_availability), then book (agnt.confirm_booking) and follow the venue’s answer (agnt.get_booking). Dates and times are the venue’s local ones.',
  });
  const byName = new Map(deps.tools.map((published) => [published.name, published]));
  const listed: McpTool[] = deps.tools.map(({ name, title, description, tool }) => ({
    name,
    title,
    description,
    inputSchema: jsonSchema(tool.input, 'input') as McpTool['inputSchema'],
    ...(tool.output ? { outputSchema: jsonSchema(tool.output, 'output') as McpTool['outputSchema'] } : {}),
    annotations: {
      title,
      readOnlyHint: tool.sideEffect === 'READ',
      destructiveHint: tool.destructive === true,
      openWorldHint: false,
    },
  }));

  const callerFor = (auth: AuthInfo | undefined, sessionId: string | undefined): ToolCaller => {
    const actor = actorOf(auth);
    return {
      userId: actor.userId,
      actor,
      channel: 'mcp',
      agentId: null,
      now: deps.now,
      logger: deps.logger.child({ 'apiKey.id': actor.apiKeyId, 'mcp.session': sessionId }),
    };
  };

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));

  /** A published tool run for a request of the session (resources are read through tools). */
  const run = (name: string, args: unknown, extra: { authInfo?: AuthInfo; sessionId?: string }) =>
    runTool(
      { db: deps.db, timeoutMs: deps.timeoutMs, quota: deps.quota },
      name,
      byName.get(name)?.tool,
      args,
      callerFor(extra.authInfo, extra.sessionId),
    );

  handleChecked(server, CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args } = request.params;
    const result = await run(name, args ?? {}, extra);
    if (result.outcome !== 'OK') {
      return { isError: true, content: [{ type: 'text', text: result.error ?? 'Failed' }] };
    }
    const value = result.value as Record<string, unknown>;
    return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
  });

  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [
      {
        uriTemplate: 'agnt://venues/{id}',
        name: 'venue',
        title: 'Venue card',
        description: 'One venue: address, contact, hours, party sizes and its own description',
        mimeType: 'application/json',
      },
    ],
  }));

  server.setRequestHandler(ListResourcesRequestSchema, async (_request, extra) => {
    const result = await run('agnt.list_venues', { limit: LIST_VENUES_MAX }, extra);
    if (result.outcome !== 'OK') throw resourceError(result);
    const { venues } = result.value as { venues: { venueId: string; name: string }[] };
    return {
      resources: venues.map((venue) => ({
        uri: `agnt://venues/${venue.venueId}`,
        name: venue.name,
        mimeType: 'application/json',
      })),
    };
  });

  handleChecked(server, ReadResourceRequestSchema, async (request, extra) => {
    const { uri } = request.params;
    const id = VENUE_URI.exec(uri)?.[1];
    // -32002 is MCP's "resource not found".
    if (!id) throw new McpError(-32002, 'Resource not found', { uri });
    const result = await run('agnt.get_venue', { venue_id: id }, extra);
    if (result.outcome !== 'OK') throw resourceError(result, uri);
    return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(result.value) }] };
  });

  return server;
}

/**
 * `server.setRequestHandler(schema, handler)` for a request with parameters, except that one its
 * schema refuses (`arguments: null`, no `params`, a number for a tool's name) is answered "Invalid
 * params" (-32602), where the SDK's own check answered "Internal error" (-32603) with zod's issues,
 * telling the client the fault was ours. The request is registered by its method alone, so the
 * check is this one (for `tools/call`, the SDK's Server makes its own first, also -32602).
 */
function handleChecked<S extends typeof CallToolRequestSchema | typeof ReadResourceRequestSchema, R>(
  server: Server,
  schema: S,
  handler: (
    request: z.output<S>,
    extra: Parameters<Parameters<Server['setRequestHandler']>[1]>[1],
  ) => Promise<R>,
): void {
  const method = schema.shape.method.value;
  server.setRequestHandler(z.object({ method: z.literal(method) }).passthrough(), (request, extra) => {
    const parsed = schema.safeParse(request);
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.join('.') || 'params';
      throw new McpError(ErrorCode.InvalidParams, `Invalid params: ${where} is not what ${method} takes`);
    }
    return handler(parsed.data as z.output<S>, extra) as never;
  });
}
