/**
 * Lalamove's webhook events applied to our orders.
 *
 * Lalamove retries a delivery until it gets a 200 (for up to a day) and does not promise order,
 * so applying an event must be idempotent and must not move an order backwards. Without a table
 * of seen event ids, both come from the order's own state: a status only moves forward along
 * ASSIGNING_DRIVER → ON_GOING → PICKED_UP → a final status, and a final status is never left. A
 * redelivered or late event therefore changes nothing. (A driver who gives the order back sends it
 * from ON_GOING to ASSIGNING_DRIVER; that step back is picked up from Lalamove's GET, which
 * `deliveryStatus` treats as the truth, rather than from a webhook that may be stale.)
 *
 * Each order is updated under its row lock, so two deliveries about one order cannot interleave.
 * An event about an order we do not know is ignored, unless an order of ours is still waiting for
 * its id (placement got no answer): then Lalamove is asked which quotation the order was booked
 * from, and a match adopts it.
 */
import { z } from 'zod';
import { type DeliveryOrder, Prisma } from '../../generated/prisma/client.ts';
import type { Db, Tx } from '../../platform/db.ts';
import { PENDING_PREFIX, PLACEMENT_UNKNOWN, PLACING, parseDriver, TERMINAL_STATUSES } from './order.ts';

const RANK: Record<string, number> = {
  [PLACING]: 0,
  [PLACEMENT_UNKNOWN]: 0,
  ASSIGNING_DRIVER: 1,
  ON_GOING: 2,
  PICKED_UP: 3,
  COMPLETED: 4,
  CANCELED: 4,
  REJECTED: 4,
  EXPIRED: 4,
};

const text = z.string().optional().catch(undefined);
const eventSchema = z.object({
  eventId: z.string().catch(''),
  eventType: z.string(),
  data: z
    .object({
      order: z
        .object({
          orderId: z.string().min(1),
          status: text,
          shareLink: text,
          driverId: text,
          quotationId: text,
          price: z
            .object({ total: text, totalPrice: text, currency: text })
            .partial()
            .optional()
            .catch(undefined),
        })
        .optional(),
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
   * Asks Lalamove about an order we do not know (GET /v3/orders/{id}); used only while an order of
   * ours is waiting for its id.
   */
  lookupOrder?: (externalOrderId: string) => Promise<{ quotationId?: string; status: string } | null>;
}

export type ApplyOutcome =
  | { outcome: 'applied'; orderId: string }
  | { outcome: 'duplicate'; orderId: string }
  | { outcome: 'ignored'; reason: 'unknown_event' | 'unknown_order' | 'unreadable' };

/** Applies one verified webhook event. Never throws for the event's content. */
export async function applyLalamoveEvent(
  db: Db,
  event: LalamoveEvent,
  options: ApplyOptions = {},
): Promise<ApplyOutcome> {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success) return { outcome: 'ignored', reason: 'unreadable' };
  const { eventType, data } = parsed.data;
  const order = data.order;
  if (!order) return { outcome: 'ignored', reason: 'unknown_event' };

  if (eventType === 'ORDER_REPLACED') {
    // Customer service replaced the order with a new one: ours follows the new id.
    return replaceOrder(db, data.prevOrderId, order.orderId, order.status);
  }

  // An order of ours still waiting for its id may be this one; adopting it asks Lalamove, which
  // happens before the transaction so no lock is held across the call.
  const known = await db.deliveryOrder.count({ where: { externalOrderId: order.orderId } });
  if (!known) await adopt(db, order.orderId, order.quotationId, options);

  return db.$transaction(async (tx) => {
    const current = await lockByExternalId(tx, order.orderId);
    if (!current) return { outcome: 'ignored', reason: 'unknown_order' } as const;

    const changes: Prisma.DeliveryOrderUpdateInput = {};
    const status = order.status;
    if (
      status &&
      status in RANK &&
      !TERMINAL_STATUSES.includes(current.status) &&
      RANK[status]! > (RANK[current.status] ?? 0)
    ) {
      changes.status = status;
    }
    if (order.shareLink && order.shareLink !== current.shareLink) changes.shareLink = order.shareLink;
    const stored = parseDriver(current.driver);
    const reported = data.driver;
    if (reported) {
      const driver = {
        driverId: reported.driverId,
        name: reported.name ?? null,
        phone: reported.phone ?? null,
        plateNumber: reported.plateNumber ?? null,
      };
      if (JSON.stringify(driver) !== JSON.stringify(stored)) changes.driver = driver;
    } else if (order.driverId && order.driverId !== stored?.driverId) {
      changes.driver = { driverId: order.driverId, name: null, phone: null, plateNumber: null };
    }
    if (eventType === 'ORDER_AMOUNT_CHANGED') {
      const total = order.price?.total ?? order.price?.totalPrice;
      if (total && total !== current.priceTotal) changes.priceTotal = total;
      if (order.price?.currency && order.price.currency !== current.currency)
        changes.currency = order.price.currency;
    }
    if (Object.keys(changes).length === 0) return { outcome: 'duplicate', orderId: current.id } as const;
    await tx.deliveryOrder.update({ where: { id: current.id }, data: changes });
    return { outcome: 'applied', orderId: current.id } as const;
  });
}

async function lockByExternalId(tx: Tx, externalOrderId: string): Promise<DeliveryOrder | null> {
  const [row] = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM delivery_orders WHERE external_order_id = ${externalOrderId} FOR UPDATE`;
  return row ? tx.deliveryOrder.findUnique({ where: { id: row.id } }) : null;
}

/**
 * Matches an unknown Lalamove order to one of ours still waiting for its id (placement got no
 * answer), by the quotation it was booked from. True when one was adopted.
 */
async function adopt(
  db: Db,
  externalOrderId: string,
  quotationId: string | undefined,
  options: ApplyOptions,
): Promise<boolean> {
  const waiting = await db.deliveryOrder.count({
    where: { externalOrderId: { startsWith: PENDING_PREFIX } },
  });
  if (!waiting) return false;
  let quotation = quotationId;
  let status: string | undefined;
  if (!quotation && options.lookupOrder) {
    const found = await options.lookupOrder(externalOrderId).catch(() => null);
    quotation = found?.quotationId;
    status = found?.status;
  }
  if (!quotation) return false;
  const known = status && status in RANK ? status : null;
  const adopted = await db.$executeRaw`
    UPDATE delivery_orders o
    SET external_order_id = ${externalOrderId}, status = COALESCE(${known}::text, o.status), updated_at = now()
    FROM delivery_quotes q
    WHERE q.id = o.quote_id AND q.external_quotation_id = ${quotation}
      AND o.external_order_id LIKE ${`${PENDING_PREFIX}%`}`;
  return adopted > 0;
}

async function replaceOrder(
  db: Db,
  previous: string | undefined,
  next: string,
  status: string | undefined,
): Promise<ApplyOutcome> {
  return db.$transaction(async (tx) => {
    const already = await lockByExternalId(tx, next);
    if (already) return { outcome: 'duplicate', orderId: already.id } as const;
    const old = previous ? await lockByExternalId(tx, previous) : null;
    if (!old) return { outcome: 'ignored', reason: 'unknown_order' } as const;
    await tx.deliveryOrder.update({
      where: { id: old.id },
      data: {
        externalOrderId: next,
        status: status && status in RANK ? status : 'ASSIGNING_DRIVER',
        driver: Prisma.DbNull,
      },
    });
    return { outcome: 'applied', orderId: old.id } as const;
  });
}
