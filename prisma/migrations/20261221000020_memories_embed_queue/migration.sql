-- The memory-embed sweep (src/domain/memory/embeddings.ts) read `embedding_model IS DISTINCT FROM
-- $model`, which no index can answer: every run read and sorted the whole memories table. Now a
-- memory waiting for a vector always has `embedding_model` NULL (a model change puts vectors of
-- another model back to NULL first), so the queue is one partial index read in its own order.

-- Building the indexes holds off writes of memories until they are built (reads go on): give up
-- rather than queue every chat turn's writes behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

-- The queue: memories with no vector of the current model, oldest first. History (superseded) is
-- never embedded, so it is left out of the index rather than skipped on every run. Built under a
-- new name first; the old index is dropped and the new one takes its name last, since a drop
-- locks the table against reads too and so is held only for the commit.
CREATE INDEX "memories_unembedded_idx_next" ON "memories"("created_at", "id")
  WHERE "embedding_model" IS NULL AND "superseded_at" IS NULL;

-- Vectors by model, to find those of another model after a change (`< $model OR > $model`: two
-- range reads, empty once everything has the current model). Nearly every value is the same, so
-- btree deduplication keeps it small.
CREATE INDEX "memories_embedding_model_idx" ON "memories"("embedding_model")
  WHERE "embedding_model" IS NOT NULL;

DROP INDEX "memories_unembedded_idx";
ALTER INDEX "memories_unembedded_idx_next" RENAME TO "memories_unembedded_idx";
