/**
 * A bare graphql-transport-ws handshake, for what the server does with a given `connection_init`.
 */
import WebSocket from 'ws';
import type { TestApp } from './app.ts';

/** Sends `connection_init` with `payload`: the close code and reason, and whether the server acknowledged first. */
export function rawConnectionInit(app: TestApp, payload: Record<string, unknown>, timeoutMs = 5_000) {
  return new Promise<{ code: number; reason: string; acknowledged: boolean }>((resolve, reject) => {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    let acknowledged = false;
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error('the server neither acknowledged nor closed'));
    }, timeoutMs);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
    socket.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') {
        acknowledged = true;
        socket.close(1000);
      }
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: String(reason), acknowledged });
    });
    socket.on('error', reject);
  });
}
