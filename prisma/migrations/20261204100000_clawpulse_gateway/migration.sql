-- CreateTable
CREATE TABLE "gateway_agents" (
    "agent_id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "dna" JSONB NOT NULL,
    "registered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "gateway_agents_pkey" PRIMARY KEY ("agent_id")
);

-- CreateTable
CREATE TABLE "gateway_messages" (
    "id" UUID NOT NULL,
    "sequence" BIGSERIAL NOT NULL,
    "to_agent" TEXT NOT NULL,
    "from_agent" TEXT NOT NULL,
    "priority" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL,
    "visible_at" TIMESTAMPTZ(3) NOT NULL,
    "delivery_count" INTEGER NOT NULL DEFAULT 0,
    "acked_at" TIMESTAMPTZ(3),

    CONSTRAINT "gateway_messages_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "gateway_messages_to_agent_acked_at_sequence_idx" ON "gateway_messages"("to_agent", "acked_at", "sequence");

-- CreateIndex
CREATE INDEX "gateway_messages_acked_at_idx" ON "gateway_messages"("acked_at");

-- AddForeignKey
ALTER TABLE "gateway_messages" ADD CONSTRAINT "gateway_messages_to_agent_fkey" FOREIGN KEY ("to_agent") REFERENCES "gateway_agents"("agent_id") ON DELETE CASCADE ON UPDATE CASCADE;
