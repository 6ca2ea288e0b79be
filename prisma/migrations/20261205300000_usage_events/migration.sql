-- Metered usage: what an organisation used that is billed through Stripe Billing Meters, recorded
-- once each (usage_key, derived from what was used) and reported once each by `report-usage`.

-- CreateEnum
CREATE TYPE "UsageMeter" AS ENUM ('A2A_BOOKING', 'CONVERSATION', 'LLM_TOKENS', 'API_CALL');

-- CreateTable
CREATE TABLE "usage_events" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "meter" "UsageMeter" NOT NULL,
    "quantity" BIGINT NOT NULL,
    "occurred_at" TIMESTAMPTZ(3) NOT NULL,
    "usage_key" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "claimed_until" TIMESTAMPTZ(3),
    "report_attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "reported_at" TIMESTAMPTZ(3),
    "stripe_identifier" TEXT,
    "abandoned_at" TIMESTAMPTZ(3),

    CONSTRAINT "usage_events_pkey" PRIMARY KEY ("id"),
    -- A meter counts something that happened: never nothing, never a negative amount.
    CONSTRAINT "usage_events_quantity_positive" CHECK ("quantity" > 0),
    -- Reported and abandoned are final, and exclusive.
    CONSTRAINT "usage_events_one_ending" CHECK ("reported_at" IS NULL OR "abandoned_at" IS NULL)
);

-- CreateIndex
CREATE UNIQUE INDEX "usage_events_usage_key_key" ON "usage_events"("usage_key");

-- CreateIndex
CREATE INDEX "usage_events_organization_id_occurred_at_idx" ON "usage_events"("organization_id", "occurred_at");

-- CreateIndex
CREATE INDEX "usage_events_meter_occurred_at_idx" ON "usage_events"("meter", "occurred_at");

-- CreateIndex: the reporter's queue (what is neither reported nor abandoned), in order of recording.
CREATE INDEX "usage_events_pending_idx" ON "usage_events"("created_at") WHERE "reported_at" IS NULL AND "abandoned_at" IS NULL;

-- AddForeignKey
ALTER TABLE "usage_events" ADD CONSTRAINT "usage_events_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Each purchase of credits started is a numbered attempt (`credits:{organizationId}:{attempt}`).
ALTER TABLE "billing_customers" ADD COLUMN "credit_attempts" INTEGER NOT NULL DEFAULT 0;

-- The sweeps of report-usage read llm_usage and a2a_envelopes by time: these keep them from
-- reading whole tables every quarter of an hour.
CREATE INDEX "llm_usage_created_at_idx" ON "llm_usage"("created_at");
CREATE INDEX "a2a_envelopes_to_agent_created_at_idx" ON "a2a_envelopes"("to_agent", "created_at");
