/**
 * `GET|POST /webhooks/whatsapp/<name>`: the WhatsApp Cloud API's webhooks for one of our numbers,
 * straight from Meta or through 360dialog.
 *
 * GET is Meta's subscription handshake: it sends our verify token and we echo `hub.challenge`.
 * POST is verify, parse, record, answer, through the webhook pipeline (./pipeline.ts, ./channel.ts). Meta signs the raw body with the app secret
 * (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`); 360dialog's own signature is optional, so a
 * 360dialog number is guarded by the secret it is configured to send back in `X-Webhook-Secret`.
 * A wrong or missing one is a 401 and nothing is stored. Every message and receipt of the body is
 * then stored on its own (see integrations/whatsapp/webhook.ts), and the answer is 200, also for bodies
 * we cannot read, which are kept as FAILED so Meta stops redelivering them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/index.ts';
import type { RecordedCounts } from '../domain/channels/inbound.ts';
import { describeIssues, parseWhatsAppPayload, whatsappEvents } from '../integrations/whatsapp/webhook.ts';
import type { RequestContext } from '../platform/http.ts';
import { sendJson } from '../platform/http.ts';
import { type ChannelWebhookOptions, recordChannelBody, targetByPath } from './channel.ts';
import { webhookRoute } from './pipeline.ts';
import { metaSignature, secretsMatch } from './verify.ts';

export const WHATSAPP_PATH = '/webhooks/whatsapp/';
/** The header a 360dialog number's webhook is configured to send (README, "Connecting WhatsApp"). */
export const WHATSAPP_SECRET_HEADER = 'x-webhook-secret';

type WhatsAppNumber = Config['channels']['whatsapp']['numbers'][number];

/**
 * The secret that authenticates a number's webhooks. Numbers of one Meta app share its app
 * secret, and Meta posts all of them to the app's one webhook URL.
 */
function guard(number: WhatsAppNumber): string {
  return number.provider === 'meta' ? `meta:${number.appSecret}` : `360dialog:${number.webhookSecret}`;
}

export function whatsappWebhook(
  options: ChannelWebhookOptions & { numbers: Config['channels']['whatsapp']['numbers'] },
) {
  const byId = new Map(options.numbers.map((n) => [n.phoneNumberId, n]));
  const count = (outcome: string) => options.metrics.webhooks.inc({ platform: 'whatsapp', outcome });
  const numberOf = targetByPath(WHATSAPP_PATH, options.numbers);

  /** Meta's handshake: `hub.mode=subscribe`, our verify token, and a challenge to echo. */
  const handshake = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    req.resume();
    const number = numberOf(ctx);
    if (!number) {
      count('unknown_number');
      sendJson(res, 404, { error: 'Unknown number' });
      return;
    }
    const params = ctx.url.searchParams;
    const ok =
      number.provider === 'meta' &&
      params.get('hub.mode') === 'subscribe' &&
      secretsMatch(params.get('hub.verify_token') ?? undefined, number.verifyToken);
    if (!ok) {
      count('handshake_refused');
      sendJson(res, 403, { error: 'Wrong hub.mode or hub.verify_token' });
      return;
    }
    count('handshake');
    const challenge = (params.get('hub.challenge') ?? '').slice(0, 200);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(challenge);
  };

  const deliver = webhookRoute<WhatsAppNumber>(
    {
      provider: 'whatsapp',
      target: numberOf,
      unknownTarget: { error: 'Unknown number', outcome: 'unknown_number' },
      // 360dialog: checked before the body is read, so a caller without the secret costs us nothing more.
      verifyRequest: (req, number) =>
        number.provider === '360dialog' &&
        !secretsMatch(req.headers[WHATSAPP_SECRET_HEADER], number.webhookSecret)
          ? { error: 'Bad or missing X-Webhook-Secret' }
          : null,
      // Meta: the signature covers the exact bytes, so the body is read (up to the limit) first.
      verifyBody: (body, req, number) =>
        number.provider === 'meta' &&
        !secretsMatch(req.headers['x-hub-signature-256'], metaSignature(body, number.appSecret))
          ? { ok: false, error: 'Bad or missing X-Hub-Signature-256' }
          : { ok: true, verified: body },
      record: recordChannelBody<WhatsAppNumber>(options, {
        platform: 'WHATSAPP',
        label: 'whatsapp',
        unreadable: 'WhatsApp webhook',
        account: (number) => number.phoneNumberId,
        events: (json, number) => {
          const parsed = parseWhatsAppPayload(json);
          if (!parsed.success) {
            return {
              ok: false,
              error: describeIssues(parsed.error),
              warn: 'kept a WhatsApp webhook of an unknown shape',
            };
          }
          const events = whatsappEvents(parsed.payload, {
            account: number.phoneNumberId,
            accountFor: (phoneNumberId) => {
              const other = byId.get(phoneNumberId);
              return other && guard(other) === guard(number) ? other.phoneNumberId : null;
            },
          });
          return {
            ok: true,
            events: events.map(({ record, delivery }) => ({ record, receipts: delivery ? [delivery] : [] })),
          };
        },
        after: (counts, ctx) => {
          if (counts.failed) {
            ctx.logger.warn(
              { 'webhook.platform': 'whatsapp', 'webhook.failed': counts.failed },
              'kept WhatsApp events we could not read',
            );
          }
        },
        outcome,
      }),
    },
    options,
  );

  return { handshake, deliver };
}

/** One outcome per delivery for the metric: the most telling of its events'. */
function outcome(counts: RecordedCounts): string {
  if (counts.actionable) return 'accepted';
  if (counts.failed) return 'malformed';
  if (counts.duplicates && !counts.stored) return 'duplicate';
  return 'ignored';
}
