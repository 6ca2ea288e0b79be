/**
 * The Instagram Send API (Meta Graph) for one account: `POST <graph>/<version>/me/messages` with
 * the account's page access token, so the same call works with a Page token (Facebook Login,
 * graph.facebook.com) and an Instagram user token (Instagram Login, graph.instagram.com). The
 * base URL comes from config, so tests point it at a loopback fake.
 *
 * Errors become SendErrors the send queue understands. Meta answers most failures with HTTP 400
 * and an `error.code`, so the code decides, not the status: rate limits (4, 17, 32, 613, 80002,
 * HTTP 429) and transient errors (1, 2, `is_transient`, HTTP 5xx, network) are retried; "this
 * person isn't available" (551, subcodes 1545041, 2018108, 2018001) is permanent and makes the
 * chat unreachable; every other refusal is permanent for this message only.
 */
import {
  type ChannelSender,
  fitText,
  fitWithButtons,
  type OutboundButton,
  type OutboundContent,
  SendError,
  sendInParts,
} from '../channel-sender.ts';

/** The message part of a Send API request: text (with quick replies), or one attachment. */
export type InstagramOutgoingMessage =
  | {
      text: string;
      quick_replies?: { content_type: 'text'; title: string; payload: string }[];
    }
  | { attachment: { type: 'image'; payload: { url: string } } };

export interface InstagramSendRequest {
  recipient: { id: string };
  message: InstagramOutgoingMessage;
}

export interface InstagramClient {
  /** Sends one message; resolves with its `mid`. Throws SendError. */
  send(request: InstagramSendRequest): Promise<{ messageId: string }>;
}

/** Meta's error body: `{ error: { message, type, code, error_subcode, is_transient, fbtrace_id } }`. */
interface GraphError {
  message?: string;
  code?: number;
  error_subcode?: number;
  is_transient?: boolean;
  fbtrace_id?: string;
}

const RATE_LIMIT_CODES = new Set([4, 17, 32, 613, 80002, 80006]);
const TRANSIENT_CODES = new Set([1, 2]);
/** The person blocked us, left, or cannot be messaged by anyone: stop writing to this chat. */
const UNREACHABLE_SUBCODES = new Set([1545041, 2018108, 2018001]);
/** Meta's own refusal outside the 24-hour window (Messenger's subcode, and Instagram's). */
const WINDOW_SUBCODES = new Set([2018278, 2534022]);

/** Sorts a failed Graph API answer into retry, permanent, or permanent-and-unreachable. */
export function graphSendError(
  status: number,
  error: GraphError | null,
  retryAfter: string | null,
): SendError {
  const code = error?.code;
  const subcode = error?.error_subcode;
  const detail = [
    error?.message ?? `HTTP ${status}`,
    code !== undefined ? `code ${code}${subcode !== undefined ? `/${subcode}` : ''}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const text = `Instagram: ${detail}`;
  const seconds = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
  if (status === 429 || (code !== undefined && RATE_LIMIT_CODES.has(code))) {
    // Meta rarely says how long; without a Retry-After the queue backs off exponentially.
    return new SendError(text, { retryAfterSeconds: seconds, rateLimited: true });
  }
  if (error?.is_transient || (code !== undefined && TRANSIENT_CODES.has(code)) || status >= 500) {
    return new SendError(text, { retryAfterSeconds: seconds });
  }
  if (code === 551 || (subcode !== undefined && UNREACHABLE_SUBCODES.has(subcode))) {
    return new SendError(text, { permanent: true, unreachable: true });
  }
  if (subcode !== undefined && WINDOW_SUBCODES.has(subcode)) {
    return new SendError(`${text} (outside Instagram's 24-hour messaging window)`, { permanent: true });
  }
  if (status >= 400 || code !== undefined) return new SendError(text, { permanent: true });
  return new SendError(text);
}

export function createInstagramClient(options: {
  /** The Graph API with its version, e.g. `https://graph.facebook.com/v23.0`. */
  graphApiUrl: string;
  accessToken: string;
  timeoutMs?: number;
}): InstagramClient {
  const endpoint = `${options.graphApiUrl}/me/messages`;
  return {
    async send(request) {
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: 'POST',
          // The token in a header rather than the query string keeps it out of access logs.
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.accessToken}` },
          body: JSON.stringify(request),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        throw new SendError(`Instagram did not answer: ${(error as Error).message}`);
      }
      const body = (await response.json().catch(() => null)) as {
        message_id?: string;
        error?: GraphError;
      } | null;
      if (response.ok && typeof body?.message_id === 'string' && !body.error) {
        return { messageId: body.message_id };
      }
      if (response.ok && !body?.error) {
        // Accepted without saying which message it made: retrying could send it twice, and a
        // message we cannot name gets no receipts, so this is reported rather than retried.
        throw new SendError('Instagram: the Send API answered without a message_id', { permanent: true });
      }
      throw graphSendError(response.status, body?.error ?? null, response.headers.get('retry-after'));
    },
  };
}

/** Instagram's limits: text up to 1000 bytes, 13 quick replies, titles up to 20 characters. */
const MAX_TEXT_BYTES = 1000;
const MAX_QUICK_REPLIES = 13;
const MAX_TITLE_CHARS = 20;

/** The Send API requests for one outbound message, in the order they are sent. */
export function instagramRequests(
  recipientId: string,
  message: { body: string; content: OutboundContent },
): InstagramSendRequest[] {
  const content = message.content ?? {};
  const recipient = { id: recipientId };
  const requests: InstagramSendRequest[] = (content.images ?? []).map((image) => ({
    recipient,
    message: { attachment: { type: 'image', payload: { url: image.url } } },
  }));
  // Instagram images have no caption: a caption stands in for an empty body.
  const text =
    message.body ||
    (content.images ?? [])
      .map((image) => image.caption)
      .filter(Boolean)
      .join('\n');
  const buttons = (content.buttons ?? []).slice(0, MAX_QUICK_REPLIES);
  const bytes = (t: string) => Buffer.byteLength(t);
  const quickReplies = (shown: OutboundButton[]) =>
    shown.length
      ? {
          quick_replies: shown.map((b) => ({
            content_type: 'text' as const,
            title: Array.from(b.title).slice(0, MAX_TITLE_CHARS).join(''),
            payload: b.id.slice(0, 1000),
          })),
        }
      : {};
  if (message.body && buttons.length && content.notes?.length) {
    // What each button does, whole, in the message that carries it (fitWithButtons): the reply is
    // split when its notes do not fit in 1,000 bytes.
    const parts = fitWithButtons(
      message.body,
      { ...content, buttons },
      { withButtons: MAX_TEXT_BYTES, alone: MAX_TEXT_BYTES, size: bytes },
    );
    for (const part of parts) {
      requests.push({ recipient, message: { text: part.text, ...quickReplies(part.buttons) } });
    }
    return requests;
  }
  if (text || buttons.length) {
    requests.push({
      recipient,
      message: {
        // Quick replies need text to hang on; the text is last so the buttons stay under it.
        text: fitText(text || '…', MAX_TEXT_BYTES, {
          keepEnd: message.body ? content.keepEnd : 0,
          size: bytes,
        }),
        ...quickReplies(buttons),
      },
    });
  }
  return requests;
}

/**
 * Sends text, images and quick replies for the configured accounts, inside Instagram's 24-hour
 * window only: Instagram has no templates, and the HUMAN_AGENT tag (7 days, for a human's
 * replies) does not fit an agent's messages, so outside the window a message fails for good.
 */
export function instagramSender(
  accounts: Map<string, InstagramClient>,
  limits: { perAccount: number; perChat: number },
): ChannelSender {
  return {
    limits,
    async send(target, message) {
      const client = accounts.get(target.account);
      if (!client) throw new SendError(`No Instagram account named ${target.account}`, { permanent: true });
      if (!target.windowOpen) {
        throw new SendError(
          'Instagram: the person last wrote over 24 hours ago, and Instagram only allows replies within 24 hours of their last message',
          { permanent: true },
        );
      }
      const requests = instagramRequests(target.externalChatId, message);
      if (requests.length === 0) throw new SendError('Instagram: the message is empty', { permanent: true });
      // One message can be several sends (images, then text; a reply split for its buttons);
      // after a failure part-way, the next attempt goes on from the first part not delivered. The
      // last part's mid is the one a read receipt names once the person has seen everything.
      return sendInParts(
        requests,
        message.parts,
        async (request) => (await client.send(request)).messageId,
        message.partsCounted,
      );
    },
  };
}
