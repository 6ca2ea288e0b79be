/**
 * `/webhooks/instagram/<account>`: Meta's Instagram messaging webhooks for one of our accounts.
 *
 * `GET` is Meta's subscription handshake: `hub.mode=subscribe` with our verify token gets
 * `hub.challenge` back. `POST` is, through the webhook pipeline (./pipeline.ts, ./channel.ts), verify (X-Hub-Signature-256, an HMAC-SHA256 of the raw body with
 * the app secret), parse, record (each event, raw and normalised, deduplicated by its `mid` or a
 * derived id, with its chat's drain job), answer 200. A body we cannot read is still answered
 * 200, so Meta stops redelivering it, and kept for inspection; only a bad signature is refused
 * (401), and then nothing is stored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/index.ts';
import { instagramEvents } from '../domain/channels/instagram-events.ts';
import { instagramWebhookSchema } from '../integrations/instagram/webhook.ts';
import { type RequestContext, sendJson } from '../platform/http.ts';
import { type ChannelWebhookOptions, issuesLine, recordChannelBody, targetByPath } from './channel.ts';
import { webhookRoute } from './pipeline.ts';
import { metaSignature, secretsMatch } from './verify.ts';

export const INSTAGRAM_PATH = '/webhooks/instagram/';

type Account = Config['channels']['instagram']['accounts'][number];

export function instagramWebhook(
  options: ChannelWebhookOptions & { accounts: Config['channels']['instagram']['accounts'] },
) {
  const count = (outcome: string) => options.metrics.webhooks.inc({ platform: 'instagram', outcome });
  const accountOf = targetByPath(INSTAGRAM_PATH, options.accounts);
  // The accounts of one Meta app share its secret and its callback URL (see instagramEvents).
  const sameApp = (account: Account) =>
    options.accounts.filter((other) => other.appSecret === account.appSecret);

  /** `GET`: Meta checks that we own the URL before it sends anything to it. */
  const handshake = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    req.resume();
    const account = accountOf(ctx);
    if (!account) {
      count('unknown_account');
      sendJson(res, 404, { error: 'Unknown Instagram account' });
      return;
    }
    const params = ctx.url.searchParams;
    const challenge = params.get('hub.challenge');
    if (
      params.get('hub.mode') !== 'subscribe' ||
      !secretsMatch(params.get('hub.verify_token') ?? undefined, account.verifyToken)
    ) {
      count('handshake_refused');
      sendJson(res, 403, { error: 'Wrong hub.mode or hub.verify_token' });
      return;
    }
    if (challenge === null) {
      sendJson(res, 400, { error: 'Missing hub.challenge' });
      return;
    }
    count('handshake');
    // Plain text, never sniffed as HTML: the challenge is echoed exactly as Meta sent it.
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
    res.end(challenge);
  };

  /** `POST`: a batch of messaging events. */
  const receive = webhookRoute<Account>(
    {
      provider: 'instagram',
      target: accountOf,
      unknownTarget: { error: 'Unknown Instagram account', outcome: 'unknown_account' },
      verifyRequest: (req) => {
        const presented = req.headers['x-hub-signature-256'];
        return typeof presented === 'string' && presented.startsWith('sha256=')
          ? null
          : { error: 'Bad or missing X-Hub-Signature-256' };
      },
      // The signature covers the exact bytes Meta sent (it escapes non-ASCII before signing), so
      // it is checked on the raw body, never on a re-serialisation.
      verifyBody: (body, req, account) =>
        secretsMatch(
          String(req.headers['x-hub-signature-256']).toLowerCase(),
          metaSignature(body, account.appSecret),
        )
          ? { ok: true, verified: body }
          : { ok: false, error: 'Bad or missing X-Hub-Signature-256' },
      record: recordChannelBody<Account>(options, {
        platform: 'INSTAGRAM',
        label: 'instagram',
        unreadable: 'Instagram webhook',
        account: (account) => account.name,
        events: (json, account) => {
          const parsed = instagramWebhookSchema.safeParse(json);
          if (!parsed.success) return { ok: false, error: issuesLine(parsed.error.issues) };
          return {
            ok: true,
            events: instagramEvents({ via: account, accounts: sameApp(account), body: parsed.data }),
          };
        },
        outcome: (counts) =>
          counts.messages > 0
            ? 'accepted'
            : counts.stored === 0 && counts.duplicates > 0
              ? 'duplicate'
              : 'ignored',
      }),
    },
    options,
  );

  return { handshake, receive };
}
