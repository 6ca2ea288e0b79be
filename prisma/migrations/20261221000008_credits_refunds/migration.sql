-- How far each refunded credits purchase has been taken back, by its charge. The ledger's refund
-- transfers said it only when there were credits left to take: a refund that found none left no
-- trace, and the next refund of the charge took back credits bought since.
CREATE TABLE "credits_refunds" (
    "charge_id" TEXT NOT NULL,
    "organization_id" UUID NOT NULL,
    "refunded_through" BIGINT NOT NULL,
    "uncovered" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credits_refunds_pkey" PRIMARY KEY ("charge_id")
);

CREATE INDEX "credits_refunds_organization_id_idx" ON "credits_refunds"("organization_id");

-- Refunds taken back before: their progress, from their transfers.
INSERT INTO "credits_refunds" ("charge_id", "organization_id", "refunded_through", "uncovered")
SELECT metadata->>'chargeId', (metadata->>'organizationId')::uuid,
       max((metadata->>'refundedThrough')::bigint), sum((metadata->>'uncovered')::bigint)
FROM "ledger_transfers"
WHERE kind = 'CREDITS_REFUND' AND metadata ? 'chargeId'
GROUP BY metadata->>'chargeId', metadata->>'organizationId'
ON CONFLICT ("charge_id") DO NOTHING;
