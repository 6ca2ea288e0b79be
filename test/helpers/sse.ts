/**
 * A GraphQL subscription over server-sent events, as a browser opens one: `POST /graphql` with
 * `Accept: text/event-stream`.
 */
import type { TestApp } from './app.ts';

/** Opens the stream (or gets the refusal); `signal` hangs up. */
export function openSse(
  app: TestApp,
  document: { toString(): string },
  variables: unknown,
  token: string | undefined,
  signal: AbortSignal,
): Promise<Response> {
  return fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: document.toString(), variables }),
    signal,
  });
}
