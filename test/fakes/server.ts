/**
 * The loopback HTTP server every fake runs on: listens on 127.0.0.1 at a free port, reads each
 * request's body, records the request, hands it to the fake's routes and sends back the JSON
 * answer they return. A route that writes the response itself (a file download) returns nothing.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';

export interface LoopbackRequest {
  method: string;
  /** The request's URL, resolved against the server's address. */
  url: URL;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as UTF-8 text ('' when there is none). */
  raw: string;
  /** When the request arrived (its body read). */
  receivedAt: Date;
}

export interface LoopbackReply {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is, instead of `body`. */
  text?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (to test timeouts). */
  delayMs?: number;
}

export type LoopbackRoutes = (
  request: LoopbackRequest,
  res: ServerResponse,
  req: IncomingMessage,
) => LoopbackReply | undefined | Promise<LoopbackReply | undefined>;

export interface LoopbackServer {
  url: string;
  port: number;
  /** Every request, in order of arrival. */
  requests: LoopbackRequest[];
  close(): Promise<void>;
}

/** The body parsed as JSON (undefined when empty); throws on text that is not JSON. */
export function parseJson<T = unknown>(raw: string): T | undefined {
  return raw ? (JSON.parse(raw) as T) : undefined;
}

/** Sends a reply: JSON `body`, literal `text`, or an empty body when neither is given. */
export async function reply(res: ServerResponse, answer: LoopbackReply): Promise<void> {
  if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
  // The client may have given up (timed out) while we waited.
  if (res.destroyed) return;
  if (answer.body === undefined && answer.text === undefined) {
    res.writeHead(answer.status, answer.headers);
    res.end();
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
  res.end(answer.text ?? JSON.stringify(answer.body));
}

/** Starts a loopback server answering with `routes`, on `port` when given (to restart one). */
export async function startLoopbackServer(routes: LoopbackRoutes, port = 0): Promise<LoopbackServer> {
  const requests: LoopbackRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const request: LoopbackRequest = {
      method: req.method ?? 'GET',
      url,
      path: url.pathname,
      headers: req.headers,
      raw: Buffer.concat(chunks).toString('utf8'),
      receivedAt: new Date(),
    };
    requests.push(request);
    const answer = await routes(request, res, req);
    if (answer) await reply(res, answer);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
