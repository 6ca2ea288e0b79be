-- Reminders a person set through their agent, and the account columns for deletion (purged 30 days
-- after it is asked for) and for opting in to an occasional re-engagement message.
ALTER TABLE "users" ADD COLUMN "deleted_at" TIMESTAMPTZ(3),
    ADD COLUMN "purged_at" TIMESTAMPTZ(3),
    ADD COLUMN "reengagement_opt_in" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN "reengaged_at" TIMESTAMPTZ(3);

-- Accounts waiting for their purge.
CREATE INDEX "users_deleted_idx" ON "users"("deleted_at") WHERE deleted_at IS NOT NULL AND purged_at IS NULL;

CREATE TABLE "reminders" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "chat_id" UUID,
    "text" TEXT NOT NULL,
    "due_at" TIMESTAMPTZ(3) NOT NULL,
    "sent_at" TIMESTAMPTZ(3),
    "cancelled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "reminders_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "reminders_user_id_due_at_idx" ON "reminders"("user_id", "due_at");
CREATE INDEX "reminders_chat_id_idx" ON "reminders"("chat_id");
-- What `deliver-reminders` looks through.
CREATE INDEX "reminders_pending_idx" ON "reminders"("due_at") WHERE sent_at IS NULL AND cancelled_at IS NULL;

ALTER TABLE "reminders" ADD CONSTRAINT "reminders_user_id_fkey"
    FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "reminders" ADD CONSTRAINT "reminders_chat_id_fkey"
    FOREIGN KEY ("chat_id") REFERENCES "chats"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Consumer agents that had the full tool set get the new tool too (an agent whose owner narrowed its
-- tools keeps its choice).
UPDATE "agents" SET "dna" = jsonb_set("dna", '{tools}', ("dna"->'tools') || '"set_reminder"'::jsonb)
WHERE "kind" = 'CONSUMER' AND ("dna"->'tools') ? 'update_profile' AND NOT (("dna"->'tools') ? 'set_reminder');
