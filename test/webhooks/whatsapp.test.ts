import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { startAppWithWorker, stopAll } from '../factories/apps.ts';
import {
  handshake,
  messages,
  post360,
  postMeta,
  signMeta,
  statusUpdate,
  wamid,
  waNumber,
  webhookPayload,
} from '../fakes/whatsapp.ts';
import type { TestApp } from '../helpers/app.ts';
import { metric, type WorkerApp, waitFor } from '../helpers/jobs.ts';

const APP_SECRET = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const VERIFY_TOKEN = 'the-verify-token-we-chose';
const D360_SECRET = 'the-360dialog-webhook-secret';
const MAIN = { name: 'main', phoneNumberId: '100000000001' };
/** Another number of the same Meta app: its deliveries may come through MAIN's URL. */
const SIBLING = { name: 'sibling', phoneNumberId: '100000000002' };
/** A number of another app (another secret): MAIN's URL may not speak for it. */
const STRANGER = { name: 'stranger', phoneNumberId: '100000000003' };
const D360 = { name: 'd360', phoneNumberId: '100000000009' };

const NUMBERS = [
  {
    ...MAIN,
    provider: 'meta',
    accessToken: 'EAAG-main-access-token',
    appSecret: APP_SECRET,
    verifyToken: VERIFY_TOKEN,
  },
  {
    ...SIBLING,
    provider: 'meta',
    accessToken: 'EAAG-sibling-access-token',
    appSecret: APP_SECRET,
    verifyToken: VERIFY_TOKEN,
  },
  {
    ...STRANGER,
    provider: 'meta',
    accessToken: 'EAAG-stranger-access-token',
    appSecret: 'another-apps-secret-0123456789',
    verifyToken: 'another-apps-verify-token',
  },
  { ...D360, provider: '360dialog', accessToken: 'd360-api-key-of-the-number', webhookSecret: D360_SECRET },
];

let app: TestApp;
let worker: WorkerApp;

beforeAll(async () => {
  ({ app, worker } = await startAppWithWorker({ WHATSAPP_NUMBERS: JSON.stringify(NUMBERS) }));
});
afterAll(() => stopAll(worker, app));

const events = (where: { account?: string; externalChatId?: string; externalId?: string }) =>
  app.services.db.inboundEvent.findMany({
    where: { platform: 'WHATSAPP', ...where },
    orderBy: { sequence: 'asc' },
  });
const metrics = async () => (await fetch(`${app.url}/metrics`)).text();

describe('WhatsApp configuration', () => {
  it('refuses to start when an enabled number lacks a secret, naming it', () => {
    const load = (numbers: unknown) => () => loadConfig({ WHATSAPP_NUMBERS: JSON.stringify(numbers) });
    const { appSecret: _, ...noAppSecret } = NUMBERS[0]! as { appSecret: string };
    expect(load([noAppSecret])).toThrow(ConfigError);
    expect(load([noAppSecret])).toThrow(/WHATSAPP_NUMBERS\.0\.appSecret: required: the Meta app secret/);
    const { webhookSecret: __, ...noD360Secret } = NUMBERS[3]! as { webhookSecret: string };
    expect(load([noD360Secret])).toThrow(/WHATSAPP_NUMBERS\.0\.webhookSecret: required/);
    expect(load([{ ...NUMBERS[0], verifyToken: 'short' }])).toThrow(/verifyToken: .*at least 16/);
    expect(load([{ ...NUMBERS[0], provider: 'twilio' }])).toThrow(/"provider": "meta" or "360dialog"/);
    expect(load([NUMBERS[0], NUMBERS[0]])).toThrow(/number names must differ/);
    expect(loadConfig({}).channels.whatsapp.numbers).toEqual([]);
  });
});

describe('WhatsApp webhook', () => {
  it("answers Meta's handshake with the challenge, and 403 to a wrong token or mode", async () => {
    const ok = await handshake(app.url, MAIN.name, {
      mode: 'subscribe',
      token: VERIFY_TOKEN,
      challenge: '1158201444',
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1158201444');
    for (const params of [
      { mode: 'subscribe', token: 'wrong', challenge: '1' },
      { mode: 'subscribe', token: `${VERIFY_TOKEN}x`, challenge: '1' },
      { mode: 'subscribe', challenge: '1' },
      { mode: 'unsubscribe', token: VERIFY_TOKEN, challenge: '1' },
      { token: VERIFY_TOKEN, challenge: '1' },
    ]) {
      const res = await handshake(app.url, MAIN.name, params);
      expect(res.status, JSON.stringify(params)).toBe(403);
      expect(await res.text()).not.toContain('"1"');
    }
    // 360dialog does no handshake; unknown numbers are not found.
    expect((await handshake(app.url, D360.name, { mode: 'subscribe', token: D360_SECRET })).status).toBe(403);
    expect((await handshake(app.url, 'nobody', { mode: 'subscribe', token: VERIFY_TOKEN })).status).toBe(404);
  });

  it('refuses a bad, missing or oddly sized signature with 401 and stores nothing', async () => {
    const from = waNumber();
    const body = JSON.stringify(
      webhookPayload({ phoneNumberId: MAIN.phoneNumberId, messages: [messages.text({ from, text: 'hi' })] }),
    );
    const before = metric(
      await metrics(),
      'webhook_requests_total{platform="whatsapp",outcome="unauthorized"}',
    );
    const good = signMeta(body, APP_SECRET);
    const attempts: Record<string, string>[] = [
      {},
      { 'x-hub-signature-256': signMeta(body, 'not-the-app-secret') },
      { 'x-hub-signature-256': good.slice(0, -1) },
      { 'x-hub-signature-256': `${good}0` },
      { 'x-hub-signature-256': good.replace('sha256=', '') },
      { 'x-hub-signature-256': good.replace('sha256=', 'sha1=') },
      { 'x-hub-signature-256': '' },
      { 'x-hub-signature-256': 'sha256=' },
      { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      { 'x-hub-signature-256': 'x'.repeat(8000) },
      // Signed for another body.
      { 'x-hub-signature-256': signMeta(`${body} `, APP_SECRET) },
    ];
    for (const headers of attempts) {
      const res = await postMeta(app.url, MAIN.name, null, body, headers);
      expect(res.status, JSON.stringify(headers).slice(0, 60)).toBe(401);
    }
    // 360dialog: our secret, wrong or missing; and Meta's signature does not stand in for it.
    for (const secret of [null, 'wrong', `${D360_SECRET}x`, '', 'x'.repeat(8000)]) {
      const res = await post360(app.url, D360.name, secret, body);
      expect(res.status, String(secret).slice(0, 20)).toBe(401);
    }
    expect((await post360(app.url, D360.name, null, body, { 'x-hub-signature-256': good })).status).toBe(401);

    expect(await events({ externalChatId: from })).toEqual([]);
    expect(
      metric(await metrics(), 'webhook_requests_total{platform="whatsapp",outcome="unauthorized"}') - before,
    ).toBe(attempts.length + 6);
    expect((await postMeta(app.url, 'nobody', APP_SECRET, body)).status).toBe(404);

    // The same body, signed right, is taken.
    expect((await postMeta(app.url, MAIN.name, null, body, { 'x-hub-signature-256': good })).status).toBe(
      200,
    );
    expect(await events({ externalChatId: from })).toHaveLength(1);
  });

  it('takes the 360dialog secret from X-Webhook-Secret alone, whole and exact', async () => {
    const from = waNumber();
    const body = webhookPayload({
      phoneNumberId: D360.phoneNumberId,
      messages: [messages.text({ from, text: 'elsewhere' })],
    });
    const url = `${app.url}/webhooks/whatsapp/${D360.name}`;
    const elsewhere: [string, Record<string, string>][] = [
      [url, { 'd360-api-key': D360_SECRET }],
      [url, { authorization: `Bearer ${D360_SECRET}` }],
      [url, { 'x-webhook-token': D360_SECRET }],
      [`${url}?secret=${D360_SECRET}`, {}],
      [`${url}?x-webhook-secret=${D360_SECRET}`, {}],
      // Twice is not once: the header's copies arrive joined.
      [url, { 'x-webhook-secret': `${D360_SECRET}, ${D360_SECRET}` }],
      // The number's API key is not its webhook secret.
      [url, { 'x-webhook-secret': 'd360-api-key-of-the-number' }],
    ];
    for (const [target, headers] of elsewhere) {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      expect(res.status, `${target} ${JSON.stringify(headers)}`).toBe(401);
    }
    expect(await events({ externalChatId: from })).toEqual([]);
  });

  it('takes a 360dialog delivery with our secret, under that number', async () => {
    const from = waNumber();
    const message = messages.text({ from, text: 'via 360dialog' });
    const res = await post360(
      app.url,
      D360.name,
      D360_SECRET,
      webhookPayload({ phoneNumberId: D360.phoneNumberId, messages: [message] }),
    );
    expect(res.status).toBe(200);
    const [event] = await events({ externalChatId: from });
    expect(event).toMatchObject({
      account: D360.phoneNumberId,
      externalId: message.id,
      eventType: 'message.text',
    });
    expect(event!.normalized).toMatchObject({ account: D360.phoneNumberId, text: 'via 360dialog' });
  });

  it('stores each message of a delivery on its own, normalised, and processes them in order', async () => {
    const from = waNumber();
    const quoted = wamid();
    const at = Math.floor(Date.now() / 1000) - 60;
    const batch = [
      messages.text({ from, text: 'A table for 2 at 8pm?', timestamp: at, context: quoted }),
      messages.image({ from, mediaId: '1479537139650973', caption: 'this place', timestamp: at + 1 }),
      messages.image({ from, mediaId: '1479537139650974', timestamp: at + 2 }),
      messages.location({ from, latitude: 38.7223, longitude: -9.1393, timestamp: at + 3 }),
      messages.contacts({ from, name: 'Rui Costa', phone: '+351 912 345 678', timestamp: at + 4 }),
      messages.buttonReply({
        from,
        id: 'confirm:quote-1',
        title: 'Confirm',
        context: quoted,
        timestamp: at + 5,
      }),
      messages.listReply({ from, id: 'slot:20:30', title: '20:30', timestamp: at + 6 }),
      messages.templateButton({ from, payload: 'reminder:keep', text: 'Keep it', timestamp: at + 7 }),
      messages.reaction({ from, to: quoted, emoji: '👍', timestamp: at + 8 }),
    ];
    const res = await postMeta(
      app.url,
      MAIN.name,
      APP_SECRET,
      webhookPayload({ phoneNumberId: MAIN.phoneNumberId, messages: batch, names: { [from]: 'Ana Silva' } }),
    );
    expect(res.status).toBe(200);

    const stored = await events({ externalChatId: from });
    expect(stored.map((e) => [e.externalId, e.eventType])).toEqual(
      batch.map((m) => [m.id, `message.${m.type}`]),
    );
    const normalized = stored.map((e) => e.normalized as Record<string, unknown> | null);
    const common = {
      platform: 'WHATSAPP',
      account: MAIN.phoneNumberId,
      externalChatId: from,
      sender: { externalId: from, displayName: 'Ana Silva', language: null },
    };
    const nothing = { text: null, images: [], location: null, contact: null, button: null, replyTo: null };
    expect(normalized[0]).toEqual({
      ...common,
      ...nothing,
      externalMessageId: batch[0]!.id,
      text: 'A table for 2 at 8pm?',
      replyTo: quoted,
      sentAt: new Date(at * 1000).toISOString(),
    });
    expect(normalized[1]).toMatchObject({
      text: 'this place',
      images: [{ fileId: '1479537139650973', width: null, height: null }],
    });
    expect(normalized[2]).toMatchObject({ text: null, images: [{ fileId: '1479537139650974' }] });
    expect(normalized[3]).toMatchObject({ location: { latitude: 38.7223, longitude: -9.1393 }, text: null });
    expect(normalized[4]).toMatchObject({ contact: { phone: '+351 912 345 678', name: 'Rui Costa' } });
    expect(normalized[5]).toMatchObject({
      button: { payload: 'confirm:quote-1', title: 'Confirm' },
      replyTo: quoted,
      text: null,
    });
    expect(normalized[6]).toMatchObject({ button: { payload: 'slot:20:30', title: '20:30' } });
    expect(normalized[7]).toMatchObject({ button: { payload: 'reminder:keep', title: 'Keep it' } });
    expect(normalized[8]).toBeNull();
    expect(stored.at(-1)!.status).toBe('IGNORED');

    await waitFor(
      async () => (await events({ externalChatId: from })).every((e) => e.status !== 'PENDING'),
      'the messages to be processed',
    );
    const processed = (await events({ externalChatId: from })).filter((e) => e.status === 'PROCESSED');
    expect(processed).toHaveLength(8);
    const times = processed.map((e) => e.processedAt!.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const identity = await app.services.db.channelIdentity.findUniqueOrThrow({
      where: { platform_externalId: { platform: 'WHATSAPP', externalId: from } },
      include: { user: { include: { agent: true } } },
    });
    expect(identity.user.displayName).toBe('Ana Silva');
    expect(identity.user.agent).toMatchObject({ kind: 'CONSUMER' });
    const chat = await app.services.db.chat.findFirstOrThrow({
      where: { platform: 'WHATSAPP', account: MAIN.phoneNumberId, externalChatId: from },
    });
    // The 24-hour window opens at the person's last message, by WhatsApp's clock.
    expect(chat.lastInboundAt!.getTime()).toBe((at + 7) * 1000);
  });

  it('stores and processes a redelivered message once', async () => {
    const from = waNumber();
    const body = webhookPayload({
      phoneNumberId: MAIN.phoneNumberId,
      messages: [messages.text({ from, text: 'once, please' })],
    });
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => postMeta(app.url, MAIN.name, APP_SECRET, body)),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    await waitFor(
      async () => (await events({ externalChatId: from }))[0]?.status === 'PROCESSED',
      'processing',
    );
    expect(await events({ externalChatId: from })).toHaveLength(1);
    expect(
      metric(await metrics(), 'webhook_requests_total{platform="whatsapp",outcome="duplicate"}'),
    ).toBeGreaterThanOrEqual(29);
  });

  it('files a sibling number of the same app under that number, and refuses to speak for another app', async () => {
    const from = waNumber();
    const sibling = messages.text({ from, text: 'to the sibling' });
    const stranger = messages.text({ from, text: 'to the stranger' });
    await postMeta(
      app.url,
      MAIN.name,
      APP_SECRET,
      webhookPayload({ phoneNumberId: SIBLING.phoneNumberId, messages: [sibling] }),
    );
    await postMeta(
      app.url,
      MAIN.name,
      APP_SECRET,
      webhookPayload({ phoneNumberId: STRANGER.phoneNumberId, messages: [stranger] }),
    );
    expect(await events({ externalId: sibling.id })).toMatchObject([
      { account: SIBLING.phoneNumberId, externalChatId: from },
    ]);
    expect(await events({ externalId: stranger.id })).toEqual([]);
    const [refused] = await app.services.db.inboundEvent.findMany({
      where: { platform: 'WHATSAPP', eventType: 'unknown_number' },
      orderBy: { sequence: 'desc' },
      take: 1,
    });
    expect(JSON.stringify(refused?.raw)).toContain(stranger.id);
    expect(refused).toMatchObject({ account: MAIN.phoneNumberId, status: 'FAILED' });
    expect(refused!.error).toMatch(STRANGER.phoneNumberId);
  });

  it('keeps malformed and unknown bodies for inspection, answering 200 so WhatsApp stops retrying', async () => {
    const failed = () =>
      app.services.db.inboundEvent.count({
        where: { platform: 'WHATSAPP', account: MAIN.phoneNumberId, status: 'FAILED' },
      });
    const before = await failed();
    const from = waNumber();
    const good = messages.text({ from, text: 'my neighbour is broken' });
    const bodies = [
      '{"object": "whatsapp_business_account", "entry": [',
      '{"no_entry": true}',
      'null',
      '[]',
      JSON.stringify({ object: 'instagram', entry: [{ id: '1', changes: [] }] }),
      // A change whose value is not the Cloud API's.
      JSON.stringify({
        object: 'whatsapp_business_account',
        entry: [{ changes: [{ field: 'messages', value: 3 }] }],
      }),
      // One unreadable message beside a good one: the good one is still taken.
      JSON.stringify(
        webhookPayload({
          phoneNumberId: MAIN.phoneNumberId,
          messages: [{ from, type: 'text', text: { body: 'no id' } }, good],
        }),
      ),
      // An unreadable receipt.
      JSON.stringify(webhookPayload({ phoneNumberId: MAIN.phoneNumberId, statuses: [{ status: 'read' }] })),
    ];
    for (const body of bodies) {
      const res = await postMeta(app.url, MAIN.name, APP_SECRET, body);
      expect(res.status, body.slice(0, 40)).toBe(200);
    }
    expect(await failed()).toBe(before + bodies.length);
    const kept = await app.services.db.inboundEvent.findMany({
      where: { platform: 'WHATSAPP', account: MAIN.phoneNumberId, status: 'FAILED' },
      orderBy: { sequence: 'desc' },
      take: bodies.length,
    });
    expect(kept.map((e) => e.eventType).sort()).toEqual([
      'malformed',
      'unknown',
      'unknown',
      'unknown',
      'unknown',
      'unknown',
      'unknown',
      'unknown',
    ]);
    expect(kept.every((e) => e.error)).toBe(true);
    expect(await events({ externalId: good.id })).toMatchObject([{ status: expect.any(String) }]);

    // Strings PostgreSQL cannot hold, where they would become keys or error text: kept as FAILED.
    const hostile = [
      messages.text({ from: 'a\u0000b', text: 'nul in the sender' }),
      messages.text({ from, id: 'wamid.\ud800', text: 'lone surrogate in the id' }),
      { ...messages.text({ from, text: 'odd type' }), type: 'te\u0000xt' },
      { ...messages.text({ from, text: 'odd key' }), 'k\u0000': 1, text: { '\u0000': 1 } },
    ];
    const hostileStatus = [
      { ...statusUpdate({ id: wamid(), status: 'read', recipient: from }), status: 're\u0000ad' },
      statusUpdate({
        id: wamid(),
        status: 'failed',
        recipient: from,
        error: { code: 1, title: 'bad \u0000 title \ud800' },
      }),
    ];
    const before2 = await failed();
    const res = await postMeta(
      app.url,
      MAIN.name,
      APP_SECRET,
      webhookPayload({ phoneNumberId: MAIN.phoneNumberId, messages: hostile, statuses: hostileStatus }),
    );
    expect(res.status).toBe(200);
    expect(await failed()).toBe(before2 + 5);

    // Other subscriptions are kept, not acted on.
    const update = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '1',
          changes: [
            {
              field: 'message_template_status_update',
              value: { event: 'APPROVED', message_template_name: `t${Date.now()}` },
            },
          ],
        },
      ],
    };
    expect((await postMeta(app.url, MAIN.name, APP_SECRET, update)).status).toBe(200);
    const [other] = await app.services.db.inboundEvent.findMany({
      where: { platform: 'WHATSAPP', eventType: 'change.message_template_status_update' },
      orderBy: { sequence: 'desc' },
      take: 1,
    });
    expect(other).toMatchObject({ status: 'IGNORED', normalized: null });
  });

  it('moves sent messages forward by their receipts: delivered, read, never back; failed with the reason', async () => {
    const from = waNumber();
    await postMeta(
      app.url,
      MAIN.name,
      APP_SECRET,
      webhookPayload({ phoneNumberId: MAIN.phoneNumberId, messages: [messages.text({ from, text: 'hi' })] }),
    );
    const chat = await waitFor(
      () => app.services.db.chat.findFirst({ where: { platform: 'WHATSAPP', externalChatId: from } }),
      'the chat',
    );
    const sent = async () => {
      const id = wamid();
      await app.services.db.outboundMessage.create({
        data: {
          userId: chat.userId,
          chatId: chat.id,
          kind: 'test',
          body: 'a reply',
          dedupeKey: `wa-status:${id}`,
          status: 'SENT',
          externalMessageId: id,
          sentAt: new Date(),
        },
      });
      return id;
    };
    const row = (id: string) =>
      app.services.db.outboundMessage.findFirstOrThrow({ where: { externalMessageId: id } });
    const receipts = (statuses: Record<string, unknown>[]) =>
      postMeta(
        app.url,
        MAIN.name,
        APP_SECRET,
        webhookPayload({ phoneNumberId: MAIN.phoneNumberId, statuses }),
      );

    const read = await sent();
    const t = Math.floor(Date.now() / 1000);
    expect(
      (await receipts([statusUpdate({ id: read, status: 'sent', recipient: from, timestamp: t })])).status,
    ).toBe(200);
    expect((await row(read)).status).toBe('SENT');
    await receipts([statusUpdate({ id: read, status: 'delivered', recipient: from, timestamp: t + 1 })]);
    expect(await row(read)).toMatchObject({ status: 'DELIVERED', deliveredAt: new Date((t + 1) * 1000) });
    await receipts([statusUpdate({ id: read, status: 'read', recipient: from, timestamp: t + 2 })]);
    expect(await row(read)).toMatchObject({ status: 'READ', readAt: new Date((t + 2) * 1000) });
    // A late or redelivered receipt does not move it back.
    await receipts([statusUpdate({ id: read, status: 'delivered', recipient: from, timestamp: t + 1 })]);
    expect((await row(read)).status).toBe('READ');

    // Each receipt is stored once, by message and status, already processed.
    const stored = await app.services.db.inboundEvent.findMany({
      where: { platform: 'WHATSAPP', externalId: { startsWith: `${read}:` } },
      orderBy: { sequence: 'asc' },
    });
    expect(stored.map((e) => [e.externalId, e.eventType, e.status])).toEqual([
      [`${read}:sent`, 'status.sent', 'PROCESSED'],
      [`${read}:delivered`, 'status.delivered', 'PROCESSED'],
      [`${read}:read`, 'status.read', 'PROCESSED'],
    ]);

    const failed = await sent();
    const other = await sent();
    // Several receipts in one delivery.
    await receipts([
      statusUpdate({ id: other, status: 'delivered', recipient: from }),
      statusUpdate({
        id: failed,
        status: 'failed',
        recipient: from,
        error: { code: 131026, title: 'Message undeliverable', details: 'The recipient is not on WhatsApp' },
      }),
    ]);
    expect(await row(failed)).toMatchObject({
      status: 'FAILED',
      failureReason: 'WhatsApp 131026: Message undeliverable (The recipient is not on WhatsApp)',
    });
    expect((await row(other)).status).toBe('DELIVERED');
    // Undeliverable: the chat is unreachable until the person writes again.
    const blocked = await app.services.db.chat.findFirstOrThrow({
      where: { platform: 'WHATSAPP', messages: { some: { externalMessageId: failed } } },
    });
    expect(blocked).toMatchObject({
      unreachableAt: expect.any(Date),
      unreachableReason: 'WhatsApp 131026: Message undeliverable (The recipient is not on WhatsApp)',
    });
  });

  it('answers hostile bodies with a valid signature 200 (kept), and without one 401 (not kept)', async () => {
    // A seeded PRNG (mulberry32), so a failure repeats.
    let seed = 20_240_601;
    const rnd = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const from = waNumber();
    const valid = JSON.stringify(
      webhookPayload({
        phoneNumberId: MAIN.phoneNumberId,
        messages: [messages.text({ from, text: 'x' }), messages.buttonReply({ from, id: 'b', title: 'B' })],
        statuses: [statusUpdate({ id: wamid(), status: 'read', recipient: from })],
      }),
    );
    const oddities = [
      null,
      true,
      -1,
      1e308,
      '',
      '\u0000',
      '\ud800',
      [],
      {},
      [[[]]],
      'x'.repeat(5000),
      { __proto__: { polluted: true } },
    ];
    const mutate = (): string => {
      const json = JSON.parse(valid);
      // Replace one random node of the payload with an oddity.
      let node = json;
      for (let depth = 0; depth < 8 && node && typeof node === 'object'; depth++) {
        const keys = Object.keys(node);
        if (!keys.length) break;
        const key = keys[Math.floor(rnd() * keys.length)]!;
        if (rnd() < 0.3 || typeof node[key] !== 'object' || node[key] === null) {
          node[key] = oddities[Math.floor(rnd() * oddities.length)];
          break;
        }
        node = node[key];
      }
      const text = JSON.stringify(json);
      return rnd() < 0.15 ? text.slice(0, Math.floor(rnd() * text.length)) : text;
    };
    const before = await app.services.db.inboundEvent.count({ where: { platform: 'WHATSAPP' } });
    const bodies = Array.from({ length: 150 }, mutate);
    for (const body of bodies) {
      const res = await postMeta(app.url, MAIN.name, APP_SECRET, body);
      expect(res.status, body.slice(0, 200)).toBe(200);
    }
    const afterSigned = await app.services.db.inboundEvent.count({ where: { platform: 'WHATSAPP' } });
    expect(afterSigned).toBeGreaterThan(before);
    for (const body of bodies.slice(0, 30)) {
      expect((await postMeta(app.url, MAIN.name, 'not-the-app-secret', body)).status).toBe(401);
      expect((await post360(app.url, D360.name, 'not-the-secret', body)).status).toBe(401);
    }
    expect(await app.services.db.inboundEvent.count({ where: { platform: 'WHATSAPP' } })).toBe(afterSigned);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it("processes one chat's messages one at a time, in order, while chats run in parallel", async () => {
    const chats = [waNumber(), waNumber(), waNumber()];
    // Many deliveries per chat, posted concurrently within and across chats.
    const sent = chats.flatMap((from) =>
      Array.from({ length: 10 }, (_, i) => messages.text({ from, text: `${from}:${i}` })),
    );
    await Promise.all(
      sent.map((m) =>
        postMeta(
          app.url,
          MAIN.name,
          APP_SECRET,
          webhookPayload({ phoneNumberId: MAIN.phoneNumberId, messages: [m] }),
        ),
      ),
    );
    for (const from of chats) {
      await waitFor(
        async () => {
          const rows = await events({ externalChatId: from });
          return rows.length === 10 && rows.every((e) => e.status === 'PROCESSED');
        },
        `chat ${from} to drain`,
        20_000,
      );
      const times = (await events({ externalChatId: from })).map((r) => r.processedAt!.getTime());
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  });
});
