-- The platform's model usage per UTC day, for its daily ceiling: one row per day, kept by a
-- trigger on the usage ledger, so the ceiling is checked with one primary-key read instead of a
-- sum over every call of the day, and no way of writing the ledger can leave it out.

-- CreateTable
CREATE TABLE "llm_daily_usage" (
    "day" DATE NOT NULL,
    "tokens" BIGINT NOT NULL DEFAULT 0,
    "cost_micros" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "llm_daily_usage_pkey" PRIMARY KEY ("day")
);

-- Tokens as budgets count them: input, cache writes and output (cache reads are left out).
CREATE FUNCTION "llm_daily_usage_add"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "llm_daily_usage" ("day", "tokens", "cost_micros")
  VALUES (
    (NEW.created_at AT TIME ZONE 'UTC')::date,
    NEW.input_tokens + NEW.cache_write_tokens + NEW.output_tokens,
    NEW.cost_micros
  )
  ON CONFLICT ("day") DO UPDATE SET
    "tokens" = "llm_daily_usage"."tokens" + EXCLUDED."tokens",
    "cost_micros" = "llm_daily_usage"."cost_micros" + EXCLUDED."cost_micros";
  RETURN NULL;
END
$$;

CREATE TRIGGER "llm_usage_daily_total"
  AFTER INSERT ON "llm_usage"
  FOR EACH ROW EXECUTE FUNCTION "llm_daily_usage_add"();

INSERT INTO "llm_daily_usage" ("day", "tokens", "cost_micros")
SELECT (created_at AT TIME ZONE 'UTC')::date,
       SUM(input_tokens + cache_write_tokens + output_tokens),
       SUM(cost_micros)
FROM "llm_usage"
GROUP BY 1;
