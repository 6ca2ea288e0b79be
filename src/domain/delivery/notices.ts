/**
 * What a person is told, unasked, about a delivery they booked, as Lalamove's webhooks report it
 * (lalamove-events.ts): a driver taking it (or taking it over from one who gave it back), its
 * pickup, its arrival, and an end that is not an arrival (cancelled, rejected, expired). Each is
 * queued with the change that stores it, once per order and step (its dedupe key), through
 * `queueNotice`: their chat, else their email. A step the person first saw by asking
 * (`get_delivery_status`) is not announced again: the webhook that follows finds nothing new.
 */
import type { DeliveryOrder } from '../../generated/prisma/client.ts';
import type { Tx } from '../../platform/db.ts';
import { queueNotice } from '../notices/notices.ts';
import type { DeliveryEnd } from '../notices/templates.ts';
import { type DriverView, parseDriver } from './order.ts';
import { storedStops } from './quote.ts';

const ENDS: readonly DeliveryEnd[] = ['CANCELED', 'REJECTED', 'EXPIRED'];

/**
 * Queues what the person is to be told of `progress`, the change about to be stored on `order`
 * (as it was before it), in the caller's transaction.
 */
export async function tellOfProgress(
  tx: Tx,
  order: DeliveryOrder,
  progress: { status?: string; driver?: DriverView | null },
  trackingUrl: string | null,
): Promise<void> {
  const status = progress.status ?? order.status;
  const driver = progress.driver;
  const newDriver =
    status === 'ON_GOING' && driver && driver.driverId !== parseDriver(order.driver)?.driverId
      ? driver
      : null;
  const step =
    progress.status === 'PICKED_UP' ||
    progress.status === 'COMPLETED' ||
    ENDS.includes(progress.status as DeliveryEnd)
      ? progress.status
      : null;
  if (!newDriver && !step) return;

  const destination = await destinationOf(tx, order.quoteId);
  const common = { userId: order.userId, data: { deliveryOrderId: order.id } };
  if (newDriver) {
    // A driver after another (who gave the order back): the person was told of the first.
    const told = await tx.outboundMessage.count({
      where: { dedupeKey: { startsWith: driverKeyPrefix(order.id) } },
    });
    await queueNotice(tx, {
      ...common,
      kind: 'delivery.driver_assigned',
      params: {
        destination,
        driver: newDriver.name,
        plate: newDriver.plateNumber,
        trackingUrl,
        replacing: told > 0,
      },
      dedupeKey: `${driverKeyPrefix(order.id)}${newDriver.driverId}`,
    });
  }
  const dedupeKey = `delivery:${order.id}:${step}`;
  if (step === 'PICKED_UP') {
    await queueNotice(tx, {
      ...common,
      kind: 'delivery.picked_up',
      params: { destination, trackingUrl },
      dedupeKey,
    });
  } else if (step === 'COMPLETED') {
    await queueNotice(tx, { ...common, kind: 'delivery.completed', params: { destination }, dedupeKey });
  } else if (step) {
    await queueNotice(tx, {
      ...common,
      kind: 'delivery.ended',
      params: { destination, status: step as DeliveryEnd },
      dedupeKey,
    });
  }
}

const driverKeyPrefix = (orderId: string) => `delivery:${orderId}:driver:`;

/** The drop-off's address as the person gave it (the quote's last stop), or null. */
async function destinationOf(tx: Tx, quoteId: string): Promise<string | null> {
  const quote = await tx.deliveryQuote.findUnique({ where: { id: quoteId }, select: { stops: true } });
  const stops = storedStops.safeParse(quote?.stops);
  return stops.success ? (stops.data.at(-1)?.address ?? null) : null;
}
