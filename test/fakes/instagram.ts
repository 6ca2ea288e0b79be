/**
 * Meta's side of Instagram messaging: webhook events built in the shapes Meta sends, signed and
 * posted the way Meta does (X-Hub-Signature-256 over the exact bytes, non-ASCII escaped as
 * `\uXXXX` before signing), the subscription handshake, and a loopback Graph Send API that
 * records every request and fails on demand.
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import type { InstagramEventInput } from '../../src/integrations/instagram/webhook.ts';
import { type FakeFile, type FileServed, serveFile } from './media.ts';
import { type LoopbackReply, startLoopbackServer } from './server.ts';

/** A fresh Instagram-scoped user id (what Meta calls an IGSID). */
export function igsid(): string {
  return `6${String(randomInt(0, 2 ** 48 - 1)).padStart(15, '0')}`;
}

/** A fresh message id, shaped like Meta's (`aWdf…`, base64). */
export function mid(): string {
  return `aWdf${randomBytes(24).toString('base64url')}`;
}

interface From {
  /** Our Instagram account id (recipient of what the person sends). */
  accountId: string;
  /** The person (IGSID). */
  from: string;
  timestamp?: number;
}

function envelope(input: From) {
  return {
    sender: { id: input.from },
    recipient: { id: input.accountId },
    timestamp: input.timestamp ?? Date.now(),
  };
}

export function textEvent(input: From & { text: string; mid?: string; replyToMid?: string }) {
  return {
    ...envelope(input),
    message: {
      mid: input.mid ?? mid(),
      text: input.text,
      ...(input.replyToMid ? { reply_to: { mid: input.replyToMid } } : {}),
    },
  } satisfies InstagramEventInput;
}

export function imageEvent(input: From & { urls: string[]; text?: string }) {
  return {
    ...envelope(input),
    message: {
      mid: mid(),
      ...(input.text ? { text: input.text } : {}),
      attachments: input.urls.map((url) => ({ type: 'image', payload: { url } })),
    },
  } satisfies InstagramEventInput;
}

/** The person answers one of our stories. */
export function storyReplyEvent(input: From & { text: string; storyId: string }) {
  return {
    ...envelope(input),
    message: {
      mid: mid(),
      text: input.text,
      reply_to: {
        story: {
          url: `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${input.storyId}`,
          id: input.storyId,
        },
      },
    },
  } satisfies InstagramEventInput;
}

/** The person mentions us in their story. */
export function storyMentionEvent(input: From & { url: string }) {
  return {
    ...envelope(input),
    message: { mid: mid(), attachments: [{ type: 'story_mention', payload: { url: input.url } }] },
  } satisfies InstagramEventInput;
}

/** An Icebreaker or Generic Template button. */
export function postbackEvent(input: From & { payload: string; title: string; withMid?: boolean }) {
  return {
    ...envelope(input),
    postback: {
      ...(input.withMid === false ? {} : { mid: mid() }),
      title: input.title,
      payload: input.payload,
    },
  } satisfies InstagramEventInput;
}

export function quickReplyEvent(input: From & { payload: string; title: string }) {
  return {
    ...envelope(input),
    message: { mid: mid(), text: input.title, quick_reply: { payload: input.payload } },
  } satisfies InstagramEventInput;
}

/** One of our own messages, echoed back: sender is our account, recipient the person. */
export function echoEvent(input: From & { text: string; mid?: string }) {
  return {
    sender: { id: input.accountId },
    recipient: { id: input.from },
    timestamp: input.timestamp ?? Date.now(),
    message: { mid: input.mid ?? mid(), text: input.text, is_echo: true },
  } satisfies InstagramEventInput;
}

/** `messaging_seen`: the person read our message `mid`. */
export function readEvent(input: From & { mid: string }) {
  return { ...envelope(input), read: { mid: input.mid } } satisfies InstagramEventInput;
}

/** Messenger-style delivery receipt. */
export function deliveryEvent(input: From & { mids: string[] }) {
  return {
    ...envelope(input),
    delivery: { mids: input.mids, watermark: Date.now() },
  } satisfies InstagramEventInput;
}

/** The webhook body: one entry per account, each with its events. */
export function webhookBody(accountId: string, events: unknown[]) {
  return { object: 'instagram', entry: [{ id: accountId, time: Date.now(), messaging: events }] };
}

/** Serialises like Meta: JSON with every non-ASCII character escaped (`é` → `\u00e9`). */
export function metaJson(body: unknown): string {
  return JSON.stringify(body).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function sign(body: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

/**
 * Posts a body to our webhook as Meta would. `appSecret: null` sends no signature; a string body
 * is sent (and signed) as is.
 */
export function postWebhook(
  baseUrl: string,
  account: string,
  appSecret: string | null,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const raw = typeof body === 'string' ? body : metaJson(body);
  return fetch(`${baseUrl}/webhooks/instagram/${account}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(appSecret === null ? {} : { 'x-hub-signature-256': sign(raw, appSecret) }),
      ...headers,
    },
    body: raw,
  });
}

/** Meta's subscription check: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`. */
export function handshake(
  baseUrl: string,
  account: string,
  params: Record<string, string>,
): Promise<Response> {
  return fetch(`${baseUrl}/webhooks/instagram/${account}?${new URLSearchParams(params)}`);
}

export interface GraphSendCall {
  /** `me` or an id: the node in `/<version>/<node>/messages`. */
  node: string;
  version: string;
  token: string | null;
  body: { recipient: { id: string }; message: Record<string, unknown> };
  at: number;
  /** What we answered (for sends that succeeded, the mid). */
  messageId: string | null;
}

export interface GraphFailure {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface FakeGraphApi {
  /** Base URL for INSTAGRAM_GRAPH_URL. */
  url: string;
  calls: GraphSendCall[];
  /**
   * The next `times` sends to `recipientId` (or to anyone) get this answer instead of success;
   * with `after`, only once that many more sends have succeeded.
   */
  failNext(times: number, answer: GraphFailure, recipientId?: string, options?: { after?: number }): void;
  /** Serves `file` as Meta's CDN would an attachment; returns its URL (signed-looking, unique). */
  hostImage(file: FakeFile): string;
  /** Attachment downloads, in order. */
  downloads: FileServed[];
  close(): Promise<void>;
}

/** A Graph API error body, as Meta writes them. */
export function graphError(code: number, message: string, subcode?: number): Record<string, unknown> {
  return {
    error: {
      message,
      type: 'OAuthException',
      code,
      ...(subcode !== undefined ? { error_subcode: subcode } : {}),
      fbtrace_id: randomBytes(8).toString('base64url'),
    },
  };
}

/** A loopback Graph Send API: records every `POST /<version>/<node>/messages` and answers like Meta. */
export async function startFakeGraphApi(): Promise<FakeGraphApi> {
  const calls: GraphSendCall[] = [];
  const failures: { left: number; after: number; answer: GraphFailure; recipientId?: string }[] = [];
  const hosted = new Map<string, FakeFile>();
  const downloads: FileServed[] = [];
  const server = await startLoopbackServer(async ({ raw }, res, req) => {
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}): LoopbackReply => ({
      status,
      body,
      headers,
    });
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/ig_messaging_cdn/') {
      const asset = url.searchParams.get('asset_id') ?? '';
      const file = hosted.get(asset);
      if (!file) return answer(404, { error: 'not found' });
      downloads.push(await serveFile(req, res, `${url.pathname}${url.search}`, file));
      return;
    }
    const match = /^\/(v\d+\.\d+)\/([^/]+)\/messages$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      return answer(400, graphError(100, 'Unsupported request', 33));
    }
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : url.searchParams.get('access_token');
    let body: GraphSendCall['body'];
    try {
      body = JSON.parse(raw);
    } catch {
      return answer(400, graphError(100, 'Invalid JSON'));
    }
    const call: GraphSendCall = {
      version: match[1]!,
      node: match[2]!,
      token,
      body,
      at: Date.now(),
      messageId: null,
    };
    calls.push(call);
    if (!token) return answer(400, graphError(190, 'An access token is required'));
    const failure = failures.find(
      (f) => f.left > 0 && (f.recipientId === undefined || f.recipientId === body.recipient?.id),
    );
    if (failure && failure.after > 0) failure.after -= 1;
    else if (failure) {
      failure.left -= 1;
      return answer(failure.answer.status, failure.answer.body, failure.answer.headers);
    }
    call.messageId = mid();
    return answer(200, { recipient_id: body.recipient.id, message_id: call.messageId });
  });
  const { port } = server;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    failNext(times, answer, recipientId, options) {
      failures.push({ left: times, after: options?.after ?? 0, answer, recipientId });
    },
    hostImage(file) {
      const asset = String(randomInt(1, 2 ** 47));
      hosted.set(asset, file);
      return `http://127.0.0.1:${port}/ig_messaging_cdn/?asset_id=${asset}&signature=${randomBytes(12).toString('base64url')}`;
    },
    downloads,
    close: server.close,
  };
}
