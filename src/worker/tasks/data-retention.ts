import { dataRetentionTask, pruneExpiredRecords } from '../../domain/operations/retention.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Deletes history past its retention (src/domain/operations/retention.ts); safe to run twice. */
export default defineHandler(
  dataRetentionTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now' | 'config'>) => {
    const deleted = await pruneExpiredRecords(services.db, services.now(), services.config.retention);
    logger.info({ 'retention.deleted': deleted }, 'deleted records past their retention');
  },
);
