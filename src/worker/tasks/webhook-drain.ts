import { drainWebhooks } from '../../domain/outbound-webhooks/delivery.ts';
import { webhookSendDeps } from '../../domain/outbound-webhooks/deps.ts';
import { wakeDrain, webhookDrainTask } from '../../domain/outbound-webhooks/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Sends a subscription's pending deliveries in order; comes back when the next must wait. */
export default defineHandler(
  webhookDrainTask,
  async (
    { subscriptionId },
    { services, logger }: TaskContext<'config' | 'database' | 'keyring' | 'now'>,
  ) => {
    const outcome = await drainWebhooks(webhookSendDeps({ ...services, logger }), subscriptionId);
    // This job holds the key while it runs, so this adds the next run behind it. The queue runs
    // on the database's clock, so the wait is counted from the real now.
    if (outcome.retryAfterMs !== null) {
      await wakeDrain(services.database.prisma, subscriptionId, {
        runAt: new Date(Date.now() + outcome.retryAfterMs),
      });
    }
  },
);
