-- A chat several people talk in (a Telegram group) is marked shared: a person's own notices
-- (bookings, reminders, summaries) never go to it, whoever wrote there last.
SET LOCAL lock_timeout = '5s';

ALTER TABLE "chats" ADD COLUMN "shared" BOOLEAN NOT NULL DEFAULT false;

-- A person's own chat is the one whose id is theirs on the platform (a Telegram private chat,
-- a WhatsApp number, an Instagram thread); any other is shared.
UPDATE "chats" c SET "shared" = true
WHERE NOT EXISTS (
  SELECT 1 FROM "channel_identities" i
  WHERE i.user_id = c.user_id AND i.platform = c.platform AND i.external_id = c.external_chat_id
);
