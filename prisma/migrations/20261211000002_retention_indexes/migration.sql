-- The daily data-retention job's other deletes (src/domain/operations/retention.ts) each find
-- their rows by one of these, oldest first, instead of reading the whole table for every batch.

-- Public A2A tasks, by last change: those without a booking (kept 7 days) and a booking's (180),
-- each its own statement, so that neither reads the other's rows it keeps.
CREATE INDEX "a2a_tasks_unbooked_updated_idx" ON "a2a_tasks"("updated_at") WHERE "booking_id" IS NULL;
CREATE INDEX "a2a_tasks_booked_updated_idx" ON "a2a_tasks"("updated_at") WHERE "booking_id" IS NOT NULL;

-- Finished webhook deliveries (delivered or failed), by when they were created; pending ones are
-- not in it.
CREATE INDEX "webhook_deliveries_finished_idx" ON "webhook_deliveries"("created_at") WHERE "status" <> 'PENDING';

-- Tool-call audits by age.
CREATE INDEX "tool_calls_created_at_idx" ON "tool_calls"("created_at");

-- Sign-in codes by expiry.
CREATE INDEX "sign_in_codes_expires_at_idx" ON "sign_in_codes"("expires_at");

-- Refresh tokens have none: a family expired whole is known only from all its tokens, and an
-- index on expiry finds the rotated tokens of live families as well (measured: no faster).
