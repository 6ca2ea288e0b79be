/** The webhook tasks, declared once for the code that enqueues them and the worker that runs them. */
import { z } from 'zod';
import type { DbOrTx } from '../../platform/db.ts';
import { defineTask, type EnqueuedJob, enqueue } from '../../platform/jobs.ts';

/**
 * Sends one subscription's pending deliveries in order (src/domain/outbound-webhooks/delivery.ts). One job
 * per subscription, keyed by it; the receiver's failures are the deliveries' own retries, which
 * the task schedules, so these attempts are only for errors of ours (the database away).
 */
export const webhookDrainTask = defineTask({
  name: 'webhook-drain',
  schema: z.object({ subscriptionId: z.uuid() }),
  maxAttempts: 10,
});

export function drainKey(subscriptionId: string): string {
  return `webhook-drain:${subscriptionId}`;
}

/**
 * Has a subscription's deliveries sent at `runAt` (default now). `preserve_run_at` for a wake (a
 * new event): a drain already waiting out a retry keeps its time, since sending the new event
 * before the one it waits for would break their order; `replace` for the drain's own next run,
 * and for an owner's resend or re-enable, which should go now.
 */
export function wakeDrain(
  db: DbOrTx,
  subscriptionId: string,
  options: { runAt?: Date; now?: boolean } = {},
): Promise<EnqueuedJob> {
  return enqueue(
    db,
    webhookDrainTask,
    { subscriptionId },
    {
      jobKey: drainKey(subscriptionId),
      jobKeyMode: options.runAt || options.now ? 'replace' : 'preserve_run_at',
      runAt: options.runAt,
    },
  );
}
