/**
 * The WhatsApp Cloud API's send endpoint for one number, direct (Meta Graph API,
 * `POST <graph>/<phone number id>/messages` with a Bearer token) or through 360dialog
 * (`POST <360dialog>/messages` with `D360-API-KEY`; 360dialog knows the number from the key).
 * Both take and answer the same JSON. Base URLs come from config, so tests point them at a fake.
 *
 * Errors become SendErrors the send queue understands (Meta asks to build on `error.code`, not on
 * HTTP statuses or titles):
 * - throughput and pair rate limits (4, 80007, 130429, 131048, 131056, HTTP 429) and server
 *   trouble (1, 2, 131000, 131016, 133004, 5xx, no answer): try again later, with backoff;
 * - 131047, re-engagement (more than 24 hours since the person wrote): permanent, no template
 *   can be invented here;
 * - 131026, undeliverable (not on WhatsApp, blocked us, old app): permanent, person unreachable;
 * - any other 4xx: permanent.
 */
import {
  type ChannelSender,
  fitText,
  fitWithButtons,
  type OutboundContent,
  SendError,
  type SendTarget,
  sendInParts,
} from '../channel-sender.ts';

export interface WhatsAppClient {
  /** Posts one Cloud API message object (without `messaging_product`); returns its `wamid`. */
  send(message: Record<string, unknown>): Promise<{ id: string }>;
}

export type WhatsAppProvider = 'meta' | '360dialog';

export function createWhatsAppClient(options: {
  provider: WhatsAppProvider;
  /** The Graph API with its version (Meta) or 360dialog's WABA API. */
  apiUrl: string;
  phoneNumberId: string;
  accessToken: string;
  timeoutMs?: number;
}): WhatsAppClient {
  const endpoint =
    options.provider === 'meta'
      ? `${options.apiUrl}/${options.phoneNumberId}/messages`
      : `${options.apiUrl}/messages`;
  const auth: Record<string, string> =
    options.provider === 'meta'
      ? { authorization: `Bearer ${options.accessToken}` }
      : { 'd360-api-key': options.accessToken };
  return {
    async send(message) {
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth },
          body: JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', ...message }),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        throw new SendError(`WhatsApp did not answer: ${(error as Error).message}`);
      }
      const body = (await response.json().catch(() => null)) as {
        messages?: { id?: string }[];
        error?: unknown;
      } | null;
      if (response.ok) {
        const id = body?.messages?.[0]?.id;
        // Accepted but unidentifiable: sending again could deliver it twice, so this is final.
        if (!id)
          throw new SendError('WhatsApp accepted the message without a message id', { permanent: true });
        return { id };
      }
      throw whatsappSendError(response.status, body?.error, response.headers.get('retry-after'));
    },
  };
}

const RATE_LIMITED = new Set([4, 80007, 130429, 131048, 131056]);
const TRANSIENT = new Set([1, 2, 131000, 131016, 133004]);

/** Turns a refused send (HTTP status, Graph `error`, Retry-After) into what the send queue does next. */
export function whatsappSendError(
  httpStatus: number,
  error: unknown,
  retryAfter: string | null = null,
): SendError {
  const e = (error && typeof error === 'object' ? error : {}) as {
    code?: unknown;
    message?: unknown;
    error_data?: { details?: unknown };
  };
  const code = typeof e.code === 'number' ? e.code : null;
  const details = typeof e.error_data?.details === 'string' ? e.error_data.details : null;
  const text =
    (typeof e.message === 'string' && e.message) ||
    (typeof error === 'string' && error) ||
    `HTTP ${httpStatus}`;
  const message =
    `WhatsApp${code === null ? '' : ` ${code}`}: ${text}${details ? ` (${details})` : ''}`.slice(0, 1000);
  const seconds = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;

  if (httpStatus === 429 || (code !== null && RATE_LIMITED.has(code)))
    return new SendError(message, { retryAfterSeconds: seconds, rateLimited: true });
  if (code === 131047) return new SendError(message, { permanent: true });
  if (code === 131026) return new SendError(message, { permanent: true, unreachable: true });
  if (httpStatus >= 500 || (code !== null && TRANSIENT.has(code)))
    return new SendError(message, { retryAfterSeconds: seconds });
  if (httpStatus >= 400) return new SendError(message, { permanent: true });
  return new SendError(message);
}

export const WINDOW_CLOSED = 'the 24-hour window is closed and there is no template';

// Cloud API limits on what a message may carry.
const TEXT_MAX = 4096;
const CAPTION_MAX = 1024;
const BUTTONS_MAX = 3;
const LIST_ROWS_MAX = 10;

/**
 * The Cloud API message for a queued one. Inside the 24-hour window: text, an image with the text
 * as caption, up to 3 reply buttons (an image becomes their header), or a list for 4 to 10
 * choices. Outside it, only the template can go; without one the send fails for good.
 */
export function whatsappMessage(
  target: Pick<SendTarget, 'externalChatId' | 'windowOpen'>,
  message: { body: string; content: OutboundContent },
): Record<string, unknown> {
  const to = target.externalChatId;
  const { images = [], buttons = [], template, keepEnd } = message.content ?? {};
  const body = (limit: number) => fitText(message.body, limit, { keepEnd });
  if (!target.windowOpen) {
    if (!template) throw new SendError(WINDOW_CLOSED, { permanent: true });
    return {
      to,
      type: 'template',
      template: {
        name: template.name,
        language: { code: template.language },
        ...(template.parameters.length
          ? {
              components: [
                { type: 'body', parameters: template.parameters.map((text) => ({ type: 'text', text })) },
              ],
            }
          : {}),
      },
    };
  }
  const image = images[0];
  if (buttons.length > 0 && buttons.length <= BUTTONS_MAX) {
    return {
      to,
      type: 'interactive',
      interactive: {
        type: 'button',
        ...(image ? { header: { type: 'image', image: { link: image.url } } } : {}),
        body: { text: body(CAPTION_MAX) },
        action: {
          buttons: buttons.map((b) => ({
            type: 'reply',
            reply: { id: b.id.slice(0, 256), title: b.title.slice(0, 20) },
          })),
        },
      },
    };
  }
  if (buttons.length > BUTTONS_MAX) {
    // A list has no image header; more than 10 choices do not fit in one.
    return {
      to,
      type: 'interactive',
      interactive: {
        type: 'list',
        body: { text: body(TEXT_MAX) },
        action: {
          button: 'Choose',
          sections: [
            {
              rows: buttons
                .slice(0, LIST_ROWS_MAX)
                .map((b) => ({ id: b.id.slice(0, 200), title: b.title.slice(0, 24) })),
            },
          ],
        },
      },
    };
  }
  if (image) {
    const caption = message.body
      ? body(CAPTION_MAX)
      : image.caption
        ? fitText(image.caption, CAPTION_MAX)
        : '';
    return {
      to,
      type: 'image',
      image: { link: image.url, ...(caption ? { caption } : {}) },
    };
  }
  return { to, type: 'text', text: { body: body(TEXT_MAX), preview_url: false } };
}

/**
 * The Cloud API messages for a queued one, in the order they are sent: one, unless what its reply
 * buttons do (`content.notes`) does not fit in the 1,024 characters a message with buttons
 * carries. Then it is split (`fitWithButtons`) so that each button comes in the message that says
 * what it does.
 */
export function whatsappMessages(
  target: Pick<SendTarget, 'externalChatId' | 'windowOpen'>,
  message: { body: string; content: OutboundContent },
): Record<string, unknown>[] {
  const content = message.content ?? {};
  const buttons = content.buttons ?? [];
  if (!target.windowOpen || !content.notes?.length || buttons.length === 0 || buttons.length > BUTTONS_MAX) {
    return [whatsappMessage(target, message)];
  }
  const parts = fitWithButtons(message.body, content, { withButtons: CAPTION_MAX, alone: TEXT_MAX });
  if (parts.length === 1) return [whatsappMessage(target, message)];
  // An image (none on a reply today) heads the first part, as it would the whole message.
  return parts.map((part, index) =>
    whatsappMessage(target, {
      body: part.text,
      content: {
        buttons: part.buttons,
        ...(index === 0 && content.images ? { images: content.images } : {}),
      },
    }),
  );
}

/** Sends for the configured numbers, keyed by phone number id (the chats' account). */
export function whatsappSender(
  numbers: Map<string, WhatsAppClient>,
  limits: { perAccount: number; perChat: number },
): ChannelSender {
  return {
    limits,
    async send(target, message) {
      const client = numbers.get(target.account);
      if (!client) throw new SendError(`No WhatsApp number with id ${target.account}`, { permanent: true });
      // A message split in parts (whatsappMessages) is sent in order; after a failure part-way,
      // the next attempt goes on from the first part not delivered. The last part's wamid is the
      // one whose read receipt means everything was seen.
      return sendInParts(
        whatsappMessages(target, message),
        message.parts,
        async (request) => (await client.send(request)).id,
        message.partsCounted,
      );
    },
  };
}
