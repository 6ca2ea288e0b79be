import { outboxSweepTask, sweepOutboxes } from '../../domain/operations/outboxes.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Schedules the job of every outbox group whose rows wait with no job coming (see the domain). */
export default defineHandler(outboxSweepTask, async (_payload, { services, logger }: TaskContext<'db'>) => {
  await sweepOutboxes(services.db, { logger });
});
