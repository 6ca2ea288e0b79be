import { embedPendingMemories, memoryEmbedTask } from '../../domain/memory/embeddings.ts';
import { defineHandler, type TaskContext } from '../handler.ts';

/**
 * Gives new and changed memories their vectors (src/domain/memory/embeddings.ts), a bounded batch
 * per run; without an embedder configured it does nothing. Safe to run twice: a memory with a
 * vector of the model is not embedded again.
 */
export default defineHandler(
  memoryEmbedTask,
  async (_payload, { services, logger }: TaskContext<'db' | 'memorySearch'>) => {
    if (!services.memorySearch) return;
    const embedded = await embedPendingMemories(services.db, services.memorySearch.embedder);
    if (embedded) logger.info({ 'memory.embedded': embedded }, 'embedded memories');
  },
);
