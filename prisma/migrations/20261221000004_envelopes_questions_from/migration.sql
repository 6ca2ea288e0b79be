-- Erasing an account empties the text of the person's questions to venues, found by the agent that
-- sent them: without an index on the sender, each account purged read every envelope. Questions
-- are a small share of envelopes, so the index is partial.

-- Building the index holds off writes of envelopes until it is built: give up rather than queue
-- every send and receipt behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

CREATE INDEX "a2a_envelopes_questions_from_idx" ON "a2a_envelopes"("from_agent") WHERE intent = 'venue.question';
