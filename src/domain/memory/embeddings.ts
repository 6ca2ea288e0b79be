/**
 * Embeddings, behind one port: an `Embedder` turns texts into vectors (Ollama's `/api/embed` in
 * production, a fake in tests). Memories get theirs from the `memory-embed` sweep; recall mixes
 * vector similarity with full-text rank (memories.ts); anything else that wants vectors (venue
 * facts) calls the same `embed(texts)`.
 *
 * Vectors are stored as `real[]` with the model that made them, so the database needs nothing
 * extra. Similarity is cosine, over one person's memories (a few hundred at most):
 *
 * - with the pgvector extension installed, by its `<=>` operator on `embedding::vector`;
 * - without it, in plain SQL: the dot product over `unnest(a, b)` divided by the norms.
 *
 * Both give the same numbers; which one runs is detected once per process (`vectorSupport`) and
 * said in `/readyz`. Without an embedder recall is full-text alone, exactly as before.
 */

import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';
import { defineTask } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';

/** Texts in, one vector per text out, in order. */
export interface Embedder {
  /** The model's name: a vector made by another model is never compared with this one's. */
  readonly model: string;
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
}

/** How similarity is computed in this database. */
export interface VectorSupport {
  pgvector: boolean;
  /** One line for `/readyz`. */
  detail: string;
}

/** What recall needs to mix in vectors: the embedder, how long to wait for it, and the database's support. */
export interface MemorySearch {
  embedder: Embedder;
  /** Recall waits this long for the query's vector, then answers from full-text alone. */
  timeoutMs: number;
  vectorSupport(): Promise<VectorSupport>;
  logger: Logger;
}

/**
 * The memory search of a process: `vectorSupport()` detects pgvector once (trying `CREATE
 * EXTENSION IF NOT EXISTS vector`, which fails without the extension's files or the privilege;
 * that is reported, never thrown) and remembers the answer.
 */
export function createMemorySearch(deps: {
  db: Db;
  embedder: Embedder;
  timeoutMs: number;
  logger: Logger;
}): MemorySearch {
  let detected: Promise<VectorSupport> | undefined;
  return {
    embedder: deps.embedder,
    timeoutMs: deps.timeoutMs,
    logger: deps.logger,
    vectorSupport() {
      detected ??= detectVectorSupport(deps.db, { install: true });
      return detected;
    },
  };
}

/**
 * Whether pgvector is there (with `install`, after trying to create it). Never throws: a database
 * that cannot say is taken as one without pgvector.
 */
export async function detectVectorSupport(db: Db, options: { install: boolean }): Promise<VectorSupport> {
  let refusal: string | null = null;
  if (options.install) {
    try {
      await db.$executeRawUnsafe('CREATE EXTENSION IF NOT EXISTS vector');
    } catch (error) {
      refusal = firstLine((error as Error).message);
    }
  }
  try {
    const [row] = await db.$queryRaw<{ installed: string | null; available: string | null }[]>`
      SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed,
             (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS available`;
    if (row?.installed) {
      return { pgvector: true, detail: `pgvector ${row.installed}: similarity by <=>` };
    }
    const why = refusal ?? (row?.available ? `available (${row.available}), not installed` : 'not available');
    return { pgvector: false, detail: `pgvector ${why}: cosine similarity in SQL over real[]` };
  } catch (error) {
    return {
      pgvector: false,
      detail: `pgvector unknown (${firstLine((error as Error).message)}): cosine similarity in SQL over real[]`,
    };
  }
}

function firstLine(text: string): string {
  return (text.split('\n').find((line) => line.trim()) ?? text).trim().slice(0, 200);
}

/**
 * The cosine similarity of the `real[]` column `column` with `vector`, as SQL: pgvector's
 * `1 - (a <=> b)` where it is installed, the dot product over the norms otherwise. Vectors of
 * different lengths are never compared (callers filter on the model and the length).
 */
export function cosineSql(column: Prisma.Sql, vector: number[], support: VectorSupport): Prisma.Sql {
  if (support.pgvector) {
    return Prisma.sql`(1 - ((${column})::vector <=> ${vector}::real[]::vector))::float8`;
  }
  return Prisma.sql`(SELECT sum(a * b) / nullif(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0)
      FROM unnest(${column}, ${vector}::real[]) AS pair(a, b))::float8`;
}

/**
 * The vector of a recall's query, or null when it could not be had in `search.timeoutMs` (the
 * embedder failing or slow is logged and recall goes on with full-text alone).
 */
export async function queryVector(
  search: MemorySearch,
  text: string,
): Promise<{ values: number[]; model: string; support: VectorSupport } | null> {
  try {
    const [values] = await search.embedder.embed([text], { signal: AbortSignal.timeout(search.timeoutMs) });
    if (!values?.length) return null;
    return { values, model: search.embedder.model, support: await search.vectorSupport() };
  } catch (error) {
    search.logger.warn({ err: error }, 'no embedding for the recall: full-text alone');
    return null;
  }
}

/** The sweep that gives memories their vectors (src/worker/crontab.ts); the next tick is the retry. */
export const memoryEmbedTask = defineTask({
  name: 'memory-embed',
  schema: z.object({}),
  maxAttempts: 1,
});

/** Memories embedded per run, and per call to the embedder. */
export const EMBED_LIMITS = { perRun: 500, perCall: 32 } as const;

/**
 * Gives vectors to memories that have none from `embedder.model` (new ones, ones whose words
 * changed, all of them after the model changed), oldest first, at most `limit`; history
 * (superseded memories) is skipped, since it is never recalled. A memory whose words changed while
 * its vector was being made is left for the next run. Returns how many got one.
 *
 * A memory waiting for a vector has `embedding_model` NULL, and only then: remember() clears it
 * when the words change, and each run first puts vectors of another model back to NULL, up to
 * `limit` on each side of the current model's name (recall compares only vectors of the current
 * model, so nothing usable is lost). Both reads are index reads (memories_embedding_model_idx,
 * memories_unembedded_idx) however large the table; `embedding_model IS DISTINCT FROM $model`
 * would read and sort all of it on every run.
 */
export async function embedPendingMemories(
  db: Db,
  embedder: Embedder,
  options: { limit?: number } = {},
): Promise<number> {
  const limit = options.limit ?? EMBED_LIMITS.perRun;
  // Two ranges in the index's order, rather than `<>` (no btree reads it) or `< OR >` (a plan
  // made for any model may scan the table): each stops after `limit`. History is reset too: it
  // then leaves the stale set for good, and the queue's index does not hold it.
  await db.$executeRaw`
    UPDATE memories SET embedding_model = NULL, embedding = NULL
    WHERE id IN (
      (SELECT id FROM memories WHERE embedding_model < ${embedder.model} ORDER BY embedding_model LIMIT ${limit})
      UNION ALL
      (SELECT id FROM memories WHERE embedding_model > ${embedder.model} ORDER BY embedding_model LIMIT ${limit}))`;
  const pending = await db.$queryRaw<{ id: string; content: string }[]>`
    SELECT id, content FROM memories
    WHERE embedding_model IS NULL AND superseded_at IS NULL
    ORDER BY created_at, id
    LIMIT ${limit}`;
  let embedded = 0;
  for (let start = 0; start < pending.length; start += EMBED_LIMITS.perCall) {
    const batch = pending.slice(start, start + EMBED_LIMITS.perCall);
    const vectors = await embedder.embed(batch.map((m) => m.content));
    for (const [index, memory] of batch.entries()) {
      embedded += await db.$executeRaw`
        UPDATE memories SET embedding = ${vectors[index]!}::real[], embedding_model = ${embedder.model}
        WHERE id = ${memory.id}::uuid AND content = ${memory.content}`;
    }
  }
  return embedded;
}
