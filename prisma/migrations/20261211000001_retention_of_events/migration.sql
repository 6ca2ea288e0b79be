-- The daily data-retention job deletes provider events once applied and usage events once settled
-- (src/domain/operations/retention.ts); each finds its rows by one of these, oldest first, and
-- never reads the rows it keeps. (Chat messages received are found by the existing
-- inbound_events (status, received_at) index.)

-- Applied provider events, by when they were applied; unapplied ones are not in it.
CREATE INDEX "provider_events_processed_idx" ON "provider_events"("processed_at") WHERE "processed_at" IS NOT NULL;

-- Usage events reported to Stripe or abandoned, by when the usage happened. The job's query
-- repeats this predicate word for word so that the planner can use the index.
CREATE INDEX "usage_events_settled_idx" ON "usage_events"("occurred_at") WHERE "reported_at" IS NOT NULL OR "abandoned_at" IS NOT NULL;
