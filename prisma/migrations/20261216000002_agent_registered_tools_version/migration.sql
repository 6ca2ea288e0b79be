-- The gateway keeps the tool list an agent was registered with, while the agent acts by today's
-- catalogue (storedDna in src/domain/agents/dna.ts brings a stored list up to date as it is read).
-- A release that raises TOOLS_VERSION must therefore register every agent again, though no row
-- changed: each row records the catalogue version of its last registration, and
-- agent-register-sweep picks the rows behind it.

-- Rows here before the column were registered (if at all: registered_at says) at version 1, the
-- only version there has been: registration has read DNA through storedDna since versions began,
-- and the rows whose lists that changed were moved (20261215000001_agent_dna_default_tools). So
-- they start at 1, written as the column's default when it is added (PostgreSQL keeps a constant
-- default in the catalogue: no row is rewritten), and rows made from now on start at 0, which a
-- registration replaces. Without this, the first deploy would register every agent again.
ALTER TABLE "agents" ADD COLUMN "registered_tools_version" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "agents" ALTER COLUMN "registered_tools_version" SET DEFAULT 0;

-- The sweep's two questions, each answered from a small part of an index instead of the whole
-- table every ten minutes. Agents changed since the gateway took them, oldest change first: in a
-- quiet hour the index is empty.
CREATE INDEX "agents_registration_behind_idx" ON "agents"("updated_at")
  WHERE kind IN ('VENUE', 'CONSUMER') AND (registered_at IS NULL OR registered_at < updated_at);

-- Agents registered at an older catalogue: a range at the start of this index (the version is a
-- parameter, so it cannot be the predicate of a partial index), empty but after a release.
CREATE INDEX "agents_registered_tools_version_idx" ON "agents"("registered_tools_version")
  WHERE kind IN ('VENUE', 'CONSUMER');
