/**
 * The `/graphql` route: authenticate, rate limit, count an API key's request against its daily
 * quota, read the body within its limit, then hand a Fetch Request to Yoga and stream its Response
 * back (SSE subscriptions stream for their life). An API key's answers carry `X-RateLimit-Limit`,
 * `X-RateLimit-Remaining` and `X-RateLimit-Reset` for its day.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Actor, MembershipRole } from '../domain/identity/actor.ts';
import { AuthenticationError, RateLimitedError } from '../platform/errors.ts';
import { type RequestContext, readBody, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';
import type { Services } from '../wiring/services.ts';
import { authenticateAndLimit, credentialKind } from './auth.ts';
import { watchCredential } from './credential-check.ts';
import { applyCors, isJsonBody } from './cross-site.ts';
import type { LiveAccess } from './live-access.ts';
import { dailyQuota, dailyQuotaRefusal, type RateLimitRefusal } from './rate-limit.ts';
import type { GraphQLServer } from './yoga.ts';

export function graphqlHandler(
  yoga: GraphQLServer,
  services: Services,
  metrics: Metrics,
  liveAccess: LiveAccess,
) {
  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    if (applyCors(req, res, services.config.http.cors)) return;
    // Forms (url-encoded, multipart, text/plain) are what another site can post without a
    // preflight: refused before anything reads them, so they run nothing.
    if (req.method === 'POST' && !isJsonBody(req.headers['content-type'])) {
      req.resume();
      sendJson(
        res,
        415,
        {
          errors: [
            {
              message: 'GraphQL requests are POSTed as application/json',
              extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' },
            },
          ],
        },
        { 'accept-post': 'application/json' },
      );
      return;
    }

    let actor: Actor;
    let roles: ReadonlyMap<string, MembershipRole> | null;
    let refusal: RateLimitRefusal | null;
    try {
      ({ actor, roles, refusal } = await authenticateAndLimit(services, req.headers, ctx.ip, liveAccess));
    } catch (error) {
      if (error instanceof RateLimitedError) {
        metrics.rateLimited.inc({ limit: 'authFailures' });
        sendTooManyRequests(res, error.retryAfterSeconds);
        return;
      }
      if (!(error instanceof AuthenticationError)) throw error;
      metrics.authFailures.inc({ kind: credentialKind(services, req.headers) });
      sendJson(
        res,
        401,
        { errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED' } }] },
        {
          'www-authenticate': `Bearer error="invalid_token", error_description="${error.message.replaceAll('"', "'")}"`,
        },
      );
      return;
    }

    if (refusal) {
      metrics.rateLimited.inc({ limit: refusal.limit });
      sendJson(
        res,
        429,
        {
          errors: [
            {
              message: 'Too many requests',
              extensions: { code: 'RATE_LIMITED', retryAfterSeconds: refusal.retryAfter },
            },
          ],
        },
        { 'retry-after': String(refusal.retryAfter) },
      );
      return;
    }

    const quota = await dailyQuota(services, actor);
    if (quota.refused) {
      req.resume();
      metrics.rateLimited.inc({ limit: 'apiKeyDaily' });
      const { body, headers } = dailyQuotaRefusal(quota.refused);
      sendJson(res, 429, { errors: [body] }, headers);
      return;
    }

    const method = req.method ?? 'GET';
    const body =
      method === 'GET' || method === 'HEAD'
        ? undefined
        : await readBody(req, services.config.http.bodyLimitBytes);
    const abort = new AbortController();
    // Only a client gone before its answer was written aborts the operation: aborting after every
    // answer made an AbortError (a DOMException, with its stack) per request for nothing.
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const request = new Request(`http://localhost${req.url ?? '/graphql'}`, {
      method,
      headers,
      body: body && body.length > 0 ? new Uint8Array(body) : undefined,
      signal: abort.signal,
    });
    const response = await yoga.fetch(request, {
      requestId: ctx.requestId,
      ip: ctx.ip,
      actor,
      roles,
      logger: ctx.logger,
    });
    const outHeaders: Record<string, string | string[]> = { ...quota.headers };
    response.headers.forEach((value, name) => {
      outHeaders[name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length) outHeaders['set-cookie'] = cookies;
    if (!response.body) {
      res.writeHead(response.status, outHeaders);
      res.end();
      return;
    }
    const contentType = response.headers.get('content-type') ?? '';
    if (/^application\/(graphql-response\+)?json\b/.test(contentType)) {
      // A single result: read whole and written with its headers in one write to the socket.
      const payload = Buffer.from(await response.arrayBuffer());
      outHeaders['content-length'] = String(payload.length);
      res.writeHead(response.status, outHeaders);
      res.end(payload);
      return;
    }
    res.writeHead(response.status, outHeaders);
    if (!contentType.includes('text/event-stream')) {
      await writeBody(response.body, res, abort.signal);
      return;
    }
    res.flushHeaders();
    // A subscription streamed over SSE is held to what a WebSocket is held to: it ends, with an
    // error event saying why, once the credential it was opened with no longer holds.
    let ending: string | null = null;
    const authorization = req.headers.authorization;
    const stop = authorization
      ? watchCredential(services, {
          authorization,
          actor,
          logger: ctx.logger,
          refused: ({ code, reason }) => {
            ending = sseError(reason, code === 4401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
            abort.abort();
          },
        })
      : () => {};
    try {
      await writeBody(response.body, res, abort.signal, () => ending);
    } finally {
      stop();
    }
  };
}

/** The same 429 as the request limits' below, for an address locked out for failed credentials. */
function sendTooManyRequests(res: ServerResponse, retryAfter: number) {
  sendJson(
    res,
    429,
    {
      errors: [
        { message: 'Too many requests', extensions: { code: 'RATE_LIMITED', retryAfterSeconds: retryAfter } },
      ],
    },
    { 'retry-after': String(retryAfter) },
  );
}

/** Copies a web stream to the Node response, honouring back-pressure; stops when the client goes. */
async function writeBody(
  body: ReadableStream<Uint8Array>,
  res: ServerResponse,
  signal: AbortSignal,
  /** What to write last, when the stream was ended by us (null: nothing). */
  ending: () => string | null = () => null,
) {
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  try {
    while (!signal.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve));
    }
  } finally {
    signal.removeEventListener('abort', cancel);
    reader.releaseLock();
    const last = ending();
    if (last && !res.destroyed) res.write(last);
    res.end();
  }
}

/** A GraphQL error as the stream's last event, then its end (GraphQL over SSE's `next`, `complete`). */
function sseError(message: string, code: string): string {
  const result = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  return `event: next\ndata: ${result}\n\nevent: complete\ndata:\n\n`;
}
