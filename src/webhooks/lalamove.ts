/**
 * `POST /webhooks/lalamove`: Lalamove's order events (status changes, driver assigned, amount
 * changed, order replaced), through the webhook pipeline (./pipeline.ts).
 *
 * Verify, record, enqueue, answer. The signature is in the body (see integrations/lalamove/webhook.ts)
 * and is checked over the raw bytes before anything else; a missing or wrong one, or a signed
 * timestamp more than five minutes from our clock, is a 401 and nothing is stored. A verified
 * event is recorded once by its event id, with a `lalamove-event` job, committed with the other
 * webhooks' events of the moment in one transaction (the group commit,
 * src/platform/group-commit.ts), and answered 200 once that has committed; a batch that fails
 * answers 500 to every delivery in it and stores none of them. The job re-reads the order from
 * Lalamove and updates our order row (domain/delivery/lalamove-events.ts), in whatever order
 * events come (Lalamove promises none), and is retried while Lalamove does not answer. When the URL is registered, Lalamove posts with an
 * empty body and needs a 200 back; that answer changes nothing.
 */
import type { Config } from '../config/index.ts';
import { bodyId } from '../domain/channels/inbound.ts';
import { lalamoveEventTask } from '../domain/delivery/lalamove-events.ts';
import { type LalamoveWebhookBody, verifyLalamoveWebhook } from '../integrations/lalamove/webhook.ts';
import type { GroupCommit } from '../platform/group-commit.ts';
import type { Metrics } from '../platform/metrics.ts';
import { recordProviderEvent } from '../platform/provider-events.ts';
import { webhookRoute } from './pipeline.ts';

export const LALAMOVE_PATH = '/webhooks/lalamove';

type LalamoveSettings = NonNullable<Config['delivery']['lalamove']>;

export function lalamoveWebhook(options: {
  /** Where events are recorded: the webhooks' group commit. */
  inbound: GroupCommit;
  lalamove: Config['delivery']['lalamove'];
  /** Our public URL: behind a proxy, Lalamove signs its path, which may differ from the one we see. */
  publicUrl: string;
  bodyLimitBytes: number;
  metrics: Metrics;
}) {
  const publicPath = `${new URL(options.publicUrl).pathname.replace(/\/$/, '')}${LALAMOVE_PATH}`;

  return webhookRoute<LalamoveSettings, LalamoveWebhookBody>(
    {
      provider: 'lalamove',
      target: () => options.lalamove,
      unknownTarget: { error: 'Lalamove is not configured', outcome: 'unconfigured' },
      ping: (body) => {
        const text = body.toString('utf8').trim();
        return text === '' || text === '{}' ? 'handshake' : null;
      },
      verifyBody: (body, _req, settings, ctx) => {
        const check = verifyLalamoveWebhook({
          apiKey: settings.apiKey,
          apiSecret: settings.apiSecret,
          rawBody: body,
          paths: [ctx.url.pathname, publicPath],
          now: new Date(),
        });
        return check.ok
          ? { ok: true, verified: check.body }
          : { ok: false, error: 'Bad or missing Lalamove signature', reason: check.reason };
      },
      record: async ({ eventId, eventType, data }, _settings, ctx, body) => {
        const { stored } = await recordProviderEvent(
          options.inbound,
          {
            provider: 'lalamove',
            // An event without an id is known by its signed bytes: a redelivery repeats them.
            eventId: eventId || bodyId(body),
            eventType,
            payload: { eventId, eventType, data },
          },
          lalamoveEventTask,
        );
        ctx.logger.info(
          { 'webhook.platform': 'lalamove', 'lalamove.event': eventId, 'lalamove.type': eventType, stored },
          'Lalamove event',
        );
        return stored ? 'accepted' : 'duplicate';
      },
    },
    options,
  );
}
