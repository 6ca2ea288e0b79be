-- A reminder set in a chat turn keeps the key of the call that set it: a turn run again after its
-- worker died finds the reminder instead of setting a second one.
ALTER TABLE "reminders" ADD COLUMN "turn_key" TEXT;

CREATE UNIQUE INDEX "reminders_user_id_turn_key_key" ON "reminders"("user_id", "turn_key");
