-- Each dispute of a credits purchase: what it took back and holds, and whether it was won. The
-- ledger's dispute transfers said it only when there were credits to take, so a dispute closed as
-- won before its opening was applied was not remembered, and the opening then took the credits.
CREATE TABLE "credits_disputes" (
    "dispute_id" TEXT NOT NULL,
    "payment_intent_id" TEXT NOT NULL,
    "organization_id" UUID NOT NULL,
    "taken" BIGINT NOT NULL DEFAULT 0,
    "uncovered" BIGINT NOT NULL DEFAULT 0,
    "won" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credits_disputes_pkey" PRIMARY KEY ("dispute_id")
);

CREATE INDEX "credits_disputes_payment_intent_id_idx" ON "credits_disputes"("payment_intent_id");
CREATE INDEX "credits_disputes_organization_id_idx" ON "credits_disputes"("organization_id");

-- Disputes taken back before, from their transfers; one whose transfer was reversed was won.
INSERT INTO "credits_disputes" ("dispute_id", "payment_intent_id", "organization_id", "taken", "uncovered", "won")
SELECT t.metadata->>'disputeId', t.metadata->>'paymentIntentId', (t.metadata->>'organizationId')::uuid,
       CASE WHEN won.id IS NULL THEN (SELECT sum(e.amount) FROM "ledger_entries" e WHERE e.transfer_id = t.id AND e.amount > 0) ELSE 0 END,
       coalesce((t.metadata->>'uncovered')::bigint, 0),
       won.id IS NOT NULL
FROM "ledger_transfers" t
LEFT JOIN LATERAL (
    SELECT r.id FROM "ledger_transfers" r
    WHERE r.kind = 'REVERSAL' AND r.metadata->>'reverses' = t.id::text
    LIMIT 1
) won ON true
WHERE t.kind = 'CREDITS_DISPUTE' AND t.metadata ? 'disputeId' AND t.metadata ? 'paymentIntentId'
ON CONFLICT ("dispute_id") DO NOTHING;
