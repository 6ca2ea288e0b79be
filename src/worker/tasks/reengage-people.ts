import { reengagePeopleTask, reengageQuietPeople } from '../../domain/reengagement/reengagement.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** The week's check-in message to quiet people who opted in (src/domain/reengagement). */
export default defineHandler(
  reengagePeopleTask,
  async ({ _cron }, { services, logger }: TaskContext<'db' | 'now'>) => {
    const tick = _cron ? new Date(_cron.ts) : services.now();
    const queued = await reengageQuietPeople(services.db, tick);
    logger.info({ 'reengagement.queued': queued }, 'queued check-in messages');
  },
);
