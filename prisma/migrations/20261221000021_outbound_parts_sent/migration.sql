-- A chat message the channel sends in several parts (a WhatsApp or Instagram reply split so that
-- each button comes with what it does; Instagram's images before the text) was sent again from
-- its first part when a later one failed: the person saw the first parts twice. The send queue
-- now keeps how many parts the platform took, of how many, and the next attempt goes on from
-- there while the message still splits into as many parts.

-- A constant default (and none): the columns are added without rewriting the table, under a brief lock; give
-- up rather than queue the send queue's writes behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

ALTER TABLE "outbound_messages" ADD COLUMN "parts_sent" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "parts_of" INTEGER;
