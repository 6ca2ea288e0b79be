/**
 * How long records that only serve as history are kept, and the daily job that deletes what is
 * older. Nothing here is needed for anything still in progress: a pending webhook delivery, or a
 * public A2A task whose booking is still live, is never deleted; neither is anything the ledger,
 * bookings or audits rely on.
 *
 * - Public A2A tasks without a booking (searches, availability checks): 7 days; a client reads
 *   their answer at once.
 * - Public A2A tasks of a booking: 180 days after their last change and their booking's end (a
 *   client may follow a booking made months ahead; deleting its booking deletes them too).
 * - Webhook deliveries delivered or failed, with their attempt logs: 30 days, as Stripe keeps its
 *   events (a delivery can be resent within that time).
 * - Records of jobs recovered from dead workers: 90 days.
 * - Tool-call audits (what a person's agent or a developer's key asked a tool, and its answer):
 *   180 days. They hold what people asked; half a year answers any question about a call.
 * - Invitations to join an organisation, with their emails: 90 days after they were sent (or last
 *   renewed); each can be accepted for 14 days, and an answered or lapsed one is history.
 * - Sign-in codes: a day after they expired (used or not; an expired code signs nobody in).
 * - Confirmations (a delivery's price, a held tool call and what it was asked with): 30 days after
 *   they expired (each lives 30 minutes; a message that released one is kept as long).
 * - Delivery quotes never ordered (their stops are the person's addresses): 30 days after they
 *   expired. An ordered quote stays with its order, but for an order an operator settled as
 *   never booked (NOT_PLACED): both go 30 days after it was settled.
 * - Reminders sent or cancelled (their text is the person's): 30 days after.
 * - Receipts held for a message id we never recorded (`held_receipts`: the earlier parts of a
 *   message sent in parts, a message sent from the platform's own app): a day after they came.
 *   A receipt overtakes our write of its message by moments, and is applied then.
 * - Refresh tokens: a day after the last token of their family (one sign-in) expired. Not
 *   sooner: a rotated token is kept while its family lives, so that presenting it again is
 *   recognised as reuse and ends the session. Ended sessions themselves are kept in Redis with
 *   their own expiry (src/domain/identity/revoked-sessions.ts): nothing to delete here.
 *
 * And, for as long as configured (config/retention.ts, whose floors keep each above the window in
 * which a duplicate can still arrive):
 *
 * - Provider events (Stripe's, Lalamove's: `provider_events`) once applied, counted from when
 *   they were applied (90 days by default). Their row is what answers a redelivery as a
 *   duplicate; Stripe redelivers for 3 days and keeps an event 30, and applying one again changes
 *   nothing anyway. One never applied (its job still retrying, or failed for an operator to
 *   retry) is kept.
 * - Usage events once reported to Stripe, or abandoned as too old to bill, counted from when the
 *   usage happened (400 days by default: a year's invoices can still be disputed). Unreported
 *   ones are never deleted: they are still to be billed. The floor (90 days) keeps every event
 *   the usage sweeps can still see (35 days back, the current month), whose key stops a second
 *   recording of the same usage.
 * - Chat messages received (`inbound_events`) once handled or ignored, counted from when they
 *   arrived (30 days by default): their row answers a platform's redelivery (WhatsApp retries for
 *   up to 7 days), and nothing else reads them afterwards. Pending ones are still to be handled
 *   and are kept; failed ones wait for an operator to retry them (`retryInboundMessage`), for 90
 *   days by default.
 * - What we sent (`outbound_messages`): the text, buttons, and an email's subject and address
 *   are emptied once the message was sent or given up, counted from when it was written (30 days
 *   by default). Nothing reads them after the send; the row stays, with its dedupe key (which
 *   keeps a reminder or notice from going out twice), its kind, status and times.
 *
 * Deletes go in batches, each its own statement, so no run holds long locks or a long transaction;
 * a run stopped half-way leaves the rest to the next day. Safe to run twice.
 */
import { z } from 'zod';
import type { Config } from '../../config/index.ts';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';

const DAY_MS = 86_400_000;

export const RETENTION_DAYS = {
  a2aTasksWithoutBooking: 7,
  a2aTasksOfBooking: 180,
  webhookDeliveries: 30,
  jobRecoveries: 90,
  toolCalls: 180,
  invitations: 90,
  /** After expiry. */
  signInCodes: 1,
  /** After expiry. */
  confirmations: 30,
  /** Never ordered; after expiry. */
  deliveryQuotes: 30,
  /** Settled as never booked (NOT_PLACED); after the settling. */
  notPlacedOrders: 30,
  /** After sent or cancelled. */
  reminders: 30,
  /** After the family's last token expired. */
  refreshTokenFamilies: 1,
  /** After they came. */
  heldReceipts: 1,
} as const;

/** The configured periods (days), each counted as described at the top of this file. */
export type RetentionSettings = Config['retention'];

/** Rows deleted per statement. */
const BATCH = 5_000;

/** The daily schedule (src/worker/crontab.ts); the next tick is the retry. */
export const dataRetentionTask = defineTask({
  name: 'data-retention',
  schema: z.object({}),
  maxAttempts: 1,
});

export interface RetentionResult {
  a2aTasks: number;
  webhookDeliveries: number;
  jobRecoveries: number;
  toolCalls: number;
  invitations: number;
  signInCodes: number;
  confirmations: number;
  deliveryQuotes: number;
  /** Deliveries settled as never booked. */
  notPlacedOrders: number;
  reminders: number;
  refreshTokens: number;
  /** Receipts for messages we never recorded. */
  heldReceipts: number;
  providerEvents: number;
  usageEvents: number;
  inboundEvents: number;
  failedInboundEvents: number;
  /** Messages sent whose text was emptied. */
  messageTexts: number;
}

/**
 * Deletes every record past its retention at `now`; how many of each. Each statement but the
 * refresh tokens' finds its rows by an index, oldest first (the migrations 20261211… name which),
 * rather than reading the whole table for every batch.
 */
export async function pruneExpiredRecords(
  db: Db,
  now: Date,
  settings: RetentionSettings,
  batch = BATCH,
): Promise<RetentionResult> {
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  /**
   * Deletes the rows of `table` that `where` finds, a batch at a time, oldest first by its index.
   * `where` is asked again of each row as it is deleted: a row changed meanwhile (a delivery
   * settled as booked after all) is deleted only if it still qualifies.
   */
  const prune = (table: string, where: Prisma.Sql) =>
    inBatches(
      (limit) => db.$executeRaw`
        DELETE FROM ${Prisma.raw(table)} WHERE id IN (
          SELECT id FROM ${Prisma.raw(table)} WHERE ${where} LIMIT ${limit}) AND ${where}`,
      batch,
    );
  // Two statements, each by its own partial index, so that neither reads the other's rows.
  const unbookedTasks = await prune(
    'a2a_tasks',
    Prisma.sql`booking_id IS NULL AND updated_at < ${before(RETENTION_DAYS.a2aTasksWithoutBooking)}`,
  );
  const bookedTasks = await prune(
    'a2a_tasks',
    Prisma.sql`booking_id IS NOT NULL AND updated_at < ${before(RETENTION_DAYS.a2aTasksOfBooking)}
      AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.id = a2a_tasks.booking_id
                      AND b.ends_at >= ${before(RETENTION_DAYS.a2aTasksOfBooking)})`,
  );
  // Attempts go with their delivery (ON DELETE CASCADE).
  const webhookDeliveries = await prune(
    'webhook_deliveries',
    Prisma.sql`status <> 'PENDING' AND created_at < ${before(RETENTION_DAYS.webhookDeliveries)}`,
  );
  const jobRecoveries = await prune(
    'job_recoveries',
    Prisma.sql`recovered_at < ${before(RETENTION_DAYS.jobRecoveries)}`,
  );
  const toolCalls = await prune('tool_calls', Prisma.sql`created_at < ${before(RETENTION_DAYS.toolCalls)}`);
  // Each with its email, which names the address (kept under the member who sent it; by the
  // invitation it carries, since what it said and to whom may have been emptied already).
  const invitations = await inBatches(
    (limit) => db.$executeRaw`
      WITH old AS (
        SELECT id, invited_by_id FROM organization_invitations
        WHERE created_at < ${before(RETENTION_DAYS.invitations)} LIMIT ${limit}),
      emails AS (
        DELETE FROM outbound_messages m USING old
        WHERE m.user_id = old.invited_by_id AND m.kind = 'organization.invitation'
          AND m.data->>'invitationId' = old.id::text)
      DELETE FROM organization_invitations WHERE id IN (SELECT id FROM old)`,
    batch,
  );
  const signInCodes = await prune(
    'sign_in_codes',
    Prisma.sql`expires_at < ${before(RETENTION_DAYS.signInCodes)}`,
  );
  // A quote's confirmations go with it (ON DELETE CASCADE); the rest are the actions held.
  const confirmations = await prune(
    'confirmations',
    Prisma.sql`expires_at < ${before(RETENTION_DAYS.confirmations)}`,
  );
  // Before the quotes, which then have no order (delivery_orders_not_placed_idx).
  const notPlacedOrders = await prune(
    'delivery_orders',
    Prisma.sql`status = 'NOT_PLACED' AND updated_at < ${before(RETENTION_DAYS.notPlacedOrders)}`,
  );
  const deliveryQuotes = await prune(
    'delivery_quotes',
    Prisma.sql`expires_at < ${before(RETENTION_DAYS.deliveryQuotes)}
      AND NOT EXISTS (SELECT 1 FROM delivery_orders o WHERE o.quote_id = delivery_quotes.id)`,
  );
  // By their partial indexes, one statement each.
  const remindersSent = await prune(
    'reminders',
    Prisma.sql`sent_at IS NOT NULL AND sent_at < ${before(RETENTION_DAYS.reminders)}`,
  );
  const remindersCancelled = await prune(
    'reminders',
    Prisma.sql`cancelled_at IS NOT NULL AND cancelled_at < ${before(RETENTION_DAYS.reminders)}`,
  );
  // Whole families only (see the top of this file); a batch is a number of families. The one
  // delete that reads every row (in family order, by refresh_tokens_family_id_idx): whether a
  // family expired whole is known only from all its tokens, and an index on expiry does not
  // help, since a live family's rotated tokens expire too (measured: no faster).
  const refreshTokens = await inBatches(
    (limit) => db.$executeRaw`
      DELETE FROM refresh_tokens WHERE family_id IN (
        SELECT family_id FROM refresh_tokens GROUP BY family_id
        HAVING max(expires_at) < ${before(RETENTION_DAYS.refreshTokenFamilies)}
        LIMIT ${limit})`,
    batch,
    (deleted) => deleted === 0,
  );
  const heldReceipts = await prune(
    'held_receipts',
    Prisma.sql`received_at < ${before(RETENTION_DAYS.heldReceipts)}`,
  );
  // `processed_at` is set once the event was applied (provider_events_processed_idx).
  const providerEvents = await prune(
    'provider_events',
    Prisma.sql`processed_at < ${before(settings.providerEventsDays)}`,
  );
  // Reported or abandoned: settled, nothing left to bill (usage_events_settled_idx, whose
  // predicate this repeats word for word so that the planner can use it).
  const usageEvents = await prune(
    'usage_events',
    Prisma.sql`(reported_at IS NOT NULL OR abandoned_at IS NOT NULL)
      AND occurred_at < ${before(settings.usageEventsDays)}`,
  );
  // By the (status, received_at) index.
  const inboundEvents = await prune(
    'inbound_events',
    Prisma.sql`status IN ('PROCESSED', 'IGNORED') AND received_at < ${before(settings.inboundEventsDays)}`,
  );
  const failedInboundEvents = await prune(
    'inbound_events',
    Prisma.sql`status = 'FAILED' AND received_at < ${before(settings.failedInboundDays)}`,
  );
  // Emptied, not deleted (the dedupe key stays); by outbound_messages_text_kept_idx, whose
  // predicate this repeats word for word so that the planner can use it.
  const messageTexts = await inBatches(
    (limit) => db.$executeRaw`
      UPDATE outbound_messages SET body = '', content = '{}', subject = NULL, email_to = NULL
      WHERE id IN (
        SELECT id FROM outbound_messages
        WHERE status <> 'PENDING' AND body <> '' AND created_at < ${before(settings.messageTextDays)}
        LIMIT ${limit})`,
    batch,
  );
  return {
    a2aTasks: unbookedTasks + bookedTasks,
    webhookDeliveries,
    jobRecoveries,
    toolCalls,
    invitations,
    signInCodes,
    confirmations,
    deliveryQuotes,
    notPlacedOrders,
    reminders: remindersSent + remindersCancelled,
    refreshTokens,
    heldReceipts,
    providerEvents,
    usageEvents,
    inboundEvents,
    failedInboundEvents,
    messageTexts,
  };
}

/**
 * Runs `run` until a batch finds nothing more to delete: by default, one that deleted less than a
 * full batch; `done` says otherwise where a batch counts something else than rows (families).
 */
async function inBatches(
  run: (limit: number) => Promise<number>,
  batch: number,
  done: (deleted: number) => boolean = (deleted) => deleted < batch,
): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await run(batch);
    total += deleted;
    if (done(deleted)) return total;
  }
}
