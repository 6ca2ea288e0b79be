/**
 * Checking that a webhook delivery came from Lalamove.
 *
 * Lalamove puts its credentials in the body, not in headers:
 *
 *   {"apiKey": "pk_…", "timestamp": 1545880607433, "signature": "<hex>", "eventId": "…",
 *    "eventType": "ORDER_STATUS_CHANGED", "eventVersion": "v3", "data": {"order": {…}, …}}
 *
 * and signs with the API secret exactly as requests are signed, with our webhook URL's path and
 * the JSON of `data` as the body:
 *
 *   signature = hex HMAC-SHA256(secret, `${timestamp}\r\nPOST\r\n${webhook path}\r\n\r\n${JSON of data}`)
 *
 * What this rests on. The v3 reference at developers.lalamove.com could not be read here in full.
 * Lalamove's "Tutorial on Lalamove Webhook" (Sep 2021; updated as
 * developers.lalamove.com/files/v3_Webhook_v1.4.pdf) says, under "Validating the webhooks":
 * "1. Check whether this apiKey is the same 2. Insert your API Sec[ret] …", where the copy
 * available here breaks off. The rest of the recipe is what two independent integrations verify
 * live deliveries with: sciplelab/lalamove-webhook-lambda (`src/lib.ts`, validateWebhook:
 * `${body.timestamp}\r\nPOST\r\n${path}\r\n\r\n${JSON.stringify(body.data)}`, compared with
 * `body.signature`) and laraditz/courier-lalamove (`tests/WebhookTest.php`, the same string). It is
 * Lalamove's request-signing recipe with the webhook's path, so it is the documented best guess,
 * not a quotation of Lalamove's reference. Since "the JSON of data" may be Lalamove's serialisation
 * rather than JavaScript's (a Go or Java encoder escapes `&` or `/` differently), both the exact
 * bytes of `data` in the body and their JavaScript re-serialisation are tried; either needs the
 * secret to produce.
 *
 * What is signed is the timestamp and `data`; `eventId` and `eventType` are not, so nothing may
 * rest on them (domain/delivery/lalamove-events.ts decides from `data` and Lalamove's own order). A signed
 * delivery can be replayed as it is, so the timestamp must be within five minutes of our clock
 * (either way, for clock skew): an old delivery, however well signed, is refused. Lalamove retries
 * a failed delivery (10 times over 24 hours) and may send events out of order; a retry refused as
 * stale loses little, because the next event re-reads the order from Lalamove, and the status
 * shown to the person is refreshed from Lalamove whenever it is asked for.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { lalamoveSignature } from './client.ts';

export interface LalamoveWebhookBody {
  apiKey: string;
  timestamp: string;
  signature: string;
  eventId: string;
  eventType: string;
  eventVersion: string | null;
  data: Record<string, unknown>;
}

export type WebhookCheck =
  | { ok: true; body: LalamoveWebhookBody }
  | {
      ok: false;
      reason: 'not_json' | 'no_signature' | 'wrong_api_key' | 'bad_signature' | 'stale_timestamp';
    };

/** How far a delivery's signed timestamp may be from our clock, either way. */
export const WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/**
 * Verifies a delivery's raw bytes. `paths` are the paths Lalamove may have signed: the one the
 * request arrived on and, behind a proxy that rewrites it, the public URL's. `now` is when it
 * arrived; its signed timestamp (milliseconds) must be within WEBHOOK_TOLERANCE_MS of it.
 */
export function verifyLalamoveWebhook(options: {
  apiKey: string;
  apiSecret: string;
  rawBody: Buffer | string;
  paths: readonly string[];
  now: Date;
}): WebhookCheck {
  const text = typeof options.rawBody === 'string' ? options.rawBody : options.rawBody.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { ok: false, reason: 'not_json' };
  const body = json as Record<string, unknown>;
  const { apiKey, signature, data } = body;
  const timestamp = typeof body.timestamp === 'number' ? String(body.timestamp) : body.timestamp;
  if (
    typeof apiKey !== 'string' ||
    typeof signature !== 'string' ||
    typeof timestamp !== 'string' ||
    !data ||
    typeof data !== 'object' ||
    Array.isArray(data)
  ) {
    return { ok: false, reason: 'no_signature' };
  }
  if (!equal(apiKey, options.apiKey)) return { ok: false, reason: 'wrong_api_key' };

  const bodies = new Set<string>([JSON.stringify(data)]);
  const raw = rawMember(text, 'data');
  if (raw !== null) bodies.add(raw);
  let matched = false;
  for (const path of new Set(options.paths)) {
    for (const candidate of bodies) {
      const expected = lalamoveSignature(options.apiSecret, {
        timestamp,
        method: 'POST',
        path,
        body: candidate,
      });
      // Every candidate is checked (no early return), so timing says nothing about which matched.
      if (equal(signature.toLowerCase(), expected)) matched = true;
    }
  }
  if (!matched) return { ok: false, reason: 'bad_signature' };
  // Checked after the signature, so the reason tells a genuine delivery replayed late from a forgery.
  const signedAt = /^\d{1,16}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  if (!(Math.abs(options.now.getTime() - signedAt) <= WEBHOOK_TOLERANCE_MS)) {
    return { ok: false, reason: 'stale_timestamp' };
  }
  return {
    ok: true,
    body: {
      apiKey,
      timestamp,
      signature,
      eventId: typeof body.eventId === 'string' ? body.eventId : '',
      eventType: typeof body.eventType === 'string' ? body.eventType : '',
      eventVersion: typeof body.eventVersion === 'string' ? body.eventVersion : null,
      data: data as Record<string, unknown>,
    },
  };
}

/** Constant-time equality of two strings of any lengths (both are hashed first). */
function equal(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * The exact source text of a top-level member's value in a JSON object (`text` must already be
 * known to parse). Like JSON.parse, a repeated key counts by its last occurrence.
 */
export function rawMember(text: string, key: string): string | null {
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return null;
  i += 1;
  let found: string | null = null;
  for (;;) {
    i = skipSpace(text, i);
    if (text[i] === '}') return found;
    if (text[i] !== '"') return null;
    const keyEnd = endOfString(text, i);
    const name = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text[i] !== ':') return null;
    const start = skipSpace(text, i + 1);
    const end = endOfValue(text, start);
    if (name === key) found = text.slice(start, end);
    i = skipSpace(text, end);
    if (text[i] === ',') i += 1;
    else if (text[i] === '}') return found;
    else return null;
  }
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t'))
    i += 1;
  return i;
}

/** Index just past the string starting at `i` (which is a quote). */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length) {
    if (text[j] === '\\') j += 2;
    else if (text[j] === '"') return j + 1;
    else j += 1;
  }
  return j;
}

/** Index just past the value starting at `i`. */
function endOfValue(text: string, i: number): number {
  if (text[i] === '"') return endOfString(text, i);
  if (text[i] === '{' || text[i] === '[') {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const c = text[j];
      if (c === '"') {
        j = endOfString(text, j);
        continue;
      }
      if (c === '{' || c === '[') depth += 1;
      else if (c === '}' || c === ']') {
        depth -= 1;
        if (depth === 0) return j + 1;
      }
      j += 1;
    }
    return j;
  }
  let j = i;
  while (j < text.length && !/[\s,}\]]/.test(text[j]!)) j += 1;
  return j;
}
