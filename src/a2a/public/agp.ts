/**
 * `POST /a2a/v1`: the AGP envelope (CLAWPULSE.md) from outside agents with an API key, answered
 * in the same request with an AGP reply (`in_reply_to` the request's id). Each intent is one of
 * the network's published tools (src/domain/tools/network.ts), run through the one tool runner as
 * the key, so input checks, the key's scope, the tier's quota, the timeout and the audit row
 * (channel A2A) are MCP's and chat's own:
 *
 * | intent            | tool                  | notes                                         |
 * |-------------------|-----------------------|-----------------------------------------------|
 * | `network.ping`    | `agnt.ping`           |                                               |
 * | `booking.search`  | `agnt.search_venues`  | answers cached 5 minutes per key and query    |
 * | `venue.list`      | `agnt.list_venues`    | at most 100 a page (a larger limit is capped) |
 * | `booking.confirm` | `agnt.confirm_booking`| pro tier; a key with the write scope          |
 *
 * Anything else is a typed error, `{ error: { code, message } }` with a 4xx status (beside the
 * request's id where it had one): not JSON, not an envelope, a protocol we do not speak, an
 * intent we do not know, a payload the tool refuses. Envelopes here are not signed: the API key
 * is the sender's credential, and `from` is the sender's own name for itself, echoed back.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { admit } from '../../api/admit-key.ts';
import { nextUtcMidnight } from '../../domain/developer/quota.ts';
import type { ToolCaller } from '../../domain/tools/contract.ts';
import type { PublishedTool } from '../../domain/tools/network.ts';
import type { ToolQuota } from '../../domain/tools/quota.ts';
import { runTool, type ToolResult } from '../../domain/tools/run.ts';
import { LIST_VENUES_MAX } from '../../domain/tools/venues.ts';
import { PayloadTooLargeError, type RequestContext, readBody, sendJson } from '../../platform/http.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { nestedTooDeep, STORABLE_DEPTH } from '../../platform/storable.ts';
import type { Services } from '../../wiring/services.ts';
import { type AnswerCache, cachedTool } from './cache.ts';

export const AGP_PATH = '/a2a/v1';
/** Who answers: the network itself. */
export const NETWORK_AGENT = 'network:agnt';

/** `agp/1` is the wire's own name; `openclaw/a2a/v1` is what the reference network's clients send. */
export const PROTOCOLS = ['agp/1', 'openclaw/a2a/v1'] as const;

export const INTENTS = {
  'network.ping': 'agnt.ping',
  'booking.search': 'agnt.search_venues',
  'venue.list': 'agnt.list_venues',
  'booking.confirm': 'agnt.confirm_booking',
} as const;
type PublicIntent = keyof typeof INTENTS;

export type AgpErrorCode =
  | 'INVALID_JSON'
  | 'INVALID_ENVELOPE'
  | 'UNSUPPORTED_PROTOCOL'
  | 'UNKNOWN_INTENT'
  | 'INVALID_PAYLOAD'
  | 'NOT_ALLOWED'
  | 'READ_ONLY_KEY'
  | 'PRO_TIER_REQUIRED'
  | 'REFUSED'
  | 'PAYMENT_REQUIRED'
  | 'RATE_LIMITED'
  | 'DAILY_QUOTA_EXCEEDED'
  | 'UNAUTHORIZED'
  | 'TOO_LARGE'
  | 'TIMEOUT'
  | 'FAILED';

const envelopeSchema = z.object({
  id: z.string().trim().min(1, 'The envelope needs an id').max(200),
  from: z.string().trim().min(1, 'The envelope needs a sender (from)').max(200),
  to: z.string().max(200).optional(),
  intent: z.string().trim().min(1, 'The envelope needs an intent').max(100),
  payload: z.record(z.string(), z.unknown()).optional(),
  agent_context: z.record(z.string(), z.unknown()).optional(),
  ttl_ms: z.number().int().nonnegative().optional(),
  timestamp: z.string().max(100).optional(),
});

export interface AgpEndpointOptions {
  tools: readonly PublishedTool[];
  quota?: ToolQuota;
  cache: AnswerCache;
}

export function agpHandler(services: Services, metrics: Metrics, options: AgpEndpointOptions) {
  const byName = new Map(options.tools.map((published) => [published.name, published.tool]));
  const search = byName.get(INTENTS['booking.search']);
  if (search) byName.set(INTENTS['booking.search'], cachedTool(search, options.cache));

  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const actor = await admit(services, metrics, req, res, ctx, (response, status, refusal) =>
      fail(response, status, status === 401 ? 'UNAUTHORIZED' : 'RATE_LIMITED', refusal.message, {
        headers: refusal.headers,
      }),
    );
    if (!actor) return;

    let raw: Buffer;
    try {
      raw = await readBody(req, services.config.http.bodyLimitBytes);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) return fail(res, 413, 'TOO_LARGE', error.message);
      throw error;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return fail(res, 400, 'INVALID_JSON', 'The body is not JSON: post one AGP envelope');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return fail(res, 400, 'INVALID_ENVELOPE', 'The body is not an AGP envelope (a JSON object)');
    }
    // Refused before any tool runs (or is counted): echoing one nested a hundred thousand deep
    // overflowed the stack after the call, answering 500.
    if (nestedTooDeep(body)) {
      return fail(res, 400, 'INVALID_ENVELOPE', `The envelope nests more than ${STORABLE_DEPTH} levels deep`);
    }
    const fields = body as Record<string, unknown>;
    // The reference network's clients spell the sender `from_agent`.
    if (fields.from === undefined && fields.from_agent !== undefined) fields.from = fields.from_agent;
    const requestId = typeof fields.id === 'string' ? fields.id.slice(0, 200) : undefined;
    if (typeof fields.protocol !== 'string' || !(PROTOCOLS as readonly string[]).includes(fields.protocol)) {
      return fail(
        res,
        400,
        'UNSUPPORTED_PROTOCOL',
        `Unsupported protocol ${JSON.stringify(fields.protocol ?? null)}: this endpoint speaks ${PROTOCOLS.join(' (or ')})`,
        { inReplyTo: requestId },
      );
    }
    const parsed = envelopeSchema.safeParse(fields);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join('.') || 'envelope'}: ${issue.message}`)
        .join('; ');
      return fail(res, 400, 'INVALID_ENVELOPE', issues, { inReplyTo: requestId });
    }
    const envelope = parsed.data;
    if (!Object.hasOwn(INTENTS, envelope.intent)) {
      return fail(
        res,
        400,
        'UNKNOWN_INTENT',
        `Unknown intent ${JSON.stringify(envelope.intent)}: one of ${Object.keys(INTENTS).join(', ')}`,
        { inReplyTo: envelope.id },
      );
    }
    const intent = envelope.intent as PublicIntent;
    const name = INTENTS[intent];
    const caller: ToolCaller = {
      userId: actor.userId,
      actor,
      channel: 'a2a',
      agentId: null,
      now: services.now,
      logger: ctx.logger.child({ 'apiKey.id': actor.apiKeyId, 'agp.intent': intent }),
    };
    const result = await runTool(
      { db: services.db, timeoutMs: services.config.llm.toolTimeoutMs, quota: options.quota },
      name,
      byName.get(name),
      intentInput(intent, envelope.payload ?? {}),
      caller,
    );
    if (result.outcome !== 'OK') {
      const { status, code } = failureOf(result);
      // The key's day is spent (a 429 saying when it resets, as GraphQL answers it), or a limit on
      // making bookings says when to try again.
      const headers =
        code === 'DAILY_QUOTA_EXCEEDED'
          ? {
              'retry-after': String(
                Math.max(
                  1,
                  Math.ceil((nextUtcMidnight(services.now()).getTime() - services.now().getTime()) / 1000),
                ),
              ),
            }
          : code === 'RATE_LIMITED' && result.retryAfterSeconds !== undefined
            ? { 'retry-after': String(Math.max(1, Math.ceil(result.retryAfterSeconds))) }
            : undefined;
      return fail(res, status, code, message(result), { inReplyTo: envelope.id, headers });
    }
    sendJson(res, 200, {
      protocol: fields.protocol,
      id: randomUUID(),
      from: NETWORK_AGENT,
      to: envelope.from,
      intent,
      in_reply_to: envelope.id,
      payload: result.value,
      agent_context: envelope.agent_context ?? {},
      timestamp: services.now().toISOString(),
    });
  };
}

/** The tool's input from an intent's payload: a list asking for more than a page gets a page. */
function intentInput(intent: PublicIntent, payload: Record<string, unknown>): Record<string, unknown> {
  if (intent === 'venue.list' && typeof payload.limit === 'number' && payload.limit > LIST_VENUES_MAX) {
    return { ...payload, limit: LIST_VENUES_MAX };
  }
  return payload;
}

/** The runner's error carries its refusal's code first (`READ_ONLY_KEY: …`) when it has one. */
function failureOf(result: ToolResult): { status: number; code: AgpErrorCode } {
  switch (result.outcome) {
    case 'INVALID':
      return { status: 400, code: 'INVALID_PAYLOAD' };
    case 'TIMEOUT':
      return { status: 504, code: 'TIMEOUT' };
    case 'REFUSED': {
      const code = /^([A-Z][A-Z_]+): /.exec(result.error ?? '')?.[1];
      if (code === 'READ_ONLY_KEY' || code === 'NOT_ALLOWED' || code === 'PRO_TIER_REQUIRED') {
        return { status: 403, code };
      }
      if (code === 'DAILY_QUOTA_EXCEEDED' || code === 'RATE_LIMITED') return { status: 429, code };
      if (code === 'PAYMENT_REQUIRED') return { status: 402, code };
      return { status: 422, code: 'REFUSED' };
    }
    default:
      return { status: 500, code: 'FAILED' };
  }
}

function message(result: ToolResult): string {
  return (result.error ?? 'Failed').replace(
    /^(READ_ONLY_KEY|NOT_ALLOWED|PRO_TIER_REQUIRED|DAILY_QUOTA_EXCEEDED|RATE_LIMITED|PAYMENT_REQUIRED): /,
    '',
  );
}

function fail(
  res: ServerResponse,
  status: number,
  code: AgpErrorCode,
  text: string,
  options: { inReplyTo?: string; headers?: Record<string, string> } = {},
): void {
  sendJson(
    res,
    status,
    {
      error: { code, message: text },
      ...(options.inReplyTo ? { in_reply_to: options.inReplyTo } : {}),
    },
    options.headers,
  );
}
