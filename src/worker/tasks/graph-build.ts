import { buildDueTasteGraphs, graphBuildTask } from '../../domain/graph/build.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/** Builds the taste graphs of people with new material (src/domain/graph/build.ts); safe to run twice. */
export default defineHandler(
  graphBuildTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'now'>) => {
    const result = await buildDueTasteGraphs(services.db, { now: services.now() });
    logger.info(
      { 'graph.people': result.people, 'graph.changed': result.changed, 'graph.remaining': result.remaining },
      'built taste graphs',
    );
    for (const failure of result.failed) {
      logger.warn(
        { 'user.id': failure.userId, 'error.message': failure.error },
        'taste graph build failed; due again next run',
      );
    }
  },
);
