/**
 * What a person is told, unasked, about a delivery they booked, as Lalamove's webhooks report it
 * (lalamove-events.ts): a driver taking it (or taking it over from one who gave it back), named
 * as soon as Lalamove gives the name; its pickup; its arrival; and an end that is not an arrival
 * (cancelled, rejected, expired). Each is queued with the change that stores it, under the
 * order's row lock, once per order and step (its dedupe key), through `queueNotice`: their chat,
 * else their email. A step the person first saw by asking (`get_delivery_status`) is not
 * announced again: the webhook that follows finds nothing new.
 */
import type { DeliveryOrder } from '../../generated/prisma/client.ts';
import type { Tx } from '../../platform/db.ts';
import { queueNotice } from '../notices/notices.ts';
import type { DeliveryEnd } from '../notices/templates.ts';
import { type DriverView, parseDriver } from './order.ts';
import { storedStops } from './quote.ts';

const ENDS: readonly DeliveryEnd[] = ['CANCELED', 'REJECTED', 'EXPIRED'];

/** The statuses a driver is named in: they have the order and have not finished with it. */
const WITH_DRIVER: readonly string[] = ['ON_GOING', 'PICKED_UP'];

/**
 * Queues, in the caller's transaction, what the person is to be told of their order going from
 * `before` to `after` (what is about to be stored):
 * - a driver, once Lalamove has given their name: one who takes the order (again, after a
 *   give-back), or the one who had it without a name until now;
 * - the pickup, the arrival, or an end that is not an arrival, once each.
 */
export async function tellOfProgress(
  tx: Tx,
  before: Pick<DeliveryOrder, 'id' | 'userId' | 'quoteId' | 'status' | 'driver'>,
  after: { status: string; driver: DriverView | null },
  trackingUrl: string | null,
): Promise<void> {
  const had = parseDriver(before.driver);
  const driver = after.driver;
  const named =
    driver?.name && WITH_DRIVER.includes(after.status) && (had?.driverId !== driver.driverId || !had.name)
      ? driver
      : null;
  const step =
    after.status !== before.status &&
    (after.status === 'PICKED_UP' ||
      after.status === 'COMPLETED' ||
      ENDS.includes(after.status as DeliveryEnd))
      ? after.status
      : null;
  if (!named && !step) return;

  const destination = await destinationOf(tx, before.quoteId);
  const common = { userId: before.userId, data: { deliveryOrderId: before.id } };
  if (named) {
    // Drivers the person was told of before on this order: one after another took over.
    const told = await tx.outboundMessage.count({
      where: {
        userId: before.userId,
        kind: 'delivery.driver_assigned',
        dedupeKey: { startsWith: `delivery:${before.id}:driver:` },
      },
    });
    await queueNotice(tx, {
      ...common,
      kind: 'delivery.driver_assigned',
      params: {
        destination,
        driver: named.name,
        plate: named.plateNumber,
        trackingUrl,
        replacing: told > 0,
      },
      // One per assignment: a driver who comes back after giving the order back is told of again.
      dedupeKey: `delivery:${before.id}:driver:${told + 1}`,
    });
  }
  const dedupeKey = `delivery:${before.id}:${step}`;
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

/** The drop-off's address as the person gave it (the quote's last stop), or null. */
async function destinationOf(tx: Tx, quoteId: string): Promise<string | null> {
  const quote = await tx.deliveryQuote.findUnique({ where: { id: quoteId }, select: { stops: true } });
  const stops = storedStops.safeParse(quote?.stops);
  return stops.success ? (stops.data.at(-1)?.address ?? null) : null;
}
