import { dreamLight, dreamLightTask } from '../../domain/memory/dreaming.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Light dreaming (src/domain/memory/dreaming.ts): merges, contradictions, fading and chats'
 * summaries, for DREAM_PEOPLE_PER_RUN people with new material; the next run continues.
 */
export default defineHandler(
  dreamLightTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now' | 'config'>) => {
    // Each person's failure is logged there (with their id) and the run goes on without them.
    const result = await dreamLight(services.db, {
      now: services.now(),
      limit: services.config.memory.dreamPeoplePerRun,
      logger,
    });
    logger.info(
      {
        'dream.people': result.people,
        'dream.from_summaries': result.fromSummaries,
        'dream.merged': result.merged,
        'dream.contradicted': result.contradicted,
        'dream.faded': result.faded,
        'dream.failed': result.failed.length,
      },
      'light dream done',
    );
  },
);
