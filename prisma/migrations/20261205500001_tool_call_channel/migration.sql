-- A tool call's audit row says which way it came in (chat, MCP, public A2A) and, for an API key's
-- call, which key. The key is a plain column, not a foreign key: the audit outlives the key.
CREATE TYPE "ToolChannel" AS ENUM ('CHAT', 'MCP', 'A2A');

ALTER TABLE "tool_calls"
    ADD COLUMN "channel" "ToolChannel" NOT NULL DEFAULT 'CHAT',
    ADD COLUMN "api_key_id" UUID;

CREATE INDEX "tool_calls_api_key_id_created_at_idx" ON "tool_calls"("api_key_id", "created_at");
