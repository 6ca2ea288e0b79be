import { deliverDueReminders, deliverRemindersTask } from '../../domain/reminders/reminders.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Sends the reminders that are due, each once (src/domain/reminders/reminders.ts). */
export default defineHandler(
  deliverRemindersTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    const sent = await deliverDueReminders(services.db, services.now());
    if (sent) logger.info({ 'reminders.sent': sent }, 'sent due reminders');
  },
);
