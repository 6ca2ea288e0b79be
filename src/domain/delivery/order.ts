/**
 * Booking a confirmed quote with Lalamove, and the order's life after that.
 *
 * `confirmDelivery` is the only code that places an order. It does so in three steps, because
 * Lalamove documents no idempotency key (a retried POST /v3/orders may book twice) and a network
 * call must not run inside a transaction that holds locks:
 *
 * 1. Claim, in one transaction: lock the quote's confirmation (`SELECT … FOR UPDATE`), check it
 *    (this person's, released by their own message, unused, unexpired, same price and currency as
 *    the quote), mark it used and insert the order as PLACING. Concurrent calls queue on the lock
 *    and then find it used; the unique `quote_id` of delivery_orders is a second guard. Nothing has
 *    been booked yet, so a crash here loses nothing.
 * 2. Ask Lalamove to place the order, once. Never retried.
 * 3. Record the answer. Placed: the PLACING row gets Lalamove's order id, status and tracking link.
 *    Refused (a 4xx, so certainly not booked): the row is removed and the confirmation is released
 *    again (still only for this quote and price, and still expiring), so the person's confirmation
 *    is not wasted. No answer, a timeout or a 5xx: Lalamove may have booked it, so the row stays as
 *    PLACEMENT_UNKNOWN and the confirmation stays used: nothing can book the quote a second time.
 *    When Lalamove's webhook later reports an order we do not know, it is matched to that row by
 *    its quotation (events.ts), so a booked delivery is not lost either.
 */
import { type DeliveryOrder, type DeliveryQuote, Prisma } from '../../generated/prisma/client.ts';
import {
  type LalamoveClient,
  LalamoveError,
  type LalamoveOrder,
} from '../../integrations/lalamove/client.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { isUuid } from '../../platform/uuid.ts';
import { type DeliveryDeps, requireLalamove } from './deps.ts';
import { DeliveryError } from './errors.ts';
import { lalamoveFailure, storedStops } from './quote.ts';

/** Our own statuses, before Lalamove has given the order an id. */
export const PLACING = 'PLACING';
export const PLACEMENT_UNKNOWN = 'PLACEMENT_UNKNOWN';
/**
 * An operator found no Lalamove order for it (src/domain/delivery/settle.ts). Not final: an order
 * Lalamove reports for its quotation later is still adopted.
 */
export const NOT_PLACED = 'NOT_PLACED';
/** Lalamove's final statuses: nothing follows them. */
export const TERMINAL_STATUSES: readonly string[] = ['COMPLETED', 'CANCELED', 'REJECTED', 'EXPIRED'];

/**
 * How far an order has gone: its status moves to a higher rank and never leaves a final one, with
 * one exception, a driver giving the order back (see `progressFrom`). Any other lower status in
 * Lalamove's answer is an old answer (its webhooks and our reads do not arrive in order).
 */
export const RANK: Record<string, number> = {
  [PLACING]: 0,
  [PLACEMENT_UNKNOWN]: 0,
  [NOT_PLACED]: 0,
  ASSIGNING_DRIVER: 1,
  ON_GOING: 2,
  PICKED_UP: 3,
  COMPLETED: 4,
  CANCELED: 4,
  REJECTED: 4,
  EXPIRED: 4,
};
/** The external id a PLACING row holds until Lalamove's is known (the column is unique and required). */
export const PENDING_PREFIX = 'pending:';

export interface DriverView {
  driverId: string;
  name: string | null;
  phone: string | null;
  plateNumber: string | null;
}

export interface DeliveryView {
  quoteId: string;
  /** Our id of the order; null while the quote is not booked. */
  orderId: string | null;
  /**
   * Before booking: AWAITING_CONFIRMATION, CONFIRMED (the person confirmed; confirm_delivery books
   * it), QUOTE_EXPIRED. Then PLACING, PLACEMENT_UNKNOWN, NOT_PLACED (Lalamove booked nothing: get a
   * new quote), or Lalamove's: ASSIGNING_DRIVER, ON_GOING,
   * PICKED_UP, COMPLETED, CANCELED, REJECTED, EXPIRED.
   */
  status: string;
  priceTotal: string;
  currency: string;
  pickup: { address: string };
  dropoff: { address: string };
  /** Lalamove's live tracking page. */
  shareLink: string | null;
  driver: DriverView | null;
  updatedAt: Date;
}

/**
 * The `confirm_delivery` tool: books the quote with Lalamove if, and only if, this person
 * released its confirmation with their own message. Every refusal is a DeliveryError whose code
 * says why (NO_QUOTE, NOT_YOURS, NOT_CONFIRMED, EXPIRED, ALREADY_USED, PRICE_CHANGED).
 */
export async function confirmDelivery(
  deps: DeliveryDeps,
  userId: string,
  input: { quoteId: string },
): Promise<DeliveryView> {
  // Before the claim, so a deployment without Lalamove spends no confirmation.
  const client = requireLalamove(deps);
  const now = deps.now();

  const claim = await deps.db.$transaction(async (tx) => {
    const quote = isUuid(input.quoteId)
      ? await tx.deliveryQuote.findUnique({ where: { id: input.quoteId } })
      : null;
    if (!quote) throw new DeliveryError('NO_QUOTE', 'There is no such delivery quote; get a quote first.');
    if (quote.userId !== userId) {
      throw new DeliveryError('NOT_YOURS', 'That delivery quote belongs to someone else.');
    }
    const [locked] = await tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM confirmations
      WHERE quote_id = ${quote.id}::uuid AND user_id = ${userId}::uuid
      ORDER BY created_at DESC
      LIMIT 1
      FOR UPDATE`;
    const confirmation = locked
      ? await tx.confirmation.findUniqueOrThrow({ where: { id: locked.id } })
      : null;
    if (!confirmation) throw notConfirmed();
    // Read after the lock: a concurrent caller that got here first has committed by now.
    const existing = await tx.deliveryOrder.findUnique({ where: { quoteId: quote.id } });
    if (existing?.status === NOT_PLACED) {
      throw new DeliveryError(
        'EXPIRED',
        'Lalamove never booked this quote, and it can no longer be: get a new quote and ask the person to confirm that one.',
      );
    }
    if (confirmation.usedAt || existing) {
      throw new DeliveryError(
        'ALREADY_USED',
        'This quote has already been booked; it cannot be booked twice.',
      );
    }
    if (confirmation.expiresAt <= now || quote.expiresAt <= now) {
      throw new DeliveryError(
        'EXPIRED',
        'The time to confirm this quote has run out; get a new quote and ask the person to confirm that one.',
      );
    }
    if (!confirmation.confirmedAt) throw notConfirmed();
    if (confirmation.priceTotal !== quote.priceTotal || confirmation.currency !== quote.currency) {
      throw new DeliveryError(
        'PRICE_CHANGED',
        `The price is now ${quote.priceTotal} ${quote.currency}, not the ${confirmation.priceTotal} ${confirmation.currency} the person confirmed; get a new quote for them to confirm.`,
      );
    }
    await tx.confirmation.update({ where: { id: confirmation.id }, data: { usedAt: now } });
    const order = await tx.deliveryOrder.create({
      data: {
        quoteId: quote.id,
        userId,
        externalOrderId: `${PENDING_PREFIX}${confirmation.id}`,
        status: PLACING,
        // The confirmed price, which is the quote's (checked just above).
        priceTotal: quote.priceTotal,
        currency: quote.currency,
      },
    });
    return { quote, order, confirmation };
  });

  const { quote, confirmation } = claim;
  const [pickup, dropoff] = storedStops.parse(quote.stops);
  let placed: LalamoveOrder;
  try {
    placed = await client.placeOrder({
      quotationId: quote.externalQuotationId,
      sender: { stopId: pickup!.stopId, name: pickup!.contact.name, phone: pickup!.contact.phone },
      recipients: [
        {
          stopId: dropoff!.stopId,
          name: dropoff!.contact.name,
          phone: dropoff!.contact.phone,
          ...(dropoff!.remarks ? { remarks: dropoff!.remarks } : {}),
        },
      ],
    });
  } catch (error) {
    if (error instanceof LalamoveError && error.refused) {
      await deps.db.$transaction([
        deps.db.deliveryOrder.delete({ where: { id: claim.order.id } }),
        deps.db.confirmation.update({ where: { id: confirmation.id }, data: { usedAt: null } }),
      ]);
      throw lalamoveFailure(error, 'book');
    }
    await deps.db.deliveryOrder.update({
      where: { id: claim.order.id },
      data: { status: PLACEMENT_UNKNOWN },
    });
    deps.logger?.error(
      { err: error, 'delivery.quote': quote.id, 'delivery.order': claim.order.id },
      'Lalamove did not confirm an order placement; it will be matched when its webhook arrives',
    );
    throw new DeliveryError(
      'PLACEMENT_UNKNOWN',
      'Lalamove did not confirm whether the delivery was booked. Do not try again: ask for its status in a few minutes instead.',
    );
  }

  const order = await recordPlacement(deps, claim.order.id, placed);
  const charged = placed.priceBreakdown;
  if (charged && (!sameAmount(charged.total, quote.priceTotal) || charged.currency !== quote.currency)) {
    // Lalamove guarantees a quotation's price while it is valid, so this should not happen; if it
    // does, the person did not agree to this price, and the order is cancelled at once.
    let cancelled = false;
    try {
      await client.cancelOrder(placed.orderId);
      await deps.db.deliveryOrder.update({ where: { id: order.id }, data: { status: 'CANCELED' } });
      cancelled = true;
    } catch (error) {
      deps.logger?.error(
        { err: error, 'delivery.order': order.id },
        'could not cancel an order with a changed price',
      );
    }
    const was = `${quote.priceTotal} ${quote.currency}`;
    const is = `${charged.total} ${charged.currency}`;
    throw new DeliveryError(
      'PRICE_CHANGED',
      cancelled
        ? `Lalamove wanted ${is} instead of the confirmed ${was}, so the booking was cancelled at once. Get a new quote for the person to confirm.`
        : `Lalamove booked it for ${is} instead of the confirmed ${was} and would not let me cancel it; tell the person: the order stands at that price unless they cancel it with Lalamove.`,
    );
  }
  return view(quote, order);
}

function notConfirmed() {
  return new DeliveryError(
    'NOT_CONFIRMED',
    'The person has not confirmed this quote yet. Ask them to press the Confirm button or send the CONFIRM code shown with the quote; only their own message counts.',
  );
}

/**
 * Stores Lalamove's answer on the PLACING row, unless a webhook got there first (it may, since
 * Lalamove reports new orders at once): then its newer status is kept.
 */
async function recordPlacement(
  deps: DeliveryDeps,
  id: string,
  placed: LalamoveOrder,
): Promise<DeliveryOrder> {
  return deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM delivery_orders WHERE id = ${id}::uuid FOR UPDATE`;
    const current = await tx.deliveryOrder.findUniqueOrThrow({ where: { id } });
    const adopted = !current.externalOrderId.startsWith(PENDING_PREFIX);
    return tx.deliveryOrder.update({
      where: { id },
      data: {
        externalOrderId: placed.orderId,
        ...(adopted ? {} : { status: placed.status }),
        shareLink: current.shareLink ?? (placed.shareLink || null),
        ...(!current.driver && placed.driverId ? { driver: { driverId: placed.driverId } } : {}),
        ...(placed.priceBreakdown
          ? { priceTotal: placed.priceBreakdown.total, currency: placed.priceBreakdown.currency }
          : {}),
      },
    });
  });
}

/**
 * What Lalamove's answer about an order changes in its status and driver (callers add the rest).
 *
 * The status moves forward only, except for the one step back Lalamove takes: a driver gives the
 * order back (or is changed), and it goes from ON_GOING to ASSIGNING_DRIVER while Lalamove looks
 * for another. Nobody has an order at ASSIGNING_DRIVER, so the driver who left is no longer shown
 * (Lalamove's tracking page is the order's and stays); the next driver has a new id and is shown
 * when Lalamove reports them. An older answer (a lower status otherwise) changes neither.
 *
 * An answer may have been read before another one, newer, was stored: Lalamove does not promise
 * order, and two webhook jobs or a webhook and a status read may overlap. Moving forward is safe
 * regardless, but stepping back or changing the driver is not (a stale "no driver" would hide the
 * new driver, a stale "driver A" would bring back one who left). Those are taken only from an
 * answer read after the order was last written (`fresh`); otherwise this returns null, and the
 * caller asks Lalamove again or shows what is stored.
 *
 * `details` are the reported driver's name, phone and plate, used when they are about the driver
 * Lalamove reports.
 */
export function progressFrom(
  current: Pick<DeliveryOrder, 'status' | 'driver'>,
  remote: Pick<LalamoveOrder, 'status' | 'driverId'>,
  options: { fresh: boolean; details?: DriverView },
): { status?: string; driver?: DriverView | null } | null {
  const rank = RANK[remote.status];
  const storedRank = RANK[current.status] ?? 0;
  const givenBack = current.status === 'ON_GOING' && remote.status === 'ASSIGNING_DRIVER';
  const forward = rank !== undefined && !TERMINAL_STATUSES.includes(current.status) && rank > storedRank;
  const older = rank !== undefined && rank < storedRank && !givenBack;
  const status = forward || givenBack ? remote.status : current.status;

  const stored = parseDriver(current.driver);
  let driver: DriverView | null | undefined; // undefined: the stored one stays
  if (older) driver = undefined;
  else if (status === 'ASSIGNING_DRIVER') driver = null;
  else if (remote.driverId) {
    driver =
      options.details?.driverId === remote.driverId
        ? options.details
        : stored?.driverId === remote.driverId
          ? stored
          : { driverId: remote.driverId, name: null, phone: null, plateNumber: null };
  }

  const changes: { status?: string; driver?: DriverView | null } = {};
  if (status !== current.status) changes.status = status;
  if (driver !== undefined && JSON.stringify(driver) !== JSON.stringify(stored)) changes.driver = driver;
  const otherDriver =
    changes.driver !== undefined && (changes.driver?.driverId ?? null) !== (stored?.driverId ?? null);
  if ((givenBack || otherDriver) && !options.fresh) return null;
  return changes;
}

/** Where a delivery stands: a quote not yet booked, or the order (refreshed from Lalamove when it can). */
export async function deliveryStatus(
  deps: DeliveryDeps,
  userId: string,
  input: { orderId?: string | null; quoteId?: string | null },
): Promise<DeliveryView> {
  const found = await findDelivery(deps, userId, input);
  if (!found.order) return quoteView(deps, found.quote);
  let order = found.order;
  const live = !order.externalOrderId.startsWith(PENDING_PREFIX) && !TERMINAL_STATUSES.includes(order.status);
  if (live && deps.lalamove) {
    // Lalamove's answer is the truth (webhooks can arrive late or out of order); when it does not
    // answer, the stored state is shown.
    try {
      const current = await deps.lalamove.getOrder(order.externalOrderId);
      const details = await driverOf(deps, order, current);
      const read = order;
      // Under the row's lock, as a webhook writes it: an answer older than what a webhook stored
      // meanwhile (a final status above all) changes nothing, and one read before a webhook wrote
      // the row neither steps it back nor changes its driver (`progressFrom`): what is stored is
      // shown, and the webhook's own re-read of the order brings it up to date.
      order = await deps.db.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT id FROM delivery_orders WHERE id = ${read.id}::uuid FOR UPDATE`;
        const stored = await tx.deliveryOrder.findUniqueOrThrow({ where: { id: read.id } });
        if (TERMINAL_STATUSES.includes(stored.status)) return stored;
        const fresh = stored.updatedAt.getTime() === read.updatedAt.getTime();
        const progress = progressFrom(stored, current, { fresh, ...(details ? { details } : {}) });
        if (!progress) return stored;
        const data: Prisma.DeliveryOrderUpdateInput = {};
        if (progress.status) data.status = progress.status;
        if (progress.driver !== undefined)
          data.driver = progress.driver ? { ...progress.driver } : Prisma.DbNull;
        if (current.shareLink && current.shareLink !== stored.shareLink) data.shareLink = current.shareLink;
        // Nothing written when nothing changed, so a read does not make a webhook's answer look stale.
        if (Object.keys(data).length === 0) return stored;
        return tx.deliveryOrder.update({ where: { id: read.id }, data });
      });
    } catch (error) {
      deps.logger?.warn({ err: error, 'delivery.order': order.id }, 'could not refresh a Lalamove order');
    }
  }
  return view(found.quote, order);
}

/** The details of the driver Lalamove reports; undefined when none, or when they are stored already. */
async function driverOf(
  deps: DeliveryDeps,
  order: DeliveryOrder,
  current: LalamoveOrder,
): Promise<DriverView | undefined> {
  if (!detailsWanted(order.driver, current.driverId)) return undefined;
  return (
    (await readDriverFrom(deps.lalamove!)(order.externalOrderId, current.driverId)) ?? {
      driverId: current.driverId,
      name: null,
      phone: null,
      plateNumber: null,
    }
  );
}

/** Whether Lalamove is to be asked about `driverId`: a driver it reports whose name is not stored. */
export function detailsWanted(
  stored: Prisma.JsonValue | null,
  driverId: string | null | undefined,
): driverId is string {
  if (!driverId) return false;
  const driver = parseDriver(stored);
  return !(driver?.driverId === driverId && driver.name);
}

/** Lalamove's details of a driver on an order; null when it could not tell. */
export function readDriverFrom(
  client: LalamoveClient,
): (externalOrderId: string, driverId: string) => Promise<DriverView | null> {
  return async (orderId, driverId) => {
    try {
      const driver = await client.getDriver(orderId, driverId);
      return {
        driverId: driver.driverId,
        name: driver.name ?? null,
        phone: driver.phone ?? null,
        plateNumber: driver.plateNumber ?? null,
      };
    } catch {
      return null;
    }
  };
}

/** Cancels a booked delivery (Lalamove allows it until shortly after a driver is matched). */
export async function cancelDelivery(
  deps: DeliveryDeps,
  userId: string,
  input: { orderId?: string | null; quoteId?: string | null },
): Promise<DeliveryView> {
  const client = requireLalamove(deps);
  const found = await findDelivery(deps, userId, input);
  const order = found.order;
  if (!order)
    throw new DeliveryError('NO_ORDER', 'That quote was never booked, so there is nothing to cancel.');
  if (order.status === NOT_PLACED) {
    throw new DeliveryError(
      'NOT_CANCELLABLE',
      'Lalamove never booked this delivery, so there is nothing to cancel.',
    );
  }
  if (order.externalOrderId.startsWith(PENDING_PREFIX)) {
    throw new DeliveryError(
      'NOT_CANCELLABLE',
      'The booking is still being placed; ask again in a few minutes.',
    );
  }
  if (TERMINAL_STATUSES.includes(order.status)) {
    throw new DeliveryError('NOT_CANCELLABLE', `The delivery is already ${order.status.toLowerCase()}.`);
  }
  try {
    await client.cancelOrder(order.externalOrderId);
  } catch (error) {
    if (error instanceof LalamoveError && error.status === 422) {
      throw new DeliveryError(
        'NOT_CANCELLABLE',
        `Lalamove no longer allows cancelling this delivery${error.reason ? `: ${error.reason}` : ''}.`,
      );
    }
    throw lalamoveFailure(error, 'cancel');
  }
  const cancelled = await deps.db.deliveryOrder.update({
    where: { id: order.id },
    data: { status: 'CANCELED' },
  });
  return view(found.quote, cancelled);
}

/** The quote and its order named by the input (or the person's latest order), if they are theirs. */
async function findDelivery(
  deps: DeliveryDeps,
  userId: string,
  input: { orderId?: string | null; quoteId?: string | null },
): Promise<{ quote: DeliveryQuote; order: DeliveryOrder | null }> {
  const { db } = deps;
  if (input.orderId) {
    const order = isUuid(input.orderId)
      ? await db.deliveryOrder.findUnique({ where: { id: input.orderId }, include: { quote: true } })
      : null;
    const { quote, ...rest } = theirs(order, userId, 'NO_ORDER', 'There is no such delivery order.');
    return { quote, order: rest };
  }
  if (input.quoteId) {
    const quote = isUuid(input.quoteId)
      ? await db.deliveryQuote.findUnique({ where: { id: input.quoteId }, include: { order: true } })
      : null;
    const { order, ...rest } = theirs(quote, userId, 'NO_QUOTE', 'There is no such delivery quote.');
    return { quote: rest, order };
  }
  const latest = await db.deliveryOrder.findFirst({
    where: { userId },
    orderBy: { createdAt: 'desc' },
    include: { quote: true },
  });
  if (!latest) throw new DeliveryError('NO_ORDER', 'You have no deliveries yet.');
  const { quote, ...rest } = latest;
  return { quote, order: rest };
}

/** The row named by the person, when it exists and is theirs. */
function theirs<T extends { userId: string }>(
  row: T | null,
  userId: string,
  missing: 'NO_ORDER' | 'NO_QUOTE',
  message: string,
): T {
  if (!row) throw new DeliveryError(missing, message);
  if (row.userId !== userId) throw new DeliveryError('NOT_YOURS', 'That delivery belongs to someone else.');
  return row;
}

async function quoteView(deps: DeliveryDeps, quote: DeliveryQuote): Promise<DeliveryView> {
  const now = deps.now();
  const confirmation = await deps.db.confirmation.findFirst({
    where: { quoteId: quote.id },
    orderBy: { createdAt: 'desc' },
  });
  const open = confirmation && confirmation.expiresAt > now && quote.expiresAt > now;
  const [pickup, dropoff] = addresses(quote);
  return {
    quoteId: quote.id,
    orderId: null,
    status: !open ? 'QUOTE_EXPIRED' : confirmation.confirmedAt ? 'CONFIRMED' : 'AWAITING_CONFIRMATION',
    priceTotal: quote.priceTotal,
    currency: quote.currency,
    pickup,
    dropoff,
    shareLink: null,
    driver: null,
    updatedAt: confirmation?.confirmedAt ?? quote.createdAt,
  };
}

function view(quote: DeliveryQuote, order: DeliveryOrder): DeliveryView {
  const [pickup, dropoff] = addresses(quote);
  return {
    quoteId: quote.id,
    orderId: order.id,
    status: order.status,
    priceTotal: order.priceTotal,
    currency: order.currency,
    pickup,
    dropoff,
    shareLink: order.shareLink,
    driver: parseDriver(order.driver),
    updatedAt: order.updatedAt,
  };
}

function addresses(quote: DeliveryQuote): [{ address: string }, { address: string }] {
  const stops = storedStops.safeParse(quote.stops);
  if (!stops.success) return [{ address: '' }, { address: '' }];
  return [{ address: stops.data[0]!.address }, { address: stops.data[stops.data.length - 1]!.address }];
}

export function parseDriver(value: Prisma.JsonValue | null): DriverView | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.driverId !== 'string' || !v.driverId) return null;
  const text = (x: unknown) => (typeof x === 'string' && x ? x : null);
  return { driverId: v.driverId, name: text(v.name), phone: text(v.phone), plateNumber: text(v.plateNumber) };
}

/** Two decimal amounts as Lalamove writes them ("140", "140.0", "140.00") are the same amount. */
export function sameAmount(a: string, b: string): boolean {
  const normal = (x: string) => {
    const [whole = '', fraction = ''] = x.trim().split('.');
    return `${whole.replace(/^0+(?=\d)/, '')}.${fraction.replace(/0+$/, '')}`;
  };
  return normal(a) === normal(b);
}

/**
 * The orders Lalamove has not confirmed, by status (PLACING, PLACEMENT_UNKNOWN): how many, and how
 * long the oldest has waited. Such an order settles only when Lalamove's webhook names it; one
 * minutes old needs an operator (the person's confirmation is spent). For `/metrics`.
 */
export async function unplacedOrders(
  db: DbOrTx,
  now: Date,
): Promise<{ status: string; count: number; oldestSeconds: number }[]> {
  const rows = await db.$queryRaw<{ status: string; count: number; oldest: Date }[]>`
    SELECT status, count(*)::int AS count, min(created_at) AS oldest FROM delivery_orders
    WHERE external_order_id LIKE ${`${PENDING_PREFIX}%`} GROUP BY status`;
  return [PLACING, PLACEMENT_UNKNOWN].map((status) => {
    const row = rows.find((r) => r.status === status);
    return {
      status,
      count: row?.count ?? 0,
      oldestSeconds: row ? Math.max(0, (now.getTime() - row.oldest.getTime()) / 1000) : 0,
    };
  });
}
