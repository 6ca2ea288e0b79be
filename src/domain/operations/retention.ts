/**
 * How long records that only serve as history are kept, and the daily job that deletes what is
 * older. Nothing here is needed for anything still in progress: a pending webhook delivery, or a
 * public A2A task whose booking is still live, is never deleted; neither is anything the ledger,
 * bookings or audits rely on.
 *
 * - Public A2A tasks without a booking (searches, availability checks): 7 days; a client reads
 *   their answer at once.
 * - Public A2A tasks of a booking: 180 days after their last change (a client may follow a
 *   booking for months; deleting its booking deletes them too).
 * - Webhook deliveries delivered or failed, with their attempt logs: 30 days, as Stripe keeps its
 *   events (a delivery can be resent within that time).
 * - Records of jobs recovered from dead workers: 90 days.
 *
 * Deletes go in batches, each its own statement, so no run holds long locks or a long transaction;
 * a run stopped half-way leaves the rest to the next day. Safe to run twice.
 */
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';

const DAY_MS = 86_400_000;

export const RETENTION_DAYS = {
  a2aTasksWithoutBooking: 7,
  a2aTasksOfBooking: 180,
  webhookDeliveries: 30,
  jobRecoveries: 90,
} as const;

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
}

/** Deletes every record past its retention at `now`; how many of each. */
export async function pruneExpiredRecords(db: Db, now: Date, batch = BATCH): Promise<RetentionResult> {
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const a2aTasks = await inBatches(
    (limit) => db.$executeRaw`
      DELETE FROM a2a_tasks WHERE id IN (
        SELECT id FROM a2a_tasks
        WHERE (booking_id IS NULL AND updated_at < ${before(RETENTION_DAYS.a2aTasksWithoutBooking)})
           OR (booking_id IS NOT NULL AND updated_at < ${before(RETENTION_DAYS.a2aTasksOfBooking)})
        LIMIT ${limit})`,
    batch,
  );
  // Attempts go with their delivery (ON DELETE CASCADE).
  const webhookDeliveries = await inBatches(
    (limit) => db.$executeRaw`
      DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status <> 'PENDING' AND created_at < ${before(RETENTION_DAYS.webhookDeliveries)}
        LIMIT ${limit})`,
    batch,
  );
  const jobRecoveries = await inBatches(
    (limit) => db.$executeRaw`
      DELETE FROM job_recoveries WHERE id IN (
        SELECT id FROM job_recoveries WHERE recovered_at < ${before(RETENTION_DAYS.jobRecoveries)}
        LIMIT ${limit})`,
    batch,
  );
  return { a2aTasks, webhookDeliveries, jobRecoveries };
}

async function inBatches(run: (limit: number) => Promise<number>, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await run(batch);
    total += deleted;
    if (deleted < batch) return total;
  }
}
