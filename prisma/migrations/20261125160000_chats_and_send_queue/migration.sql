-- AlterTable
ALTER TABLE "outbound_messages" ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "chat_id" UUID,
ADD COLUMN     "content" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "delivered_at" TIMESTAMPTZ(3),
ADD COLUMN     "external_message_id" TEXT,
ADD COLUMN     "read_at" TIMESTAMPTZ(3),
ADD COLUMN     "sent_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "chats" (
    "id" UUID NOT NULL,
    "platform" "ChannelPlatform" NOT NULL,
    "account" TEXT NOT NULL,
    "external_chat_id" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "last_inbound_at" TIMESTAMPTZ(3),
    "unreachable_at" TIMESTAMPTZ(3),
    "unreachable_reason" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "chats_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "chats_user_id_last_inbound_at_idx" ON "chats"("user_id", "last_inbound_at");

-- CreateIndex
CREATE UNIQUE INDEX "chats_platform_account_external_chat_id_key" ON "chats"("platform", "account", "external_chat_id");

-- CreateIndex
CREATE INDEX "outbound_messages_chat_id_status_created_at_idx" ON "outbound_messages"("chat_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "outbound_messages_external_message_id_idx" ON "outbound_messages"("external_message_id");

-- AddForeignKey
ALTER TABLE "outbound_messages" ADD CONSTRAINT "outbound_messages_chat_id_fkey" FOREIGN KEY ("chat_id") REFERENCES "chats"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "chats" ADD CONSTRAINT "chats_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
