import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Compares a presented secret with the expected one in constant time, whatever their lengths:
 * both are hashed first, so a header of the wrong length is simply unequal, never an exception.
 */
export function secretsMatch(presented: string | string[] | undefined, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Meta's signature of a body (WhatsApp, Instagram): what `X-Hub-Signature-256` must be. */
export function metaSignature(body: Buffer | string, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}
