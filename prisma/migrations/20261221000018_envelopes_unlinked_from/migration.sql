-- Erasing an account redacts every envelope its agent sent that no booking links (its questions to
-- venues, and the REJECTED copies of its requests and cancellations, which are stored without a
-- booking), found by the sender: the index on the questions alone widens to all unlinked rows.

-- Building the index holds off writes of envelopes until it is built (reads go on): give up
-- rather than queue every send and receipt behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

CREATE INDEX "a2a_envelopes_unlinked_from_idx" ON "a2a_envelopes"("from_agent") WHERE booking_id IS NULL;
-- Dropped last: a drop locks the table against reads too, so it is held only for the commit.
DROP INDEX "a2a_envelopes_questions_from_idx";
