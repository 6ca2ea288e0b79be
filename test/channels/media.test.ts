/**
 * Images people send, end to end against the platform fakes: a signed webhook stores the message
 * with the platform's reference, the chat's drain hands it to a handler, and the handler's
 * `loadImage` fetches the bytes through the platform's media API, or fails with a typed error.
 */
import { createHash, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { acknowledge, drainChat, type InboundHandler } from '../../src/domain/channels/inbound.ts';
import { imageLoader } from '../../src/domain/channels/media.ts';
import type { NormalizedMessage } from '../../src/domain/channels/normalized.ts';
import { mediaHostAllowed } from '../../src/integrations/instagram/media.ts';
import { mediaLoaders } from '../../src/integrations/media.ts';
import {
  type LoadedImage,
  type MediaError,
  MediaGoneError,
  MediaNotImageError,
  MediaTooLargeError,
  MediaUnavailableError,
  sniffImageType,
} from '../../src/integrations/media-loader.ts';
import { TELEGRAM_BOT, telegramEnv } from '../factories/apps.ts';
import {
  D360_SECRET,
  INSTAGRAM_ACCOUNT,
  instagramEnv,
  WHATSAPP_APP_SECRET,
  WHATSAPP_D360,
  WHATSAPP_META,
  whatsappEnv,
} from '../factories/channels.ts';
import {
  type FakeGraphApi,
  igsid,
  imageEvent,
  postWebhook,
  startFakeGraphApi,
  webhookBody,
} from '../fakes/instagram.ts';
import { jpeg, png, webp } from '../fakes/media.ts';
import { type FakeBotApi, photoUpdate, postUpdate, startFakeBotApi } from '../fakes/telegram.ts';
import {
  type FakeCloudApi,
  graphError,
  messages,
  post360,
  postMeta,
  startFakeCloudApi,
  waNumber,
  webhookPayload,
} from '../fakes/whatsapp.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

const MAX = 100_000;

const { name: BOT, secret: BOT_SECRET, token: BOT_TOKEN } = TELEGRAM_BOT;
const APP_SECRET = WHATSAPP_APP_SECRET;
const META = WHATSAPP_META;
const D360 = WHATSAPP_D360;
const { name: IG_ACCOUNT, accountId: IG_ACCOUNT_ID, appSecret: IG_SECRET } = INSTAGRAM_ACCOUNT;

let bot: FakeBotApi;
let cloud: FakeCloudApi;
let graph: FakeGraphApi;
let app: TestApp;

beforeAll(async () => {
  [bot, cloud, graph] = await Promise.all([startFakeBotApi(), startFakeCloudApi(), startFakeGraphApi()]);
  // No worker: each test drains its chat itself, with a handler of its own.
  app = await startTestApp({
    env: {
      MEDIA_MAX_BYTES: String(MAX),
      ...telegramEnv(bot),
      ...whatsappEnv(cloud),
      ...instagramEnv(graph),
      // The fake plays Meta's CDN on loopback; by default only Meta's CDN hosts are fetched from.
      INSTAGRAM_MEDIA_HOSTS: '127.0.0.1',
    },
  });
});
afterAll(async () => {
  await app?.close();
  await Promise.all([bot?.close(), cloud?.close(), graph?.close()]);
});

type Chat = { platform: 'TELEGRAM' | 'WHATSAPP' | 'INSTAGRAM'; account: string; externalChatId: string };

/** Drains the chat with `handler`, using the configured channels' media loaders. */
async function drain(chat: Chat, handler: InboundHandler, options: { timeoutMs?: number } = {}) {
  const { processed, retryAfterMs } = await drainChat(
    {
      database: app.services.database,
      keyring: app.services.keyring,
      logger: app.services.logger,
      handler,
      media: mediaLoaders(app.services.config, options),
    },
    chat,
  );
  if (retryAfterMs !== null) throw new Error('the chat was busy');
  expect(processed).toBeGreaterThan(0);
}

type Outcome = { image: LoadedImage; error?: undefined } | { image?: undefined; error: unknown };

/** Drains the chat with a handler that loads image `index` of each message, and returns what it got. */
async function loadFrom(chat: Chat, index = 0, options: { timeoutMs?: number } = {}): Promise<Outcome> {
  let outcome: Outcome | undefined;
  await drain(
    chat,
    async (_message, context) => {
      try {
        outcome = { image: await context.loadImage(index) };
      } catch (error) {
        outcome = { error };
      }
    },
    options,
  );
  if (!outcome) throw new Error('the handler did not run');
  return outcome;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function expectImage(outcome: Outcome, bytes: Buffer, mimeType: string) {
  if (outcome.error) throw outcome.error;
  expect(outcome.image!.mimeType).toBe(mimeType);
  expect(outcome.image!.sha256).toBe(sha256(bytes));
  expect(Buffer.compare(outcome.image!.bytes, bytes)).toBe(0);
}

function expectError<E extends MediaError>(
  outcome: Outcome,
  type: abstract new (...args: never[]) => E,
  code: MediaError['code'],
): E {
  expect(outcome.error, 'an error').toBeInstanceOf(type);
  const error = outcome.error as E;
  expect(error.code).toBe(code);
  expect(error.retryable).toBe(code === 'unavailable');
  return error;
}

describe('Telegram images', () => {
  let nextChat = randomInt(1_000_000, 1_000_000_000);
  let nextFile = 0;

  /** A person sends a photo whose largest size is `fileId`; returns the chat to drain. */
  async function sendPhoto(fileId: string): Promise<Chat> {
    const chatId = nextChat++;
    const res = await postUpdate(app.url, BOT, BOT_SECRET, photoUpdate({ chatId, fileId, caption: 'here' }));
    expect(res.status).toBe(200);
    return { platform: 'TELEGRAM', account: BOT, externalChatId: String(chatId) };
  }
  const fileId = () => `AgACAgQAAxkBAAI${nextFile++}x`;
  const getFiles = (id: string) => bot.calls.filter((c) => c.method === 'getFile' && c.params.file_id === id);

  it('loads the photo (its largest size) with getFile and the file URL: the exact bytes and type, once', async () => {
    const id = fileId();
    const bytes = jpeg(40_000);
    bot.addFile(id, { bytes, path: `photos/${id}.jpg` });
    const chat = await sendPhoto(id);
    const downloadsBefore = bot.downloads.length;

    let twice: LoadedImage[] = [];
    let message: NormalizedMessage | undefined;
    await drain(chat, async (m, { loadImage }) => {
      message = m;
      twice = await Promise.all([loadImage(0), loadImage(0)]);
      twice.push(await loadImage(0));
    });
    expect(message!.images).toEqual([{ fileId: id, width: 1280, height: 960 }]);
    for (const image of twice) expectImage({ image }, bytes, 'image/jpeg');
    // One getFile, one download, for three calls.
    expect(getFiles(id)).toHaveLength(1);
    expect(getFiles(id)[0]!.token).toBe(BOT_TOKEN);
    expect(bot.downloads.slice(downloadsBefore)).toEqual([
      { path: `photos/${id}.jpg`, sent: bytes.length, complete: true, credential: null },
    ]);

    // Kept by reference: the stored message names the file and holds no bytes.
    const [event] = await app.services.db.inboundEvent.findMany({
      where: { platform: 'TELEGRAM', externalChatId: chat.externalChatId },
    });
    expect(event!.status).toBe('PROCESSED');
    expect((event!.normalized as unknown as NormalizedMessage).images).toEqual([
      { fileId: id, width: 1280, height: 960 },
    ]);
    const stored = JSON.stringify({ normalized: event!.normalized, raw: event!.raw, error: event!.error });
    expect(stored).not.toContain(bytes.subarray(0, 48).toString('base64'));
    expect(stored.length).toBeLessThan(2000);
  });

  it('downloads nothing unless the handler asks', async () => {
    const id = fileId();
    bot.addFile(id, { bytes: jpeg() });
    const chat = await sendPhoto(id);
    const downloadsBefore = bot.downloads.length;
    await drain(chat, acknowledge);
    expect(getFiles(id)).toHaveLength(0);
    expect(bot.downloads.length).toBe(downloadsBefore);
  });

  it('refuses a file Telegram states is over the limit, without downloading it', async () => {
    const id = fileId();
    bot.addFile(id, { bytes: jpeg(1000), statedSize: MAX + 1 });
    const downloadsBefore = bot.downloads.length;
    const error = expectError(await loadFrom(await sendPhoto(id)), MediaTooLargeError, 'too_large');
    expect(error).toMatchObject({ maxBytes: MAX, size: MAX + 1 });
    expect(bot.downloads.length).toBe(downloadsBefore);
  });

  it('refuses a file Telegram calls too big to fetch at all', async () => {
    const id = fileId();
    bot.failNext('getFile', 1, {
      status: 400,
      body: { ok: false, error_code: 400, description: 'Bad Request: file is too big' },
    });
    expectError(await loadFrom(await sendPhoto(id)), MediaTooLargeError, 'too_large');
  });

  it('stops reading a file that streams past the limit with no size stated', async () => {
    const id = fileId();
    const bytes = jpeg(32 * 1024 * 1024);
    bot.addFile(id, { bytes, statedSize: null, chunked: true });
    const error = expectError(await loadFrom(await sendPhoto(id)), MediaTooLargeError, 'too_large');
    expect(error.size).toBeNull();
    const served = bot.downloads.at(-1)!;
    expect(served.complete).toBe(false);
    expect(served.sent).toBeLessThan(bytes.length / 2);
  });

  it('refuses what is not a JPEG, PNG, WebP or GIF: by its content type, or by its bytes', async () => {
    const html = fileId();
    bot.addFile(html, { bytes: Buffer.from('<html>hello</html>'), contentType: 'text/html' });
    expectError(await loadFrom(await sendPhoto(html)), MediaNotImageError, 'not_an_image');

    const svg = fileId();
    bot.addFile(svg, {
      bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      contentType: 'image/svg+xml',
    });
    expectError(await loadFrom(await sendPhoto(svg)), MediaNotImageError, 'not_an_image');

    const disguised = fileId();
    bot.addFile(disguised, { bytes: Buffer.from('%PDF-1.7 not a picture'), contentType: 'image/jpeg' });
    expectError(await loadFrom(await sendPhoto(disguised)), MediaNotImageError, 'not_an_image');

    // Telegram's file server may say nothing useful; the bytes decide, and name the real type.
    const generic = fileId();
    const bytes = webp(3000);
    bot.addFile(generic, { bytes, contentType: 'application/octet-stream' });
    expectImage(await loadFrom(await sendPhoto(generic)), bytes, 'image/webp');
  });

  it('reports an unknown or expired file as gone', async () => {
    // getFile does not know the id (another bot's, or expired).
    expectError(await loadFrom(await sendPhoto(fileId())), MediaGoneError, 'gone');
    // getFile knows it, but the download answers 404.
    const id = fileId();
    bot.addFile(id, { bytes: jpeg(), status: 404 });
    expectError(await loadFrom(await sendPhoto(id)), MediaGoneError, 'gone');
  });

  it('reports 5xx, 429 and timeouts as unavailable, and tries again on the next call', async () => {
    const id = fileId();
    const bytes = jpeg();
    bot.addFile(id, { bytes });
    bot.failNext('getFile', 1, {
      status: 502,
      body: { ok: false, error_code: 502, description: 'Bad Gateway' },
    });
    const chat = await sendPhoto(id);
    const results: (LoadedImage | unknown)[] = [];
    await drain(chat, async (_m, { loadImage }) => {
      results.push(await loadImage(0).catch((e: unknown) => e));
      results.push(await loadImage(0).catch((e: unknown) => e));
    });
    expect(results[0]).toBeInstanceOf(MediaUnavailableError);
    expect((results[0] as MediaError).retryable).toBe(true);
    expectImage({ image: results[1] as LoadedImage }, bytes, 'image/jpeg');

    const limited = fileId();
    bot.addFile(limited, { bytes });
    bot.failNext('getFile', 1, {
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 3',
        parameters: { retry_after: 3 },
      },
    });
    expectError(await loadFrom(await sendPhoto(limited)), MediaUnavailableError, 'unavailable');

    const failing = fileId();
    bot.addFile(failing, { bytes, status: 503 });
    expectError(await loadFrom(await sendPhoto(failing)), MediaUnavailableError, 'unavailable');

    const slow = fileId();
    bot.addFile(slow, { bytes, delayMs: 1500 });
    const started = Date.now();
    const error = expectError(
      await loadFrom(await sendPhoto(slow), 0, { timeoutMs: 200 }),
      MediaUnavailableError,
      'unavailable',
    );
    expect(error.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(1400);
  });

  it('never puts the bot token in an error', async () => {
    const id = fileId();
    bot.addFile(id, { bytes: jpeg(), delayMs: 1000 });
    const outcome = await loadFrom(await sendPhoto(id), 0, { timeoutMs: 100 });
    expect(String((outcome.error as Error).message)).not.toContain(BOT_TOKEN);
    expect(JSON.stringify(outcome.error)).not.toContain(BOT_TOKEN);
  });
});

describe('WhatsApp images', () => {
  const mediaId = () => String(randomInt(10 ** 13, 10 ** 14));

  /** A person sends an image to `number`; returns the chat to drain. */
  async function sendImage(number: typeof META | typeof D360, id: string): Promise<Chat> {
    const from = waNumber();
    const body = webhookPayload({
      phoneNumberId: number.phoneNumberId,
      messages: [messages.image({ from, mediaId: id, caption: 'this one' })],
    });
    const res =
      number.provider === 'meta'
        ? await postMeta(app.url, number.name, APP_SECRET, body)
        : await post360(app.url, number.name, D360_SECRET, body);
    expect(res.status).toBe(200);
    return { platform: 'WHATSAPP', account: number.phoneNumberId, externalChatId: from };
  }
  const lookups = (id: string) => cloud.mediaCalls.filter((c) => c.mediaId === id);

  it('Meta: looks the media id up and downloads its URL, both with the Bearer token', async () => {
    const id = mediaId();
    const bytes = jpeg(30_000);
    cloud.addMedia(id, { bytes });
    const outcome = await loadFrom(await sendImage(META, id));
    expectImage(outcome, bytes, 'image/jpeg');
    expect(lookups(id)).toEqual([{ style: 'meta', mediaId: id, credential: `Bearer ${META.accessToken}` }]);
    expect(cloud.downloads.at(-1)).toMatchObject({
      path: `/whatsapp_business/attachments/?mid=${id}`,
      complete: true,
      credential: `Bearer ${META.accessToken}`,
    });
  });

  it("360dialog: looks the media id up with D360-API-KEY and downloads through 360dialog's host", async () => {
    const id = mediaId();
    const bytes = png(20_000);
    cloud.addMedia(id, { bytes, mimeType: 'image/png' });
    const outcome = await loadFrom(await sendImage(D360, id));
    expectImage(outcome, bytes, 'image/png');
    expect(lookups(id)).toEqual([{ style: '360dialog', mediaId: id, credential: D360.accessToken }]);
    // The answered URL names lookaside.fbsbx.com; the download went to 360dialog (the fake) instead.
    expect(cloud.downloads.at(-1)).toMatchObject({
      path: `/whatsapp_business/attachments/?mid=${id}`,
      credential: D360.accessToken,
    });
  });

  it("follows a redirect to Meta's CDN without taking the credential along", async () => {
    for (const number of [META, D360]) {
      const id = mediaId();
      const bytes = jpeg(12_000);
      // The CDN is another origin (the Instagram fake plays it).
      cloud.addMedia(id, { bytes: Buffer.alloc(0), redirect: graph.hostImage({ bytes }) });
      expectImage(await loadFrom(await sendImage(number, id)), bytes, 'image/jpeg');
      expect(cloud.downloads.at(-1)!.credential).toBe(
        number.provider === 'meta' ? `Bearer ${number.accessToken}` : number.accessToken,
      );
      expect(graph.downloads.at(-1)).toMatchObject({ complete: true, credential: null });
    }
  });

  it('downloads nothing unless the handler asks', async () => {
    const id = mediaId();
    cloud.addMedia(id, { bytes: jpeg() });
    const before = cloud.downloads.length;
    await drain(await sendImage(META, id), acknowledge);
    expect(lookups(id)).toEqual([]);
    expect(cloud.downloads.length).toBe(before);
  });

  it('refuses a stated size over the limit, or a stated type that is not an image, before downloading', async () => {
    const before = cloud.downloads.length;
    const big = mediaId();
    cloud.addMedia(big, { bytes: jpeg(1000), statedSize: 20 * 1024 * 1024 });
    const tooLarge = expectError(await loadFrom(await sendImage(META, big)), MediaTooLargeError, 'too_large');
    expect(tooLarge.size).toBe(20 * 1024 * 1024);

    const bigThrough360 = mediaId();
    cloud.addMedia(bigThrough360, { bytes: jpeg(1000), statedSize: MAX + 1 });
    expectError(await loadFrom(await sendImage(D360, bigThrough360)), MediaTooLargeError, 'too_large');

    const pdf = mediaId();
    cloud.addMedia(pdf, { bytes: Buffer.from('%PDF-1.7'), mimeType: 'application/pdf' });
    const notImage = expectError(
      await loadFrom(await sendImage(META, pdf)),
      MediaNotImageError,
      'not_an_image',
    );
    expect(notImage.declaredType).toBe('application/pdf');
    expect(cloud.downloads.length).toBe(before);
  });

  it('stops reading a download that streams past the limit, and refuses a served type that is not an image', async () => {
    const streamed = mediaId();
    const bytes = jpeg(32 * 1024 * 1024);
    cloud.addMedia(streamed, { bytes, statedSize: null, chunked: true });
    expectError(await loadFrom(await sendImage(META, streamed)), MediaTooLargeError, 'too_large');
    expect(cloud.downloads.at(-1)!.complete).toBe(false);
    expect(cloud.downloads.at(-1)!.sent).toBeLessThan(bytes.length / 2);

    const html = mediaId();
    cloud.addMedia(html, {
      bytes: Buffer.from('<html></html>'),
      mimeType: 'image/jpeg',
      contentType: 'text/html',
    });
    expectError(await loadFrom(await sendImage(D360, html)), MediaNotImageError, 'not_an_image');
  });

  it('reports an unknown or expired media id, and a vanished download, as gone', async () => {
    // Meta's "Object with ID … does not exist" (code 100).
    expectError(await loadFrom(await sendImage(META, mediaId())), MediaGoneError, 'gone');
    expectError(await loadFrom(await sendImage(D360, mediaId())), MediaGoneError, 'gone');
    const vanished = mediaId();
    cloud.addMedia(vanished, { bytes: jpeg(), status: 404 });
    expectError(await loadFrom(await sendImage(META, vanished)), MediaGoneError, 'gone');
  });

  it('reports 5xx and throttling as unavailable', async () => {
    const id = mediaId();
    cloud.addMedia(id, { bytes: jpeg() });
    cloud.failNextMedia(1, { status: 500, body: graphError(131000, 'Something went wrong') });
    expectError(await loadFrom(await sendImage(META, id)), MediaUnavailableError, 'unavailable');
    cloud.failNextMedia(1, { status: 400, body: graphError(80007, 'Rate limit hit') });
    expectError(await loadFrom(await sendImage(D360, id)), MediaUnavailableError, 'unavailable');

    const failing = mediaId();
    cloud.addMedia(failing, { bytes: jpeg(), status: 503 });
    expectError(await loadFrom(await sendImage(META, failing)), MediaUnavailableError, 'unavailable');
  });
});

describe('Instagram images', () => {
  /** A person sends images at these URLs; returns the chat to drain. */
  async function sendImages(urls: string[]): Promise<Chat> {
    const from = igsid();
    const res = await postWebhook(
      app.url,
      IG_ACCOUNT,
      IG_SECRET,
      webhookBody(IG_ACCOUNT_ID, [imageEvent({ accountId: IG_ACCOUNT_ID, from, urls })]),
    );
    expect(res.status).toBe(200);
    return { platform: 'INSTAGRAM', account: IG_ACCOUNT, externalChatId: from };
  }

  it('fetches the attachment URL itself: each image of a message, by index, only those asked for', async () => {
    const first = png(5000);
    const second = jpeg(7000);
    const third = jpeg(9000);
    const urls = [
      graph.hostImage({ bytes: first }),
      graph.hostImage({ bytes: second }),
      graph.hostImage({ bytes: third }),
    ];
    const chat = await sendImages(urls);
    const before = graph.downloads.length;
    let loaded: LoadedImage[] = [];
    let outOfRange: unknown;
    await drain(chat, async (message, { loadImage }) => {
      expect(message.images.map((i) => i.fileId)).toEqual(urls);
      loaded = [await loadImage(1), await loadImage(0)];
      outOfRange = await loadImage(3).catch((e: unknown) => e);
    });
    expectImage({ image: loaded[0]! }, second, 'image/jpeg');
    expectImage({ image: loaded[1]! }, first, 'image/png');
    expect(outOfRange).toBeInstanceOf(RangeError);
    // The third was never asked for, so never fetched.
    expect(graph.downloads.slice(before).map((d) => d.path)).toEqual([
      new URL(urls[1]!).pathname + new URL(urls[1]!).search,
      new URL(urls[0]!).pathname + new URL(urls[0]!).search,
    ]);
  });

  it('downloads nothing unless the handler asks', async () => {
    const chat = await sendImages([graph.hostImage({ bytes: jpeg() })]);
    const before = graph.downloads.length;
    await drain(chat, acknowledge);
    expect(graph.downloads.length).toBe(before);
  });

  it('refuses a Content-Length over the limit before reading, and stops a stream past it', async () => {
    const stated = expectError(
      await loadFrom(await sendImages([graph.hostImage({ bytes: jpeg(MAX + 1) })])),
      MediaTooLargeError,
      'too_large',
    );
    expect(stated.size).toBe(MAX + 1);
    const bytes = jpeg(32 * 1024 * 1024);
    const streamed = expectError(
      await loadFrom(await sendImages([graph.hostImage({ bytes, chunked: true })])),
      MediaTooLargeError,
      'too_large',
    );
    expect(streamed.size).toBeNull();
    expect(graph.downloads.at(-1)!.sent).toBeLessThan(bytes.length / 2);
  });

  it('refuses a served type that is not an image', async () => {
    const url = graph.hostImage({
      bytes: Buffer.from('{"error":"login required"}'),
      contentType: 'application/json',
    });
    expectError(await loadFrom(await sendImages([url])), MediaNotImageError, 'not_an_image');
    const video = graph.hostImage({ bytes: Buffer.alloc(100), contentType: 'video/mp4' });
    expectError(await loadFrom(await sendImages([video])), MediaNotImageError, 'not_an_image');
  });

  it('reports an expired link (403: the signature lapsed) or a missing one (404) as gone', async () => {
    expectError(
      await loadFrom(await sendImages([graph.hostImage({ bytes: jpeg(), status: 403 })])),
      MediaGoneError,
      'gone',
    );
    expectError(
      await loadFrom(await sendImages([graph.hostImage({ bytes: jpeg(), status: 404 })])),
      MediaGoneError,
      'gone',
    );
    expectError(
      await loadFrom(await sendImages([`${graph.url}/ig_messaging_cdn/?asset_id=0`])),
      MediaGoneError,
      'gone',
    );
  });

  it('fetches only from the allowed hosts: another host, or a redirect to one, is refused with no request made there', async () => {
    // The same fake under another name: a host that is not allowed.
    const elsewhere = (url: string) => url.replace('//127.0.0.1:', '//localhost:');
    const before = graph.downloads.length;
    const refused = expectError(
      await loadFrom(await sendImages([elsewhere(graph.hostImage({ bytes: jpeg() }))])),
      MediaGoneError,
      'gone',
    );
    expect(refused.message).toBe("Instagram: the image is not on Meta's CDN (localhost)");
    expect(graph.downloads.length).toBe(before);

    const redirected = graph.hostImage({
      bytes: Buffer.alloc(0),
      redirect: elsewhere(graph.hostImage({ bytes: jpeg() })),
    });
    const offCdn = expectError(await loadFrom(await sendImages([redirected])), MediaGoneError, 'gone');
    expect(offCdn.message).toBe("Instagram: the image is not on Meta's CDN (localhost)");
    // The allowed host answered the redirect; the other host was never asked.
    expect(graph.downloads.length).toBe(before + 1);
  });

  it("by default fetches from Meta's CDN hosts only", async () => {
    const config = loadConfig({
      INSTAGRAM_ACCOUNTS: JSON.stringify([INSTAGRAM_ACCOUNT]),
    });
    expect(config.channels.instagram.mediaHosts).toEqual([
      '*.cdninstagram.com',
      '*.fbcdn.net',
      'lookaside.fbsbx.com',
    ]);
    const load = mediaLoaders(config).INSTAGRAM!;
    const before = graph.downloads.length;
    await expect(load(IG_ACCOUNT, graph.hostImage({ bytes: jpeg() }))).rejects.toThrow(
      "Instagram: the image is not on Meta's CDN (127.0.0.1)",
    );
    expect(graph.downloads.length).toBe(before);

    const hosts = config.channels.instagram.mediaHosts;
    for (const host of [
      'lookaside.fbsbx.com',
      'scontent-lis1-1.xx.fbcdn.net',
      'scontent.xx.fbcdn.net',
      'scontent-ams2-1.cdninstagram.com',
    ])
      expect(mediaHostAllowed(host, hosts), host).toBe(true);
    for (const host of [
      'fbcdn.net.evil.example',
      'evilfbcdn.net',
      'fbcdn.net',
      'lookaside.fbsbx.com.evil.example',
      'other.fbsbx.com',
      '127.0.0.1',
    ])
      expect(mediaHostAllowed(host, hosts), host).toBe(false);
  });

  it('reports 5xx and an unreachable CDN as unavailable', async () => {
    expectError(
      await loadFrom(await sendImages([graph.hostImage({ bytes: jpeg(), status: 502 })])),
      MediaUnavailableError,
      'unavailable',
    );
    // A port nothing listens on.
    expectError(
      await loadFrom(await sendImages(['http://127.0.0.1:9/ig_messaging_cdn/?asset_id=1'])),
      MediaUnavailableError,
      'unavailable',
    );
  });
});

describe('the lazy loader', () => {
  const message = (platform: NormalizedMessage['platform'], count: number) => ({
    platform,
    account: 'a',
    images: Array.from({ length: count }, (_, i) => ({ fileId: `f${i}`, width: null, height: null })),
  });

  it('calls the channel loader only when asked, once per image, and again only after a retryable failure', async () => {
    const calls: string[] = [];
    let fail: MediaError | null = new MediaUnavailableError('down');
    const bytes = jpeg(100);
    const load = imageLoader(message('TELEGRAM', 2), {
      TELEGRAM: async (account, fileId) => {
        calls.push(`${account}/${fileId}`);
        if (fail) {
          const error = fail;
          fail = null;
          throw error;
        }
        return { bytes, mimeType: 'image/jpeg', sha256: sha256(bytes) };
      },
    });
    expect(calls).toEqual([]);
    await expect(load(0)).rejects.toBeInstanceOf(MediaUnavailableError);
    await load(0);
    await load(0);
    expect(calls).toEqual(['a/f0', 'a/f0']);

    fail = new MediaGoneError('expired');
    await expect(load(1)).rejects.toBeInstanceOf(MediaGoneError);
    await expect(load(1)).rejects.toBeInstanceOf(MediaGoneError);
    expect(calls).toEqual(['a/f0', 'a/f0', 'a/f1']);

    await expect(load(2)).rejects.toBeInstanceOf(RangeError);
    await expect(load(-1)).rejects.toBeInstanceOf(RangeError);
    await expect(load(0.5)).rejects.toBeInstanceOf(RangeError);
  });

  it('rejects as unavailable on a channel with no loader', async () => {
    const load = imageLoader(message('WHATSAPP', 1), {});
    await expect(load(0)).rejects.toBeInstanceOf(MediaUnavailableError);
    await expect(imageLoader(message('WHATSAPP', 1), undefined)(0)).rejects.toMatchObject({
      code: 'unavailable',
    });
  });

  it('knows the four image signatures and nothing else', () => {
    expect(sniffImageType(jpeg(10))).toBe('image/jpeg');
    expect(sniffImageType(png(20))).toBe('image/png');
    expect(sniffImageType(webp(20))).toBe('image/webp');
    expect(sniffImageType(Buffer.from('GIF89a....'))).toBe('image/gif');
    expect(sniffImageType(Buffer.from('GIF87a....'))).toBe('image/gif');
    expect(sniffImageType(Buffer.from('RIFF\0\0\0\0WAVE'))).toBeNull();
    expect(sniffImageType(Buffer.from('<svg/>'))).toBeNull();
    expect(sniffImageType(Buffer.alloc(0))).toBeNull();
  });
});
