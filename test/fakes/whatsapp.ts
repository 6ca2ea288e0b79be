/**
 * WhatsApp's side, for tests: Cloud API webhook payloads in the shape Meta (and 360dialog, which
 * forwards Meta's) posts, signed the way each does, and a loopback send API in both styles
 * (Meta: `POST /<version>/<phone number id>/messages` with a Bearer token; 360dialog:
 * `POST /messages` with `D360-API-KEY`) that records what it receives and fails on demand.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { type FakeFile, type FileServed, serveFile } from './media.ts';
import { type LoopbackReply, startLoopbackServer } from './server.ts';

const GRAPH_VERSION = 'v23.0';
let nextMessage = 0;

/** A message id shaped like WhatsApp's (`wamid.` and base64). */
export function wamid(): string {
  return `wamid.${randomBytes(24).toString('base64url')}${nextMessage++}`;
}

/** A WhatsApp number (wa_id), unique per call: what identifies a person and their chat. */
export function waNumber(): string {
  return `3519${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}${nextMessage++ % 10}`;
}

export interface InboundOptions {
  from: string;
  id?: string;
  /** Seconds since the epoch, like Meta's (a string there). */
  timestamp?: number;
  /** The message this one replies to. */
  context?: string;
}

function inbound(input: InboundOptions, type: string, body: Record<string, unknown>) {
  return {
    from: input.from,
    id: input.id ?? wamid(),
    timestamp: String(input.timestamp ?? Math.floor(Date.now() / 1000)),
    ...(input.context ? { context: { from: '15550001111', id: input.context } } : {}),
    type,
    ...body,
  };
}

export const messages = {
  text: (input: InboundOptions & { text: string }) => inbound(input, 'text', { text: { body: input.text } }),
  image: (input: InboundOptions & { mediaId: string; caption?: string }) =>
    inbound(input, 'image', {
      image: {
        id: input.mediaId,
        mime_type: 'image/jpeg',
        sha256: 'c2hh',
        ...(input.caption ? { caption: input.caption } : {}),
      },
    }),
  location: (input: InboundOptions & { latitude: number; longitude: number }) =>
    inbound(input, 'location', {
      location: {
        latitude: input.latitude,
        longitude: input.longitude,
        name: 'Somewhere',
        address: 'Street 1',
      },
    }),
  contacts: (input: InboundOptions & { name: string; phone: string }) =>
    inbound(input, 'contacts', {
      contacts: [
        {
          name: { formatted_name: input.name, first_name: input.name.split(' ')[0] },
          phones: [{ phone: input.phone, type: 'CELL' }],
        },
      ],
    }),
  buttonReply: (input: InboundOptions & { id: string; title: string }) =>
    inbound(input, 'interactive', {
      interactive: { type: 'button_reply', button_reply: { id: input.id, title: input.title } },
    }),
  listReply: (input: InboundOptions & { id: string; title: string }) =>
    inbound(input, 'interactive', {
      interactive: {
        type: 'list_reply',
        list_reply: { id: input.id, title: input.title, description: 'more' },
      },
    }),
  /** A quick-reply button of a template message. */
  templateButton: (input: InboundOptions & { payload: string; text: string }) =>
    inbound(input, 'button', { button: { payload: input.payload, text: input.text } }),
  reaction: (input: InboundOptions & { to: string; emoji: string }) =>
    inbound(input, 'reaction', { reaction: { message_id: input.to, emoji: input.emoji } }),
};

/** A receipt for something we sent. */
export function statusUpdate(input: {
  id: string;
  status: 'sent' | 'delivered' | 'read' | 'failed' | string;
  recipient: string;
  timestamp?: number;
  error?: { code: number; title: string; details?: string };
}) {
  return {
    id: input.id,
    status: input.status,
    timestamp: String(input.timestamp ?? Math.floor(Date.now() / 1000)),
    recipient_id: input.recipient,
    ...(input.status === 'sent' || input.status === 'delivered'
      ? {
          conversation: { id: 'c0', origin: { type: 'service' } },
          pricing: { billable: true, pricing_model: 'CBP', category: 'service' },
        }
      : {}),
    ...(input.error
      ? {
          errors: [
            {
              code: input.error.code,
              title: input.error.title,
              message: input.error.title,
              error_data: { details: input.error.details ?? input.error.title },
            },
          ],
        }
      : {}),
  };
}

/** The whole webhook body for one number, as Meta posts it. Senders' names go in `contacts`. */
export function webhookPayload(input: {
  phoneNumberId: string;
  messages?: Record<string, unknown>[];
  statuses?: Record<string, unknown>[];
  /** wa_id → profile name; by default every sender is "Ana". */
  names?: Record<string, string>;
}) {
  const senders = [...new Set((input.messages ?? []).map((m) => String(m.from)))];
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550783881', phone_number_id: input.phoneNumberId },
              ...(senders.length
                ? {
                    contacts: senders.map((wa_id) => ({
                      profile: { name: input.names?.[wa_id] ?? 'Ana' },
                      wa_id,
                    })),
                  }
                : {}),
              ...(input.messages ? { messages: input.messages } : {}),
              ...(input.statuses ? { statuses: input.statuses } : {}),
            },
          },
        ],
      },
    ],
  };
}

/** `X-Hub-Signature-256` for exactly these bytes. */
export function signMeta(body: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
}

function post(url: string, body: unknown, headers: Record<string, string>) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/**
 * Posts a body as Meta does, signed with `appSecret` over the exact bytes sent (no signature when
 * null). `headers` may override the signature to test bad ones.
 */
export function postMeta(
  baseUrl: string,
  name: string,
  appSecret: string | null,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return post(`${baseUrl}/webhooks/whatsapp/${name}`, raw, {
    ...(appSecret === null ? {} : { 'x-hub-signature-256': signMeta(raw, appSecret) }),
    ...headers,
  });
}

/** Posts a body as 360dialog does, with the header its webhook was configured with (none when null). */
export function post360(
  baseUrl: string,
  name: string,
  secret: string | null,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return post(`${baseUrl}/webhooks/whatsapp/${name}`, body, {
    ...(secret === null ? {} : { 'x-webhook-secret': secret }),
    ...headers,
  });
}

/** Meta's GET handshake. */
export function handshake(
  baseUrl: string,
  name: string,
  params: { mode?: string; token?: string; challenge?: string },
): Promise<Response> {
  const query = new URLSearchParams();
  if (params.mode !== undefined) query.set('hub.mode', params.mode);
  if (params.token !== undefined) query.set('hub.verify_token', params.token);
  if (params.challenge !== undefined) query.set('hub.challenge', params.challenge);
  return fetch(`${baseUrl}/webhooks/whatsapp/${name}?${query}`);
}

export interface CloudApiCall {
  style: 'meta' | '360dialog';
  /** From the path (Meta); null for 360dialog, which knows the number by its key. */
  phoneNumberId: string | null;
  /** `Authorization` (Meta) or `D360-API-KEY` (360dialog). */
  credential: string | null;
  body: Record<string, unknown>;
  /** The wamid answered, when it succeeded. */
  answeredId: string | null;
  at: number;
}

export interface FakeCloudApi {
  /** Base URL for WHATSAPP_DIALOG_API_URL. */
  url: string;
  /** Base URL with a Graph version, for WHATSAPP_GRAPH_API_URL. */
  graphUrl: string;
  calls: CloudApiCall[];
  /** Calls sent to one person, in order. */
  callsTo(waId: string): CloudApiCall[];
  /**
   * The next `times` sends (to `to`, when given) get this answer instead of success; with `after`,
   * only once that many more sends have succeeded. `body` is the Graph error object, as in
   * `{ error: { code, message, … } }`.
   */
  failNext(
    times: number,
    answer: { status: number; body?: unknown; headers?: Record<string, string> },
    to?: string,
    options?: { after?: number },
  ): void;
  /**
   * Awaited for each send once its outcome is settled (`answeredId` set when it succeeded), before
   * the answer goes: what the sender's side looks like while the platform has a message in hand,
   * and the platform's webhooks about a message overtaking the answer to its send.
   */
  beforeAnswer: ((call: CloudApiCall) => Promise<void> | void) | null;
  /**
   * Media the media endpoint knows under `id` (`GET /<version>/<id>` with a Bearer token, or
   * `GET /<id>` with `D360-API-KEY`), answering its URL, `mime_type` (by default the file's type)
   * and `file_size` (by default the real size; null leaves it out). The URL serves the file at
   * `/whatsapp_business/attachments/?mid=<id>` to either credential; for 360dialog it names
   * Meta's host, as 360dialog's does, for the client to replace.
   */
  addMedia(id: string, file: FakeFile & { mimeType?: string; statedSize?: number | null }): void;
  /** Media URL requests, in order. */
  mediaCalls: { style: 'meta' | '360dialog'; mediaId: string; credential: string | null }[];
  /** File downloads, in order, with the credential each came with. */
  downloads: FileServed[];
  /** The next `times` media URL requests get this answer instead. */
  failNextMedia(times: number, answer: { status: number; body?: unknown }): void;
  close(): Promise<void>;
}

/** A Graph API error body like Meta's. */
export function graphError(code: number, message: string, details?: string) {
  return {
    error: {
      message: `(#${code}) ${message}`,
      type: 'OAuthException',
      code,
      error_data: { messaging_product: 'whatsapp', details: details ?? message },
      fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
    },
  };
}

/** A loopback Cloud API send endpoint in both styles. */
export async function startFakeCloudApi(): Promise<FakeCloudApi> {
  const calls: CloudApiCall[] = [];
  const failures: {
    left: number;
    /** Sends that succeed before this failure's turn. */
    after: number;
    to: string | undefined;
    answer: { status: number; body?: unknown; headers?: Record<string, string> };
  }[] = [];
  const media = new Map<string, FakeFile & { mimeType?: string; statedSize?: number | null }>();
  const mediaCalls: FakeCloudApi['mediaCalls'] = [];
  const downloads: FakeCloudApi['downloads'] = [];
  const mediaFailures: { left: number; answer: { status: number; body?: unknown } }[] = [];
  const server = await startLoopbackServer(async ({ raw }, res, req) => {
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}): LoopbackReply => ({
      status,
      body,
      headers,
    });
    const requestUrl = new URL(req.url ?? '/', 'http://localhost');
    const path = requestUrl.pathname;
    const mediaPath = /^\/(v\d+\.\d+\/)?(\d+)$/.exec(path);
    if (req.method === 'GET' && mediaPath) {
      const style = mediaPath[1] ? 'meta' : '360dialog';
      const credential =
        style === 'meta'
          ? (req.headers.authorization ?? null)
          : ((req.headers['d360-api-key'] as string | undefined) ?? null);
      const mediaId = mediaPath[2]!;
      mediaCalls.push({ style, mediaId, credential });
      if (!credential || (style === 'meta' && !credential.startsWith('Bearer ')))
        return answer(401, graphError(190, 'Invalid OAuth access token'));
      const failure = mediaFailures.find((f) => f.left > 0);
      if (failure) {
        failure.left -= 1;
        return answer(failure.answer.status, failure.answer.body ?? {});
      }
      const file = media.get(mediaId);
      if (!file) {
        return answer(
          400,
          graphError(
            100,
            `Unsupported get request. Object with ID '${mediaId}' does not exist, cannot be loaded due to missing permissions, or does not support this operation`,
          ),
        );
      }
      const query = `?mid=${mediaId}&ext=${Math.floor(Date.now() / 1000) + 300}&hash=ATu${mediaId}`;
      const size = file.statedSize === undefined ? file.bytes.length : file.statedSize;
      return answer(200, {
        messaging_product: 'whatsapp',
        url: `${style === 'meta' ? url : 'https://lookaside.fbsbx.com'}/whatsapp_business/attachments/${query}`,
        mime_type: file.mimeType ?? file.contentType ?? 'image/jpeg',
        sha256: createHash('sha256').update(file.bytes).digest('hex'),
        // Meta has answered both a number and a string here.
        ...(size === null ? {} : { file_size: style === 'meta' ? String(size) : size }),
        id: mediaId,
      });
    }
    if (req.method === 'GET' && path === '/whatsapp_business/attachments/') {
      if (!req.headers.authorization && !req.headers['d360-api-key'])
        return answer(401, graphError(190, 'Invalid OAuth access token'));
      const mediaId = requestUrl.searchParams.get('mid') ?? '';
      const file = media.get(mediaId);
      if (!file) return answer(404, graphError(100, 'Not found'));
      downloads.push(await serveFile(req, res, `${path}?mid=${mediaId}`, file));
      return;
    }
    const meta = /^\/v\d+\.\d+\/(\d+)\/messages$/.exec(path);
    const style = meta ? 'meta' : path === '/messages' ? '360dialog' : null;
    if (req.method !== 'POST' || !style) return answer(404, graphError(100, 'Unknown path'));
    const credential =
      style === 'meta'
        ? (req.headers.authorization ?? null)
        : ((req.headers['d360-api-key'] as string | undefined) ?? null);
    if (!credential || (style === 'meta' && !credential.startsWith('Bearer ')))
      return answer(401, graphError(190, 'Invalid OAuth access token'));
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return answer(400, graphError(100, 'Invalid JSON'));
    }
    const call: CloudApiCall = {
      style,
      phoneNumberId: meta?.[1] ?? null,
      credential,
      body,
      answeredId: null,
      at: Date.now(),
    };
    calls.push(call);
    const failure = failures.find((f) => f.left > 0 && (f.to === undefined || f.to === body.to));
    if (failure && failure.after > 0) failure.after -= 1;
    else if (failure) {
      failure.left -= 1;
      await fake.beforeAnswer?.(call);
      return answer(failure.answer.status, failure.answer.body ?? {}, failure.answer.headers);
    }
    if (body.messaging_product !== 'whatsapp') {
      await fake.beforeAnswer?.(call);
      return answer(400, graphError(100, 'The parameter messaging_product is required.'));
    }
    call.answeredId = wamid();
    await fake.beforeAnswer?.(call);
    return answer(200, {
      messaging_product: 'whatsapp',
      contacts: [{ input: body.to, wa_id: body.to }],
      messages: [
        { id: call.answeredId, ...(body.type === 'template' ? { message_status: 'accepted' } : {}) },
      ],
    });
  });
  const { port } = server;
  const url = `http://127.0.0.1:${port}`;
  const fake: FakeCloudApi = {
    url,
    graphUrl: `${url}/${GRAPH_VERSION}`,
    beforeAnswer: null,
    calls,
    callsTo: (waId) => calls.filter((c) => c.body.to === waId),
    failNext(times, answer, to, options) {
      failures.push({ left: times, after: options?.after ?? 0, to, answer });
    },
    addMedia(id, file) {
      media.set(id, file);
    },
    mediaCalls,
    downloads,
    failNextMedia(times, answer) {
      mediaFailures.push({ left: times, answer });
    },
    close: server.close,
  };
  return fake;
}
