import { NoticeEmailRetry, noticeEmailTask, sendNoticeEmail } from '../../domain/notices/email.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Sends one email notice. A transient SMTP failure throws, so graphile-worker retries with its
 * backoff; on the last attempt the message is failed with the reason instead.
 */
export default defineHandler(
  noticeEmailTask,
  async ({ messageId }, { services, logger, job }: TaskContext<'database' | 'mailer' | 'now'>) => {
    try {
      const outcome = await sendNoticeEmail(
        { database: services.database, mailer: services.mailer, logger, now: services.now },
        messageId,
        { finalAttempt: job.finalAttempt },
      );
      if (outcome === 'sent') logger.info({ 'outbound.id': messageId }, 'email notice sent');
    } catch (error) {
      if (error instanceof NoticeEmailRetry) logger.info({ 'outbound.id': messageId }, error.message);
      throw error;
    }
  },
);
