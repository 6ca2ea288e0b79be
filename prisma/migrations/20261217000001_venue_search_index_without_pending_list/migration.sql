-- The venues' words index answers every search and changes only when a venue's name, cuisines or
-- description does. With GIN's fast update (the default), new and changed entries wait in a
-- pending list that every search reads through in full until a vacuum merges it: after an
-- import of 2,000 venues, 153 pages on every search. Without it, each write merges its own
-- entries at once (a few index pages more per venue written) and a search reads only the index.
ALTER INDEX "venues_search_document_idx" SET (fastupdate = off);

-- What is pending now is merged here rather than at the next vacuum.
SELECT gin_clean_pending_list('venues_search_document_idx'::regclass);
