-- Business scans: a website read for an organisation, its report and onboarding draft.

-- CreateEnum
CREATE TYPE "BusinessScanStatus" AS ENUM ('QUEUED', 'RUNNING', 'DONE', 'FAILED');

-- CreateTable
CREATE TABLE "business_scans" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "requested_by_id" UUID,
    "url" TEXT NOT NULL,
    "status" "BusinessScanStatus" NOT NULL DEFAULT 'QUEUED',
    "lanes" JSONB NOT NULL DEFAULT '{}',
    "failure_reason" TEXT,
    "failure_code" TEXT,
    "report" JSONB,
    "draft" JSONB,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "business_scans_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "business_scans_organization_id_created_at_idx" ON "business_scans"("organization_id", "created_at");

-- CreateIndex
CREATE INDEX "business_scans_requested_by_id_idx" ON "business_scans"("requested_by_id");

-- AddForeignKey
ALTER TABLE "business_scans" ADD CONSTRAINT "business_scans_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "business_scans" ADD CONSTRAINT "business_scans_requested_by_id_fkey" FOREIGN KEY ("requested_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
