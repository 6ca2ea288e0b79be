import { createHash } from 'node:crypto';

/**
 * PostgreSQL text and jsonb hold neither NUL characters nor unpaired UTF-16 surrogates, both of
 * which a platform, a gateway (or an attacker) can put in valid JSON. They become U+FFFD, so what
 * was received is kept rather than its write failing.
 */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, '\ufffd');
}

/**
 * An identifier from outside (an update's, a chat's, a message's, an event's) as it is stored and
 * looked up: storable, and at most KEY_MAX_CHARS, longer ones standing as their SHA-256 (a
 * platform's ids are short; a 6 KB one broke its index's row limit, failing the insert and every
 * webhook of its group commit with it, each time it was sent again). The same id always gives the
 * same key.
 */
export function storableKey(id: string): string {
  const text = storableText(id);
  return text.length <= KEY_MAX_CHARS ? text : `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export const KEY_MAX_CHARS = 256;

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must go.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Whether `value` holds a string (or a key) PostgreSQL cannot keep as it is, nested at most
 * STORABLE_DEPTH: for callers that refuse such input rather than keep it changed (what a signed
 * message carries cannot be changed without breaking its signature).
 */
export function holdsUnstorableText(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return storableText(value) !== value;
  if (!value || typeof value !== 'object' || depth >= STORABLE_DEPTH) return false;
  if (Array.isArray(value)) return value.some((item) => holdsUnstorableText(item, depth + 1));
  return Object.entries(value).some(
    ([key, item]) => storableText(key) !== key || holdsUnstorableText(item, depth + 1),
  );
}

/**
 * Objects and arrays nested deeper than this are not kept (replaced by NESTED_TOO_DEEP): no
 * message we take nests anywhere near it, and walking (or serialising) one nested a hundred
 * thousand deep, which fits in a request body, would overflow the stack.
 */
export const STORABLE_DEPTH = 64;
export const NESTED_TOO_DEEP = '[nested too deep]';

/**
 * Whether `value` nests objects or arrays deeper than STORABLE_DEPTH: for callers that refuse such
 * input (PostgreSQL's jsonb refuses a value nested some thousands deep, and serialising one a
 * hundred thousand deep overflows the stack), rather than keep it cut.
 */
export function nestedTooDeep(value: unknown, depth = 0): boolean {
  if (!value || typeof value !== 'object') return false;
  if (depth >= STORABLE_DEPTH) return true;
  const items = Array.isArray(value) ? value : Object.values(value);
  return items.some((item) => nestedTooDeep(item, depth + 1));
}

/** `value` with every string in it (keys too) made storable by storableText, nested at most STORABLE_DEPTH. */
export function storable(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return storableText(value);
  if (!value || typeof value !== 'object') return value;
  if (depth >= STORABLE_DEPTH) return NESTED_TOO_DEEP;
  if (Array.isArray(value)) return value.map((item) => storable(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storable(v, depth + 1)]));
}
