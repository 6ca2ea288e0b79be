/**
 * Throws thousands of malformed, truncated, oversized and hostile requests at the webhooks. Every
 * one must get a 2xx or 4xx, the server must keep serving, and nothing may be stored for a
 * request without the right secret. The generator is seeded, so a failure repeats.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textUpdate } from '../fakes/telegram.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const BOT = 'fuzzbot';
const SECRET = 'the-fuzz-webhook-secret-0123456789';

let app: TestApp;
let port: number;

beforeAll(async () => {
  app = await startTestApp({
    env: {
      HTTP_BODY_LIMIT_BYTES: '65536',
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
  /** Carries the right secret: may be stored. */
  signed: boolean;
}

function shots(count: number, seed: number): Shot[] {
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]) => items[Math.floor(rnd() * items.length)]!;
  const valid = () =>
    Buffer.from(JSON.stringify(textUpdate({ chatId: Math.floor(rnd() * 1e9), text: 'fuzz' })));
  const bodies: (() => Buffer)[] = [
    () => Buffer.alloc(0),
    () => Buffer.from(Array.from({ length: Math.floor(rnd() * 2000) }, () => Math.floor(rnd() * 256))),
    () => valid().subarray(0, Math.floor(rnd() * valid().length)),
    () => Buffer.from('{"update_id": "not a number", "message": {"chat": null}}'),
    () => Buffer.from(`{"update_id": ${Math.floor(rnd() * 1e9)}, "message": ${'['.repeat(5000)}`),
    () =>
      Buffer.from(
        JSON.stringify({
          update_id: Math.floor(rnd() * 1e9),
          message: { message_id: 1, date: 1, chat: { id: 1 }, text: 'x'.repeat(60_000) },
        }),
      ),
    () =>
      Buffer.from(
        JSON.stringify({
          update_id: -1,
          __proto__: { polluted: true },
          constructor: { prototype: { x: 1 } },
        }),
      ),
    () => Buffer.from('null'),
    () => Buffer.from('[1,2,3]'),
    () => Buffer.from('"\\u0000\\ud800"'),
    () => Buffer.alloc(70_000, 'a'),
    valid,
  ];
  const secrets = [
    SECRET,
    '',
    'x',
    SECRET.slice(0, -1),
    `${SECRET} `,
    SECRET.toUpperCase(),
    'a'.repeat(4000),
    null,
  ];
  const paths = [
    `/webhooks/telegram/${BOT}`,
    '/webhooks/telegram/',
    '/webhooks/telegram/../graphql',
    `/webhooks/telegram/${BOT}?x=1`,
    '/webhooks/telegram/%00',
  ];
  return Array.from({ length: count }, () => {
    const secret = pick(secrets);
    const headers: Record<string, string> = {
      'content-type': pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', '']),
    };
    if (secret !== null) headers['x-telegram-bot-api-secret-token'] = secret;
    const path = pick(paths);
    // HTTP trims a header value's surrounding spaces, so "secret " is the secret.
    const signed = secret?.trim() === SECRET && path.split('?')[0] === `/webhooks/telegram/${BOT}`;
    return { path, headers, body: pick(bodies)(), signed };
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

describe('webhook robustness', () => {
  it('answers every hostile request with a 2xx or 4xx, keeps serving, and stores nothing unsigned', async () => {
    const before = await app.services.db.inboundEvent.count({ where: { account: BOT } });
    const all = shots(2000, 20261125);
    const statuses: number[] = [];
    // Twenty at a time: enough to interleave, bounded in number and time.
    for (let i = 0; i < all.length; i += 20) {
      statuses.push(...(await Promise.all(all.slice(i, i + 20).map(send))));
    }
    const unexpected = statuses.filter((s) => !(s >= 200 && s < 300) && !(s >= 400 && s < 500));
    expect(unexpected).toEqual([]);
    // Every unsigned request was refused before anything was stored.
    all.forEach((shot, i) => {
      if (!shot.signed) expect([401, 404], `request ${i} to ${shot.path}`).toContain(statuses[i]);
    });
    const signed = all.filter((s) => s.signed).length;
    const stored = (await app.services.db.inboundEvent.count({ where: { account: BOT } })) - before;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(signed);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  }, 60_000);
});
