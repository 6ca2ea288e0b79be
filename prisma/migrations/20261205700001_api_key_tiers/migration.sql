-- API key tiers. An organisation's developer tier while billing is off (set by a platform admin;
-- with billing on the tier follows its plan instead), each key's requests per UTC day as flushed
-- from Redis by `api-usage-flush`, and the meter those days are billed by.
CREATE TYPE "DeveloperTier" AS ENUM ('FREE', 'PRO');

ALTER TABLE "organizations" ADD COLUMN "developer_tier" "DeveloperTier" NOT NULL DEFAULT 'FREE';

-- A new enum value cannot be used in the transaction that adds it; nothing here uses it.
ALTER TYPE "UsageMeter" ADD VALUE 'API_REQUEST';

CREATE TABLE "api_key_daily_usage" (
    "api_key_id" UUID NOT NULL,
    "day" DATE NOT NULL,
    "requests" INTEGER NOT NULL,
    "request_limit" INTEGER NOT NULL,
    "usage_recorded_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "api_key_daily_usage_pkey" PRIMARY KEY ("api_key_id", "day"),
    CONSTRAINT "api_key_daily_usage_requests_check" CHECK ("requests" >= 0)
);

-- Days whose usage event is still to be recorded.
CREATE INDEX "api_key_daily_usage_pending_idx" ON "api_key_daily_usage"("day") WHERE "usage_recorded_at" IS NULL;

ALTER TABLE "api_key_daily_usage" ADD CONSTRAINT "api_key_daily_usage_api_key_id_fkey"
    FOREIGN KEY ("api_key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;
