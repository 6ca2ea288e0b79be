/**
 * `POST /webhooks/telegram/<bot>`: Telegram's updates for one of our bots.
 *
 * Verify (the secret Telegram echoes in `X-Telegram-Bot-Api-Secret-Token`), parse, record (raw and
 * normalised, deduplicated by `update_id`, with the chat's drain job), answer 200. Nothing slow
 * runs before the answer. A body we cannot read is still answered 200, so Telegram stops
 * redelivering it, and kept for inspection; only a wrong secret is refused (401), and then
 * nothing is stored.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config.ts';
import { bodyId, recordInbound } from '../domain/channels/inbound.ts';
import {
  normalizeTelegramUpdate,
  parseTelegramUpdate,
  telegramChatOf,
  telegramEventType,
} from '../integrations/telegram/updates.ts';
import type { Database } from '../platform/db.ts';
import { type RequestContext, readBody, sendJson } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';
import { secretsMatch } from './verify.ts';

export const TELEGRAM_PATH = '/webhooks/telegram/';

export function telegramWebhook(options: {
  /** The pool too, not only Prisma: recording an update is a prepared statement on the pool. */
  database: Database;
  bots: Config['channels']['telegram']['bots'];
  bodyLimitBytes: number;
  metrics: Metrics;
}) {
  const bots = new Map(options.bots.map((bot) => [bot.name, bot]));
  const count = (outcome: string) => options.metrics.webhooks.inc({ platform: 'telegram', outcome });

  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const bot = bots.get(ctx.url.pathname.slice(TELEGRAM_PATH.length));
    if (!bot) {
      count('unknown_bot');
      sendJson(res, 404, { error: 'Unknown bot' });
      return;
    }
    if (!secretsMatch(req.headers['x-telegram-bot-api-secret-token'], bot.secret)) {
      count('unauthorized');
      req.resume();
      sendJson(res, 401, { error: 'Bad or missing X-Telegram-Bot-Api-Secret-Token' });
      return;
    }
    const body = await readBody(req, options.bodyLimitBytes);

    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      await recordInbound(options.database, {
        platform: 'TELEGRAM',
        account: bot.name,
        externalId: bodyId(body),
        externalChatId: null,
        eventType: 'malformed',
        rawText: body.toString('utf8').slice(0, 100_000),
        normalized: null,
        status: 'FAILED',
        error: 'The body is not JSON',
      });
      ctx.logger.warn({ 'webhook.platform': 'telegram' }, 'kept an unreadable Telegram update');
      count('malformed');
      sendJson(res, 200, { ok: true });
      return;
    }

    const parsed = parseTelegramUpdate(json);
    if (!parsed.success) {
      await recordInbound(options.database, {
        platform: 'TELEGRAM',
        account: bot.name,
        externalId: bodyId(body),
        externalChatId: null,
        eventType: 'unknown',
        raw: json,
        normalized: null,
        status: 'FAILED',
        error: parsed.error.issues
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')
          .slice(0, 2000),
      });
      count('malformed');
      sendJson(res, 200, { ok: true });
      return;
    }

    const { update } = parsed;
    const normalized = normalizeTelegramUpdate(bot.name, update);
    const { stored } = await recordInbound(options.database, {
      platform: 'TELEGRAM',
      account: bot.name,
      externalId: String(update.update_id),
      externalChatId: telegramChatOf(update),
      eventType: telegramEventType(update),
      raw: json,
      normalized,
    });
    count(!stored ? 'duplicate' : normalized ? 'accepted' : 'ignored');
    sendJson(res, 200, { ok: true });
  };
}
