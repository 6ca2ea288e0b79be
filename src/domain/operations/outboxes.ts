/**
 * Outboxes: tables whose rows wait, PENDING, for a keyed job to process them group by group
 * (inbound messages per chat, the send queue per chat, A2A envelopes to send and to handle per
 * envelope, webhook deliveries per subscription). The
 * writer adds the row and its group's job in one transaction, so normally every pending row has
 * a job coming. This module is the safety net for when it has not (a worker that died, a bug, a
 * job cancelled by hand): `sweepOutboxes`, run every minute by the `outbox-sweep` schedule,
 * schedules the job of every group whose rows have waited over a minute with no runnable job
 * for its key. And `outboxBacklog` says how much waits, per outbox and channel, and for how long
 * (`/metrics` and `/readyz`).
 *
 * Adding an outbox is one entry in OUTBOXES.
 */
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';
import { defineTask, type EnqueuedJob, enqueue, noJobComing } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import { chatInboundTask, chatKey, PLATFORMS } from '../channels/inbound.ts';
import { chatSendTask, sendKey } from '../channels/outbound.ts';
import { a2aHandleTask, a2aSendTask, sendKey as envelopeSendKey, handleKey } from '../envelopes/tasks.ts';
import { noticeEmailKey, noticeEmailTask } from '../notices/email.ts';
import { wakeDrain } from '../outbound-webhooks/tasks.ts';

/** One outbox: how to find its waiting groups and their jobs, and what waits per channel. */
export interface Outbox<Group extends { key: string } = { key: string }> {
  /** Its label in metrics, logs and `/readyz`. */
  name: string;
  /**
   * One row per group with a PENDING row older than `before` (an SQL timestamp): the group's job
   * key, exactly as the writer keys the job (`key`), and what `schedule` needs.
   */
  stranded(before: Prisma.Sql): Prisma.Sql;
  /** Adds the group's job as the writer would. */
  schedule(db: Db, group: Group): Promise<EnqueuedJob>;
  /** `channel` (lower-case platform), `pending` (a count) and `oldest` (a timestamp) per channel. */
  backlog: Prisma.Sql;
  /** Channels beyond the chat platforms that this outbox reports, waiting or not (`email`). */
  channels?: readonly string[];
}

function defineOutbox<Group extends { key: string }>(outbox: Outbox<Group>): Outbox {
  return outbox as unknown as Outbox;
}

export const OUTBOXES: readonly Outbox[] = [
  // Inbound messages, drained per chat in order (src/domain/channels/inbound.ts).
  defineOutbox<{ key: string; platform: (typeof PLATFORMS)[number]; account: string; chat: string }>({
    name: 'inbound',
    stranded: (before) => Prisma.sql`
      SELECT DISTINCT 'chat:' || lower(platform::text) || ':' || account || ':' || external_chat_id AS key,
             platform::text AS platform, account, external_chat_id AS chat
      FROM inbound_events
      WHERE status = 'PENDING' AND external_chat_id IS NOT NULL AND received_at < ${before}`,
    schedule: (db, group) =>
      enqueue(
        db,
        chatInboundTask,
        { platform: group.platform, account: group.account, externalChatId: group.chat },
        { jobKey: chatKey(group.platform, group.account, group.chat), jobKeyMode: 'replace' },
      ),
    backlog: Prisma.sql`
      SELECT lower(platform::text) AS channel, count(*)::int AS pending, min(received_at) AS oldest
      FROM inbound_events WHERE status = 'PENDING' GROUP BY platform`,
  }),
  // The send queue: chat messages drained per chat within the platform's limits
  // (src/domain/channels/outbound.ts), and email notices, one job per message
  // (src/domain/notices/email.ts), whose channel is `email`.
  defineOutbox<{ key: string; chat_id: string | null; message_id: string | null }>({
    name: 'send',
    stranded: (before) => Prisma.sql`
      SELECT DISTINCT 'send:' || chat_id::text AS key, chat_id::text AS chat_id, NULL::text AS message_id
      FROM outbound_messages
      WHERE status = 'PENDING' AND chat_id IS NOT NULL AND created_at < ${before}
      UNION ALL
      SELECT 'notice-email:' || id::text AS key, NULL::text AS chat_id, id::text AS message_id
      FROM outbound_messages
      WHERE status = 'PENDING' AND channel = 'EMAIL' AND created_at < ${before}`,
    // preserve_run_at, as queueMessage adds it: a drain waiting out a rate limit keeps its time.
    schedule: (db, group) =>
      group.message_id
        ? enqueue(
            db,
            noticeEmailTask,
            { messageId: group.message_id },
            { jobKey: noticeEmailKey(group.message_id) },
          )
        : enqueue(
            db,
            chatSendTask,
            { chatId: group.chat_id! },
            { jobKey: sendKey(group.chat_id!), jobKeyMode: 'preserve_run_at' },
          ),
    backlog: Prisma.sql`
      SELECT lower(chats.platform::text) AS channel, count(*)::int AS pending,
             min(messages.created_at) AS oldest
      FROM outbound_messages AS messages JOIN chats ON chats.id = messages.chat_id
      WHERE messages.status = 'PENDING' GROUP BY chats.platform
      UNION ALL
      SELECT 'email' AS channel, count(*)::int AS pending, min(created_at) AS oldest
      FROM outbound_messages WHERE status = 'PENDING' AND channel = 'EMAIL' HAVING count(*) > 0`,
    channels: ['email'],
  }),
  // A2A envelopes to send, one job per envelope (src/domain/envelopes/outbox.ts). A row waiting for
  // its retry or for a breaker has its job scheduled for then, so it is not stranded; a job
  // started early finds the row not yet due and goes back to sleep.
  defineOutbox<{ key: string; row_id: string }>({
    name: 'a2a',
    stranded: (before) => Prisma.sql`
      SELECT 'a2a-send:' || id::text AS key, id::text AS row_id
      FROM a2a_envelopes
      WHERE direction = 'OUTBOUND' AND state = 'PENDING' AND created_at < ${before}`,
    schedule: (db, group) =>
      enqueue(
        db,
        a2aSendTask,
        { envelopeRowId: group.row_id },
        { jobKey: envelopeSendKey(group.row_id), jobKeyMode: 'replace' },
      ),
    backlog: Prisma.sql`
      SELECT 'clawpulse' AS channel, count(*)::int AS pending, min(created_at) AS oldest
      FROM a2a_envelopes WHERE direction = 'OUTBOUND' AND state = 'PENDING' HAVING count(*) > 0`,
    channels: ['clawpulse'],
  }),
  // Accepted inbound envelopes, handled one job per envelope (src/domain/envelopes/handle.ts).
  // Handling sets handled_at; the row stays DELIVERED. One whose job was lost or gave up (the
  // database away through every attempt) is handled when the sweep schedules it again.
  defineOutbox<{ key: string; row_id: string; intent: string }>({
    name: 'a2a-inbound',
    stranded: (before) => Prisma.sql`
      SELECT 'a2a-handle:' || id::text AS key, id::text AS row_id, intent
      FROM a2a_envelopes
      WHERE direction = 'INBOUND' AND state = 'DELIVERED' AND handled_at IS NULL
        AND created_at < ${before}`,
    schedule: (db, group) =>
      enqueue(
        db,
        a2aHandleTask,
        { envelopeRowId: group.row_id, intent: group.intent },
        { jobKey: handleKey(group.row_id), jobKeyMode: 'replace' },
      ),
    backlog: Prisma.sql`
      SELECT 'clawpulse' AS channel, count(*)::int AS pending, min(created_at) AS oldest
      FROM a2a_envelopes
      WHERE direction = 'INBOUND' AND state = 'DELIVERED' AND handled_at IS NULL HAVING count(*) > 0`,
    channels: ['clawpulse'],
  }),
  // Webhook deliveries, drained per subscription in order (src/domain/outbound-webhooks/delivery.ts). A
  // drain waiting for a retry has its job scheduled for then, so it is not stranded; a disabled
  // subscription's deliveries wait for an owner to enable it, not for a job.
  defineOutbox<{ key: string; subscription_id: string }>({
    name: 'webhooks',
    stranded: (before) => Prisma.sql`
      SELECT DISTINCT 'webhook-drain:' || deliveries.subscription_id::text AS key,
             deliveries.subscription_id::text AS subscription_id
      FROM webhook_deliveries AS deliveries
      JOIN webhook_subscriptions AS subscriptions ON subscriptions.id = deliveries.subscription_id
      WHERE deliveries.status = 'PENDING' AND subscriptions.enabled AND deliveries.queued_at < ${before}`,
    // preserve_run_at, as an event wakes it: a drain waiting out a retry keeps its time.
    schedule: (db, group) => wakeDrain(db, group.subscription_id),
    backlog: Prisma.sql`
      SELECT 'webhooks' AS channel, count(*)::int AS pending, min(deliveries.queued_at) AS oldest
      FROM webhook_deliveries AS deliveries
      JOIN webhook_subscriptions AS subscriptions ON subscriptions.id = deliveries.subscription_id
      WHERE deliveries.status = 'PENDING' AND subscriptions.enabled HAVING count(*) > 0`,
    channels: ['webhooks'],
  }),
];

/** The schedule's task: one sweep over every outbox. */
export const outboxSweepTask = defineTask({
  name: 'outbox-sweep',
  schema: z.object({}),
  // The next tick, a minute later, is the retry.
  maxAttempts: 1,
});

/** Rows pending longer than this with no job coming are a stranded group. */
export const STRANDED_AFTER_MS = 60_000;

export interface SweepResult {
  outbox: string;
  /** Keys of the groups whose job was scheduled again. */
  scheduled: string[];
}

/**
 * Schedules the job of every group (up to `limit` per outbox) whose rows have waited over
 * `olderThanMs` with no runnable job for its key: none, or only a FAILED one (a job a worker
 * holds, or one due later, is coming). The database's clock decides what is old.
 */
export async function sweepOutboxes(
  db: Db,
  options: { olderThanMs?: number; limit?: number; logger: Logger; outboxes?: readonly Outbox[] },
): Promise<SweepResult[]> {
  const before = Prisma.sql`now() - make_interval(secs => ${(options.olderThanMs ?? STRANDED_AFTER_MS) / 1000}::float8)`;
  const results: SweepResult[] = [];
  for (const outbox of options.outboxes ?? OUTBOXES) {
    const groups = await db.$queryRaw<{ key: string }[]>`
      SELECT groups.* FROM (${outbox.stranded(before)}) AS groups
      WHERE ${noJobComing(Prisma.sql`groups.key`)}
      LIMIT ${options.limit ?? 1000}`;
    const scheduled: string[] = [];
    for (const group of groups) {
      const job = await outbox.schedule(db, group);
      // The key in SQL must be the writer's, or this group would look stranded every minute.
      if (job.key !== group.key) {
        options.logger.error(
          { outbox: outbox.name, 'sweep.key': group.key, 'job.key': job.key },
          'outbox sweep: the stranded query keys a group differently from its writer',
        );
      }
      scheduled.push(group.key);
    }
    if (scheduled.length) {
      options.logger.warn(
        { outbox: outbox.name, 'sweep.scheduled': scheduled.length, 'sweep.keys': scheduled.slice(0, 20) },
        `outbox sweep: ${scheduled.length} group(s) of "${outbox.name}" had rows waiting with no job coming; scheduled their jobs again`,
      );
    }
    results.push({ outbox: outbox.name, scheduled });
  }
  return results;
}

export interface BacklogLine {
  outbox: string;
  channel: string;
  pending: number;
  /** Seconds the oldest pending row has waited (0 when none waits). */
  oldestAgeSeconds: number;
}

/** What waits in every outbox, per channel (every platform and the outbox's own channels listed, with 0 when nothing waits). */
export async function outboxBacklog(db: Db, outboxes: readonly Outbox[] = OUTBOXES): Promise<BacklogLine[]> {
  const lines: BacklogLine[] = [];
  for (const outbox of outboxes) {
    const rows = await db.$queryRaw<{ channel: string; pending: number; age: number }[]>`
      SELECT channel, pending, extract(epoch FROM now() - oldest)::float8 AS age
      FROM (${outbox.backlog}) AS backlog`;
    const byChannel = new Map(rows.map((row) => [row.channel, row]));
    for (const channel of [...PLATFORMS.map((p) => p.toLowerCase()), ...(outbox.channels ?? [])]) {
      const row = byChannel.get(channel);
      lines.push({
        outbox: outbox.name,
        channel,
        pending: row?.pending ?? 0,
        oldestAgeSeconds: row ? Math.max(0, row.age) : 0,
      });
    }
  }
  return lines;
}

/** One line for `/readyz`: what waits where, and for how long. */
export function describeBacklog(lines: readonly BacklogLine[]): string {
  const byOutbox = new Map<string, string[]>();
  for (const line of lines) {
    const parts = byOutbox.get(line.outbox) ?? [];
    if (line.pending > 0) {
      parts.push(`${line.channel} ${line.pending} pending, oldest ${Math.round(line.oldestAgeSeconds)} s`);
    }
    byOutbox.set(line.outbox, parts);
  }
  return [...byOutbox]
    .map(([outbox, parts]) => `${outbox}: ${parts.length ? parts.join(', ') : 'nothing pending'}`)
    .join('; ');
}
