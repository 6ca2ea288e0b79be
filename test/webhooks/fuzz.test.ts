/**
 * Throws thousands of malformed, truncated, oversized and hostile requests at each channel's
 * webhook (Telegram, WhatsApp, Instagram). Every one must get a 2xx or 4xx, the server must keep serving, and nothing may be stored for a
 * request without the right secret. The generator is seeded, so a failure repeats.
 */

import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textUpdate } from '../fakes/telegram.ts';
import { webhookPayload } from '../fakes/whatsapp.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const BOT = 'fuzzbot';
const SECRET = 'the-fuzz-webhook-secret-0123456789';
const META_SECRET = 'fuzzMetaAppSecret0123456789abcdef';
const WA = { name: 'fuzzwa', phoneNumberId: '100000000777' };
const IG = { name: 'fuzzig', accountId: '17841400000000777' };

let app: TestApp;
let port: number;

beforeAll(async () => {
  app = await startTestApp({
    env: {
      HTTP_BODY_LIMIT_BYTES: '65536',
      WHATSAPP_NUMBERS: JSON.stringify([
        {
          ...WA,
          provider: 'meta',
          accessToken: 'EAAG-fuzz-access-token-000001',
          appSecret: META_SECRET,
          verifyToken: 'fuzz-verify-token-0123',
        },
      ]),
      INSTAGRAM_ACCOUNTS: JSON.stringify([
        {
          ...IG,
          accessToken: 'EAAGfuzztokenforinstagram0000001',
          appSecret: META_SECRET,
          verifyToken: 'fuzz-verify-token-0123',
        },
      ]),
      TELEGRAM_BOTS: JSON.stringify([
        { name: BOT, token: '987654321:AAH-fuzzing-token-not-real-xx', secret: SECRET },
      ]),
    },
  });
  port = Number(new URL(app.url).port);
});
afterAll(() => app.close());

/** A small seeded PRNG (mulberry32), so every run sends the same requests. */
function random(seed: number) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Shot {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Carries a valid secret or signature for its account: may be stored. */
  signed: boolean;
}

/** How one platform's webhook is addressed and authenticated. */
interface Target {
  platform: 'TELEGRAM' | 'WHATSAPP' | 'INSTAGRAM';
  account: string;
  path: string;
  valid: (rnd: () => number) => Buffer;
  /** Header variants, given the body; `signed` marks the ones that authenticate it. */
  auth: (body: Buffer) => { headers: Record<string, string>; signed: boolean }[];
}

const metaSignatures = (body: Buffer): { headers: Record<string, string>; signed: boolean }[] => {
  const good = `sha256=${createHmac('sha256', META_SECRET).update(body).digest('hex')}`;
  return [
    { headers: { 'x-hub-signature-256': good }, signed: true },
    { headers: { 'x-hub-signature-256': good.slice(0, -1) }, signed: false },
    { headers: { 'x-hub-signature-256': `${good}0` }, signed: false },
    { headers: { 'x-hub-signature-256': good.replace('sha256=', 'sha1=') }, signed: false },
    { headers: { 'x-hub-signature-256': good.toUpperCase() }, signed: false },
    { headers: { 'x-hub-signature-256': '' }, signed: false },
    { headers: { 'x-hub-signature-256': `sha256=${'0'.repeat(4000)}` }, signed: false },
    {
      headers: {
        'x-hub-signature-256': `sha256=${createHmac('sha256', 'wrong').update(body).digest('hex')}`,
      },
      signed: false,
    },
    { headers: {}, signed: false },
  ];
};

const TARGETS: Target[] = [
  {
    platform: 'TELEGRAM',
    account: BOT,
    path: `/webhooks/telegram/${BOT}`,
    valid: (rnd) =>
      Buffer.from(JSON.stringify(textUpdate({ chatId: Math.floor(rnd() * 1e9), text: 'fuzz' }))),
    auth: () => [
      // HTTP trims a header value's surrounding spaces, so "secret " is the secret.
      ...[SECRET, `${SECRET} `].map((v) => ({
        headers: { 'x-telegram-bot-api-secret-token': v },
        signed: true,
      })),
      ...['', 'x', SECRET.slice(0, -1), SECRET.toUpperCase(), 'a'.repeat(4000)].map((v) => ({
        headers: { 'x-telegram-bot-api-secret-token': v },
        signed: false,
      })),
      { headers: {}, signed: false },
    ],
  },
  {
    platform: 'WHATSAPP',
    account: WA.phoneNumberId,
    path: `/webhooks/whatsapp/${WA.name}`,
    valid: (rnd) =>
      Buffer.from(
        JSON.stringify(
          webhookPayload({
            phoneNumberId: WA.phoneNumberId,
            messages: [
              {
                from: String(351_900_000_000 + Math.floor(rnd() * 1e6)),
                id: `wamid.fuzz${Math.floor(rnd() * 1e12)}`,
                timestamp: String(Math.floor(Date.now() / 1000)),
                type: 'text',
                text: { body: 'fuzz' },
              },
            ],
          }),
        ),
      ),
    auth: metaSignatures,
  },
  {
    platform: 'INSTAGRAM',
    account: IG.accountId,
    path: `/webhooks/instagram/${IG.name}`,
    valid: (rnd) =>
      Buffer.from(
        JSON.stringify({
          object: 'instagram',
          entry: [
            {
              id: IG.accountId,
              time: Date.now(),
              messaging: [
                {
                  sender: { id: String(Math.floor(rnd() * 1e15)) },
                  recipient: { id: IG.accountId },
                  timestamp: Date.now(),
                  message: { mid: `aWdfZAG1fuzz${Math.floor(rnd() * 1e12)}`, text: 'fuzz' },
                },
              ],
            },
          ],
        }),
      ),
    auth: metaSignatures,
  },
];

function shots(target: Target, count: number, seed: number): Shot[] {
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(rnd() * items.length)]!;
  const valid = () => target.valid(rnd);
  const bodies: (() => Buffer)[] = [
    () => Buffer.alloc(0),
    () => Buffer.from(Array.from({ length: Math.floor(rnd() * 2000) }, () => Math.floor(rnd() * 256))),
    () => {
      const body = valid();
      return body.subarray(0, Math.floor(rnd() * body.length));
    },
    () =>
      Buffer.from(
        '{"update_id": "not a number", "entry": [{"changes": null, "messaging": 5}], "message": {"chat": null}}',
      ),
    () => Buffer.from(`{"object": "whatsapp_business_account", "entry": ${'['.repeat(5000)}`),
    () =>
      Buffer.from(
        JSON.stringify({
          update_id: 1,
          object: 'instagram',
          entry: [{ id: 1, messaging: [{ message: { text: 'x'.repeat(60_000) } }] }],
        }),
      ),
    () =>
      Buffer.from('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}, "entry": []}'),
    () => Buffer.from('null'),
    () => Buffer.from('[1,2,3]'),
    () =>
      Buffer.from('{"entry": [{"messaging": [{"message": {"mid": "\\u0000\\ud800", "text": "\\u0000"}}]}]}'),
    () => Buffer.alloc(70_000, 'a'),
    valid,
    valid,
  ];
  const paths = [
    target.path,
    `${target.path}?x=1`,
    `${target.path}x`,
    `${target.path}/../../graphql`,
    `${target.path.split('/').slice(0, 3).join('/')}/%00`,
  ];
  return Array.from({ length: count }, () => {
    const body = pick(bodies)();
    const auth = pick(target.auth(body));
    const path = pick(paths);
    const headers: Record<string, string> = {
      'content-type': pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', '']),
      ...auth.headers,
    };
    return { path, headers, body, signed: auth.signed && path.split('?')[0] === target.path };
  });
}

function send(shot: Shot): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: shot.path,
        headers: { ...shot.headers, 'content-length': shot.body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(shot.body);
  });
}

describe.each(TARGETS)('$platform webhook robustness', (target) => {
  it('answers every hostile request with a 2xx or 4xx, keeps serving, and stores nothing unsigned', async () => {
    // This file's app is the only one writing to its database.
    const where = { platform: target.platform };
    const before = await app.services.db.inboundEvent.count({ where });
    const all = shots(target, 1200, 20261125);
    const statuses: number[] = [];
    // Twenty at a time: enough to interleave, bounded in number and time.
    for (let i = 0; i < all.length; i += 20) {
      statuses.push(...(await Promise.all(all.slice(i, i + 20).map(send))));
    }
    const unexpected = statuses.filter((s) => !(s >= 200 && s < 300) && !(s >= 400 && s < 500));
    expect(unexpected).toEqual([]);
    // Every request without a valid signature was refused before anything was stored.
    all.forEach((shot, i) => {
      // 413 too: a signature over the body can only be checked once the body is read, and a body
      // over the limit is refused while reading it; either way nothing is stored.
      if (!shot.signed) expect([401, 403, 404, 413], `request ${i} to ${shot.path}`).toContain(statuses[i]);
    });
    const signed = all.filter((s) => s.signed).length;
    const stored = (await app.services.db.inboundEvent.count({ where })) - before;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(signed * 2);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  }, 60_000);
});
