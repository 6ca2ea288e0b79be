/**
 * Deliveries Lalamove has not confirmed, settled by an operator.
 *
 * An order is left unplaced when its placement got no answer (PLACEMENT_UNKNOWN: Lalamove may
 * have booked it) or the process died between claiming the quote and asking Lalamove (PLACING:
 * it may or may not have asked). Lalamove's webhook settles most of them by itself, naming an
 * order booked from the quote's quotation (lalamove-events.ts). When it never does (Lalamove
 * booked nothing, or the webhook was lost), only someone who looks in Lalamove's dashboard for
 * the quotation can say which: `unplacedDeliveries` lists what waits, with the quotation to look
 * for, and `settleDeliveryOrder` records what they found:
 *
 * - **booked**, with Lalamove's order id: the order is read from Lalamove, must have been booked
 *   from this quote's quotation, and is adopted exactly as its webhook would have adopted it
 *   (status, share link, driver and price from Lalamove's answer);
 * - **not booked**: the order is kept as NOT_PLACED, which the person sees (they ask for a new
 *   quote; this one has expired by then), and its confirmation stays spent. It is still matched
 *   for a week: should Lalamove report an order of its quotation after all (a dashboard that lagged,
 *   a webhook redelivered late), it is adopted and the worker logs an error; after that, only an
 *   operator naming the order adopts it. Retention deletes it, with its quote, 30 days after.
 *
 * An order younger than SETTLE_AFTER_MS is refused: its placement may still be in flight.
 */
import { LalamoveError, type LalamoveOrder } from '../../integrations/lalamove/client.ts';
import type { Db } from '../../platform/db.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/uuid.ts';
import type { DeliveryDeps } from './deps.ts';
import { applyLalamoveEvent, readOrderFrom } from './lalamove-events.ts';
import { NOT_PLACED, PENDING_PREFIX, PLACEMENT_UNKNOWN, PLACING } from './order.ts';

/** How old an unplaced order must be before an operator may settle it (a placement takes 10 s at most). */
export const SETTLE_AFTER_MS = 5 * 60_000;

export interface UnplacedDelivery {
  id: string;
  status: typeof PLACING | typeof PLACEMENT_UNKNOWN;
  /** The quotation to look for in Lalamove's dashboard. */
  quotationId: string;
  /** The price the person confirmed. */
  priceTotal: string;
  currency: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A page of unplaced orders, oldest first; `after`/`before` are cursors (`unplacedCursor`). */
export interface UnplacedPage {
  after?: string;
  before?: string;
  limit: number;
  inverted?: boolean;
}

const UNPLACED = {
  externalOrderId: { startsWith: PENDING_PREFIX },
  status: { in: [PLACING, PLACEMENT_UNKNOWN] },
};

/** An unplaced order's place in the list (when it was claimed, then its id): valid after it is settled. */
export function unplacedCursor(order: Pick<UnplacedDelivery, 'createdAt' | 'id'>): string {
  return `${order.createdAt.toISOString()}|${order.id}`;
}

function parseCursor(cursor: string, field: string): { createdAt: Date; id: string } {
  const [at = '', id = ''] = cursor.split('|');
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || !isUuid(id)) {
    throw new ValidationError('This is not a cursor of this list', field);
  }
  return { createdAt, id };
}

/** Orders still waiting for Lalamove's word, oldest first. */
export async function unplacedDeliveries(db: Db, page: UnplacedPage): Promise<UnplacedDelivery[]> {
  const after = page.after ? parseCursor(page.after, 'after') : null;
  const before = page.before ? parseCursor(page.before, 'before') : null;
  const rows = await db.deliveryOrder.findMany({
    where: {
      ...UNPLACED,
      AND: [
        after
          ? {
              OR: [
                { createdAt: { gt: after.createdAt } },
                { createdAt: after.createdAt, id: { gt: after.id } },
              ],
            }
          : {},
        before
          ? {
              OR: [
                { createdAt: { lt: before.createdAt } },
                { createdAt: before.createdAt, id: { lt: before.id } },
              ],
            }
          : {},
      ],
    },
    orderBy: page.inverted ? [{ createdAt: 'desc' }, { id: 'desc' }] : [{ createdAt: 'asc' }, { id: 'asc' }],
    take: page.limit,
    include: { quote: { select: { externalQuotationId: true } } },
  });
  return rows.map(toUnplaced);
}

/** The unplaced orders with these ids, in no order. */
export async function unplacedDeliveriesById(db: Db, ids: readonly string[]): Promise<UnplacedDelivery[]> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return [];
  const rows = await db.deliveryOrder.findMany({
    where: { id: { in: valid }, ...UNPLACED },
    include: { quote: { select: { externalQuotationId: true } } },
  });
  return rows.map(toUnplaced);
}

export interface SettleInput {
  orderId: string;
  /** Lalamove's order booked from the quote's quotation; null with `notBooked`. */
  lalamoveOrderId?: string | null;
  /** Lalamove booked nothing for the quotation. */
  notBooked?: boolean | null;
}

/**
 * Records what an operator found at Lalamove for an unplaced order (see the module's comment).
 * Returns the order's id and where it stands: Lalamove's status, or NOT_PLACED.
 */
export async function settleDeliveryOrder(
  deps: DeliveryDeps,
  input: SettleInput,
): Promise<{ orderId: string; status: string }> {
  const lalamoveOrderId = input.lalamoveOrderId?.trim() || null;
  if (Boolean(lalamoveOrderId) === Boolean(input.notBooked)) {
    throw new ValidationError(
      'Give either the Lalamove order booked from the quotation, or notBooked when there is none',
      lalamoveOrderId ? 'notBooked' : 'lalamoveOrderId',
    );
  }
  const order = isUuid(input.orderId)
    ? await deps.db.deliveryOrder.findUnique({ where: { id: input.orderId }, include: { quote: true } })
    : null;
  if (!order) throw new NotFoundError('No such delivery order');
  if (!order.externalOrderId.startsWith(PENDING_PREFIX)) {
    throw new ConflictError(`This delivery is already placed: Lalamove order ${order.externalOrderId}`);
  }
  if (deps.now().getTime() - order.createdAt.getTime() < SETTLE_AFTER_MS) {
    throw new ConflictError(
      `This delivery may still be being placed; settle it ${SETTLE_AFTER_MS / 60_000} minutes after it was ordered at the earliest`,
    );
  }

  if (!lalamoveOrderId) {
    if (order.status === NOT_PLACED)
      throw new ConflictError('This delivery is already settled as not booked');
    const { count } = await deps.db.deliveryOrder.updateMany({
      where: { id: order.id, externalOrderId: order.externalOrderId, status: order.status },
      data: { status: NOT_PLACED },
    });
    if (count === 0) throw new ConflictError('Lalamove reported this delivery meanwhile: look again');
    deps.logger?.warn({ 'delivery.order': order.id }, 'an unplaced delivery was settled as not booked');
    return { orderId: order.id, status: NOT_PLACED };
  }

  if (!deps.lalamove) throw new ConflictError('Lalamove is not connected here');
  const readOrder = readOrderFrom(deps.lalamove);
  let remote: LalamoveOrder | null;
  try {
    remote = await readOrder(lalamoveOrderId);
  } catch (error) {
    if (!(error instanceof LalamoveError)) throw error;
    throw new ConflictError(`Lalamove did not answer (${error.message}); try again`);
  }
  if (!remote) throw new ValidationError(`Lalamove has no order ${lalamoveOrderId}`, 'lalamoveOrderId');
  if (remote.quotationId !== order.quote.externalQuotationId) {
    throw new ValidationError(
      `Lalamove's order ${lalamoveOrderId} was booked from another quotation, not ${order.quote.externalQuotationId}`,
      'lalamoveOrderId',
    );
  }
  const taken = await deps.db.deliveryOrder.findUnique({ where: { externalOrderId: lalamoveOrderId } });
  if (taken && taken.id !== order.id) {
    throw new ConflictError(`Lalamove's order ${lalamoveOrderId} is already another delivery's`);
  }
  // As its webhook would: adopted by the quotation, then brought to what Lalamove reports.
  await applyLalamoveEvent(
    deps.db,
    {
      eventId: `operator:${order.id}`,
      eventType: 'SETTLED_BY_OPERATOR',
      data: { order: { orderId: lalamoveOrderId } },
    },
    { readOrder: async () => remote, now: deps.now, operator: true },
  );
  const settled = await deps.db.deliveryOrder.findUnique({ where: { id: order.id } });
  if (!settled)
    throw new ConflictError(
      'This delivery was deleted meanwhile (30 days after it was settled as not booked)',
    );
  if (settled.externalOrderId !== lalamoveOrderId) {
    throw new ConflictError('Lalamove reported this delivery meanwhile under another order');
  }
  deps.logger?.warn(
    { 'delivery.order': order.id, 'lalamove.order': lalamoveOrderId },
    'an unplaced delivery was settled as booked',
  );
  return { orderId: order.id, status: settled.status };
}

function toUnplaced(row: {
  id: string;
  status: string;
  priceTotal: string;
  currency: string;
  createdAt: Date;
  updatedAt: Date;
  quote: { externalQuotationId: string };
}): UnplacedDelivery {
  return {
    id: row.id,
    status: row.status === PLACING ? PLACING : PLACEMENT_UNKNOWN,
    quotationId: row.quote.externalQuotationId,
    priceTotal: row.priceTotal,
    currency: row.currency,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
