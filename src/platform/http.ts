/**
 * One Node HTTP server for every route. Each request gets an id (echoed in `x-request-id`) and a
 * child logger; bodies are read up to a limit (413 past it) and kept raw, because webhook
 * signatures are computed over the exact bytes. Shutdown stops accepting, lets in-flight requests
 * finish, then closes idle keep-alive sockets.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientAddress, type ProxyTrust } from './client-address.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { traceHttpRequest, tracingActive } from './tracing.ts';

export interface RequestContext {
  requestId: string;
  logger: Logger;
  ip: string;
  url: URL;
}

export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
) => Promise<void> | void;

export interface Route {
  method: string | '*';
  /** Exact path, or a prefix ending in `/*`. */
  path: string;
  /** Label for metrics; defaults to `path`. */
  name?: string;
  handler: Handler;
}

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
}

/** Reads the whole body, refusing more than `limit` bytes (by header, or while streaming). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new PayloadTooLargeError(`Request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new PayloadTooLargeError(`Request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export interface HttpServer {
  server: Server;
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting, waits for in-flight requests (up to `timeoutMs`), then closes every socket. */
  close(timeoutMs: number): Promise<void>;
  /** `ip` is the client's address, found as for every other request (see clientAddress). */
  onUpgrade(
    handler: (
      req: IncomingMessage,
      socket: import('node:stream').Duplex,
      head: Buffer,
      ctx: { ip: string },
    ) => void,
  ): void;
}

export function createHttpServer(options: {
  routes: Route[];
  logger: Logger;
  metrics: Metrics;
  proxy: ProxyTrust;
}): HttpServer {
  const { routes, logger, metrics, proxy } = options;
  let inFlight = 0;
  let closing = false;
  let drained: (() => void) | null = null;

  const server = createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    inFlight += 1;
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    if (closing) res.setHeader('connection', 'close');
    const url = requestUrl(req);
    const route = url && match(routes, req.method ?? 'GET', url.pathname);
    const ip = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], proxy);
    const log = logger.child({ 'request.id': requestId });
    res.on('close', () => {
      inFlight -= 1;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpDuration.observe(
        {
          method: req.method ?? 'GET',
          route: route?.name ?? route?.path ?? 'unmatched',
          status: String(res.statusCode),
        },
        seconds,
      );
      if (closing && inFlight === 0) drained?.();
    });
    try {
      if (!url) {
        sendJson(res, 400, { error: 'Not a request target: send a path such as /graphql' });
        return;
      }
      if (!route) {
        sendJson(res, 404, { error: 'Not found' });
        return;
      }
      const context = { requestId, logger: log, ip, url };
      if (tracingActive()) {
        await traceHttpRequest(req, res, route.name ?? route.path, async () =>
          route.handler(req, res, context),
        );
      } else {
        await route.handler(req, res, context);
      }
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        sendJson(res, 413, { error: error.message });
        req.resume();
        return;
      }
      log.error({ err: error, 'http.path': url?.pathname }, 'unhandled error in HTTP handler');
      if (!res.headersSent) sendJson(res, 500, { error: 'Internal server error', requestId });
      else res.destroy();
    }
  });
  // Slow clients must not hold sockets forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    async close(timeoutMs) {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => {
            drained = resolve;
          }),
          new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await stopped;
    },
    onUpgrade(handler) {
      server.on('upgrade', (req, socket, head) =>
        handler(req, socket, head, {
          ip: clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], proxy),
        }),
      );
    },
  };
}

/**
 * The request's target as a URL, or null when it is none (`http://[::1/x`, which `new URL` throws
 * on: outside a handler's try, one such request line ended the process).
 */
export function requestUrl(req: IncomingMessage): URL | null {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return null;
  }
}

function match(routes: Route[], method: string, path: string): Route | undefined {
  return routes.find((r) => {
    if (r.method !== '*' && r.method !== method) return false;
    return r.path.endsWith('/*') ? path.startsWith(r.path.slice(0, -1)) : r.path === path;
  });
}

/**
 * Whether an `Authorization` header carries `Bearer <token>`, compared in constant time (both
 * sides hashed first, so a wrong length is simply unequal).
 */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
  if (presented === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token));
}
