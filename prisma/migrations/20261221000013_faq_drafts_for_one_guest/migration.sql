-- FAQ drafts compiled, before the compile took only answers staff said hold for every guest,
-- from an answer written to one guest (which may name them): they go, before anyone approves one.
-- The next compile drafts the question again from answers for everyone, if it has any. Entries
-- staff approved stay: they read the answer when they approved it.
DELETE FROM "venue_faq_entries" e
USING "venue_inbox_items" i
WHERE e.status = 'DRAFT' AND e.question_item_id = i.id AND NOT i.answer_for_all;
