-- Staff's answer to one guest's question became a fact of the venue's wiki, which its agent then
-- gave any guest asking something alike, with no one deciding that it could: an answer written to
-- one guest may name them, their table or their date. Now staff say so when they answer
-- (`answer_for_all`), and only such answers are learnt.
ALTER TABLE "venue_inbox_items" ADD COLUMN "answer_for_all" BOOLEAN NOT NULL DEFAULT false;

-- The answers learnt before anyone could say: no longer given to other guests.
DELETE FROM "venue_facts" WHERE "source" = 'STAFF_ANSWER';
