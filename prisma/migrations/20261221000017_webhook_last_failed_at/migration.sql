-- A webhook subscription's last failed attempt: a failure long after the previous one starts a new
-- run of failures, so the auto-disable counts only failures that followed one another.
ALTER TABLE "webhook_subscriptions" ADD COLUMN "last_failed_at" TIMESTAMPTZ(3);

-- Subscriptions failing now keep their run: their last failed attempt is taken from the log
-- (a failed attempt is one with an error).
UPDATE "webhook_subscriptions" AS s
SET "last_failed_at" = (
    SELECT max(a."attempted_at")
    FROM "webhook_attempts" AS a
    JOIN "webhook_deliveries" AS d ON d."id" = a."delivery_id"
    WHERE d."subscription_id" = s."id" AND a."error" IS NOT NULL
)
WHERE s."failing_since" IS NOT NULL;
