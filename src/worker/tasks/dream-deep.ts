import { dreamDeep, dreamDeepTask } from '../../domain/memory/dreaming.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Deep dreaming (src/domain/memory/dreaming.ts): booking habits and profile gaps, for
 * DREAM_PEOPLE_PER_RUN people not done this week; the next run continues.
 */
export default defineHandler(
  dreamDeepTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now' | 'config'>) => {
    // Each person's failure is logged there (with their id) and the run goes on without them.
    const result = await dreamDeep(services.db, {
      now: services.now(),
      limit: services.config.memory.dreamPeoplePerRun,
      logger,
    });
    logger.info(
      {
        'dream.people': result.people,
        'dream.habits': result.habits,
        'dream.profiles': result.profiles,
        'dream.failed': result.failed.length,
      },
      'deep dream done',
    );
  },
);
