-- A FAQ entry shows a guest's own words as its question until staff reword it; which ask they came
-- from is kept, so erasing that guest's account finds them (purgeUser, src/domain/identity).
ALTER TABLE "venue_faq_entries" ADD COLUMN "question_item_id" UUID;
ALTER TABLE "venue_faq_entries" ADD CONSTRAINT "venue_faq_entries_question_item_id_fkey"
  FOREIGN KEY ("question_item_id") REFERENCES "venue_inbox_items"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "venue_faq_entries_question_item_id_idx" ON "venue_faq_entries"("question_item_id");

-- The entries already written: the newest answered question of the venue with those very words
-- (as the compile chose them, trimmed).
UPDATE "venue_faq_entries" f SET "question_item_id" = (
  SELECT i.id FROM "venue_inbox_items" i
  WHERE i.venue_id = f.venue_id AND i.kind = 'QUESTION' AND i.status = 'ANSWERED'
    AND regexp_replace(i.guest_text, '^\s+|\s+$', '', 'g') = f.question
  ORDER BY i.resolved_at DESC, i.id DESC LIMIT 1);

-- A draft no ask's words can be found for showed a guest whose account was erased already (staff
-- reword only when they approve): it goes, and the next compile makes it again from the asks left.
DELETE FROM "venue_faq_entries" WHERE "status" = 'DRAFT' AND "question_item_id" IS NULL;
