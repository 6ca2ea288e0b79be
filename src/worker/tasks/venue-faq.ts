import { compileVenueFaq, venueFaqTask } from '../../domain/network/venue-faq.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Compiles the FAQ drafts of venues with newly answered questions (src/domain/network/venue-faq.ts); safe to run twice. */
export default defineHandler(
  venueFaqTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    // Each venue's failure is logged there (with its id) and the run goes on without it.
    const compiled = await compileVenueFaq(services.db, services.now(), { logger });
    logger.info(
      {
        'faq.venues': compiled.venues,
        'faq.written': compiled.written,
        'faq.failed': compiled.failed.length,
      },
      'compiled venue FAQs',
    );
  },
);
