-- Staff's answer to one guest's question became a fact of the venue's wiki, which its agent then
-- gave any guest asking something alike, with no one deciding that it could: an answer written to
-- one guest may name them, their table or their date. Now staff say so when they answer
-- (`answer_for_all`), and only such answers are learnt.
ALTER TABLE "venue_inbox_items" ADD COLUMN "answer_for_all" BOOLEAN NOT NULL DEFAULT false;

-- The answers learnt before anyone could say are no longer given to other guests. The conflicts
-- they were part of are settled as the wiki settles them when a fact goes: a key left with one
-- voice has none; a resolved one whose chosen fact was the staff answer is put before staff again.
UPDATE "venue_fact_conflicts" AS c
SET "status" = 'OPEN', "resolved_at" = NULL, "resolved_by_id" = NULL, "chosen_fact_id" = NULL,
    "updated_at" = now()
WHERE c."status" = 'RESOLVED'
  AND c."chosen_fact_id" IN (SELECT "id" FROM "venue_facts" WHERE "source" = 'STAFF_ANSWER')
  AND (SELECT count(DISTINCT lower(btrim(f."text"))) FROM "venue_facts" AS f
       WHERE f."venue_id" = c."venue_id" AND f."key" = c."key" AND f."source" <> 'STAFF_ANSWER') > 1;

DELETE FROM "venue_fact_conflicts" AS c
WHERE EXISTS (SELECT 1 FROM "venue_facts" AS s
              WHERE s."source" = 'STAFF_ANSWER' AND s."venue_id" = c."venue_id" AND s."key" = c."key")
  AND (SELECT count(DISTINCT lower(btrim(f."text"))) FROM "venue_facts" AS f
       WHERE f."venue_id" = c."venue_id" AND f."key" = c."key" AND f."source" <> 'STAFF_ANSWER') <= 1;

DELETE FROM "venue_facts" WHERE "source" = 'STAFF_ANSWER';
