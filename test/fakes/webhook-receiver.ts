/**
 * A webhook receiver as an organisation would run one: it verifies each delivery with the
 * `standardwebhooks` library (the reference implementation of the Standard Webhooks spec, not our
 * code) and answers 204, or 400 when the signature does not verify. `down()` makes it answer 503
 * (a receiver that is up but failing); `close()` and `reopen()` stop and restart it on the same
 * port (connection refused in between).
 */
import { Webhook } from 'standardwebhooks';
import { type LoopbackRequest, type LoopbackServer, startLoopbackServer } from './server.ts';

export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  raw: string;
  body: { type: string; timestamp: string; data: Record<string, unknown> };
}

export interface WebhookReceiver {
  url: string;
  /** Deliveries that verified, in order of arrival. */
  accepted: ReceivedWebhook[];
  /** Every request that reached it, answered or not. */
  requests: LoopbackRequest[];
  /** Secrets that verify (`whsec_…`); a delivery is accepted when one of them verifies it. */
  secrets: string[];
  down(): void;
  up(): void;
  close(): Promise<void>;
  reopen(): Promise<void>;
}

/**
 * Starts a receiver. `checkTimestamp: false` verifies signatures without the library's
 * five-minute timestamp tolerance, for tests that move the sender's clock days ahead.
 */
export async function startWebhookReceiver(
  options: { checkTimestamp?: boolean; port?: number } = {},
): Promise<WebhookReceiver> {
  const accepted: ReceivedWebhook[] = [];
  const requests: LoopbackRequest[] = [];
  const secrets: string[] = [];
  let failing = false;
  let server: LoopbackServer;
  const open = (port?: number) =>
    startLoopbackServer((request) => {
      requests.push(request);
      if (failing) return { status: 503, text: 'receiver is down for maintenance' };
      const headers = {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(request.headers['webhook-signature']),
      };
      const verified = secrets.some((secret) =>
        verifies(secret, request.raw, headers, options.checkTimestamp),
      );
      if (!verified) return { status: 400, text: 'signature does not verify' };
      accepted.push({
        id: headers['webhook-id'],
        timestamp: headers['webhook-timestamp'],
        signature: headers['webhook-signature'],
        raw: request.raw,
        body: JSON.parse(request.raw),
      });
      return { status: 204 };
    }, port);
  server = await open(options.port);
  const port = server.port;
  return {
    url: `${server.url}/hooks`,
    accepted,
    requests,
    secrets,
    down: () => {
      failing = true;
    },
    up: () => {
      failing = false;
    },
    close: () => server.close(),
    async reopen() {
      server = await open(port);
    },
  };
}

/** Whether `secret` verifies the delivery, by the library's own rules. */
export function verifies(
  secret: string,
  raw: string,
  headers: Record<string, string>,
  checkTimestamp = true,
): boolean {
  const hook = new Webhook(secret);
  try {
    if (checkTimestamp) {
      hook.verify(raw, headers);
      return true;
    }
    // The library's signature, compared with each one sent, when the timestamp is not the point.
    const expected = hook.sign(
      headers['webhook-id']!,
      new Date(Number(headers['webhook-timestamp']) * 1000),
      raw,
    );
    return headers['webhook-signature']!.split(' ').includes(expected);
  } catch {
    return false;
  }
}
