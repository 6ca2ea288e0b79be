/**
 * Who may come in through the ways in that only API keys use (MCP, public A2A): an
 * organisation's API key as `Authorization: Bearer <key>`, checked as GraphQL checks it. A
 * missing, wrong or non-key credential is a 401 with `WWW-Authenticate: Bearer`; every request
 * counts against the API's per-IP and per-key request limits (a 429 with `Retry-After`). Each way
 * in writes the refusal in its own shape (`refuse`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Actor } from '../domain/identity/actor.ts';
import { AuthenticationError, RateLimitedError } from '../platform/errors.ts';
import type { RequestContext } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Services } from '../wiring/services.ts';
import { authenticate, credentialKind } from './auth.ts';
import { rateLimit } from './rate-limit.ts';

export type KeyActor = Extract<Actor, { kind: 'apiKey' }>;

/** How a refusal is written: MCP, the AGP endpoint and A2A's JSON-RPC each have their own body. */
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
  /** Named in the 401 to a person's token: `MCP`, `Public A2A`. */
  wayIn = 'Public A2A',
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
        `${wayIn} takes an organisation API key: Authorization: Bearer <API key>`,
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
