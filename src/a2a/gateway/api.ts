/**
 * The embedded gateway's HTTP API (CLAWPULSE.md, "Gateway HTTP API") as a plain function from a
 * request to an answer, with no Node HTTP types: the Node route (route.ts) and the in-process
 * `fetch` (in-process.ts) both run this one function, so the product's own agents and outside
 * callers get exactly the same answers.
 *
 * Paths are the gateway's own (`/api/agents/...`), wherever it is mounted. Every request needs
 * `X-API-Key`, checked before anything else is looked at; every answer is JSON, failures as
 * `{ "error": "..." }`. Like any ClawPulse gateway it checks the form of a message, never its
 * signature: receivers verify envelopes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseAgentId } from '../../integrations/clawpulse/wire.ts';
import type { Logger } from '../../platform/logger.ts';
import { holdsUnstorableText, nestedTooDeep, STORABLE_DEPTH } from '../../platform/storable.ts';
import type { GatewayStore } from './store.ts';

export interface GatewayRequest {
  method: string;
  /** The path below the gateway's base URL: `/api/agents/register`. */
  path: string;
  query: URLSearchParams;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw body (empty when there is none). */
  body: Uint8Array;
}

export interface GatewayResponse {
  status: number;
  headers: Record<string, string>;
  /** Sent as JSON. */
  json: unknown;
}

export type GatewayApi = (request: GatewayRequest) => Promise<GatewayResponse>;

/** Most messages one inbox read hands out, and the default. */
export const INBOX_LIMIT = 100;
/** Most ids one acknowledgement may name. */
export const ACK_LIMIT = 1000;

const KINDS = ['consumer', 'venue', 'platform'] as const;
const PRIORITIES = ['low', 'normal', 'high'] as const;

export function createGatewayApi(options: {
  store: GatewayStore;
  apiKey: string;
  bodyLimitBytes: number;
  /** Where a failure of the store is logged (it is answered 503, which callers retry). */
  logger?: Logger;
  /**
   * Agents this installation runs itself (its venues' and people's agents, its platform agent):
   * on the API outside callers reach, their inboxes are not read or acknowledged and their
   * registration not replaced by anyone else holding the gateway key (403). Unset on the
   * installation's own in-process API.
   */
  hostedHere?: (agentId: string) => Promise<boolean>;
}): GatewayApi {
  const { store, bodyLimitBytes } = options;
  // Both sides are hashed before the constant-time compare, so a key of another length is simply
  // unequal and its length leaks nothing.
  const expectedKey = digest(options.apiKey);

  return async (request) => {
    try {
      return await answer(request);
    } catch (error) {
      options.logger?.error(
        { err: error, 'gateway.path': request.path },
        'ClawPulse gateway: the store failed',
      );
      return fail(503, 'The gateway cannot reach its store; try again later', { 'retry-after': '5' });
    }
  };

  async function answer(request: GatewayRequest): Promise<GatewayResponse> {
    const presented = request.headers['x-api-key'];
    if (presented === undefined || !timingSafeEqual(digest(presented), expectedKey)) {
      return fail(401, 'Send the gateway key as X-API-Key', { 'www-authenticate': 'ApiKey' });
    }
    const route = routeOf(request.path);
    if (!route) return fail(404, `No gateway route ${request.path}`);
    if (request.method !== route.method) {
      return fail(405, `${request.path} takes ${route.method}`, { allow: route.method });
    }

    let body: Record<string, unknown> = {};
    if (route.method === 'POST') {
      const parsed = parseBody(request, bodyLimitBytes);
      if ('error' in parsed) return parsed.error;
      body = parsed.body;
    }

    switch (route.call) {
      case 'register': {
        const { agentId, kind, dna = {} } = body;
        if (typeof agentId !== 'string') return fail(400, 'agentId: a string is required');
        const parsedId = parseAgentId(agentId);
        if (!parsedId) return fail(400, 'agentId: not consumer-<uuid>, venue-<uuid> or platform-<name>');
        if (!KINDS.includes(kind as never)) return fail(400, 'kind: one of consumer, venue, platform');
        if (parsedId.kind !== kind) return fail(400, `kind: ${agentId} is a ${parsedId.kind} agent`);
        if (!isObject(dna)) return fail(400, 'dna: an object is required');
        if (await options.hostedHere?.(agentId)) return hosted(agentId);
        await store.register({ agentId, kind: parsedId.kind, dna });
        return ok(200, { agentId });
      }
      case 'message': {
        const { to, from, payload, priority = 'normal' } = body;
        if (typeof to !== 'string' || !parseAgentId(to)) return fail(400, 'to: not an agent id');
        if (typeof from !== 'string' || !parseAgentId(from)) return fail(400, 'from: not an agent id');
        if (!PRIORITIES.includes(priority as never)) return fail(400, 'priority: one of low, normal, high');
        const problem = signedEnvelopeProblem(payload);
        if (problem) return fail(400, `payload: ${problem}`);
        const id = await store.post({ to, from, priority: priority as (typeof PRIORITIES)[number], payload });
        if (id === null) return fail(404, `Unknown recipient ${to}`);
        return ok(202, { id });
      }
      case 'inbox': {
        const agentId = route.agentId;
        if (!agentId || !parseAgentId(agentId)) return fail(400, 'Not an agent id in the path');
        const raw = request.query.get('limit');
        const limit = raw === null ? INBOX_LIMIT : Number(raw);
        if (!/^\d+$/.test(raw ?? '100') || limit < 1 || limit > INBOX_LIMIT) {
          return fail(400, `limit: a whole number from 1 to ${INBOX_LIMIT}`);
        }
        if (await options.hostedHere?.(agentId)) return hosted(agentId);
        return ok(200, { messages: await store.read(agentId, limit) });
      }
      case 'ack': {
        const agentId = route.agentId;
        if (!agentId || !parseAgentId(agentId)) return fail(400, 'Not an agent id in the path');
        const { ids } = body;
        if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
          return fail(400, 'ids: an array of message ids is required');
        }
        if (ids.length > ACK_LIMIT) return fail(400, `ids: at most ${ACK_LIMIT} at once`);
        if (await options.hostedHere?.(agentId)) return hosted(agentId);
        return ok(200, { acked: await store.ack(agentId, ids) });
      }
    }
  }
}

type Call =
  | { call: 'register'; method: 'POST' }
  | { call: 'message'; method: 'POST' }
  | { call: 'inbox'; method: 'GET'; agentId: string | null }
  | { call: 'ack'; method: 'POST'; agentId: string | null };

function routeOf(path: string): Call | null {
  if (path === '/api/agents/register') return { call: 'register', method: 'POST' };
  if (path === '/api/agents/message') return { call: 'message', method: 'POST' };
  const inbox = /^\/api\/agents\/([^/]+)\/inbox(\/ack)?$/.exec(path);
  if (!inbox) return null;
  let agentId: string | null;
  try {
    agentId = decodeURIComponent(inbox[1]!);
  } catch {
    agentId = null;
  }
  return inbox[2] ? { call: 'ack', method: 'POST', agentId } : { call: 'inbox', method: 'GET', agentId };
}

function parseBody(
  request: GatewayRequest,
  limit: number,
): { body: Record<string, unknown> } | { error: GatewayResponse } {
  if (request.body.byteLength > limit) {
    return { error: fail(413, `Request body over ${limit} bytes`) };
  }
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    return { error: fail(415, 'Send the body as application/json') };
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.body));
  } catch {
    return { error: fail(400, 'The body is not JSON') };
  }
  if (!isObject(value)) return { error: fail(400, 'The body must be a JSON object') };
  // Kept as sent (a signed envelope cannot be changed): refused, where the store's write failed
  // and the caller was told to try again later, for ever.
  if (holdsUnstorableText(value)) {
    return {
      error: fail(400, 'The body holds text that cannot be kept: a NUL character or a lone surrogate'),
    };
  }
  // Likewise: the store's jsonb refused it, and the caller was told to try again later.
  if (nestedTooDeep(value)) {
    return { error: fail(400, `The body nests objects or arrays more than ${STORABLE_DEPTH} deep`) };
  }
  return { body: value };
}

/** What is wrong with a message's payload as a signed envelope (CLAWPULSE.md), or null. */
function signedEnvelopeProblem(payload: unknown): string | null {
  if (!isObject(payload)) return 'a signed envelope object is required';
  if (typeof payload.envelope !== 'string') return 'envelope: a string is required';
  if (typeof payload.ts !== 'number' || !Number.isFinite(payload.ts)) return 'ts: a number is required';
  if (typeof payload.kid !== 'string') return 'kid: a string is required';
  if (typeof payload.sig !== 'string') return 'sig: a string is required';
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** An outside caller asked to act as one of the installation's own agents. */
function hosted(agentId: string): GatewayResponse {
  return fail(403, `${agentId} is an agent this installation runs: only it reads its inbox and registers it`);
}

function ok(status: number, json: unknown): GatewayResponse {
  return { status, headers: {}, json };
}

function fail(status: number, error: string, headers: Record<string, string> = {}): GatewayResponse {
  return { status, headers, json: { error } };
}
