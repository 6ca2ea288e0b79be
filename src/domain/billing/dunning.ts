/**
 * Dunning: telling an organisation's owners when its subscription's standing changes. When Stripe
 * cannot collect (past_due) they hear what failed, until when the plan's features stay on and
 * where to pay (`PUBLIC_URL/billing`); when grace runs out, that the organisation is restricted;
 * when it is paid again, that all is well.
 *
 * Each notice goes once per change, however often the change is seen (a redelivered event, a
 * job run twice, the daily reconcile). The row remembers what the owners were last told
 * (`notified_standing`): whoever moves it from what they read to the standing now, in one
 * guarded UPDATE in the transaction that queues the notices, sends them; anyone else's UPDATE
 * finds the row moved on and sends nothing. `notices_sent` numbers the notices, which makes each
 * one's dedupe key.
 *
 * Restriction itself needs no job (standing.ts works it out from the clock). Its notice comes from
 * a `subscription-grace-end` job queued for the end of grace with the past-due notice, and, should
 * that job be lost or early, from the daily reconcile (reconcile.ts), which settles every
 * subscription it reads.
 */
import { z } from 'zod';
import type { Plan } from '../../config/billing.ts';
import type { Db } from '../../platform/db.ts';
import { defineTask, enqueue } from '../../platform/jobs.ts';
import { queueNotice } from '../notices/notices.ts';
import type { NoticeKind } from '../notices/templates.ts';
import { announceSubscription } from './billing-events.ts';
import { type PlanPrices, planOfPrice, type Standing, subscriptionStanding } from './standing.ts';

/** Settles one subscription's notices when its grace should have ended. */
export const subscriptionGraceEndTask = defineTask({
  name: 'subscription-grace-end',
  schema: z.object({ stripeSubscriptionId: z.string().min(1) }),
  maxAttempts: 10,
});

export interface DunningDeps {
  now: () => Date;
  /** Each plan's Stripe price ids, the one sold first (config.billing.plans). */
  plans: PlanPrices;
  /** BILLING_GRACE_DAYS. */
  graceDays: number;
  /** PUBLIC_URL: the billing page the notices link to is `${publicUrl}/billing`. */
  publicUrl: string;
}

/** Who is told: the organisation's owners (admins can pay too, but the subscription is the owners'). */
export const RECIPIENTS = ['OWNER'] as const;

/** What the owners can have been told; null: nothing to tell (a new subscription, or it ended). */
type Told = Exclude<Standing, 'NONE'> | null;

type DunningKind = Extract<NoticeKind, `billing.${string}`>;

/** The notice for moving from what the owners were told to the standing now, if any. */
function noticeFor(told: Told, now: Told): DunningKind | null {
  if (now === 'PAST_DUE') return 'billing.past_due';
  if (now === 'RESTRICTED') return 'billing.restricted';
  if (now === 'ACTIVE' && (told === 'PAST_DUE' || told === 'RESTRICTED')) return 'billing.recovered';
  return null;
}

/** "Venue Growth" for VENUE_GROWTH: plan names are product names, the same in every language. */
export function planLabel(plan: Plan | null): string {
  if (!plan) return 'AGNT';
  return `AGNT ${plan
    .split('_')
    .map((word) => word[0] + word.slice(1).toLowerCase())
    .join(' ')}`;
}

/**
 * Tells the owners of the subscription's organisation about its standing now, if that is not what
 * they were last told (see the top of this file), and its webhook receivers of a change of
 * status, plan or standing (billing-events.ts). Returns the notice kind queued, or null.
 */
export async function settleStandingNotices(
  db: Db,
  stripeSubscriptionId: string,
  deps: DunningDeps,
): Promise<DunningKind | null> {
  // Receivers of billing.subscription.updated hear of the same changes, settled the same way.
  await announceSubscription(db, stripeSubscriptionId, deps);
  const row = await db.billingSubscription.findUnique({
    where: { stripeSubscriptionId },
    include: { organization: { select: { name: true } } },
  });
  if (!row) return null;
  const { standing, graceEndsAt } = subscriptionStanding(row, deps);
  // An incomplete subscription never had its features (its first payment has not gone through;
  // Checkout says so there and then): nothing to tell, as for one that ended.
  const silent = standing === 'NONE' || (standing === 'RESTRICTED' && row.status === 'incomplete');
  const now: Told = silent ? null : standing;
  const told = row.notifiedStanding as Told;
  if (now === told) return null;
  const kind = noticeFor(told, now);

  return db.$transaction(async (tx) => {
    // The row as read, or someone else settled it (or its state moved on and they will).
    const claimed = await tx.billingSubscription.updateMany({
      where: {
        id: row.id,
        notifiedStanding: told,
        noticesSent: row.noticesSent,
        status: row.status,
        pastDueSince: row.pastDueSince,
      },
      data: { notifiedStanding: now, ...(kind ? { noticesSent: { increment: 1 } } : {}) },
    });
    if (claimed.count === 0 || !kind) return null;
    const number = row.noticesSent + 1;
    const plan = planLabel(planOfPrice(deps.plans, row.priceId));
    const organization = row.organization.name;
    const billingUrl = `${deps.publicUrl.replace(/\/$/, '')}/billing`;
    const owners = await tx.membership.findMany({
      where: { organizationId: row.organizationId, role: { in: [...RECIPIENTS] } },
      select: { userId: true },
      orderBy: { createdAt: 'asc' },
    });
    for (const { userId } of owners) {
      const common = {
        userId,
        dedupeKey: `billing:${row.id}:${number}:${userId}`,
        data: {
          organizationId: row.organizationId,
          stripeSubscriptionId,
          standing: now ?? 'NONE',
          graceEndsAt: graceEndsAt?.toISOString() ?? null,
        },
      };
      if (kind === 'billing.past_due') {
        await queueNotice(tx, {
          ...common,
          kind,
          // A past-due subscription always has a grace end (subscriptionStanding).
          params: { organization, plan, graceEndsAt: graceEndsAt ?? deps.now(), billingUrl },
        });
      } else if (kind === 'billing.restricted') {
        await queueNotice(tx, { ...common, kind, params: { organization, plan, billingUrl } });
      } else {
        await queueNotice(tx, { ...common, kind, params: { organization, plan } });
      }
    }
    if (kind === 'billing.past_due' && graceEndsAt) {
      await enqueue(
        tx,
        subscriptionGraceEndTask,
        { stripeSubscriptionId },
        { runAt: graceEndsAt, jobKey: `subscription-grace-end:${row.id}` },
      );
    }
    return kind;
  });
}

/**
 * The `subscription-grace-end` job: settles the subscription's notices (the restriction's, if it
 * is still unpaid). When its grace has not ended by our clock after all (the queue's clock ran a
 * little ahead, or BILLING_GRACE_DAYS was raised since), it is queued again for the new end.
 */
export async function endOfGrace(
  db: Db,
  stripeSubscriptionId: string,
  deps: DunningDeps,
): Promise<DunningKind | 'not_yet' | null> {
  const told = await settleStandingNotices(db, stripeSubscriptionId, deps);
  if (told) return told;
  const row = await db.billingSubscription.findUnique({ where: { stripeSubscriptionId } });
  if (!row) return null;
  const { standing, graceEndsAt } = subscriptionStanding(row, deps);
  if (standing !== 'PAST_DUE' || !graceEndsAt) return null;
  await enqueue(
    db,
    subscriptionGraceEndTask,
    { stripeSubscriptionId },
    { runAt: graceEndsAt, jobKey: `subscription-grace-end:${row.id}` },
  );
  return 'not_yet';
}
