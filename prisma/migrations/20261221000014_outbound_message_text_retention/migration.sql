-- What was sent (a reply's text, a notice's) is emptied some days after it was sent or given up
-- (RETENTION_MESSAGE_TEXT_DAYS); the daily retention job finds the messages still holding theirs by
-- this index, so it does not read the ones already emptied again every day.
CREATE INDEX "outbound_messages_text_kept_idx" ON "outbound_messages"("created_at") WHERE status <> 'PENDING' AND body <> '';
