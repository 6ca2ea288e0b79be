-- The venues' words index answers every search and is written far less often than it is read.
-- With GIN's fast update (the default), new entries wait in a pending list that every search
-- reads through in full until a vacuum merges it: after an import of 2,000 venues, 153 pages on
-- every search. Without it, each write merges its own entries at once (a few index pages more per
-- venue written) and a search reads only the index.

-- Changing the option locks the index against every query of venues until this commits: give up
-- (and let the deploy try again) rather than queue every venue query behind a long transaction.
SET LOCAL lock_timeout = '5s';

ALTER INDEX "venues_search_document_idx" SET (fastupdate = off);

-- What is pending now is merged here rather than at the next vacuum.
SELECT gin_clean_pending_list('venues_search_document_idx'::regclass);
