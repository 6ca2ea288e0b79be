-- A platform's rate limit is waited out however often it comes, but each one still counted as
-- one of a message's ten attempts: after nine in a busy group, a single passing failure gave the
-- message up. The send queue now counts the rate limits apart, and gives up on the others alone.

-- A constant default: the column is added without rewriting the table, under a brief lock; give
-- up rather than queue the send queue's writes behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

ALTER TABLE "outbound_messages" ADD COLUMN "rate_limits" INTEGER NOT NULL DEFAULT 0;
