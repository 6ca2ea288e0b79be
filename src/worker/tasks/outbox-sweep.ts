import { outboxSweepTask, sweepOutboxes } from '../../domain/operations/outboxes.ts';
import { failAbandonedScans } from '../../domain/scan/scans.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Schedules the job of every outbox group whose rows wait with no job coming (see the domain), and
 * fails the business scans that will never finish (their last attempt's worker died).
 */
export default defineHandler(
  outboxSweepTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'config' | 'now' | 'pubsub'>) => {
    await sweepOutboxes(services.db, { logger });
    const failed = await failAbandonedScans({
      db: services.db,
      now: services.now,
      totalTimeoutMs: services.config.scan.totalTimeoutMs,
      publish: services.pubsub.publish,
    });
    if (failed.length) {
      logger.warn({ 'scan.ids': failed }, `${failed.length} business scan(s) with no job coming were failed`);
    }
  },
);
