/**
 * The `record` step of the pipeline (./pipeline.ts) for the chat platforms: read the verified
 * body as JSON, let the platform's description turn it into events, and record each once with
 * its chat's drain job (`recordChannelEvents`, one prepared statement per event on the pool,
 * committed with other requests' events in one transaction: src/platform/group-commit.ts). The
 * answer waits for that commit.
 *
 * A body that is not JSON, or not of the platform's shape, is kept as one FAILED event known by
 * the hash of its bytes (for inspection; a redelivery is the same event) and counted
 * `malformed`; the answer is still 200, so the platform stops redelivering it.
 */

import {
  bodyId,
  type ChannelEvent,
  type RecordedCounts,
  recordChannelEvents,
  recordInbound,
} from '../domain/channels/inbound.ts';
import type { ChannelPlatform } from '../generated/prisma/enums.ts';
import type { Database } from '../platform/db.ts';
import type { GroupCommit } from '../platform/group-commit.ts';
import type { RequestContext } from '../platform/http.ts';
import type { Metrics } from '../platform/metrics.ts';

/** What a chat platform's webhook needs besides its own accounts. */
export interface ChannelWebhookOptions {
  /** Prisma, for the receipts a delivery carries. */
  database: Database;
  /** Where events are recorded: prepared statements on the pool, committed in batches. */
  inbound: GroupCommit;
  bodyLimitBytes: number;
  metrics: Metrics;
}

/** The account a webhook path names (`<path><name>`), if it is one of ours. */
export function targetByPath<Target extends { name: string }>(path: string, targets: readonly Target[]) {
  const byName = new Map(targets.map((target) => [target.name, target]));
  return (ctx: RequestContext): Target | undefined => byName.get(ctx.url.pathname.slice(path.length));
}

/** How one platform reads a verified body. */
export interface ChannelDescription<Target> {
  platform: ChannelPlatform;
  /** The `webhook.platform` of log lines. */
  label: string;
  /** What an unreadable body is called in the log ("Telegram update"). */
  unreadable: string;
  /** Our account the body came through (a bot name, a phone number id, an account name). */
  account(target: Target): string;
  /**
   * The body's events, or why its shape is not the platform's (`warn`: also log it). Checks the
   * envelope only: events inside it that cannot be read are events of their own, kept FAILED.
   */
  events(
    json: unknown,
    target: Target,
  ): { ok: true; events: ChannelEvent[] } | { ok: false; error: string; warn?: string };
  /** The delivery's outcome for `webhook_requests_total`, from what recording found. */
  outcome(counts: RecordedCounts): string;
  /** Logs something about a recorded delivery (events kept as failed, say). */
  after?(counts: RecordedCounts, ctx: RequestContext): void;
}

export function recordChannelBody<Target>(
  store: Pick<ChannelWebhookOptions, 'database' | 'inbound'>,
  channel: ChannelDescription<Target>,
) {
  return async (body: Buffer, target: Target, ctx: RequestContext): Promise<string> => {
    const account = channel.account(target);
    const failed = (event: { eventType: string; raw?: unknown; rawText?: string; error: string }) =>
      recordInbound(store.inbound, {
        platform: channel.platform,
        account,
        externalId: bodyId(body),
        externalChatId: null,
        normalized: null,
        status: 'FAILED',
        ...event,
      });

    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      await failed({
        eventType: 'malformed',
        rawText: body.toString('utf8').slice(0, 100_000),
        error: 'The body is not JSON',
      });
      ctx.logger.warn({ 'webhook.platform': channel.label }, `kept an unreadable ${channel.unreadable}`);
      return 'malformed';
    }

    const read = channel.events(json, target);
    if (!read.ok) {
      await failed({ eventType: 'unknown', raw: json, error: read.error });
      if (read.warn) ctx.logger.warn({ 'webhook.platform': channel.label }, read.warn);
      return 'malformed';
    }
    const counts = await recordChannelEvents(store, read.events);
    channel.after?.(counts, ctx);
    return channel.outcome(counts);
  };
}

/** Zod's issues as one line for a FAILED event's `error`. */
export function issuesLine(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  return issues
    .map((i) => `${i.path.join('.')}: ${i.message}`)
    .join('; ')
    .slice(0, 2000);
}
