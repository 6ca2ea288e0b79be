-- Plan changes asked of Stripe for a subscription (changePlan): numbers each one's idempotency key.
ALTER TABLE "billing_subscriptions" ADD COLUMN "plan_changes" INTEGER NOT NULL DEFAULT 0;
