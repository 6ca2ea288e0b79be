-- Notices reach people with no chat by email: an outbound message says how it goes.
-- CreateEnum
CREATE TYPE "OutboundChannel" AS ENUM ('CHAT', 'EMAIL');

-- AlterTable
ALTER TABLE "outbound_messages" ADD COLUMN "channel" "OutboundChannel" NOT NULL DEFAULT 'CHAT',
ADD COLUMN "email_to" TEXT,
ADD COLUMN "subject" TEXT;

-- An email message has its address; a chat message never has one.
ALTER TABLE "outbound_messages" ADD CONSTRAINT "outbound_messages_channel_check" CHECK (
    ("channel" = 'CHAT' AND "email_to" IS NULL) OR ("channel" = 'EMAIL' AND "chat_id" IS NULL)
);

-- The guest's answer to a feedback request.
-- CreateTable
CREATE TABLE "booking_feedback" (
    "id" UUID NOT NULL,
    "booking_id" UUID NOT NULL,
    "guest_id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "score" SMALLINT NOT NULL,
    "comment" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "booking_feedback_pkey" PRIMARY KEY ("id"),
    -- The domain refuses these first, with a sentence; the database holds the line too.
    CONSTRAINT "booking_feedback_score_check" CHECK ("score" BETWEEN 1 AND 5),
    CONSTRAINT "booking_feedback_comment_check" CHECK (char_length("comment") <= 2000)
);

-- CreateIndex
CREATE UNIQUE INDEX "booking_feedback_booking_id_key" ON "booking_feedback"("booking_id");

-- CreateIndex
CREATE INDEX "booking_feedback_guest_id_idx" ON "booking_feedback"("guest_id");

-- CreateIndex
CREATE INDEX "booking_feedback_venue_id_idx" ON "booking_feedback"("venue_id");

-- AddForeignKey
ALTER TABLE "booking_feedback" ADD CONSTRAINT "booking_feedback_booking_id_fkey" FOREIGN KEY ("booking_id") REFERENCES "bookings"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "booking_feedback" ADD CONSTRAINT "booking_feedback_guest_id_fkey" FOREIGN KEY ("guest_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "booking_feedback" ADD CONSTRAINT "booking_feedback_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;
