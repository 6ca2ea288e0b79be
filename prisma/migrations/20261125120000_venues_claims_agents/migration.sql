-- CreateEnum
CREATE TYPE "VenueCategory" AS ENUM ('RESTAURANT', 'BAR', 'CAFE', 'CLUB', 'PUB', 'BAKERY', 'FOOD_TRUCK', 'OTHER');

-- CreateEnum
CREATE TYPE "ClaimMethod" AS ENUM ('VENUE_EMAIL', 'WEBSITE_EMAIL', 'MANUAL_REVIEW');

-- CreateEnum
CREATE TYPE "ClaimStatus" AS ENUM ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED');

-- AlterTable
ALTER TABLE "venues" ADD COLUMN     "address_line1" TEXT,
ADD COLUMN     "address_line2" TEXT,
ADD COLUMN     "booking_horizon_days" INTEGER NOT NULL DEFAULT 60,
ADD COLUMN     "booking_rules_confirmed_at" TIMESTAMPTZ(3),
ADD COLUMN     "category" "VenueCategory" NOT NULL DEFAULT 'RESTAURANT',
ADD COLUMN     "city" TEXT,
ADD COLUMN     "country_code" TEXT,
ADD COLUMN     "covers_per_slot" INTEGER,
ADD COLUMN     "cuisines" TEXT[],
ADD COLUMN     "description" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "email" TEXT,
ADD COLUMN     "latitude" DOUBLE PRECISION,
ADD COLUMN     "lead_time_minutes" INTEGER NOT NULL DEFAULT 60,
ADD COLUMN     "longitude" DOUBLE PRECISION,
ADD COLUMN     "party_size_max" INTEGER NOT NULL DEFAULT 8,
ADD COLUMN     "party_size_min" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "phone" TEXT,
ADD COLUMN     "photos" TEXT[],
ADD COLUMN     "postal_code" TEXT,
ADD COLUMN     "price_level" INTEGER,
ADD COLUMN     "published_at" TIMESTAMPTZ(3),
ADD COLUMN     "region" TEXT,
ADD COLUMN     "slot_minutes" INTEGER NOT NULL DEFAULT 15,
ADD COLUMN     "social_handles" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "turn_minutes" INTEGER NOT NULL DEFAULT 90,
ADD COLUMN     "website" TEXT;

-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "dna" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "organization_id" UUID,
ADD COLUMN     "signing_secret_ciphertext" TEXT,
ADD COLUMN     "signing_secret_key_id" TEXT;

-- Each venue has one business agent and each person one consumer agent.
-- DropIndex
DROP INDEX "agents_venue_id_idx";

-- DropIndex
DROP INDEX "agents_user_id_idx";

-- CreateTable
CREATE TABLE "hours_exceptions" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "date" DATE NOT NULL,
    "closed" BOOLEAN NOT NULL DEFAULT false,
    "opens_at" TEXT,
    "closes_at" TEXT,
    "reason" TEXT,

    CONSTRAINT "hours_exceptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "venue_tables" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "seats" INTEGER NOT NULL,
    "combinable" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "venue_tables_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "venue_claims" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "requested_by_id" UUID NOT NULL,
    "method" "ClaimMethod" NOT NULL,
    "status" "ClaimStatus" NOT NULL DEFAULT 'PENDING',
    "code_email" TEXT,
    "code_hash" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "expires_at" TIMESTAMPTZ(3),
    "note" TEXT,
    "review_note" TEXT,
    "reviewed_by_id" UUID,
    "decided_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "venue_claims_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "claim_audit_events" (
    "id" UUID NOT NULL,
    "claim_id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "actor_id" UUID,
    "action" TEXT NOT NULL,
    "method" "ClaimMethod" NOT NULL,
    "outcome" TEXT NOT NULL,
    "detail" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "claim_audit_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "venues_status_idx" ON "venues"("status");

-- CreateIndex
CREATE INDEX "venues_latitude_longitude_idx" ON "venues"("latitude", "longitude");

-- CreateIndex
CREATE INDEX "hours_exceptions_venue_id_date_idx" ON "hours_exceptions"("venue_id", "date");

-- CreateIndex
CREATE UNIQUE INDEX "venue_tables_venue_id_name_key" ON "venue_tables"("venue_id", "name");

-- CreateIndex
CREATE INDEX "venue_claims_venue_id_status_idx" ON "venue_claims"("venue_id", "status");

-- CreateIndex
CREATE INDEX "venue_claims_organization_id_idx" ON "venue_claims"("organization_id");

-- CreateIndex
CREATE INDEX "venue_claims_requested_by_id_idx" ON "venue_claims"("requested_by_id");

-- CreateIndex
CREATE INDEX "venue_claims_reviewed_by_id_idx" ON "venue_claims"("reviewed_by_id");

-- CreateIndex
CREATE INDEX "venue_claims_status_created_at_idx" ON "venue_claims"("status", "created_at");

-- CreateIndex
CREATE INDEX "claim_audit_events_claim_id_created_at_idx" ON "claim_audit_events"("claim_id", "created_at");

-- CreateIndex
CREATE INDEX "claim_audit_events_venue_id_idx" ON "claim_audit_events"("venue_id");

-- CreateIndex
CREATE INDEX "claim_audit_events_actor_id_idx" ON "claim_audit_events"("actor_id");

-- CreateIndex
CREATE UNIQUE INDEX "agents_venue_id_key" ON "agents"("venue_id");

-- CreateIndex
CREATE UNIQUE INDEX "agents_user_id_key" ON "agents"("user_id");

-- CreateIndex
CREATE INDEX "agents_organization_id_idx" ON "agents"("organization_id");

-- CreateIndex
CREATE INDEX "agents_kind_status_idx" ON "agents"("kind", "status");

-- AddForeignKey
ALTER TABLE "hours_exceptions" ADD CONSTRAINT "hours_exceptions_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_tables" ADD CONSTRAINT "venue_tables_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_claims" ADD CONSTRAINT "venue_claims_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_claims" ADD CONSTRAINT "venue_claims_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_claims" ADD CONSTRAINT "venue_claims_requested_by_id_fkey" FOREIGN KEY ("requested_by_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_claims" ADD CONSTRAINT "venue_claims_reviewed_by_id_fkey" FOREIGN KEY ("reviewed_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "claim_audit_events" ADD CONSTRAINT "claim_audit_events_claim_id_fkey" FOREIGN KEY ("claim_id") REFERENCES "venue_claims"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "claim_audit_events" ADD CONSTRAINT "claim_audit_events_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "claim_audit_events" ADD CONSTRAINT "claim_audit_events_actor_id_fkey" FOREIGN KEY ("actor_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agents" ADD CONSTRAINT "agents_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE SET NULL ON UPDATE CASCADE;
