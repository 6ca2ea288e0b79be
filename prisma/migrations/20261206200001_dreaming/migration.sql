-- Dreaming and embeddings for memories (src/domain/memory/dreaming.ts, embeddings.ts).

-- A person's forgetAll is recorded, and each dreaming pass leaves its watermark.
ALTER TABLE "users"
  ADD COLUMN "memory_forgotten_at" TIMESTAMPTZ(3),
  ADD COLUMN "dreamed_at" TIMESTAMPTZ(3),
  ADD COLUMN "deep_dreamed_at" TIMESTAMPTZ(3);

-- A merged or contradicted memory is kept as history of the one that replaced it (and goes with
-- it when that one is forgotten). Embeddings are plain real[]: pgvector is optional, and cosine
-- similarity over one person's few hundred memories is cheap in SQL without it.
ALTER TABLE "memories"
  ADD COLUMN "superseded_by_id" UUID,
  ADD COLUMN "superseded_at" TIMESTAMPTZ(3),
  ADD COLUMN "decayed_at" TIMESTAMPTZ(3),
  ADD COLUMN "embedding" REAL[],
  ADD COLUMN "embedding_model" TEXT;

ALTER TABLE "memories" ADD CONSTRAINT "memories_superseded_by_id_fkey"
  FOREIGN KEY ("superseded_by_id") REFERENCES "memories"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE INDEX "memories_superseded_by_id_idx" ON "memories"("superseded_by_id");
CREATE INDEX "memories_unembedded_idx" ON "memories"("created_at") WHERE "embedding_model" IS NULL;

-- The latest summary of each chat, for light dreaming.
CREATE TABLE "session_summaries" (
    "chat_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "summary" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "session_summaries_pkey" PRIMARY KEY ("chat_id")
);

CREATE INDEX "session_summaries_user_id_updated_at_idx" ON "session_summaries"("user_id", "updated_at");

ALTER TABLE "session_summaries" ADD CONSTRAINT "session_summaries_user_id_fkey"
  FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "session_summaries" ADD CONSTRAINT "session_summaries_chat_id_fkey"
  FOREIGN KEY ("chat_id") REFERENCES "chats"("id") ON DELETE CASCADE ON UPDATE CASCADE;
