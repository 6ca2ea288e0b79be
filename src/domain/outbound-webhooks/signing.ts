/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): each delivery carries
 * `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`, a space-separated
 * list of `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one per secret in force.
 * A secret is `whsec_` and 32 random bytes in base64; the HMAC key is those bytes. Receivers
 * verify with any Standard Webhooks library (the README shows one).
 */
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

/** A new secret's key bytes. */
export function newWebhookKey(): Buffer {
  return randomBytes(32);
}

/** The key as the receiver is given it: `whsec_<base64>`. */
export function secretText(key: Buffer): string {
  return `${SECRET_PREFIX}${key.toString('base64')}`;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** The three headers for `body`, signed with every key given (the current one first). */
export function signDelivery(
  keys: readonly Buffer[],
  message: { id: string; timestamp: Date; body: string },
): SignedHeaders {
  const seconds = Math.floor(message.timestamp.getTime() / 1000).toString();
  const signed = `${message.id}.${seconds}.${message.body}`;
  return {
    'webhook-id': message.id,
    'webhook-timestamp': seconds,
    'webhook-signature': keys
      .map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`)
      .join(' '),
  };
}
