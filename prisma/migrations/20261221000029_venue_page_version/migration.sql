-- A venue's page version: a number that moves, in the same transaction, with every change to what
-- a search's page shows of the venue (its own row, its weekly hours and dated exceptions, its
-- business agent). The search statement reads it beside each hit, so an API process may answer
-- with the page it read before while the number is the one it read it at, and reads the page
-- again once it has moved (src/domain/venues/search.ts, venuesOfHits).
--
-- In a table of its own, not on the venue's row: moving it rewrites a narrow row with no index
-- but its key, where a venue's row is wide, indexed five ways (words among them) and scanned by
-- every search. No row: the venue has not changed since it was made (version 0).
--
-- Left out on purpose: the agent's bookkeeping that the gateway and its inbox write many times
-- an hour (when its inbox was last read, which version the gateway registered and why that
-- failed), passed to the agents' triggers below and named PAGE_UNVERSIONED in search.ts. A page
-- that selects those is read from the database every time.
CREATE TABLE "venue_page_versions" (
    "venue_id" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "venue_page_versions_pkey" PRIMARY KEY ("venue_id")
);

ALTER TABLE "venue_page_versions" ADD CONSTRAINT "venue_page_versions_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Moves the versions of `venue_ids` (those that still exist: a venue being deleted takes its
-- version with it). Wraps rather than fail a write after 2^31 - 1 changes to one venue.
CREATE FUNCTION "move_venue_page_versions"(venue_ids uuid[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO "venue_page_versions" AS p ("venue_id", "version")
  SELECT v."id", 1 FROM "venues" v WHERE v."id" = ANY(venue_ids)
  ORDER BY v."id"
  ON CONFLICT ("venue_id") DO UPDATE SET "version" = (p."version" + 1) % 2147483647;
$$;

-- Statement triggers, so a statement writing many rows moves each venue once. A venue's own row:
-- any update.
CREATE FUNCTION "venues_page_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM "move_venue_page_versions"(ARRAY(SELECT "id" FROM new_rows));
  RETURN NULL;
END
$$;

CREATE TRIGGER "venues_page_version"
  AFTER UPDATE ON "venues" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venues_page_version"();

-- A row of a venue's part (hours, exceptions, agent) written: the venue it belonged to and the
-- one it belongs to now. An update moves them only when a column changed other than those named
-- in the trigger's arguments.
CREATE FUNCTION "venue_parts_page_version"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ignored text[] := coalesce(TG_ARGV, ARRAY[]::text[]);
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM "move_venue_page_versions"(ARRAY(SELECT "venue_id" FROM new_rows WHERE "venue_id" IS NOT NULL));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM "move_venue_page_versions"(ARRAY(SELECT "venue_id" FROM old_rows WHERE "venue_id" IS NOT NULL));
  ELSE
    PERFORM "move_venue_page_versions"(ARRAY(
      SELECT unnest(ARRAY[o."venue_id", n."venue_id"])
      FROM old_rows o JOIN new_rows n ON n."id" = o."id"
      WHERE to_jsonb(o) - ignored IS DISTINCT FROM to_jsonb(n) - ignored));
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "opening_hours_page_version_insert"
  AFTER INSERT ON "opening_hours" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();
CREATE TRIGGER "opening_hours_page_version_update"
  AFTER UPDATE ON "opening_hours" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();
CREATE TRIGGER "opening_hours_page_version_delete"
  AFTER DELETE ON "opening_hours" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();

CREATE TRIGGER "hours_exceptions_page_version_insert"
  AFTER INSERT ON "hours_exceptions" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();
CREATE TRIGGER "hours_exceptions_page_version_update"
  AFTER UPDATE ON "hours_exceptions" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();
CREATE TRIGGER "hours_exceptions_page_version_delete"
  AFTER DELETE ON "hours_exceptions" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();

CREATE TRIGGER "agents_page_version_insert"
  AFTER INSERT ON "agents" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();
CREATE TRIGGER "agents_page_version_update"
  AFTER UPDATE ON "agents" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"(
    'last_inbox_poll_at', 'registered_at', 'registered_tools_version', 'registration_error');
CREATE TRIGGER "agents_page_version_delete"
  AFTER DELETE ON "agents" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "venue_parts_page_version"();
