-- A venue's page version: a number that moves, in the same transaction, with every change to what
-- a search's page shows of the venue (its own row, its weekly hours and dated exceptions, its
-- business agent). The search statement reads it beside each hit, so an API process may answer
-- with the page it read before while the number is the one it read it at (src/domain/venues/search.ts,
-- venuesOfHits), and reads the page again once it has moved.
--
-- Left out on purpose: the agent's bookkeeping that the gateway and its inbox write many times
-- an hour (when its inbox was last read, which version the gateway registered and why that
-- failed). A page that selects those is read from the database every time; the list of columns
-- left out is PAGE_UNVERSIONED in search.ts, and a test moves every other column of each table
-- and checks the number moves.
ALTER TABLE "venues" ADD COLUMN "page_version" INTEGER NOT NULL DEFAULT 0;

-- Any update of the venue's row. Wraps rather than fail an update after 2^31 - 1 of them.
CREATE FUNCTION "venues_page_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.page_version := (OLD.page_version + 1) % 2147483647;
  RETURN NEW;
END
$$;

CREATE TRIGGER "venues_page_version"
  BEFORE UPDATE ON "venues"
  FOR EACH ROW EXECUTE FUNCTION "venues_page_version"();

-- A row of a venue's part (hours, exceptions, agent) written: the venue it belonged to and the
-- one it belongs to now move (the update of the venue's row moves the number, above).
CREATE FUNCTION "venue_part_page_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.venue_id IS NOT NULL THEN
    UPDATE "venues" SET "page_version" = "page_version" WHERE "id" = OLD.venue_id;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.venue_id IS NOT NULL
     AND (TG_OP = 'INSERT' OR NEW.venue_id IS DISTINCT FROM OLD.venue_id) THEN
    UPDATE "venues" SET "page_version" = "page_version" WHERE "id" = NEW.venue_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "opening_hours_page_version"
  AFTER INSERT OR UPDATE OR DELETE ON "opening_hours"
  FOR EACH ROW EXECUTE FUNCTION "venue_part_page_version"();

CREATE TRIGGER "hours_exceptions_page_version"
  AFTER INSERT OR UPDATE OR DELETE ON "hours_exceptions"
  FOR EACH ROW EXECUTE FUNCTION "venue_part_page_version"();

CREATE TRIGGER "agents_page_version"
  AFTER INSERT OR DELETE OR UPDATE OF
    "id", "kind", "name", "status", "venue_id", "user_id", "organization_id", "dna",
    "signing_secret_ciphertext", "signing_secret_key_id", "signing_kid",
    "previous_signing_secret_ciphertext", "previous_signing_secret_key_id", "previous_signing_kid",
    "previous_signing_valid_until", "created_at", "updated_at"
  ON "agents"
  FOR EACH ROW EXECUTE FUNCTION "venue_part_page_version"();
