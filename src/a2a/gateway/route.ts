/**
 * The embedded gateway on the product's HTTP server, under `/clawpulse`: outside agents and other
 * installations reach it at `<PUBLIC_URL>/clawpulse/api/...`. The route only translates between
 * Node's request and response and the gateway's API (api.ts); a body over the limit is refused
 * with 413 while it streams in, before it is all read.
 */
import { type Route, readBody, sendJson } from '../../platform/http.ts';
import type { GatewayApi } from './api.ts';

/** Where the route is mounted on the product's server. */
export const GATEWAY_MOUNT = '/clawpulse';

export function gatewayRoute(api: GatewayApi, options: { bodyLimitBytes: number }): Route {
  return {
    method: '*',
    path: `${GATEWAY_MOUNT}/*`,
    name: GATEWAY_MOUNT,
    async handler(req, res, { url }) {
      const method = req.method ?? 'GET';
      // Only what can carry a body is read; the API refuses anything but JSON in it.
      const body =
        method === 'GET' || method === 'HEAD'
          ? new Uint8Array()
          : await readBody(req, options.bodyLimitBytes);
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const answer = await api({
        method,
        path: url.pathname.slice(GATEWAY_MOUNT.length),
        query: url.searchParams,
        headers,
        body,
      });
      sendJson(res, answer.status, answer.json, answer.headers);
    },
  };
}
