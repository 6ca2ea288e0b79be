/**
 * Anthropic's Messages API on loopback: `POST /v1/messages` as the real service takes it (an API
 * key and `anthropic-version` header, a JSON body with model, max_tokens and messages) and
 * answers with bodies in its shapes. Point the real `@anthropic-ai/sdk` at `url` (ANTHROPIC_BASE_URL).
 *
 * The SDK sends the key as `Authorization: Bearer <key>` (since its 1.x auth rework); the API also
 * takes it as `x-api-key`. The fake accepts either and refuses a request with neither.
 *
 * Answers are scripted: queued replies first (`enqueue`), then the handler (`respond`), then a
 * plain "ok". A reply may be delayed, to make a client time out.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type LoopbackReply, startLoopbackServer } from './server.ts';

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  delayMs?: number;
}

export interface RecordedRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read recorded bodies field by field.
  body: any;
}

// biome-ignore lint/suspicious/noExplicitAny: the parsed JSON body, as tests read it.
export type ReplyHandler = (body: any, index: number) => FakeReply | Promise<FakeReply>;

export interface ScriptedFake {
  /** Base URL of the server, without a trailing slash. */
  url: string;
  requests: RecordedRequest[];
  /** Scripts the answers: called for each request with its parsed body and its index. */
  respond(handler: ReplyHandler): void;
  /** Queues answers used one per request before the handler. */
  enqueue(...replies: FakeReply[]): void;
  close(): Promise<void>;
}

export async function startFakeAnthropic(): Promise<ScriptedFake> {
  return startScriptedFake({
    path: '/v1/messages',
    notFound: () => anthropicErrorBody('not_found_error', 'Not found'),
    refuse(request, body) {
      const auth = request.headers.authorization;
      const bearer = typeof auth === 'string' && /^Bearer \S+$/.test(auth);
      if (!bearer && !request.headers['x-api-key'])
        return anthropicError(401, 'x-api-key header is required');
      if (!request.headers['anthropic-version'])
        return {
          status: 400,
          body: anthropicErrorBody('invalid_request_error', 'anthropic-version: header is required'),
        };
      if (!isObject(body)) return anthropicError(400, 'There was an error parsing the body of your request');
      if (typeof body.model !== 'string') return anthropicError(400, 'model: Field required');
      if (typeof body.max_tokens !== 'number') return anthropicError(400, 'max_tokens: Field required');
      if (!Array.isArray(body.messages)) return anthropicError(400, 'messages: Field required');
      const pairing = toolPairingProblem(body.messages);
      if (pairing) return anthropicError(400, pairing);
      return null;
    },
    fallback: (body) => ({ body: anthropicMessage({ text: 'ok', model: body.model }) }),
  });
}

/** A Messages API response body. */
export function anthropicMessage(input: {
  text?: string;
  toolUses?: { name: string; input: unknown; id?: string }[];
  stopReason?: string;
  usage?: Partial<{
    input_tokens: number;
    output_tokens: number;
    cache_read_input_tokens: number;
    cache_creation_input_tokens: number;
  }>;
  model?: string;
}): unknown {
  const toolUses = input.toolUses ?? [];
  const content = [
    ...(input.text !== undefined ? [{ type: 'text', text: input.text }] : []),
    ...toolUses.map((use) => ({
      type: 'tool_use',
      id: use.id ?? `toolu_${randomBytes(12).toString('hex')}`,
      name: use.name,
      input: use.input,
    })),
  ];
  return {
    id: `msg_${randomBytes(12).toString('hex')}`,
    type: 'message',
    role: 'assistant',
    model: input.model ?? 'claude-sonnet-4-6',
    content,
    stop_reason: input.stopReason ?? (toolUses.length ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: {
      input_tokens: 12,
      output_tokens: 6,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      ...input.usage,
    },
  };
}

const ERROR_TYPES = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
  529: 'overloaded_error',
} as const;

/** An error reply in Anthropic's shape; a 429 says when to retry (`retry-after`, seconds). */
export function anthropicError(status: 400 | 401 | 429 | 500 | 503 | 529, message?: string): FakeReply {
  const type = ERROR_TYPES[status];
  return {
    status,
    headers: status === 429 ? { 'retry-after': '1' } : {},
    body: anthropicErrorBody(type, message ?? type.replaceAll('_', ' ')),
  };
}

function anthropicErrorBody(type: string, message: string) {
  return { type: 'error', error: { type, message }, request_id: `req_${randomBytes(12).toString('hex')}` };
}

/**
 * A loopback server that records each POST to `path` and answers it from a script. Shared by the
 * Anthropic and Ollama fakes, which differ only in their checks and default answer.
 */
export async function startScriptedFake(protocol: {
  path: string;
  notFound: () => unknown;
  /** A reply refusing the request (the service's own checks), or null to answer it. */
  // biome-ignore lint/suspicious/noExplicitAny: the parsed JSON body.
  refuse(request: IncomingMessage, body: any): FakeReply | null;
  fallback: ReplyHandler;
  /** Other POST paths the service answers, each by its own handler (not recorded in `requests`). */
  routes?: Record<string, ReplyHandler>;
}): Promise<ScriptedFake> {
  const requests: RecordedRequest[] = [];
  const queue: FakeReply[] = [];
  let handler: ReplyHandler = protocol.fallback;
  const server = await startLoopbackServer(async ({ method, path, raw }, _res, req) => {
    const route = method === 'POST' ? protocol.routes?.[path] : undefined;
    if (!route && (method !== 'POST' || path !== protocol.path))
      return answer({ status: 404, body: protocol.notFound() });
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    if (route) return answer(await route(body, -1));
    const index = requests.length;
    requests.push({ path, headers: { ...req.headers }, body });
    const refusal = protocol.refuse(req, body);
    return answer(refusal ?? queue.shift() ?? (await handler(body, index)));
  });
  return {
    url: server.url,
    requests,
    respond(next) {
      handler = next;
    },
    enqueue(...replies) {
      queue.push(...replies);
    },
    close: server.close,
  };
}

/** A scripted reply as the server sends it: JSON, `{}` when it has no body. */
function answer(reply: FakeReply): LoopbackReply {
  return {
    status: reply.status ?? 200,
    body: reply.body ?? {},
    headers: reply.headers,
    delayMs: reply.delayMs,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: narrows parsed JSON for field checks.
function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What the real API says about a history whose tool calls are not answered: every `tool_use` of
 * an assistant message needs its `tool_result` at the start of the next (user) message, and no
 * `tool_result` may answer a call that was not made just before.
 */
function toolPairingProblem(messages: unknown[]): string | null {
  const blocks = (m: unknown): Record<string, unknown>[] => {
    const content = (m as { content?: unknown }).content;
    return Array.isArray(content) ? (content as Record<string, unknown>[]) : [];
  };
  if ((messages[0] as { role?: string } | undefined)?.role !== 'user')
    return 'messages: the first message must use the "user" role';
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as { role?: string };
    const uses = message.role === 'assistant' ? blocks(message).filter((b) => b.type === 'tool_use') : [];
    const next = messages[i + 1] as { role?: string } | undefined;
    const results = next?.role === 'user' ? blocks(next).filter((b) => b.type === 'tool_result') : [];
    for (const use of uses) {
      if (!results.some((r) => r.tool_use_id === use.id)) {
        return `messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${String(use.id)}`;
      }
    }
    if (message.role === 'user') {
      const previous = messages[i - 1] as { role?: string } | undefined;
      const calls =
        previous?.role === 'assistant' ? blocks(previous).filter((b) => b.type === 'tool_use') : [];
      for (const result of blocks(message).filter((b) => b.type === 'tool_result')) {
        if (!calls.some((c) => c.id === result.tool_use_id)) {
          return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(result.tool_use_id)}`;
        }
      }
    }
  }
  return null;
}
