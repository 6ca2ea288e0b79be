/**
 * What a browser on another site may do with /graphql.
 *
 * A page anywhere can make a visitor's browser send a "simple" request (a form post as
 * url-encoded, multipart or text/plain, or a plain GET) without asking first. So GraphQL POSTs
 * must be JSON, which no form can send and which makes the browser ask first (a CORS preflight);
 * GET queries need Yoga's CSRF header, which only a preflighted request can carry; and CORS
 * answers only the configured origins. Identity is the Authorization header, never a cookie, so
 * CORS is never credentialed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/index.ts';

export type CorsConfig = Config['http']['cors'];

/** The media types a GraphQL POST body may have: JSON, as Yoga's JSON parser reads it. */
const JSON_TYPES = new Set(['application/json', 'application/graphql+json']);

/** The headers a listed origin's requests may carry (checked by the browser in the preflight). */
const ALLOWED_HEADERS = 'authorization, content-type, accept, x-graphql-yoga-csrf';
/** What a listed origin's script may read of our answers besides the basics. */
const EXPOSED_HEADERS = 'x-request-id, retry-after';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `origin` (the Origin header) is one the configuration answers. */
export function originAllowed(origin: string, cors: CorsConfig): boolean {
  if (cors.origins.includes(origin)) return true;
  if (!cors.loopback) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

/**
 * Sets the CORS headers of an answer to `req` (any answer: errors too, so a listed dashboard can
 * read them), and answers a preflight itself. Returns true when the request was a preflight and
 * has been answered.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, cors: CorsConfig): boolean {
  const origin = req.headers.origin;
  const allowed = origin !== undefined && originAllowed(origin, cors);
  const preflight = req.method === 'OPTIONS';
  // Caches must not hand one origin's answer to another.
  res.setHeader(
    'vary',
    preflight ? 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' : 'Origin',
  );
  if (allowed) {
    res.setHeader('access-control-allow-origin', origin);
    if (!preflight) res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
  }
  if (!preflight) return false;
  // A disallowed origin gets an empty answer without CORS headers: the browser then refuses.
  const headers: Record<string, string> = { 'content-length': '0' };
  if (allowed) {
    headers['access-control-allow-methods'] = 'GET, POST';
    headers['access-control-allow-headers'] = ALLOWED_HEADERS;
    headers['access-control-max-age'] = '600';
  }
  res.writeHead(204, headers);
  res.end();
  return true;
}

/** Whether a POST's Content-Type is JSON (parameters such as charset aside). */
export function isJsonBody(contentType: string | undefined): boolean {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type !== undefined && JSON_TYPES.has(type);
}
