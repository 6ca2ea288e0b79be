import { reengagePeopleTask, reengageQuietPeople } from '../../domain/reengagement/reengagement.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** The week's check-in message to quiet people who opted in (src/domain/reengagement). */
export default defineHandler(
  reengagePeopleTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    const queued = await reengageQuietPeople(services.db, services.now());
    logger.info({ 'reengagement.queued': queued }, 'queued check-in messages');
  },
);
