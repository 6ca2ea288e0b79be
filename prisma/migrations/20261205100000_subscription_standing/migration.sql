-- Dunning: when a subscription became past due (its grace runs from then), and what its
-- organisation's owners were last told about its standing.
ALTER TABLE "billing_subscriptions" ADD COLUMN "past_due_since" TIMESTAMPTZ(3);
ALTER TABLE "billing_subscriptions" ADD COLUMN "notified_standing" TEXT;
ALTER TABLE "billing_subscriptions" ADD COLUMN "notices_sent" INTEGER NOT NULL DEFAULT 0;

-- Subscriptions already past due: their grace counts from the state we hold.
UPDATE "billing_subscriptions" SET "past_due_since" = "state_at" WHERE "status" = 'past_due';
-- Subscriptions in good standing need no notice.
UPDATE "billing_subscriptions" SET "notified_standing" = 'ACTIVE' WHERE "status" IN ('active', 'trialing');
