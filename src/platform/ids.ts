/**
 * Ids and texts named by what they are for: the same name always gives the same id, so an act done
 * again under its key finds the row (the transfer, the envelope) it made the first time.
 */
import { createHash } from 'node:crypto';

/** A name-based UUID (version 5 layout over SHA-1) for `name`: the same name, the same id. */
export function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * JSON with every object's keys in one order: the same value, the same text (to hash a value, or
 * compare one stored as jsonb, which reorders keys, with one built).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}
