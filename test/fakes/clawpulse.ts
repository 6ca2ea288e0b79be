/**
 * A loopback ClawPulse gateway that follows CLAWPULSE.md ("Gateway HTTP API"): agents register,
 * messages are posted to a registered agent's inbox (202 with an id; 404 for an unknown agent),
 * inboxes are read oldest first with a visibility timeout (a message handed out and not
 * acknowledged is handed out again), acknowledgements are idempotent, and every call needs the
 * `X-API-Key`. Like the real gateway it does not verify envelopes: receivers do.
 *
 * It also gives what the real gateway gives on a bad day, on demand: a call that never answers
 * (timeout), 429 with `Retry-After`, 5xx, a connection reset, the whole gateway down, every message
 * delivered twice, and inboxes handed out newest first.
 */
import { randomUUID } from 'node:crypto';
import { type LoopbackReply, type LoopbackServer, parseJson, startLoopbackServer } from './server.ts';

export type GatewayCall = 'register' | 'message' | 'inbox' | 'ack';

/** A failure to give instead of an answer: an HTTP status, a call that hangs, or a reset connection. */
export type InjectedFailure =
  | { status: number; retryAfter?: string; body?: unknown }
  | { hang: true }
  | { reset: true };

export interface StoredMessage {
  id: string;
  from: string;
  to: string;
  priority: string;
  payload: unknown;
  receivedAt: Date;
  /** Handed out, not acknowledged, hidden until then. */
  invisibleUntil: Date | null;
  deliveries: number;
  ackedAt: Date | null;
}

export interface FakeClawPulse {
  url: string;
  apiKey: string;
  server: LoopbackServer;
  agents: Map<string, { kind: string; dna: unknown; registrations: number }>;
  messages: StoredMessage[];
  /** The next `times` calls of `call` (or of any call) fail so. */
  failNext(call: GatewayCall | 'any', failure: InjectedFailure, times?: number): void;
  /** Every call fails so until `up()`. */
  down(failure?: InjectedFailure): void;
  up(): void;
  /** Every message is handed out twice (the second time at once, before any acknowledgement). */
  duplicateDelivery: boolean;
  /** Inboxes are handed out newest first. */
  reorder: boolean;
  /** Moves the gateway's clock (visibility timeouts) forward. */
  advance(ms: number): void;
  /** The gateway's clock (what it stamps `receivedAt` with). */
  now(): Date;
  /** Registers an agent directly (as if it had registered itself). */
  register(agentId: string, kind?: string): void;
  /** Messages posted to an agent and not yet acknowledged. */
  pending(agentId: string): StoredMessage[];
  close(): Promise<void>;
}

export async function startFakeClawPulse(
  options: { apiKey?: string; visibilityTimeoutMs?: number } = {},
): Promise<FakeClawPulse> {
  const apiKey = options.apiKey ?? 'fake-clawpulse-key-0123456789';
  const visibilityMs = options.visibilityTimeoutMs ?? 60_000;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const agents: FakeClawPulse['agents'] = new Map();
  const messages: StoredMessage[] = [];
  const planned: { call: GatewayCall | 'any'; failure: InjectedFailure; times: number }[] = [];
  let outage: InjectedFailure | null = null;

  function injected(call: GatewayCall): InjectedFailure | null {
    if (outage) return outage;
    const index = planned.findIndex((p) => p.call === call || p.call === 'any');
    if (index < 0) return null;
    const plan = planned[index]!;
    plan.times -= 1;
    if (plan.times <= 0) planned.splice(index, 1);
    return plan.failure;
  }

  const fake: FakeClawPulse = {
    url: '',
    apiKey,
    server: undefined as unknown as LoopbackServer,
    agents,
    messages,
    duplicateDelivery: false,
    reorder: false,
    failNext(call, failure, times = 1) {
      planned.push({ call, failure, times });
    },
    down(failure = { status: 503, body: { error: 'gateway unavailable' } }) {
      outage = failure;
    },
    up() {
      outage = null;
    },
    advance(ms) {
      offset += ms;
    },
    now,
    register(agentId, kind = agentId.split('-')[0]!) {
      const known = agents.get(agentId);
      agents.set(agentId, { kind, dna: known?.dna ?? {}, registrations: (known?.registrations ?? 0) + 1 });
    },
    pending: (agentId) => messages.filter((m) => m.to === agentId && !m.ackedAt),
    close: () => fake.server.close(),
  };

  fake.server = await startLoopbackServer(async (request, res) => {
    if (request.headers['x-api-key'] !== apiKey) return { status: 401, body: { error: 'invalid API key' } };
    const route = routeOf(request.method, request.path);
    if (!route) return { status: 404, body: { error: 'no such route' } };
    const failure = injected(route.call);
    if (failure) {
      if ('hang' in failure) return { status: 504, delayMs: 3_600_000 };
      if ('reset' in failure) {
        res.destroy();
        return undefined;
      }
      return {
        status: failure.status,
        body: failure.body ?? { error: `injected ${failure.status}` },
        headers: failure.retryAfter ? { 'retry-after': failure.retryAfter } : undefined,
      };
    }
    let body: Record<string, unknown> | undefined;
    try {
      body = parseJson<Record<string, unknown>>(request.raw);
    } catch {
      return { status: 400, body: { error: 'body is not JSON' } };
    }
    return answer(route, body ?? {}, request.url.searchParams);
  });
  fake.url = fake.server.url;

  function answer(
    route: NonNullable<ReturnType<typeof routeOf>>,
    body: Record<string, unknown>,
    query: URLSearchParams,
  ): LoopbackReply {
    switch (route.call) {
      case 'register': {
        const { agentId, kind } = body;
        if (typeof agentId !== 'string' || !['consumer', 'venue', 'platform'].includes(String(kind))) {
          return {
            status: 400,
            body: { error: 'agentId and kind (consumer, venue, platform) are required' },
          };
        }
        const known = agents.get(agentId);
        agents.set(agentId, {
          kind: String(kind),
          dna: body.dna ?? {},
          registrations: (known?.registrations ?? 0) + 1,
        });
        return { status: 200, body: { agentId } };
      }
      case 'message': {
        const { to, from, payload } = body;
        if (typeof to !== 'string' || typeof from !== 'string' || typeof payload !== 'object' || !payload) {
          return { status: 400, body: { error: 'to, from and payload are required' } };
        }
        if (!agents.has(to)) return { status: 404, body: { error: `unknown recipient ${to}` } };
        const message: StoredMessage = {
          id: randomUUID(),
          from,
          to,
          priority: typeof body.priority === 'string' ? body.priority : 'normal',
          payload,
          receivedAt: now(),
          invisibleUntil: null,
          deliveries: 0,
          ackedAt: null,
        };
        messages.push(message);
        return { status: 202, body: { id: message.id } };
      }
      case 'inbox': {
        const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 100) || 100));
        const at = now();
        let due = messages.filter(
          (m) => m.to === route.agentId && !m.ackedAt && (!m.invisibleUntil || m.invisibleUntil <= at),
        );
        if (fake.reorder) due = [...due].reverse();
        const handed = due.slice(0, limit);
        for (const m of handed) {
          m.invisibleUntil = new Date(at.getTime() + visibilityMs);
          m.deliveries += 1;
        }
        const out = fake.duplicateDelivery ? handed.flatMap((m) => [m, m]) : handed;
        return {
          status: 200,
          body: {
            messages: out.map((m) => ({
              id: m.id,
              from: m.from,
              to: m.to,
              priority: m.priority,
              payload: m.payload,
              receivedAt: m.receivedAt.toISOString(),
            })),
          },
        };
      }
      case 'ack': {
        const ids = Array.isArray(body.ids) ? body.ids.map(String) : [];
        let acked = 0;
        for (const m of messages) {
          if (m.to === route.agentId && ids.includes(m.id) && !m.ackedAt) {
            m.ackedAt = now();
            acked += 1;
          }
        }
        return { status: 200, body: { acked } };
      }
    }
  }

  return fake;
}

function routeOf(method: string, path: string): { call: GatewayCall; agentId?: string } | null {
  if (method === 'POST' && path === '/api/agents/register') return { call: 'register' };
  if (method === 'POST' && path === '/api/agents/message') return { call: 'message' };
  const inbox = /^\/api\/agents\/([^/]+)\/inbox(\/ack)?$/.exec(path);
  if (!inbox) return null;
  const agentId = decodeURIComponent(inbox[1]!);
  if (inbox[2] && method === 'POST') return { call: 'ack', agentId };
  if (!inbox[2] && method === 'GET') return { call: 'inbox', agentId };
  return null;
}
