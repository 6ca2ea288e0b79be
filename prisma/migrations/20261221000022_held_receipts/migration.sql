-- A platform's receipt (delivered, read, failed) for a message of ours can arrive before the
-- send queue has written the message down as sent with the platform's id for it (WhatsApp answers
-- the send, then its status webhook can overtake our write): the receipt matched no message and
-- was lost, and a message the person had read stayed "sent". A receipt that matches no message
-- we know is now held here, and the send queue applies the held receipts of a message once it
-- has written its id. Receipts for ids never recorded (the earlier parts of a message sent in
-- parts) are deleted by the daily retention job.

CREATE TABLE "held_receipts" (
    "id" UUID NOT NULL,
    "platform" "ChannelPlatform" NOT NULL,
    "external_message_id" TEXT NOT NULL,
    "status" "OutboundStatus" NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "error" TEXT,
    "unreachable" BOOLEAN NOT NULL DEFAULT false,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "held_receipts_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "held_receipts_platform_external_message_id_idx" ON "held_receipts"("platform", "external_message_id");
CREATE INDEX "held_receipts_received_at_idx" ON "held_receipts"("received_at");
