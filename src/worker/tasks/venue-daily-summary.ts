import { sendDailySummaries } from '../../domain/bookings/scheduled.ts';
import { dailySummaryTask } from '../../domain/bookings/tasks.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

export default defineHandler(
  dailySummaryTask,
  async ({ _cron }, { services, logger }: TaskContext<'db' | 'now'>) => {
    const tick = _cron ? new Date(_cron.ts) : services.now();
    const queued = await sendDailySummaries(services.db, tick);
    if (queued) logger.info({ 'summary.count': queued }, 'queued daily booking summaries');
  },
);
