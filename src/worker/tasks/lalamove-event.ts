import {
  applyRecordedLalamoveEvent,
  lalamoveEventTask,
  readOrderFrom,
} from '../../domain/delivery/lalamove-events.ts';
import { readDriverFrom } from '../../domain/delivery/order.ts';
import { defineHandler, PermanentJobError, type TaskContext } from '../handler.ts';

/** Applies one Lalamove event the webhook recorded, from Lalamove's own answer about its order. */
export default defineHandler(
  lalamoveEventTask,
  async ({ id }, { services, logger }: TaskContext<'db' | 'delivery'>) => {
    const client = services.delivery.lalamove;
    if (!client) throw new PermanentJobError('Lalamove is not configured in this process');
    const result = await applyRecordedLalamoveEvent(services.db, id, {
      readOrder: readOrderFrom(client),
      readDriver: readDriverFrom(client),
    });
    logger.info({ 'provider_event.id': id, ...result }, 'Lalamove event applied');
    if (result?.outcome === 'applied' && result.revived) {
      // An operator settled it as never booked; Lalamove says otherwise, and the order is live again.
      logger.error(
        { 'provider_event.id': id, 'delivery.order': result.orderId },
        'Lalamove reported an order for a delivery settled as not booked: it is followed again',
      );
    }
  },
);
