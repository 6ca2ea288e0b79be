-- Delivery confirmations become the one confirmation mechanism: a row confirms either a delivery
-- quote at its price or one held tool call (action).
ALTER TABLE "delivery_confirmations" RENAME TO "confirmations";
ALTER TABLE "confirmations" RENAME CONSTRAINT "delivery_confirmations_pkey" TO "confirmations_pkey";
ALTER TABLE "confirmations" RENAME CONSTRAINT "delivery_confirmations_quote_id_fkey" TO "confirmations_quote_id_fkey";
ALTER INDEX "delivery_confirmations_token_hash_key" RENAME TO "confirmations_token_hash_key";
ALTER INDEX "delivery_confirmations_quote_id_idx" RENAME TO "confirmations_quote_id_idx";
ALTER INDEX "delivery_confirmations_user_id_created_at_idx" RENAME TO "confirmations_user_id_created_at_idx";

ALTER TABLE "confirmations" ALTER COLUMN "quote_id" DROP NOT NULL,
    ALTER COLUMN "price_total" DROP NOT NULL,
    ALTER COLUMN "currency" DROP NOT NULL,
    ADD COLUMN "action" JSONB;

-- Exactly one of the two things a confirmation can be for.
ALTER TABLE "confirmations" ADD CONSTRAINT "confirmations_subject_check" CHECK (
    ("quote_id" IS NOT NULL AND "price_total" IS NOT NULL AND "currency" IS NOT NULL AND "action" IS NULL)
    OR ("quote_id" IS NULL AND "action" IS NOT NULL)
);
