/**
 * `POST /webhooks/lalamove`: Lalamove's order events (status changes, driver assigned, amount
 * changed, order replaced).
 *
 * Verify, apply, answer. The signature is in the body (see integrations/lalamove/webhook.ts) and
 * is checked over the raw bytes before anything else; a missing or wrong one, or a signed
 * timestamp more than five minutes from our clock, is a 401 and nothing changes. A verified event
 * re-reads its order from Lalamove and updates one order row under its lock
 * (domain/delivery/lalamove-events.ts) before the 200; an error there (Lalamove not answering, say) is a
 * 500 and Lalamove delivers again. When the URL is registered, Lalamove posts with an empty body
 * and needs a 200 back; that answer changes nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/index.ts';
import { applyLalamoveEvent } from '../domain/delivery/lalamove-events.ts';
import { createLalamoveClient, LalamoveError } from '../integrations/lalamove/client.ts';
import { verifyLalamoveWebhook } from '../integrations/lalamove/webhook.ts';
import type { Db } from '../platform/db.ts';
import { type RequestContext, readBody, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';

export const LALAMOVE_PATH = '/webhooks/lalamove';

export function lalamoveWebhook(options: {
  db: Db;
  lalamove: Config['delivery']['lalamove'];
  /** Our public URL: behind a proxy, Lalamove signs its path, which may differ from the one we see. */
  publicUrl: string;
  bodyLimitBytes: number;
  metrics: Metrics;
}) {
  const settings = options.lalamove;
  const client = settings ? createLalamoveClient(settings) : undefined;
  const publicPath = `${new URL(options.publicUrl).pathname.replace(/\/$/, '')}${LALAMOVE_PATH}`;
  const count = (outcome: string) => options.metrics.webhooks.inc({ platform: 'lalamove', outcome });

  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    if (!settings || !client) {
      req.resume();
      count('unconfigured');
      sendJson(res, 404, { error: 'Lalamove is not configured' });
      return;
    }
    const body = await readBody(req, options.bodyLimitBytes);
    const text = body.toString('utf8').trim();
    if (text === '' || text === '{}') {
      count('handshake');
      sendJson(res, 200, { ok: true });
      return;
    }
    const check = verifyLalamoveWebhook({
      apiKey: settings.apiKey,
      apiSecret: settings.apiSecret,
      rawBody: body,
      paths: [ctx.url.pathname, publicPath],
      now: new Date(),
    });
    if (!check.ok) {
      count('unauthorized');
      ctx.logger.warn(
        { 'webhook.platform': 'lalamove', 'webhook.reason': check.reason },
        'refused a Lalamove webhook',
      );
      sendJson(res, 401, { error: 'Bad or missing Lalamove signature' });
      return;
    }
    const { eventId, eventType, data } = check.body;
    const result = await applyLalamoveEvent(
      options.db,
      { eventId, eventType, data },
      {
        readOrder: async (orderId) => {
          try {
            return await client.getOrder(orderId);
          } catch (error) {
            if (error instanceof LalamoveError && error.status === 404) return null;
            throw error;
          }
        },
      },
    );
    ctx.logger.info(
      { 'webhook.platform': 'lalamove', 'lalamove.event': eventId, 'lalamove.type': eventType, ...result },
      'Lalamove event',
    );
    count(result.outcome === 'applied' ? 'accepted' : result.outcome);
    sendJson(res, 200, { ok: true });
  };
}
