/**
 * Ids named by what they are for: the same name always gives the same id, so an act done again
 * under its key finds the row (or the envelope) it made the first time.
 */
import { createHash } from 'node:crypto';

/** A uuid (RFC 9562, version 8) made from the SHA-256 of `name`. */
export function uuidFromKey(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
