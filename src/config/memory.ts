/**
 * The agent's memory: embeddings for recall (optional), how much each dreaming run does, and how
 * long a person's taste is kept for ranking.
 */
import { z } from 'zod';
import { positiveInt, trimSlash } from './parse.ts';

export const memoryEnv = z.object({
  // Embeddings for memory recall: `none` (full-text alone) or `ollama` (its /api/embed at OLLAMA_URL).
  EMBEDDINGS_PROVIDER: z.enum(['none', 'ollama']).default('none'),
  OLLAMA_EMBED_MODEL: z.string().min(1).default('nomic-embed-text'),
  // How long recall waits for the query's embedding before answering from full-text alone.
  EMBEDDINGS_TIMEOUT_MS: positiveInt.default(2000),
  // People each dreaming run (light nightly, deep weekly) goes over; the next run continues.
  DREAM_PEOPLE_PER_RUN: positiveInt.default(200),
  // How long an API process keeps a person's taste edges for ranking their searches (0: off).
  TASTE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
});
type MemoryEnv = z.output<typeof memoryEnv> & { OLLAMA_URL?: string | undefined };

export function memoryConfig(e: MemoryEnv) {
  return {
    embeddings:
      e.EMBEDDINGS_PROVIDER === 'ollama' && e.OLLAMA_URL
        ? {
            provider: 'ollama' as const,
            url: trimSlash(e.OLLAMA_URL),
            model: e.OLLAMA_EMBED_MODEL,
            timeoutMs: e.EMBEDDINGS_TIMEOUT_MS,
          }
        : undefined,
    dreamPeoplePerRun: e.DREAM_PEOPLE_PER_RUN,
    /** How long an API process keeps a person's taste edges for ranking their searches; 0: read each time. */
    tasteCacheMs: e.TASTE_CACHE_MS,
  };
}

export function memoryProblems(e: MemoryEnv): string[] {
  return e.EMBEDDINGS_PROVIDER === 'ollama' && !e.OLLAMA_URL
    ? ['EMBEDDINGS_PROVIDER: ollama needs OLLAMA_URL']
    : [];
}
