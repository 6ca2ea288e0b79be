/**
 * The ClawPulse gateway client (CLAWPULSE.md, "Gateway HTTP API"): register an agent, post a
 * signed envelope to another agent's inbox, read and acknowledge an inbox. Every request carries
 * `X-API-Key` and has a deadline. A failure is a ClawPulseError whose `kind` says what to do:
 * `transient` (try again later: timeouts, connection errors, 5xx), `rate_limited` (try again after
 * `retryAfterMs`), `unknown_recipient` (404: the agent is not on the network; do not retry),
 * `unauthorized` (401: our key is wrong; do not retry) and `permanent` (any other 4xx, or an answer
 * that does not follow the wire).
 *
 * `fetch` is injectable: the embedded gateway is reached in-process through the same requests
 * and answers (src/a2a/gateway), an outside gateway over HTTP.
 */
import type { AgentKindOnWire, InboxMessage, Priority, SignedEnvelope } from './wire.ts';

export type ClawPulseFailure =
  | 'transient'
  | 'rate_limited'
  | 'unknown_recipient'
  | 'unauthorized'
  | 'permanent';

export class ClawPulseError extends Error {
  override name = 'ClawPulseError';
  readonly kind: ClawPulseFailure;
  /** The gateway's HTTP status, when it answered at all. */
  readonly status: number | null;
  /** How long the gateway asked us to wait (429 `Retry-After`). */
  readonly retryAfterMs: number | null;
  constructor(
    kind: ClawPulseFailure,
    message: string,
    status: number | null = null,
    retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.kind = kind;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }

  /** Whether trying the same call again later may succeed. */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'rate_limited';
  }
}

export interface ClawPulseClient {
  /** Registers (or replaces) an agent's profile. */
  register(agent: { agentId: string; kind: AgentKindOnWire; dna: unknown }): Promise<void>;
  /** Posts a signed envelope to `to`'s inbox; the gateway's message id on 202. */
  send(message: {
    to: string;
    from: string;
    payload: SignedEnvelope;
    priority?: Priority;
  }): Promise<{ id: string }>;
  /** Up to `limit` (≤ 100) messages of an inbox, oldest first; unacknowledged ones come back after the visibility timeout. */
  inbox(agentId: string, limit?: number): Promise<InboxMessage[]>;
  /** Acknowledges messages by their gateway ids; acknowledging twice is harmless. */
  ack(agentId: string, ids: readonly string[]): Promise<number>;
}

export interface ClawPulseClientOptions {
  /** The gateway's base URL (without the trailing `/api`). */
  baseUrl: string;
  apiKey: string;
  /** Deadline of each call. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

export function createClawPulseClient(options: ClawPulseClientOptions): ClawPulseClient {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        headers: {
          'x-api-key': options.apiKey,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new ClawPulseError(
        'transient',
        timedOut
          ? `ClawPulse did not answer ${method} ${path} within ${options.timeoutMs} ms`
          : `ClawPulse could not be reached: ${(error as Error).message}`,
        null,
        null,
        { cause: error },
      );
    }
    const text = await response.text().catch(() => '');
    if (response.ok) {
      try {
        return text ? JSON.parse(text) : {};
      } catch {
        throw new ClawPulseError(
          'permanent',
          `ClawPulse answered ${method} ${path} with no JSON`,
          response.status,
        );
      }
    }
    const detail = `ClawPulse answered ${method} ${path} with ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
    if (response.status === 429) {
      throw new ClawPulseError(
        'rate_limited',
        detail,
        429,
        retryAfterMs(response.headers.get('retry-after')),
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new ClawPulseError('unauthorized', detail, response.status);
    }
    if (response.status === 404) throw new ClawPulseError('unknown_recipient', detail, 404);
    if (response.status >= 500 || response.status === 408) {
      throw new ClawPulseError('transient', detail, response.status);
    }
    throw new ClawPulseError('permanent', detail, response.status);
  }

  const agentPath = (agentId: string) => `/api/agents/${encodeURIComponent(agentId)}`;

  return {
    async register(agent) {
      await call('POST', '/api/agents/register', agent);
    },
    async send(message) {
      const answer = (await call('POST', '/api/agents/message', {
        to: message.to,
        from: message.from,
        payload: message.payload,
        priority: message.priority ?? 'normal',
      })) as { id?: unknown };
      if (typeof answer.id !== 'string') {
        throw new ClawPulseError('permanent', 'ClawPulse accepted a message without giving its id');
      }
      return { id: answer.id };
    },
    async inbox(agentId, limit = 100) {
      const n = Math.max(1, Math.min(100, Math.trunc(limit)));
      const answer = (await call('GET', `${agentPath(agentId)}/inbox?limit=${n}`)) as { messages?: unknown };
      if (!Array.isArray(answer.messages)) {
        throw new ClawPulseError('permanent', 'ClawPulse answered an inbox read without messages');
      }
      return answer.messages as InboxMessage[];
    },
    async ack(agentId, ids) {
      if (ids.length === 0) return 0;
      const answer = (await call('POST', `${agentPath(agentId)}/inbox/ack`, { ids })) as { acked?: unknown };
      return typeof answer.acked === 'number' ? answer.acked : 0;
    },
  };
}

/** `Retry-After` in seconds or as an HTTP date; a minute when absent or unreadable. */
function retryAfterMs(header: string | null): number {
  if (!header) return 60_000;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 60_000;
}
