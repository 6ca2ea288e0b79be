-- The venue wiki and FAQ (src/domain/network/venue-wiki.ts, venue-faq.ts): facts per venue with
-- their source and time, the conflicts between sources put before staff, frequent questions with
-- the venue's answers, and how far the compiling jobs have read each venue.
CREATE TYPE "VenueFactSource" AS ENUM ('OWNER_EDIT', 'SCAN', 'STAFF_ANSWER', 'GUEST_FEEDBACK');
CREATE TYPE "VenueFactConflictStatus" AS ENUM ('OPEN', 'RESOLVED');
CREATE TYPE "FaqEntryStatus" AS ENUM ('DRAFT', 'APPROVED', 'REJECTED');

CREATE TABLE "venue_facts" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "source" "VenueFactSource" NOT NULL,
    "source_ref" TEXT,
    "observed_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "venue_facts_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "venue_facts_venue_id_key_source_key" ON "venue_facts"("venue_id", "key", "source");

CREATE TABLE "venue_fact_conflicts" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "status" "VenueFactConflictStatus" NOT NULL DEFAULT 'OPEN',
    "chosen_fact_id" UUID,
    "resolved_at" TIMESTAMPTZ(3),
    "resolved_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "venue_fact_conflicts_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "venue_fact_conflicts_venue_id_key_key" ON "venue_fact_conflicts"("venue_id", "key");
CREATE INDEX "venue_fact_conflicts_chosen_fact_id_idx" ON "venue_fact_conflicts"("chosen_fact_id");
CREATE INDEX "venue_fact_conflicts_resolved_by_id_idx" ON "venue_fact_conflicts"("resolved_by_id");

CREATE TABLE "venue_faq_entries" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "question_key" TEXT NOT NULL,
    "question" TEXT NOT NULL,
    "answer" TEXT NOT NULL,
    "status" "FaqEntryStatus" NOT NULL DEFAULT 'DRAFT',
    "asked_count" INTEGER NOT NULL,
    "last_asked_at" TIMESTAMPTZ(3) NOT NULL,
    "decided_at" TIMESTAMPTZ(3),
    "decided_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "venue_faq_entries_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "venue_faq_entries_venue_id_question_key_key" ON "venue_faq_entries"("venue_id", "question_key");
CREATE INDEX "venue_faq_entries_decided_by_id_idx" ON "venue_faq_entries"("decided_by_id");

CREATE TABLE "venue_knowledge_marks" (
    "venue_id" UUID NOT NULL,
    "facts_through" TIMESTAMPTZ(3),
    "faq_through" TIMESTAMPTZ(3),

    CONSTRAINT "venue_knowledge_marks_pkey" PRIMARY KEY ("venue_id")
);

ALTER TABLE "venue_facts" ADD CONSTRAINT "venue_facts_venue_id_fkey"
    FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "venue_fact_conflicts" ADD CONSTRAINT "venue_fact_conflicts_venue_id_fkey"
    FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "venue_fact_conflicts" ADD CONSTRAINT "venue_fact_conflicts_chosen_fact_id_fkey"
    FOREIGN KEY ("chosen_fact_id") REFERENCES "venue_facts"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "venue_fact_conflicts" ADD CONSTRAINT "venue_fact_conflicts_resolved_by_id_fkey"
    FOREIGN KEY ("resolved_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "venue_faq_entries" ADD CONSTRAINT "venue_faq_entries_venue_id_fkey"
    FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "venue_faq_entries" ADD CONSTRAINT "venue_faq_entries_decided_by_id_fkey"
    FOREIGN KEY ("decided_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "venue_knowledge_marks" ADD CONSTRAINT "venue_knowledge_marks_venue_id_fkey"
    FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;
