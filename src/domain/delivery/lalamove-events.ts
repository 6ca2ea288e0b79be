/**
 * Lalamove's webhook events applied to our orders.
 *
 * Lalamove signs a delivery's timestamp and `data`, not its `eventType`, so the event type decides
 * nothing here: what happens follows from the signed data (an order id; a `prevOrderId` for a
 * replacement; a driver's details) and from Lalamove's own answer about that order. Every event
 * about an order of ours re-reads the order from Lalamove (GET /v3/orders/{id}) and takes its
 * status, share link, driver and price from that answer, so a delivery whose label was swapped or
 * whose data is stale cannot put an order in a state Lalamove does not report. Driver details
 * (name, phone, plate) come from the signed data when they are about the driver Lalamove reports.
 *
 * The webhook records each event once by its id (src/platform/provider-events.ts) and answers;
 * the `lalamove-event` job applies it here. Lalamove does not promise order, and a job may run
 * twice, so applying an event must be idempotent and must not move an order backwards. Both come
 * from the order's own state: a status only moves forward along
 * ASSIGNING_DRIVER → ON_GOING → PICKED_UP → a final status, and a final status is never left. A
 * redelivered or late event therefore changes nothing. The one step back is a driver giving the
 * order back (ON_GOING → ASSIGNING_DRIVER, no driver until another takes it): it is taken, and the
 * driver who left is cleared, but only from an answer read after the order was last written, since
 * two deliveries' reads may finish out of order (`progressFrom` in order.ts). An answer that lost
 * that race is not applied; Lalamove is asked again.
 *
 * Each order is updated under its row lock, so two deliveries about one order cannot interleave;
 * Lalamove is asked before the transaction, so no lock is held across the call. An event about an
 * order we do not know is ignored without asking Lalamove, unless an order of ours is still waiting
 * for its id (placement got no answer): then the quotation Lalamove says the order was booked from
 * is matched against ours, and a match adopts it.
 */
import { z } from 'zod';
import { type DeliveryOrder, Prisma } from '../../generated/prisma/client.ts';
import {
  type LalamoveClient,
  LalamoveError,
  type LalamoveOrder,
} from '../../integrations/lalamove/client.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import {
  finishProviderEvent,
  providerEventPayload,
  readProviderEvent,
} from '../../platform/provider-events.ts';
import { tellOfProgress } from './notices.ts';
import {
  type DriverView,
  detailsWanted,
  NOT_PLACED,
  PENDING_PREFIX,
  PLACEMENT_UNKNOWN,
  parseDriver,
  progressFrom,
  RANK,
  sameAmount,
} from './order.ts';

const text = z.string().optional().catch(undefined);
const eventSchema = z.object({
  eventId: z.string().catch(''),
  /** Not covered by Lalamove's signature: logged, never acted on. */
  eventType: z.string().catch(''),
  data: z
    .object({
      order: z
        .object({ orderId: z.string().min(1) })
        .catchall(z.unknown())
        .optional()
        .catch(undefined),
      driver: z
        .object({ driverId: z.string().min(1), name: text, phone: text, plateNumber: text })
        .optional()
        .catch(undefined),
      prevOrderId: text,
    })
    .catchall(z.unknown()),
});

export type LalamoveEvent = z.input<typeof eventSchema>;

export interface ApplyOptions {
  /**
   * Lalamove's current answer about an order (GET /v3/orders/{id}), or null when Lalamove does not
   * know it. Throws when Lalamove cannot be asked, so the delivery fails and is retried.
   */
  readOrder: (externalOrderId: string) => Promise<LalamoveOrder | null>;
  /**
   * Lalamove's details of the driver it reports on an order (GET /v3/orders/{id}/drivers/{driverId}),
   * asked when the event did not bring them and they are not stored yet; null when Lalamove could
   * not tell (they come with its DRIVER_ASSIGNED then). Without it, only the event's are taken.
   */
  readDriver?: (externalOrderId: string, driverId: string) => Promise<DriverView | null>;
  /** The clock NOT_PLACED orders are watched by (NOT_PLACED_WATCH_DAYS); the real one by default. */
  now?: () => Date;
  /**
   * An operator names this order as the one Lalamove booked (settle.ts): it is adopted by its
   * quotation even from a NOT_PLACED order past its watch, and without waiting for any.
   */
  operator?: boolean;
}

export type ApplyOutcome =
  /** `revived`: an order an operator had found no Lalamove order for was adopted after all. */
  | { outcome: 'applied'; orderId: string; revived?: true }
  | { outcome: 'duplicate'; orderId: string }
  | { outcome: 'ignored'; reason: 'unknown_event' | 'unknown_order' | 'unreadable' };

/**
 * Applies one Lalamove event the webhook recorded (src/platform/provider-events.ts). Lalamove not
 * answering throws, and the job runs again after its backoff; applying twice changes nothing.
 */
export const lalamoveEventTask = defineTask({ name: 'lalamove-event', schema: providerEventPayload });

/** Lalamove's answer about an order (`ApplyOptions.readOrder`), null for one it does not know. */
export function readOrderFrom(client: LalamoveClient): ApplyOptions['readOrder'] {
  return async (orderId) => {
    try {
      return await client.getOrder(orderId);
    } catch (error) {
      if (error instanceof LalamoveError && error.status === 404) return null;
      throw error;
    }
  };
}

/**
 * Applies the recorded event `id` and notes the outcome on it. Null when no such event was
 * recorded (nothing to do).
 */
export async function applyRecordedLalamoveEvent(
  db: Db,
  id: string,
  options: ApplyOptions,
): Promise<ApplyOutcome | null> {
  const event = await readProviderEvent(db, id);
  if (!event) return null;
  const result = await applyLalamoveEvent(db, event.payload as LalamoveEvent, options);
  await finishProviderEvent(
    db,
    id,
    result.outcome === 'ignored' ? `ignored:${result.reason}` : result.outcome,
  );
  return result;
}

/** Applies one verified webhook event. Never throws for the event's content. */
export async function applyLalamoveEvent(
  db: Db,
  event: LalamoveEvent,
  options: ApplyOptions,
): Promise<ApplyOutcome> {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) return { outcome: 'ignored', reason: 'unreadable' };
  const { data } = parsed.data;
  const orderId = data.order?.orderId;
  if (!orderId) return { outcome: 'ignored', reason: 'unknown_event' };

  // Customer service replaced the order with a new one: the signed data names both.
  if (data.prevOrderId) return replaceOrder(db, data.prevOrderId, orderId, options);

  const now = options.now?.() ?? new Date();
  const operator = options.operator === true;
  const reported = data.driver
    ? {
        driverId: data.driver.driverId,
        name: data.driver.name ?? null,
        phone: data.driver.phone ?? null,
        plateNumber: data.driver.plateNumber ?? null,
      }
    : undefined;
  for (let attempt = 1; ; attempt++) {
    const applied = await applyOnce(db, orderId, reported, options, { now, operator });
    if (applied) return applied;
    // Another delivery about this order was stored while Lalamove was asked, and this answer would
    // have undone it. Each round is a fresh read; should deliveries keep overtaking it, the job
    // fails and runs again after its backoff.
    if (attempt === READS_PER_EVENT) {
      throw new Error(`Lalamove order ${orderId} changed while it was read, ${attempt} times; trying later`);
    }
  }
}

/** How often one event reads its order from Lalamove before its job is left to retry. */
const READS_PER_EVENT = 3;

/**
 * Reads the order from Lalamove and applies the answer. Null when the answer would step the order
 * back or change its driver but the row was written after it was read (`progressFrom`).
 */
async function applyOnce(
  db: Db,
  orderId: string,
  reported: DriverView | undefined,
  options: ApplyOptions,
  context: { now: Date; operator: boolean },
): Promise<ApplyOutcome | null> {
  const { now, operator } = context;
  // Read before Lalamove is asked: a row written after this may hold a newer answer than ours.
  const before = await db.deliveryOrder.findUnique({
    where: { externalOrderId: orderId },
    select: { updatedAt: true, driver: true },
  });
  if (!before && !operator && !(await waitingForId(db, now)))
    return { outcome: 'ignored', reason: 'unknown_order' };
  const remote = await options.readOrder(orderId);
  if (!remote) return { outcome: 'ignored', reason: 'unknown_order' };
  // The driver's details, when the event did not bring them and none are stored (an order on its
  // way reported before its DRIVER_ASSIGNED): asked before the transaction, as the order was.
  const details =
    options.readDriver &&
    reported?.driverId !== remote.driverId &&
    detailsWanted(before?.driver ?? null, remote.driverId)
      ? ((await options.readDriver(orderId, remote.driverId)) ?? reported)
      : reported;

  return db.$transaction(async (tx) => {
    // Adopted in the transaction that brings it up to date: a retry after a failure here adopts
    // (and says it revived one) again.
    const adopted = before ? null : await adopt(tx, orderId, remote, { now, operator });
    const revived = adopted === NOT_PLACED;
    const current = await lockByExternalId(tx, orderId);
    if (!current) return { outcome: 'ignored', reason: 'unknown_order' } as const;

    // Our answer is the newest when nothing wrote the row since it was read (or we adopted it here).
    const fresh = before ? current.updatedAt.getTime() === before.updatedAt.getTime() : adopted !== null;
    const progress = progressFrom(current, remote, { fresh, ...(details ? { details } : {}) });
    if (!progress) return null;
    const changes: Prisma.DeliveryOrderUpdateInput = {};
    if (progress.status) changes.status = progress.status;
    if (progress.driver !== undefined)
      changes.driver = progress.driver ? { ...progress.driver } : Prisma.DbNull;
    if (remote.shareLink && remote.shareLink !== current.shareLink) changes.shareLink = remote.shareLink;
    const price = remote.priceBreakdown;
    if (price && (!sameAmount(price.total, current.priceTotal) || price.currency !== current.currency)) {
      changes.priceTotal = price.total;
      changes.currency = price.currency;
    }
    // An order adopted here changed (adopt wrote Lalamove's status), whatever is left to write.
    if (adopted === null && Object.keys(changes).length === 0)
      return { outcome: 'duplicate', orderId: current.id } as const;
    if (revived || Object.keys(changes).length > 0)
      await tx.deliveryOrder.update({ where: { id: current.id }, data: changes });
    // The person hears of a new driver, the pickup and the end, with the change (notices.ts); of
    // an order adopted here, against the status it had before (adopt wrote Lalamove's).
    await tellOfProgress(
      tx,
      adopted === null ? current : { ...current, status: adopted },
      {
        status: progress.status ?? current.status,
        driver: progress.driver !== undefined ? progress.driver : parseDriver(current.driver),
      },
      remote.shareLink || current.shareLink,
    );
    return revived
      ? ({ outcome: 'applied', orderId: current.id, revived: true } as const)
      : ({ outcome: 'applied', orderId: current.id } as const);
  });
}

async function lockByExternalId(tx: Tx, externalOrderId: string): Promise<DeliveryOrder | null> {
  const [row] = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM delivery_orders WHERE external_order_id = ${externalOrderId} FOR UPDATE`;
  return row ? tx.deliveryOrder.findUnique({ where: { id: row.id } }) : null;
}

/**
 * Whether an order of ours is still waiting for its Lalamove id: its placement got no answer, or
 * an operator found no order for it within the last NOT_PLACED_WATCH_DAYS (Lalamove's webhooks
 * come within minutes of a booking; a week covers a lost one redelivered).
 */
async function waitingForId(db: Db, now: Date): Promise<boolean> {
  const waiting = await db.deliveryOrder.count({
    where: {
      externalOrderId: { startsWith: PENDING_PREFIX },
      OR: [{ status: { not: NOT_PLACED } }, { updatedAt: { gt: watchedSince(now) } }],
    },
  });
  return waiting > 0;
}

/** How long an order settled as not booked is still matched to an order Lalamove reports. */
export const NOT_PLACED_WATCH_DAYS = 7;

function watchedSince(now: Date): Date {
  return new Date(now.getTime() - NOT_PLACED_WATCH_DAYS * 86_400_000);
}

/**
 * Matches a Lalamove order we did not know to one of ours still waiting for its id, by the
 * quotation Lalamove says it was booked from (one settled as not booked: within its watch, or
 * whenever an operator says so). Returns the status the adopted order had (null when none was
 * adopted). Lalamove's status, when it is one we know; else, for an order we took as not booked,
 * PLACEMENT_UNKNOWN (it exists, its state is to be read).
 */
async function adopt(
  tx: Tx,
  externalOrderId: string,
  remote: LalamoveOrder,
  options: { now: Date; operator: boolean },
): Promise<string | null> {
  if (!remote.quotationId) return null;
  const known = remote.status in RANK ? remote.status : null;
  const [adopted] = await tx.$queryRaw<{ was: string }[]>`
    WITH waiting AS (
      SELECT o.id, o.status FROM delivery_orders o JOIN delivery_quotes q ON q.id = o.quote_id
      WHERE q.external_quotation_id = ${remote.quotationId}
        AND o.external_order_id LIKE ${`${PENDING_PREFIX}%`}
        AND (o.status <> ${NOT_PLACED} OR o.updated_at > ${watchedSince(options.now)} OR ${options.operator})
      FOR UPDATE OF o
    )
    UPDATE delivery_orders o
    SET external_order_id = ${externalOrderId},
        status = COALESCE(${known}::text, CASE WHEN o.status = ${NOT_PLACED} THEN ${PLACEMENT_UNKNOWN} ELSE o.status END),
        updated_at = now()
    FROM waiting WHERE o.id = waiting.id
    RETURNING waiting.status AS was`;
  return adopted?.was ?? null;
}

/**
 * Follows a replacement: our order for `previous` becomes Lalamove's order `next`, in the state
 * Lalamove reports for it. A replacement Lalamove does not know of is not followed.
 */
async function replaceOrder(
  db: Db,
  previous: string,
  next: string,
  options: ApplyOptions,
): Promise<ApplyOutcome> {
  const [already, old] = await Promise.all([
    db.deliveryOrder.findUnique({ where: { externalOrderId: next }, select: { id: true } }),
    db.deliveryOrder.count({ where: { externalOrderId: previous } }),
  ]);
  if (already) return { outcome: 'duplicate', orderId: already.id };
  if (!old) return { outcome: 'ignored', reason: 'unknown_order' };
  const remote = await options.readOrder(next);
  if (!remote) return { outcome: 'ignored', reason: 'unknown_order' };
  return db.$transaction(async (tx) => {
    const again = await lockByExternalId(tx, next);
    if (again) return { outcome: 'duplicate', orderId: again.id } as const;
    const current = await lockByExternalId(tx, previous);
    if (!current) return { outcome: 'ignored', reason: 'unknown_order' } as const;
    const status = remote.status in RANK ? remote.status : 'ASSIGNING_DRIVER';
    // The same driver keeps the details stored for them (and is not announced again).
    const stored = parseDriver(current.driver);
    const driver = remote.driverId
      ? stored?.driverId === remote.driverId
        ? stored
        : { driverId: remote.driverId, name: null, phone: null, plateNumber: null }
      : null;
    await tx.deliveryOrder.update({
      where: { id: current.id },
      data: {
        externalOrderId: next,
        status,
        driver: driver ? { ...driver } : Prisma.DbNull,
        ...(remote.shareLink ? { shareLink: remote.shareLink } : {}),
        ...(remote.priceBreakdown
          ? { priceTotal: remote.priceBreakdown.total, currency: remote.priceBreakdown.currency }
          : {}),
      },
    });
    // The new order's driver is named once Lalamove gives the name (its DRIVER_ASSIGNED).
    await tellOfProgress(tx, current, { status, driver }, remote.shareLink || current.shareLink);
    return { outcome: 'applied', orderId: current.id } as const;
  });
}
