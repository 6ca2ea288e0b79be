-- The consumer agent: a person's profile, memories (full-text searchable), the model-usage
-- ledger, the audit of tool calls, and Lalamove deliveries with single-use confirmations.

-- AlterEnum: `npm run chat` talks to the agent from a terminal.
ALTER TYPE "ChannelPlatform" ADD VALUE 'CONSOLE';

-- CreateEnum
CREATE TYPE "MemoryKind" AS ENUM ('FACT', 'PREFERENCE', 'PATTERN');

-- CreateEnum
CREATE TYPE "ToolSideEffect" AS ENUM ('READ', 'WRITE', 'MONEY');

-- CreateEnum
CREATE TYPE "ToolCallOutcome" AS ENUM ('OK', 'ERROR', 'INVALID', 'TIMEOUT', 'REFUSED');

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "language" TEXT,
ADD COLUMN     "latitude" DOUBLE PRECISION,
ADD COLUMN     "longitude" DOUBLE PRECISION,
ADD COLUMN     "profile" JSONB NOT NULL DEFAULT '{}',
ADD COLUMN     "time_zone" TEXT;

-- CreateTable
CREATE TABLE "memories" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "kind" "MemoryKind" NOT NULL DEFAULT 'FACT',
    "content" TEXT NOT NULL,
    "importance" SMALLINT NOT NULL DEFAULT 3,
    "search_document" tsvector,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),

    CONSTRAINT "memories_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "llm_usage" (
    "id" UUID NOT NULL,
    "user_id" UUID,
    "organization_id" UUID,
    "purpose" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "model" TEXT NOT NULL,
    "input_tokens" INTEGER NOT NULL,
    "output_tokens" INTEGER NOT NULL,
    "cache_read_tokens" INTEGER NOT NULL DEFAULT 0,
    "cache_write_tokens" INTEGER NOT NULL DEFAULT 0,
    "cost_micros" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "llm_usage_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tool_calls" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "agent_id" UUID,
    "tool" TEXT NOT NULL,
    "side_effect" "ToolSideEffect" NOT NULL,
    "input" JSONB NOT NULL,
    "outcome" "ToolCallOutcome" NOT NULL,
    "result" JSONB,
    "error" TEXT,
    "duration_ms" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tool_calls_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "delivery_quotes" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "external_quotation_id" TEXT NOT NULL,
    "service_type" TEXT NOT NULL,
    "stops" JSONB NOT NULL,
    "price_total" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "delivery_quotes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "delivery_confirmations" (
    "id" UUID NOT NULL,
    "quote_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "token_hash" TEXT NOT NULL,
    "price_total" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "confirmed_at" TIMESTAMPTZ(3),
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "delivery_confirmations_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "delivery_orders" (
    "id" UUID NOT NULL,
    "quote_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "external_order_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "share_link" TEXT,
    "driver" JSONB,
    "price_total" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "delivery_orders_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "memories_user_id_created_at_idx" ON "memories"("user_id", "created_at");

-- Memories are found by their words, like venues: a trigger keeps the document ('simple' keeps
-- every word of every language: no stemming, no stop words).
CREATE FUNCTION "memories_search_document"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_document := to_tsvector('simple', coalesce(NEW.content, ''));
  RETURN NEW;
END
$$;

CREATE TRIGGER "memories_search_document"
  BEFORE INSERT OR UPDATE OF "content" ON "memories"
  FOR EACH ROW EXECUTE FUNCTION "memories_search_document"();

-- CreateIndex
CREATE INDEX "memories_search_document_idx" ON "memories" USING GIN ("search_document");

-- CreateIndex
CREATE INDEX "llm_usage_user_id_created_at_idx" ON "llm_usage"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "llm_usage_organization_id_created_at_idx" ON "llm_usage"("organization_id", "created_at");

-- CreateIndex
CREATE INDEX "tool_calls_user_id_created_at_idx" ON "tool_calls"("user_id", "created_at");

-- CreateIndex
CREATE INDEX "tool_calls_agent_id_idx" ON "tool_calls"("agent_id");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_quotes_external_quotation_id_key" ON "delivery_quotes"("external_quotation_id");

-- CreateIndex
CREATE INDEX "delivery_quotes_user_id_created_at_idx" ON "delivery_quotes"("user_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_confirmations_token_hash_key" ON "delivery_confirmations"("token_hash");

-- CreateIndex
CREATE INDEX "delivery_confirmations_quote_id_idx" ON "delivery_confirmations"("quote_id");

-- CreateIndex
CREATE INDEX "delivery_confirmations_user_id_created_at_idx" ON "delivery_confirmations"("user_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_orders_quote_id_key" ON "delivery_orders"("quote_id");

-- CreateIndex
CREATE UNIQUE INDEX "delivery_orders_external_order_id_key" ON "delivery_orders"("external_order_id");

-- CreateIndex
CREATE INDEX "delivery_orders_user_id_created_at_idx" ON "delivery_orders"("user_id", "created_at");

-- AddForeignKey
ALTER TABLE "memories" ADD CONSTRAINT "memories_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "llm_usage" ADD CONSTRAINT "llm_usage_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "llm_usage" ADD CONSTRAINT "llm_usage_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_agent_id_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery_quotes" ADD CONSTRAINT "delivery_quotes_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery_confirmations" ADD CONSTRAINT "delivery_confirmations_quote_id_fkey" FOREIGN KEY ("quote_id") REFERENCES "delivery_quotes"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery_orders" ADD CONSTRAINT "delivery_orders_quote_id_fkey" FOREIGN KEY ("quote_id") REFERENCES "delivery_quotes"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "delivery_orders" ADD CONSTRAINT "delivery_orders_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
