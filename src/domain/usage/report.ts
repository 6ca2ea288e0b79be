/**
 * Reporting usage to Stripe Billing Meters: the `report-usage` job (every 15 minutes, and on
 * demand).
 *
 * First it collects what the sweeps record (LLM tokens, conversations beyond the allowance; see
 * recorders.ts). Then it works through the usage not yet reported, a batch at a time, and never
 * holds a transaction across a call to Stripe:
 *
 * 1. Claim: one statement picks the oldest unreported events of organisations that have a Stripe
 *    customer (`FOR UPDATE SKIP LOCKED`, so two reporters at once take different rows) and sets a
 *    lease on them (`claimed_until`). It commits at once.
 * 2. Call: each event becomes one meter event, its `identifier` the event's own id and its
 *    idempotency key `meter-event:{id}`, so a call retried after a timeout (the SDK retries with
 *    the same key) or a report repeated after a crash between call and mark is answered with what
 *    Stripe already recorded, and Stripe itself ignores a second event with the same identifier.
 * 3. Mark: `reported_at` is set. A reported event is never claimed again, so a replay of the job
 *    sends nothing twice.
 *
 * A failed call leaves the event for later (its lease becomes a back-off); a failure that looks
 * like Stripe being away stops the run and fails the job, which graphile-worker retries.
 *
 * Organisations without a Stripe customer: their usage waits, unreported, because the customer
 * is made when they first start a checkout (and usage is billed on their subscription's meters).
 * Stripe accepts meter events at most 35 days old, so usage still unreported at that age is
 * marked abandoned (`abandoned_at`, with the reason) and never sent.
 */
import { StripeCallError, type StripeClient } from '../../integrations/stripe/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { cronPayload, defineTask, enqueue } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import type { UsageMeter } from './events.ts';
import {
  type ConversationDeps,
  collectConversations,
  collectLlmUsage,
  STRIPE_METER_HORIZON_DAYS,
} from './recorders.ts';

/** The job that reports usage (cron every 15 minutes; `requestUsageReport` for now). */
export const reportUsageTask = defineTask({
  name: 'report-usage',
  schema: cronPayload.partial(),
  // The next tick is the retry after a few attempts.
  maxAttempts: 3,
});

/** Asks for a report now (one queued at a time). */
export function requestUsageReport(db: DbOrTx) {
  return enqueue(db, reportUsageTask, {}, { jobKey: 'report-usage', jobKeyMode: 'preserve_run_at' });
}

export interface ReportDeps {
  db: Db;
  stripe: Pick<StripeClient, 'billing'>;
  /** The Stripe meter event name of each meter. */
  meters: Readonly<Record<UsageMeter, string>>;
  batchSize: number;
  now: () => Date;
  logger?: Logger;
}

export interface ReportOutcome {
  reported: number;
  failed: number;
  abandoned: number;
}

/** How long a claim lasts: ample for a batch of calls, short enough that a crash delays little. */
const LEASE_MS = 5 * 60_000;
/** How long an event whose call Stripe refused waits before it is tried again. */
const REFUSED_BACKOFF_MS = 60 * 60_000;
/** Batches per run, so one run ends; the next tick carries on. */
const MAX_BATCHES = 50;
const DAY = 86_400_000;

interface Claimed {
  id: string;
  meter: UsageMeter;
  quantity: bigint;
  occurred_at: Date;
  stripe_customer_id: string;
}

/** Claims up to `limit` events to report, for LEASE_MS. */
async function claim(db: Db, limit: number, now: Date): Promise<Claimed[]> {
  return db.$queryRaw<Claimed[]>`
    UPDATE usage_events e
    SET claimed_until = ${new Date(now.getTime() + LEASE_MS)}, report_attempts = e.report_attempts + 1
    FROM (
      SELECT u.id, c.stripe_customer_id
      FROM usage_events u JOIN billing_customers c ON c.organization_id = u.organization_id
      WHERE u.reported_at IS NULL AND u.abandoned_at IS NULL
        AND (u.claimed_until IS NULL OR u.claimed_until <= ${now})
      ORDER BY u.created_at
      LIMIT ${limit}
      FOR UPDATE OF u SKIP LOCKED
    ) picked
    WHERE e.id = picked.id
    RETURNING e.id::text, e.meter::text AS meter, e.quantity, e.occurred_at, picked.stripe_customer_id`;
}

/** Marks unreported usage older than Stripe accepts as abandoned. */
async function abandonStale(db: Db, now: Date): Promise<number> {
  const horizon = new Date(now.getTime() - STRIPE_METER_HORIZON_DAYS * DAY);
  return db.$executeRaw`
    UPDATE usage_events
    SET abandoned_at = ${now}, claimed_until = NULL,
        last_error = coalesce(last_error || '; ', '') || 'older than Stripe accepts (35 days), never reported'
    WHERE reported_at IS NULL AND abandoned_at IS NULL AND occurred_at < ${horizon}
      AND (claimed_until IS NULL OR claimed_until <= ${now})`;
}

/** Reports every claimable event to Stripe (see the file's comment). */
export async function reportUsage(deps: ReportDeps): Promise<ReportOutcome> {
  const { db, now } = deps;
  const outcome: ReportOutcome = { reported: 0, failed: 0, abandoned: await abandonStale(db, now()) };
  for (let batch = 0; batch < MAX_BATCHES; batch += 1) {
    const claimed = await claim(db, deps.batchSize, now());
    if (claimed.length === 0) break;
    for (const [index, event] of claimed.entries()) {
      try {
        await deps.stripe.billing.meterEvents.create(
          {
            event_name: deps.meters[event.meter],
            payload: { stripe_customer_id: event.stripe_customer_id, value: event.quantity.toString() },
            identifier: event.id,
            timestamp: Math.floor(event.occurred_at.getTime() / 1000),
          },
          { idempotencyKey: `meter-event:${event.id}` },
        );
      } catch (error) {
        outcome.failed += 1;
        const transient = !(error instanceof StripeCallError) || error.kind === 'transient';
        await db.usageEvent.update({
          where: { id: event.id },
          data: {
            lastError: (error as Error).message.slice(0, 1000),
            // Stripe away: the job's retry comes soon. Refused: an operator has time to look.
            claimedUntil: transient ? null : new Date(now().getTime() + REFUSED_BACKOFF_MS),
          },
        });
        deps.logger?.error({ err: error, 'usage_event.id': event.id }, 'could not report usage to Stripe');
        if (transient) {
          // The rest of the batch is released for the next attempt, not left leased.
          await db.usageEvent.updateMany({
            where: { id: { in: claimed.slice(index + 1).map((e) => e.id) }, reportedAt: null },
            data: { claimedUntil: null },
          });
          throw error;
        }
        continue;
      }
      await db.usageEvent.update({
        where: { id: event.id },
        data: { reportedAt: now(), stripeIdentifier: event.id, claimedUntil: null, lastError: null },
      });
      outcome.reported += 1;
    }
  }
  return outcome;
}

export interface ReportJobDeps extends ReportDeps {
  conversations: ConversationDeps;
}

/** How long into a month the last month's conversations are still collected. */
const LAST_MONTH_COLLECTED_MS = 86_400_000;

/** The job: collects the swept usage (this month, and last month's during the first day), then reports. */
export async function runUsageReport(deps: ReportJobDeps): Promise<ReportOutcome & { collected: number }> {
  const at = deps.now();
  let collected = await collectLlmUsage(deps.db, at);
  collected += await collectConversations(deps.db, deps.conversations, at);
  // Conversations of a month's last minutes are counted in that month once it is over, by any run
  // of the next month's first day: not only its first hour's, which the worker may miss.
  const lastMonth = new Date(at.getTime() - LAST_MONTH_COLLECTED_MS);
  if (lastMonth.getUTCMonth() !== at.getUTCMonth()) {
    collected += await collectConversations(deps.db, deps.conversations, lastMonth);
  }
  return { collected, ...(await reportUsage(deps)) };
}
