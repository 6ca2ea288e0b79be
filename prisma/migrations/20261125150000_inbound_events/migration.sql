-- CreateEnum
CREATE TYPE "InboundStatus" AS ENUM ('PENDING', 'PROCESSED', 'IGNORED', 'FAILED');

-- CreateTable
CREATE TABLE "inbound_events" (
    "id" UUID NOT NULL,
    "platform" "ChannelPlatform" NOT NULL,
    "account" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "external_chat_id" TEXT,
    "event_type" TEXT NOT NULL,
    "raw" JSONB,
    "raw_text" TEXT,
    "normalized" JSONB,
    "status" "InboundStatus" NOT NULL DEFAULT 'PENDING',
    "error" TEXT,
    "sequence" BIGSERIAL NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processed_at" TIMESTAMPTZ(3),

    CONSTRAINT "inbound_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "inbound_events_platform_account_external_chat_id_status_seq_idx" ON "inbound_events"("platform", "account", "external_chat_id", "status", "sequence");

-- CreateIndex
CREATE INDEX "inbound_events_status_received_at_idx" ON "inbound_events"("status", "received_at");

-- CreateIndex
CREATE UNIQUE INDEX "inbound_events_platform_account_external_id_key" ON "inbound_events"("platform", "account", "external_id");
