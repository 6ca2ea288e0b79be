-- An inbox read asks, for every message it records, whether that gateway message was recorded
-- before (handed out again, or refused by an earlier read): by its envelope id, among rows of
-- every state. The unique index of (direction, envelope_id) leaves REJECTED rows out, so until now
-- each of those questions read the whole table.

-- Building the index holds off writes of envelopes until it is built (seconds for millions of
-- rows). Waiting for its lock behind a long transaction would queue every send and receipt
-- behind it as well: give up instead (and let the deploy try again).
SET LOCAL lock_timeout = '5s';

CREATE INDEX "a2a_envelopes_envelope_id_idx" ON "a2a_envelopes"("envelope_id");
