-- Venues of organisations nobody has vouched for yet, and changes of a live venue's name, email,
-- phone or website, wait for a platform admin (see src/domain/venues/reviews.ts).

-- AlterEnum: not used in this migration, so it may run inside its transaction.
ALTER TYPE "VenueStatus" ADD VALUE 'IN_REVIEW' AFTER 'DRAFT';

-- CreateEnum
CREATE TYPE "VenueReviewKind" AS ENUM ('PUBLISH', 'CHANGE');

-- CreateEnum
CREATE TYPE "VenueReviewStatus" AS ENUM ('PENDING', 'APPROVED', 'REJECTED', 'WITHDRAWN');

-- AlterTable
ALTER TABLE "organizations" ADD COLUMN "trusted_at" TIMESTAMPTZ(3);

-- An organisation that already runs a published venue was accepted before reviews existed.
UPDATE "organizations" o SET "trusted_at" = CURRENT_TIMESTAMP
WHERE EXISTS (SELECT 1 FROM "venues" v WHERE v."organization_id" = o."id" AND v."published_at" IS NOT NULL);

-- CreateTable
CREATE TABLE "venue_reviews" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "organization_id" UUID,
    "kind" "VenueReviewKind" NOT NULL,
    "status" "VenueReviewStatus" NOT NULL DEFAULT 'PENDING',
    "proposed" JSONB NOT NULL DEFAULT '{}',
    "previous" JSONB NOT NULL DEFAULT '{}',
    "flags" JSONB NOT NULL DEFAULT '[]',
    "requested_by_id" UUID,
    "reviewed_by_id" UUID,
    "reason" TEXT,
    "decided_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "venue_reviews_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "venue_reviews_venue_id_status_idx" ON "venue_reviews"("venue_id", "status");

-- CreateIndex
CREATE INDEX "venue_reviews_organization_id_idx" ON "venue_reviews"("organization_id");

-- CreateIndex
CREATE INDEX "venue_reviews_requested_by_id_idx" ON "venue_reviews"("requested_by_id");

-- CreateIndex
CREATE INDEX "venue_reviews_reviewed_by_id_idx" ON "venue_reviews"("reviewed_by_id");

-- CreateIndex
CREATE INDEX "venue_reviews_status_created_at_idx" ON "venue_reviews"("status", "created_at");

-- AddForeignKey
ALTER TABLE "venue_reviews" ADD CONSTRAINT "venue_reviews_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_reviews" ADD CONSTRAINT "venue_reviews_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_reviews" ADD CONSTRAINT "venue_reviews_requested_by_id_fkey" FOREIGN KEY ("requested_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_reviews" ADD CONSTRAINT "venue_reviews_reviewed_by_id_fkey" FOREIGN KEY ("reviewed_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
