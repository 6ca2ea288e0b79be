-- An approved takeover keeps the organisation the venue belonged to until then, so who held a
-- venue at a past moment can be read (a booking completed before a takeover owes its fee to the
-- organisation that held the venue then, not nothing).
ALTER TABLE "venue_claims" ADD COLUMN "taken_over_from" UUID;

-- Takeovers approved before: their audit line names the organisation.
UPDATE "venue_claims" c
SET "taken_over_from" = substring(e.detail FROM 'taken over from organisation ([0-9a-f-]{36})')::uuid
FROM "claim_audit_events" e
WHERE e.claim_id = c.id AND c.status = 'APPROVED' AND e.outcome = 'APPROVED'
  AND e.detail ~ '^taken over from organisation [0-9a-f-]{36}$';
