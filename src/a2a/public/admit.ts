/**
 * Who may come in through public A2A: an organisation's API key as `Authorization: Bearer <key>`,
 * as for MCP and GraphQL. A missing, wrong or non-key credential is a 401 with
 * `WWW-Authenticate: Bearer`; every request counts against the API's per-IP and per-key request
 * limits (a 429 with `Retry-After`). The refusal is answered here, in the shape the way in speaks.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, credentialKind } from '../../api/auth.ts';
import { rateLimit } from '../../api/rate-limit.ts';
import type { Actor } from '../../domain/identity/actor.ts';
import { AuthenticationError, RateLimitedError } from '../../platform/errors.ts';
import type { RequestContext } from '../../platform/http.ts';
import type { Metrics } from '../../platform/metrics.ts';
import type { Services } from '../../wiring/services.ts';

export type KeyActor = Extract<Actor, { kind: 'apiKey' }>;

/** How a refusal is written: the AGP endpoint and JSON-RPC each have their own error body. */
export type Refuse = (
  res: ServerResponse,
  status: 401 | 429,
  refusal: { message: string; headers: Record<string, string> },
) => void;

/** Authenticates and rate limits; answers the refusal itself (through `refuse`) and returns null. */
export async function admit(
  services: Services,
  metrics: Metrics,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  refuse: Refuse,
): Promise<KeyActor | null> {
  let actor: Actor;
  try {
    actor = await authenticate(services, req.headers, ctx.ip);
  } catch (error) {
    req.resume();
    if (error instanceof RateLimitedError) {
      metrics.rateLimited.inc({ limit: 'authFailures' });
      refuse(res, 429, tooMany(error.retryAfterSeconds));
      return null;
    }
    if (!(error instanceof AuthenticationError)) throw error;
    metrics.authFailures.inc({ kind: credentialKind(services, req.headers) });
    refuse(res, 401, unauthorised(error.message, 'invalid_token'));
    return null;
  }
  if (actor.kind !== 'apiKey') {
    req.resume();
    refuse(
      res,
      401,
      unauthorised(
        'Public A2A takes an organisation API key: Authorization: Bearer <API key>',
        actor.kind === 'anonymous' ? null : 'invalid_token',
      ),
    );
    return null;
  }
  const refusal = await rateLimit(services, actor, ctx.ip);
  if (refusal) {
    req.resume();
    metrics.rateLimited.inc({ limit: refusal.limit });
    refuse(res, 429, tooMany(refusal.retryAfter));
    return null;
  }
  return actor;
}

function unauthorised(message: string, error: 'invalid_token' | null) {
  const challenge = error
    ? `Bearer error="${error}", error_description="${message.replaceAll('"', "'")}"`
    : 'Bearer';
  return { message, headers: { 'www-authenticate': challenge } };
}

function tooMany(retryAfter: number) {
  return {
    message: `Too many requests: try again in ${retryAfter} s`,
    headers: { 'retry-after': String(retryAfter) },
  };
}
