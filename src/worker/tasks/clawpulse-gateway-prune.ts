import { ACKED_RETENTION_MS, gatewayPruneTask, pruneAcknowledged } from '../../a2a/gateway/store.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Deletes the embedded gateway's messages acknowledged over a day ago (safe to run twice). */
export default defineHandler(
  gatewayPruneTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    const before = new Date(services.now().getTime() - ACKED_RETENTION_MS);
    const pruned = await pruneAcknowledged(services.db, before);
    if (pruned) logger.info({ 'gateway.pruned': pruned }, 'pruned acknowledged ClawPulse gateway messages');
  },
);
