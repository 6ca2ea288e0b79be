/**
 * graphql-ws on `/graphql`, upgraded from the public HTTP server and held to the same limits and
 * checks as HTTP (src/api/websocket.ts); every other upgrade is refused.
 */

import { originAllowed } from '../api/cross-site.ts';
import type { GraphQLWebSocket } from '../api/websocket.ts';
import type { Config } from '../config/index.ts';
import { type HttpServer, requestUrl } from '../platform/http.ts';

export function acceptGraphqlWebSockets(
  http: HttpServer,
  graphqlWs: GraphQLWebSocket,
  cors: Config['http']['cors'],
): void {
  http.onUpgrade((req, socket, head, { ip }) => {
    if (requestUrl(req)?.pathname !== '/graphql') {
      socket.destroy();
      return;
    }
    // Browsers open WebSockets to any site without CORS, so a page elsewhere could run operations
    // from its visitors' addresses; they always send Origin, which must then be allowed.
    const origin = req.headers.origin;
    if (origin !== undefined && !originAllowed(origin, cors)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    graphqlWs.handleUpgrade(req, socket, head, ip);
  });
}
