/**
 * PostgreSQL text and jsonb hold neither NUL characters nor unpaired UTF-16 surrogates, both of
 * which a platform, a gateway (or an attacker) can put in valid JSON. They become U+FFFD, so what
 * was received is kept rather than its write failing.
 */
export function storableText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must go.
    /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    '\ufffd',
  );
}

/** `value` with every string in it (keys too) made storable by storableText. */
export function storable(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storable(v)]));
  }
  return value;
}
