import { reapStaleEnvelopes } from '../../domain/envelopes/maintenance.ts';
import { reapStaleEnvelopesTask } from '../../domain/envelopes/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Outbound envelopes past their expiry, never answered, become EXPIRED. */
export default defineHandler(
  reapStaleEnvelopesTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    const expired = await reapStaleEnvelopes(services.db, services.now());
    if (expired) logger.info({ 'envelopes.expired': expired }, 'stale envelopes expired');
  },
);
