-- The outbox sweep asks every minute which accepted inbound envelopes are still unhandled (a
-- handling job lost or given up is scheduled again), and the backlog counts them. Handled rows
-- stay DELIVERED, so only a partial index keeps that question from reading every envelope ever
-- received.

-- Building the index holds off writes of envelopes until it is built: give up rather than queue
-- every send and receipt behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

CREATE INDEX "a2a_envelopes_unhandled_idx" ON "a2a_envelopes"("created_at") WHERE direction = 'INBOUND' AND state = 'DELIVERED' AND handled_at IS NULL;
