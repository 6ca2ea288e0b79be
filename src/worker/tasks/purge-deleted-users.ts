import { purgeDeletedUsers, purgeDeletedUsersTask } from '../../domain/erasure/purge.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Erases and anonymises accounts deleted 30 days ago (src/domain/identity/account-deletion.ts). */
export default defineHandler(
  purgeDeletedUsersTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now' | 'bookings'>) => {
    const purged = await purgeDeletedUsers(
      { db: services.db, effects: services.bookings.effects },
      services.now(),
    );
    if (purged) logger.info({ 'accounts.purged': purged }, 'purged deleted accounts');
  },
);
