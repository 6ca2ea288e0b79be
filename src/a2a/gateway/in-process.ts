/**
 * The embedded gateway as a `fetch`: the ClawPulse client (src/integrations/clawpulse/client.ts)
 * takes it as its `fetch` option and reaches the gateway through the very requests and answers it
 * would send over HTTP, with no socket. So every process role, a worker-only process included,
 * uses the embedded gateway the same way an outside one is used.
 *
 * The client's base URL is then `IN_PROCESS_BASE_URL` (`http://clawpulse.internal`); the host is
 * never resolved: only the path and query of the URL are read. A URL of any other origin is
 * refused, so a misconfigured client fails loudly instead of reaching the network.
 */
import type { GatewayApi } from './api.ts';

/** The base URL a client passes with `inProcessFetch` as its `fetch`. */
export const IN_PROCESS_BASE_URL = 'http://clawpulse.internal';

export function inProcessFetch(api: GatewayApi): typeof fetch {
  const origin = new URL(IN_PROCESS_BASE_URL).origin;
  const inProcess = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.origin !== origin) {
      throw new TypeError(
        `The in-process ClawPulse gateway only answers ${IN_PROCESS_BASE_URL}, not ${url.origin}`,
      );
    }
    // As a real fetch does: an aborted call (the client's deadline) rejects with the signal's reason.
    request.signal.throwIfAborted();
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const body = new Uint8Array(await request.arrayBuffer());
    request.signal.throwIfAborted();
    const answer = await abortable(
      api({ method: request.method, path: url.pathname, query: url.searchParams, headers, body }),
      request.signal,
    );
    return new Response(JSON.stringify(answer.json), {
      status: answer.status,
      headers: { 'content-type': 'application/json; charset=utf-8', ...answer.headers },
    });
  };
  return inProcess as typeof fetch;
}

/** Settles as `work` does, or rejects with the signal's reason as soon as it aborts. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
