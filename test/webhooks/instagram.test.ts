import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { startAppWithWorker, stopAll } from '../factories/apps.ts';
import {
  deliveryEvent,
  echoEvent,
  handshake,
  igsid,
  imageEvent,
  metaJson,
  mid,
  postbackEvent,
  postWebhook,
  quickReplyEvent,
  readEvent,
  sign,
  storyMentionEvent,
  storyReplyEvent,
  textEvent,
  webhookBody,
} from '../fakes/instagram.ts';
import type { TestApp } from '../helpers/app.ts';
import { metric, type WorkerApp, waitFor } from '../helpers/jobs.ts';

const ACCOUNT = 'venue-ig';
const ACCOUNT_ID = '17841400000000001';
/** A second Instagram account of the same Meta app: same secret, same callback URL in practice. */
const SIBLING = 'venue-ig-two';
const SIBLING_ID = '17841400000000002';
const APP_SECRET = '0123456789abcdef0123456789abcdef';
const VERIFY_TOKEN = 'the-verify-token-for-tests';
const accounts = [
  {
    name: ACCOUNT,
    accountId: ACCOUNT_ID,
    accessToken: 'EAAGtesttokenforinstagram000001',
    appSecret: APP_SECRET,
    verifyToken: VERIFY_TOKEN,
  },
  {
    name: SIBLING,
    accountId: SIBLING_ID,
    accessToken: 'EAAGtesttokenforinstagram000002',
    appSecret: APP_SECRET,
    verifyToken: VERIFY_TOKEN,
  },
];

let app: TestApp;
let worker: WorkerApp;

beforeAll(async () => {
  ({ app, worker } = await startAppWithWorker({ INSTAGRAM_ACCOUNTS: JSON.stringify(accounts) }));
});
afterAll(() => stopAll(worker, app));

const events = (chatId: string, account = ACCOUNT) =>
  app.services.db.inboundEvent.findMany({
    where: { platform: 'INSTAGRAM', account, externalChatId: chatId },
    orderBy: { sequence: 'asc' },
  });

/** Posts one signed event and returns what was stored for its person. */
async function deliver(event: { sender: { id: string } }) {
  const res = await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [event]));
  expect(res.status).toBe(200);
  const rows = await events(event.sender.id);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

const metrics = async () => (await fetch(`${app.url}/metrics`)).text();

describe('Instagram webhook: the subscription handshake', () => {
  it('echoes hub.challenge for the right verify token, and refuses anything else with 403', async () => {
    const ok = await handshake(app.url, ACCOUNT, {
      'hub.mode': 'subscribe',
      'hub.verify_token': VERIFY_TOKEN,
      'hub.challenge': '1158201444',
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe('1158201444');

    const refused: Record<string, string>[] = [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': `${VERIFY_TOKEN}x`, 'hub.challenge': '1' },
      { 'hub.mode': 'subscribe', 'hub.challenge': '1' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': '1' },
    ];
    for (const params of refused) {
      const res = await handshake(app.url, ACCOUNT, params);
      expect(res.status, JSON.stringify(params)).toBe(403);
      expect(await res.text()).not.toContain('"1"');
    }
    const unknown = await handshake(app.url, 'no-such-account', {
      'hub.mode': 'subscribe',
      'hub.verify_token': VERIFY_TOKEN,
      'hub.challenge': '1',
    });
    expect(unknown.status).toBe(404);
  });
});

describe('Instagram webhook: signatures', () => {
  it('refuses a missing, wrong, truncated or oversized X-Hub-Signature-256 with 401 and stores nothing', async () => {
    const from = igsid();
    const body = metaJson(webhookBody(ACCOUNT_ID, [textEvent({ accountId: ACCOUNT_ID, from, text: 'hi' })]));
    const good = sign(body, APP_SECRET);
    const before = metric(
      await metrics(),
      'webhook_requests_total{platform="instagram",outcome="unauthorized"}',
    );
    const headers = [
      null,
      '',
      'sha256=',
      `sha256=${'0'.repeat(64)}`,
      good.slice(0, -1),
      `${good}0`,
      good.replace('sha256=', 'sha1='),
      sign(body, 'another-app-secret-0000000000000'),
      `sha256=${'f'.repeat(10_000)}`,
    ];
    for (const signature of headers) {
      const res = await postWebhook(
        app.url,
        ACCOUNT,
        null,
        body,
        signature === null ? {} : { 'x-hub-signature-256': signature },
      );
      expect(res.status, String(signature).slice(0, 30)).toBe(401);
    }
    // Signed for one body, sent with another.
    const tampered = body.replace('"hi"', '"ho"');
    const res = await postWebhook(app.url, ACCOUNT, null, tampered, { 'x-hub-signature-256': good });
    expect(res.status).toBe(401);

    expect(await events(from)).toEqual([]);
    const after = metric(
      await metrics(),
      'webhook_requests_total{platform="instagram",outcome="unauthorized"}',
    );
    expect(after - before).toBe(headers.length + 1);

    // The same body with its signature goes through.
    expect((await postWebhook(app.url, ACCOUNT, null, body, { 'x-hub-signature-256': good })).status).toBe(
      200,
    );
    expect(await events(from)).toHaveLength(1);
  });

  it('checks the signature over the bytes Meta sent, with non-ASCII escaped as Meta escapes it', async () => {
    const from = igsid();
    const stored = await deliver(textEvent({ accountId: ACCOUNT_ID, from, text: 'Olá! Mesa às 20h? 👋' }));
    expect(stored.normalized).toMatchObject({ text: 'Olá! Mesa às 20h? 👋' });
  });

  it('answers 404 for an account that is not configured', async () => {
    const body = webhookBody(ACCOUNT_ID, [textEvent({ accountId: ACCOUNT_ID, from: igsid(), text: 'hi' })]);
    expect((await postWebhook(app.url, 'no-such-account', APP_SECRET, body)).status).toBe(404);
  });
});

describe('Instagram webhook: messages', () => {
  it('stores a text message, answers 200, and processes it: a new person gets a user, an identity and a consumer agent', async () => {
    const from = igsid();
    const event = textEvent({ accountId: ACCOUNT_ID, from, text: 'A table for 4 on Friday?' });
    const stored = await deliver(event);
    expect(stored).toMatchObject({ externalId: event.message.mid, eventType: 'message' });
    // Taken for processing (the worker may already be at it).
    expect(['PENDING', 'PROCESSED']).toContain(stored.status);
    expect(stored.normalized).toEqual({
      platform: 'INSTAGRAM',
      account: ACCOUNT,
      externalChatId: from,
      externalMessageId: event.message.mid,
      sender: { externalId: from, displayName: null, language: null },
      text: 'A table for 4 on Friday?',
      images: [],
      location: null,
      contact: null,
      button: null,
      replyTo: null,
      sentAt: new Date(event.timestamp).toISOString(),
    });
    await waitFor(async () => (await events(from))[0]?.status === 'PROCESSED', 'the message to be processed');
    const identity = await app.services.db.channelIdentity.findUniqueOrThrow({
      where: { platform_externalId: { platform: 'INSTAGRAM', externalId: from } },
      include: { user: { include: { agent: true, chats: true } } },
    });
    expect(identity.user.agent).toMatchObject({ kind: 'CONSUMER' });
    expect(identity.user.chats).toMatchObject([
      { platform: 'INSTAGRAM', account: ACCOUNT, externalChatId: from },
    ]);
  });

  it('keeps images by reference (their CDN URL), with any text, and replies by mid', async () => {
    const from = igsid();
    const urls = [
      'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1',
      'https://lookaside.fbsbx.com/2',
    ];
    const image = await deliver(imageEvent({ accountId: ACCOUNT_ID, from, urls, text: 'this one' }));
    expect(image.eventType).toBe('message');
    expect(image.normalized).toMatchObject({
      text: 'this one',
      images: urls.map((fileId) => ({ fileId, width: null, height: null })),
    });

    const other = igsid();
    const replyToMid = mid();
    const reply = await deliver(textEvent({ accountId: ACCOUNT_ID, from: other, text: 'yes', replyToMid }));
    expect(reply.normalized).toMatchObject({ text: 'yes', replyTo: replyToMid });
  });

  it('marks a reply to our story and a mention in theirs', async () => {
    const from = igsid();
    const reply = await deliver(
      storyReplyEvent({ accountId: ACCOUNT_ID, from, text: 'Looks great!', storyId: '9001' }),
    );
    expect(reply.eventType).toBe('story_reply');
    expect(reply.normalized).toMatchObject({ text: 'Looks great!', replyTo: 'story:9001', images: [] });

    const fan = igsid();
    const url = 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=story-42';
    const mention = await deliver(storyMentionEvent({ accountId: ACCOUNT_ID, from: fan, url }));
    expect(mention.eventType).toBe('story_mention');
    expect(mention.normalized).toMatchObject({
      text: null,
      replyTo: 'story_mention',
      images: [{ fileId: url, width: null, height: null }],
    });
  });

  it('turns postbacks and quick replies into button presses', async () => {
    const from = igsid();
    const postback = postbackEvent({
      accountId: ACCOUNT_ID,
      from,
      payload: 'BOOK_TONIGHT',
      title: 'Book tonight',
    });
    const pressed = await deliver(postback);
    expect(pressed).toMatchObject({ eventType: 'postback', externalId: postback.postback.mid });
    expect(['PENDING', 'PROCESSED']).toContain(pressed.status);
    expect(pressed.normalized).toMatchObject({
      text: null,
      button: { payload: 'BOOK_TONIGHT', title: 'Book tonight' },
      externalMessageId: postback.postback.mid,
    });

    // Postbacks from before Graph v11 carry no mid: a derived id still deduplicates them.
    const old = igsid();
    const legacy = postbackEvent({
      accountId: ACCOUNT_ID,
      from: old,
      payload: 'MENU',
      title: 'Menu',
      withMid: false,
    });
    for (let i = 0; i < 2; i++)
      await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [legacy]));
    const legacyRows = await events(old);
    expect(legacyRows).toHaveLength(1);
    expect(legacyRows[0]!.externalId).toMatch(/^postback:[0-9a-f]{40}$/);

    const chooser = igsid();
    const quick = await deliver(
      quickReplyEvent({ accountId: ACCOUNT_ID, from: chooser, payload: 'slot:20:00', title: '20:00' }),
    );
    expect(quick.eventType).toBe('quick_reply');
    expect(quick.normalized).toMatchObject({ text: null, button: { payload: 'slot:20:00', title: '20:00' } });
  });

  it('keeps our own echoed messages and deleted messages without processing them', async () => {
    const to = igsid();
    const echo = echoEvent({ accountId: ACCOUNT_ID, from: to, text: 'We have a table at 8.' });
    const res = await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [echo]));
    expect(res.status).toBe(200);
    expect((await events(to)).map((e) => [e.eventType, e.status, e.externalId])).toEqual([
      ['echo', 'IGNORED', echo.message.mid],
    ]);
    expect(
      await app.services.db.channelIdentity.findUnique({
        where: { platform_externalId: { platform: 'INSTAGRAM', externalId: to } },
      }),
    ).toBeNull();

    const from = igsid();
    const sent = textEvent({ accountId: ACCOUNT_ID, from, text: 'oops' });
    const unsent = { ...sent, message: { mid: sent.message.mid, is_deleted: true } };
    await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [sent, unsent]));
    expect((await events(from)).map((e) => [e.eventType, e.status === 'IGNORED'])).toEqual([
      ['message', false],
      ['message_deleted', true],
    ]);
  });

  it('stores a redelivery storm once', async () => {
    const from = igsid();
    const body = webhookBody(ACCOUNT_ID, [
      textEvent({ accountId: ACCOUNT_ID, from, text: 'same event, many times' }),
    ]);
    const before = metric(
      await metrics(),
      'webhook_requests_total{platform="instagram",outcome="duplicate"}',
    );
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => postWebhook(app.url, ACCOUNT, APP_SECRET, body)),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    await waitFor(async () => (await events(from))[0]?.status === 'PROCESSED', 'processing');
    expect(await events(from)).toHaveLength(1);
    const after = metric(await metrics(), 'webhook_requests_total{platform="instagram",outcome="duplicate"}');
    expect(after - before).toBe(29);
  });

  it('stores each event of a batch on its own, in order, and routes entries by account id', async () => {
    const from = igsid();
    const first = textEvent({ accountId: ACCOUNT_ID, from, text: 'one' });
    const second = textEvent({ accountId: ACCOUNT_ID, from, text: 'two' });
    const toSibling = textEvent({ accountId: SIBLING_ID, from, text: 'to the other account' });
    const body = {
      object: 'instagram',
      entry: [
        { id: ACCOUNT_ID, time: Date.now(), messaging: [first, second] },
        { id: SIBLING_ID, time: Date.now(), messaging: [toSibling] },
      ],
    };
    expect((await postWebhook(app.url, ACCOUNT, APP_SECRET, body)).status).toBe(200);
    expect((await events(from)).map((e) => (e.normalized as { text: string }).text)).toEqual(['one', 'two']);
    expect((await events(from, SIBLING)).map((e) => e.externalId)).toEqual([toSibling.message.mid]);
  });
});

describe('Instagram webhook: bodies it cannot use', () => {
  const failed = (account = ACCOUNT) =>
    app.services.db.inboundEvent.findMany({
      where: { platform: 'INSTAGRAM', account, status: 'FAILED' },
      orderBy: { sequence: 'desc' },
    });

  it('keeps malformed JSON, unknown shapes and odd events for inspection, answering 200', async () => {
    const before = (await failed()).length;
    expect((await postWebhook(app.url, ACCOUNT, APP_SECRET, '{"object":"instagram","entry":[')).status).toBe(
      200,
    );
    expect((await postWebhook(app.url, ACCOUNT, APP_SECRET, '{"object":"page","entry":[]}')).status).toBe(
      200,
    );
    expect((await postWebhook(app.url, ACCOUNT, APP_SECRET, '[1,2,3]')).status).toBe(200);

    // One broken event in a batch is kept failed; its neighbour is processed.
    const from = igsid();
    const good = textEvent({ accountId: ACCOUNT_ID, from, text: 'fine' });
    const broken = { sender: { id: 12345 }, recipient: { id: ACCOUNT_ID }, message: { text: 'no mid' } };
    expect(
      (await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [broken, good]))).status,
    ).toBe(200);
    expect((await events(from)).map((e) => e.eventType)).toEqual(['message']);
    await waitFor(
      async () => (await events(from))[0]?.status === 'PROCESSED',
      'the good event to be processed',
    );

    // An entry for an Instagram account nobody configured.
    const stranger = webhookBody('17841499999999999', [
      textEvent({ accountId: '17841499999999999', from, text: '?' }),
    ]);
    expect((await postWebhook(app.url, ACCOUNT, APP_SECRET, stranger)).status).toBe(200);

    const rows = (await failed()).slice(0, (await failed()).length - before);
    expect(rows.map((r) => r.eventType).sort()).toEqual([
      'invalid_event',
      'malformed',
      'unknown',
      'unknown',
      'unknown_account',
    ]);
    expect(rows.every((r) => r.error)).toBe(true);
  });

  it('keeps reactions and other events it does not act on', async () => {
    const from = igsid();
    const reaction = {
      sender: { id: from },
      recipient: { id: ACCOUNT_ID },
      timestamp: Date.now(),
      reaction: { mid: mid(), action: 'react', reaction: 'love', emoji: '❤️' },
    };
    await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [reaction, reaction]));
    expect((await events(from)).map((e) => [e.eventType, e.status])).toEqual([['reaction', 'IGNORED']]);
    // Comments arrive as `changes`, not `messaging`: kept once (whatever time Meta stamps on the copy).
    const commenter = igsid();
    const comment = (time: number) => ({
      object: 'instagram',
      entry: [
        {
          id: ACCOUNT_ID,
          time,
          changes: [
            {
              field: 'comments',
              value: { id: mid(), from: { id: commenter, username: 'ana' }, text: 'Nice!' },
            },
          ],
        },
      ],
    });
    const first = comment(Date.now());
    const redelivered = { ...first, entry: [{ ...first.entry[0]!, time: Date.now() + 5000 }] };
    for (const body of [first, redelivered]) {
      expect((await postWebhook(app.url, ACCOUNT, APP_SECRET, body)).status).toBe(200);
    }
    const kept = await app.services.db.inboundEvent.findMany({
      where: {
        platform: 'INSTAGRAM',
        account: ACCOUNT,
        eventType: 'changes',
        raw: { path: ['changes', '0', 'value', 'from', 'id'], equals: commenter },
      },
    });
    expect(kept.map((e) => e.status)).toEqual(['IGNORED']);
  });
});

describe('Instagram webhook: receipts', () => {
  it('moves our sent messages to DELIVERED and READ, never back', async () => {
    const from = igsid();
    const user = await app.services.db.user.create({ data: {} });
    const chat = await app.services.db.chat.create({
      data: {
        platform: 'INSTAGRAM',
        account: ACCOUNT,
        externalChatId: from,
        userId: user.id,
        lastInboundAt: new Date(),
      },
    });
    const [a, b] = [mid(), mid()];
    for (const externalMessageId of [a, b]) {
      await app.services.db.outboundMessage.create({
        data: {
          userId: user.id,
          chatId: chat.id,
          kind: 'test',
          body: 'hello',
          dedupeKey: `ig-receipt:${randomUUID()}`,
          status: 'SENT',
          externalMessageId,
          sentAt: new Date(),
        },
      });
    }
    const row = (externalMessageId: string) =>
      app.services.db.outboundMessage.findFirstOrThrow({ where: { externalMessageId } });

    await postWebhook(
      app.url,
      ACCOUNT,
      APP_SECRET,
      webhookBody(ACCOUNT_ID, [deliveryEvent({ accountId: ACCOUNT_ID, from, mids: [a, b] })]),
    );
    expect((await row(a)).status).toBe('DELIVERED');
    expect((await row(b)).status).toBe('DELIVERED');

    const read = readEvent({ accountId: ACCOUNT_ID, from, mid: b });
    await postWebhook(app.url, ACCOUNT, APP_SECRET, webhookBody(ACCOUNT_ID, [read]));
    expect(await row(b)).toMatchObject({ status: 'READ', readAt: new Date(read.timestamp) });
    expect((await row(a)).status).toBe('DELIVERED');

    // A late delivery receipt does not move a read message back.
    await postWebhook(
      app.url,
      ACCOUNT,
      APP_SECRET,
      webhookBody(ACCOUNT_ID, [deliveryEvent({ accountId: ACCOUNT_ID, from, mids: [b] })]),
    );
    expect((await row(b)).status).toBe('READ');
    expect((await events(from)).map((e) => [e.eventType, e.status])).toEqual([
      ['delivery', 'IGNORED'],
      ['read', 'IGNORED'],
      ['delivery', 'IGNORED'],
    ]);

    // A receipt naming a message id PostgreSQL cannot store (NUL) names none of ours: answered 200.
    const odd = await postWebhook(
      app.url,
      ACCOUNT,
      APP_SECRET,
      webhookBody(ACCOUNT_ID, [deliveryEvent({ accountId: ACCOUNT_ID, from, mids: [`${a}\u0000`] })]),
    );
    expect(odd.status).toBe(200);
    expect((await row(a)).status).toBe('DELIVERED');
  });
});

describe('Instagram configuration', () => {
  it('stops start-up naming each missing secret', () => {
    const { appSecret: _s, verifyToken: _v, ...withoutSecrets } = accounts[0]!;
    let error: unknown;
    try {
      loadConfig({ INSTAGRAM_ACCOUNTS: JSON.stringify([withoutSecrets]) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      'INSTAGRAM_ACCOUNTS.0.appSecret: the app secret is required (it checks X-Hub-Signature-256 on every webhook)',
      'INSTAGRAM_ACCOUNTS.0.verifyToken: the verify token is required (Meta sends it in the subscription handshake)',
    ]);
    expect(() => loadConfig({ INSTAGRAM_ACCOUNTS: JSON.stringify([accounts[0], accounts[0]]) })).toThrow(
      /account names must differ/,
    );
  });
});
