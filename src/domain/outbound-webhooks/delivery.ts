/**
 * Sending a subscription's deliveries (the `webhook-drain` job's work).
 *
 * Order: one drain per subscription, under an advisory lock on it, sends its PENDING deliveries
 * one at a time by `sequence` and stops at the first that fails, until that one succeeds or its
 * retries are spent. So a receiver that was down gets, once back, every event in the order it
 * was queued. Deliveries are written in their change's transaction, and a booking's changes
 * are serialised by its row lock, so a booking's events take sequence numbers in the order they
 * happened (events of different bookings committed at the same moment may be sent in either
 * order, which is all the promise is about: in order per booking).
 *
 * Why a sequence and one drain rather than a graphile-worker queue per subscription: named
 * queues are few by design (graphile-worker warns against many, and src/platform/jobs.ts refuses
 * them), a queue orders jobs but not our retries (a job that fails lets the next one in its
 * queue wait, but its backoff is graphile-worker's, not the three days a receiver is owed), and
 * the deliveries table is what owners read anyway. The same shape as the chat send queue
 * (src/domain/channels/outbound.ts).
 *
 * Retries: a failed attempt (no answer, a timeout, anything but 2xx) waits 30 s, then twice as
 * long each time, at most 6 hours, until the delivery has been retried for
 * WEBHOOK_RETRY_HOURS (3 days); it is then FAILED and the next one goes. Every attempt is a row
 * of `webhook_attempts` (status, duration, the start of the answer, the error).
 *
 * A subscription whose attempts have all failed for WEBHOOK_DISABLE_AFTER_HOURS (5 days) is
 * disabled and its owners told. Events while it is disabled are not queued for it; what it
 * still had pending is sent, in order, once an owner enables it again.
 *
 * "All failed for 5 days" means one run of failures: attempts that failed one after another with
 * no success between them and no quiet gap longer than QUIET_GAP_MS. A receiver down while events
 * keep coming is retried at most 6 hours apart, so its run goes on until it is disabled. A
 * subscription with rare events is different: a delivery given up a month ago says nothing about
 * the receiver now, so a failure after a gap starts a new run (`failingSince` = now) instead of
 * disabling at once. A new URL, or enabling it again, also starts over (subscriptions.ts).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { WebhookDelivery, WebhookSubscription } from '../../generated/prisma/client.ts';
import { checkedLookup } from '../../platform/address-policy.ts';
import { withAdvisoryLock } from '../../platform/advisory-lock.ts';
import type { Database, Tx } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { storableText } from '../../platform/storable.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { queueNotice } from '../notices/notices.ts';
import { type SignedHeaders, signDelivery } from './signing.ts';
import { subscriptionKeys } from './subscriptions.ts';
import { parseTarget, resolveTarget, type TargetPolicy } from './targets.ts';
import { drainKey } from './tasks.ts';

export interface WebhookSendDeps {
  database: Database;
  keyring: SecretKeyring;
  logger: Logger;
  now: () => Date;
  policy: TargetPolicy;
  timeoutMs: number;
  retryHours: number;
  disableAfterHours: number;
}

const HOUR = 3_600_000;
const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 6 * HOUR;
/**
 * A failure more than this after the previous one starts a new run of failures. Longer than the
 * longest wait between retries (MAX_RETRY_MS), twice over, so a worker that is busy or restarting
 * and comes back late for a retry does not break up the run of a receiver that is really down.
 */
const QUIET_GAP_MS = 2 * MAX_RETRY_MS;
const SNIPPET = 1000;

/** The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … at most 6 hours. */
export function retryDelayMs(attempts: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_MS);
}

export interface DrainOutcome {
  /** Deliveries sent now, or null when another drain holds the subscription. */
  sent: number | null;
  /** Run again after this long; null when nothing is waiting. */
  retryAfterMs: number | null;
}

/** Sends a subscription's due deliveries in order (see the top of this file). Safe to run twice. */
export async function drainWebhooks(deps: WebhookSendDeps, subscriptionId: string): Promise<DrainOutcome> {
  const db = deps.database.prisma;
  const result = await withAdvisoryLock(deps.database.locks, drainKey(subscriptionId), async () => {
    let sent = 0;
    for (;;) {
      const subscription = await db.webhookSubscription.findUnique({ where: { id: subscriptionId } });
      if (!subscription?.enabled) return { sent, retryAfterMs: null };
      const next = await db.webhookDelivery.findFirst({
        where: { subscriptionId, status: 'PENDING' },
        orderBy: { sequence: 'asc' },
      });
      if (!next) return { sent, retryAfterMs: null };
      const now = deps.now();
      if (next.nextAttemptAt && next.nextAttemptAt > now) {
        return { sent, retryAfterMs: next.nextAttemptAt.getTime() - now.getTime() };
      }
      const outcome = await attempt(deps, subscription, next);
      if (outcome === 'delivered') sent += 1;
      else if (outcome !== 'failed') return { sent, retryAfterMs: outcome.retryAfterMs };
    }
  });
  return result.locked ? result.value : { sent: null, retryAfterMs: 1000 };
}

type AttemptOutcome = 'delivered' | 'failed' | { retryAfterMs: number | null };

/** One try at one delivery, logged; moves the delivery (and the subscription's health) on. */
async function attempt(
  deps: WebhookSendDeps,
  subscription: WebhookSubscription,
  delivery: WebhookDelivery,
): Promise<AttemptOutcome> {
  const db = deps.database.prisma;
  const now = deps.now();
  const body = JSON.stringify(delivery.payload);
  const headers = signDelivery(await subscriptionKeys(db, deps.keyring, subscription, now), {
    id: delivery.messageId,
    timestamp: now,
    body,
  });
  const started = performance.now();
  const answer = await post(deps, subscription.url, headers, body);
  const durationMs = Math.round(performance.now() - started);
  const ok = answer.status !== null && answer.status >= 200 && answer.status < 300;
  const error = ok ? null : (answer.error ?? `the receiver answered ${answer.status}`);
  const attempts = delivery.attempts + 1;
  const log = deps.logger.child({
    'webhook.subscription': subscription.id,
    'webhook.delivery': delivery.id,
    'webhook.event': delivery.eventType,
  });

  await db.webhookAttempt.create({
    data: {
      deliveryId: delivery.id,
      attemptedAt: now,
      statusCode: answer.status,
      durationMs,
      responseSnippet: answer.snippet,
      error,
    },
  });
  if (ok) {
    await db.$transaction([
      db.webhookDelivery.update({
        where: { id: delivery.id },
        data: { status: 'DELIVERED', deliveredAt: now, attempts, nextAttemptAt: null, lastError: null },
      }),
      db.webhookSubscription.update({ where: { id: subscription.id }, data: { failingSince: null } }),
    ]);
    return 'delivered';
  }

  const spent = now.getTime() - delivery.queuedAt.getTime() >= deps.retryHours * HOUR;
  const delay = retryDelayMs(attempts);
  // The run this failure belongs to: the one under way, unless its last failure was long ago
  // (then the receiver may well have been fixed meanwhile, and this failure starts a new run).
  const { lastFailedAt } = subscription;
  const failingSince =
    subscription.failingSince && lastFailedAt && now.getTime() - lastFailedAt.getTime() <= QUIET_GAP_MS
      ? subscription.failingSince
      : now;
  const disable = now.getTime() - failingSince.getTime() >= deps.disableAfterHours * HOUR;
  let recorded = true;
  const disabled = await db.$transaction(async (tx) => {
    // Only onto the delivery as this attempt saw it: enabling the subscription again while the
    // attempt was on its way gave it its retries afresh (no attempts, queued at the enabling),
    // which this failure must not overwrite with the old count and the old deadline.
    const { count: moved } = await tx.webhookDelivery.updateMany({
      where: { id: delivery.id, status: 'PENDING', attempts: delivery.attempts, queuedAt: delivery.queuedAt },
      data: spent
        ? { status: 'FAILED', attempts, nextAttemptAt: null, lastError: error }
        : { attempts, nextAttemptAt: new Date(now.getTime() + delay), lastError: error },
    });
    recorded = moved === 1;
    // Only onto the row as this attempt saw it. An owner who, while the attempt was on its way,
    // disabled it, enabled it again (which clears the run) or pointed it at a new URL has the
    // last word: this failure is then not counted, and above all does not disable it again.
    const { count } = await tx.webhookSubscription.updateMany({
      where: {
        id: subscription.id,
        enabled: true,
        url: subscription.url,
        failingSince: subscription.failingSince,
        lastFailedAt: subscription.lastFailedAt,
      },
      data: { failingSince, lastFailedAt: now },
    });
    if (count === 0 || !disable) return false;
    // The row is held by the update above until this commits, so no change slips in between.
    return disableFailing(tx, deps, subscription, now);
  });
  log.info(
    { 'webhook.attempt': attempts, 'webhook.error': error, 'webhook.gave_up': spent && recorded },
    'webhook attempt failed',
  );

  if (disabled) {
    log.warn({ 'webhook.failing_since': failingSince.toISOString() }, 'webhook disabled after failing');
    return { retryAfterMs: null };
  }
  // Given its retries afresh meanwhile, the delivery is tried again after the first wait.
  if (!recorded) return { retryAfterMs: retryDelayMs(1) };
  return spent ? 'failed' : { retryAfterMs: delay };
}

/**
 * Disables a subscription that kept failing and tells the organisation's owners, once, in the
 * caller's transaction, which holds the subscription's row. Whether it was disabled now.
 */
async function disableFailing(
  tx: Tx,
  deps: WebhookSendDeps,
  subscription: WebhookSubscription,
  now: Date,
): Promise<boolean> {
  const days = Math.round(deps.disableAfterHours / 24);
  const { count } = await tx.webhookSubscription.updateMany({
    where: { id: subscription.id, enabled: true },
    data: {
      enabled: false,
      disabledAt: now,
      disabledReason: `Every delivery failed for ${days} days`,
    },
  });
  if (count === 0) return false;
  const organization = await tx.organization.findUniqueOrThrow({
    where: { id: subscription.organizationId },
    select: { name: true, memberships: { where: { role: 'OWNER' }, select: { userId: true } } },
  });
  for (const { userId } of organization.memberships) {
    await queueNotice(tx, {
      userId,
      kind: 'webhook.disabled',
      params: { url: subscription.url, organization: organization.name, days },
      dedupeKey: `webhook-disabled:${subscription.id}:${now.toISOString()}`,
      data: { subscriptionId: subscription.id },
    });
  }
  return true;
}

interface Answer {
  status: number | null;
  snippet: string | null;
  error: string | null;
}

/**
 * POSTs the body, connecting only to an address the target policy allows: the socket's own
 * lookup resolves the host and refuses it when any address is refused, so the address checked
 * is the address connected to.
 */
async function post(
  deps: WebhookSendDeps,
  raw: string,
  headers: SignedHeaders,
  body: string,
): Promise<Answer> {
  let url: URL;
  try {
    url = parseTarget(raw, deps.policy);
  } catch (error) {
    return { status: null, snippet: null, error: `refused: ${(error as Error).message}` };
  }
  // An address literal never reaches the lookup below, so every target is checked here first.
  try {
    await resolveTarget(url, deps.policy);
  } catch (error) {
    return { status: null, snippet: null, error: `refused: ${(error as Error).message}` };
  }
  const lookup = checkedLookup(url, deps.policy.allowed);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  // One deadline for the whole exchange (the socket's own timeout is only for silence): a
  // receiver that answers slowly, a byte at a time, or without end holds a worker no longer.
  return new Promise<Answer>((resolve) => {
    let settled = false;
    /** Once the status came: the answer, with what came of the body so far. */
    let answered: (() => void) | null = null;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(answer);
    };
    const req = request(
      url,
      {
        method: 'POST',
        lookup,
        timeout: deps.timeoutMs,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'AGNT-Webhooks/1',
          'content-length': Buffer.byteLength(body).toString(),
          ...headers,
        },
      },
      (res: IncomingMessage) => {
        // The status is the answer; of the body only the start is kept, and no more is read.
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          finish({
            status: res.statusCode ?? null,
            // Kept as PostgreSQL can hold it: a NUL (a binary answer) failed the attempt's write.
            snippet: storableText(Buffer.concat(chunks).toString('utf8').slice(0, SNIPPET)) || null,
            error: null,
          });
          res.destroy();
        };
        answered = done;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= SNIPPET) done();
        });
        res.on('end', done);
        // Cut short (by the deadline, or the receiver): its status stands, with what came of its body.
        res.on('error', done);
        res.on('close', done);
      },
    );
    const deadline = setTimeout(
      () => req.destroy(new Error(`no answer within ${deps.timeoutMs} ms`)),
      deps.timeoutMs,
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${deps.timeoutMs} ms`)));
    req.on('error', (error) =>
      answered ? answered() : finish({ status: null, snippet: null, error: error.message }),
    );
    req.end(body);
  });
}
