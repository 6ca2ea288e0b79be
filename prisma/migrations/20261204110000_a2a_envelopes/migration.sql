-- Signing keys get an id on the wire (kid), and a rotation keeps the previous key verifying
-- for an overlap.
ALTER TABLE "agents" ADD COLUMN "signing_kid" TEXT,
ADD COLUMN "previous_signing_secret_ciphertext" TEXT,
ADD COLUMN "previous_signing_secret_key_id" TEXT,
ADD COLUMN "previous_signing_kid" TEXT,
ADD COLUMN "previous_signing_valid_until" TIMESTAMPTZ(3);

-- Secrets issued before kids existed are each agent's first.
UPDATE "agents" SET "signing_kid" = left("id"::text, 8) || '-v1'
WHERE "signing_secret_ciphertext" IS NOT NULL;

-- CreateEnum
CREATE TYPE "EnvelopeDirection" AS ENUM ('OUTBOUND', 'INBOUND');

-- CreateEnum
CREATE TYPE "EnvelopeState" AS ENUM ('PENDING', 'SENT', 'DELIVERED', 'ANSWERED', 'EXPIRED', 'FAILED', 'REJECTED');

-- CreateTable
CREATE TABLE "a2a_envelopes" (
    "id" UUID NOT NULL,
    "envelope_id" UUID,
    "direction" "EnvelopeDirection" NOT NULL,
    "from_agent" TEXT NOT NULL,
    "to_agent" TEXT NOT NULL,
    "intent" TEXT,
    "payload" JSONB NOT NULL DEFAULT '{}',
    "envelope" TEXT,
    "state" "EnvelopeState" NOT NULL DEFAULT 'PENDING',
    "reject_reason" TEXT,
    "last_error" TEXT,
    "in_reply_to" UUID,
    "booking_id" UUID,
    "priority" TEXT NOT NULL DEFAULT 'normal',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "handled_at" TIMESTAMPTZ(3),
    "handled_note" TEXT,
    "gateway_message_id" TEXT,
    "sent_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "answered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "a2a_envelopes_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "a2a_envelopes_priority_check" CHECK ("priority" IN ('low', 'normal', 'high')),
    -- Only an inbound message too malformed to read may lack an id or an intent.
    CONSTRAINT "a2a_envelopes_readable_check" CHECK (
        "state" = 'REJECTED' OR ("envelope_id" IS NOT NULL AND "intent" IS NOT NULL))
);

-- One accepted (or outgoing) row per envelope id and direction; replays and forgeries of an id
-- are stored REJECTED beside it.
CREATE UNIQUE INDEX "a2a_envelopes_direction_envelope_id_key" ON "a2a_envelopes"("direction", "envelope_id") WHERE "state" <> 'REJECTED';

-- CreateIndex
CREATE INDEX "a2a_envelopes_state_next_attempt_at_idx" ON "a2a_envelopes"("state", "next_attempt_at");

-- CreateIndex
CREATE INDEX "a2a_envelopes_booking_id_created_at_idx" ON "a2a_envelopes"("booking_id", "created_at");

-- CreateIndex
CREATE INDEX "a2a_envelopes_state_expires_at_idx" ON "a2a_envelopes"("state", "expires_at");

-- CreateIndex
CREATE INDEX "a2a_envelopes_in_reply_to_idx" ON "a2a_envelopes"("in_reply_to");

-- AddForeignKey
ALTER TABLE "a2a_envelopes" ADD CONSTRAINT "a2a_envelopes_booking_id_fkey" FOREIGN KEY ("booking_id") REFERENCES "bookings"("id") ON DELETE SET NULL ON UPDATE CASCADE;
