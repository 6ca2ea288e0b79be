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

/** One server-sent event: its `event:` and joined `data:` lines (comments, used as pings, are dropped). */
export function parseSseEvent(block: string): { event: string; data: string } {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  return { event, data: data.join('\n') };
}
