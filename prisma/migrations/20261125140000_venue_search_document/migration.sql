-- Venue search matches words against a stored document with a GIN index instead of building
-- the document for every candidate row on every search. A trigger keeps it current, because a
-- generated column cannot use array_to_string (not immutable).

-- AlterTable
ALTER TABLE "venues" ADD COLUMN     "search_document" tsvector;

CREATE FUNCTION "venues_search_document"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_document :=
    setweight(to_tsvector('simple', coalesce(NEW.name, '')), 'A') ||
    setweight(to_tsvector('simple', array_to_string(coalesce(NEW.cuisines, '{}'), ' ')), 'B') ||
    setweight(to_tsvector('simple', coalesce(NEW.description, '')), 'C');
  RETURN NEW;
END
$$;

CREATE TRIGGER "venues_search_document"
  BEFORE INSERT OR UPDATE OF "name", "cuisines", "description" ON "venues"
  FOR EACH ROW EXECUTE FUNCTION "venues_search_document"();

UPDATE "venues" SET "name" = "name";

-- CreateIndex
CREATE INDEX "venues_search_document_idx" ON "venues" USING GIN ("search_document");
