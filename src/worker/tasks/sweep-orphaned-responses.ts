import { sweepOrphanedResponses } from '../../domain/envelopes/maintenance.ts';
import { sweepOrphanedResponsesTask } from '../../domain/envelopes/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Inbound replies nobody is waiting for, left unhandled, are closed with the reason. */
export default defineHandler(
  sweepOrphanedResponsesTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    const closed = await sweepOrphanedResponses(services.db, services.now());
    if (closed) logger.warn({ 'envelopes.closed': closed }, 'orphaned responses closed');
  },
);
