import { compileVenueWiki, venueWikiTask } from '../../domain/network/venue-wiki.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Compiles the wikis of venues whose sources changed (src/domain/network/venue-wiki.ts); safe to run twice. */
export default defineHandler(
  venueWikiTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    // Each venue's failure is logged there (with its id) and the run goes on without it.
    const compiled = await compileVenueWiki(services.db, services.now(), { logger });
    logger.info(
      {
        'wiki.venues': compiled.venues,
        'wiki.written': compiled.written,
        'wiki.conflicts_opened': compiled.conflictsOpened,
        'wiki.failed': compiled.failed.length,
      },
      'compiled venue wikis',
    );
  },
);
