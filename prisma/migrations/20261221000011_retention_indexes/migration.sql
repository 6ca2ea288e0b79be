-- Confirmations, delivery quotes never ordered and reminders sent or cancelled are history once
-- done; the daily retention job finds them by these.
CREATE INDEX "confirmations_expires_at_idx" ON "confirmations"("expires_at");
CREATE INDEX "delivery_quotes_expires_at_idx" ON "delivery_quotes"("expires_at");
CREATE INDEX "reminders_sent_idx" ON "reminders"("sent_at") WHERE sent_at IS NOT NULL;
CREATE INDEX "reminders_cancelled_idx" ON "reminders"("cancelled_at") WHERE cancelled_at IS NOT NULL;
