-- The taste graph (src/domain/graph): per person, weighted edges to venues, cuisines and areas,
-- built from their bookings, booking feedback and memories by the hourly `graph-build` task.

-- CreateEnum
CREATE TYPE "TasteEdgeKind" AS ENUM ('VENUE', 'CUISINE', 'AREA');

-- CreateTable
CREATE TABLE "taste_edges" (
    "user_id" UUID NOT NULL,
    "kind" "TasteEdgeKind" NOT NULL,
    "key" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "weight" DOUBLE PRECISION NOT NULL,
    "evidence" JSONB NOT NULL,
    "evidence_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "taste_edges_pkey" PRIMARY KEY ("user_id","kind","key")
);

-- CreateTable
CREATE TABLE "taste_graph_states" (
    "user_id" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "built_version" INTEGER NOT NULL DEFAULT 0,
    "changed_at" TIMESTAMPTZ(3),
    "built_at" TIMESTAMPTZ(3),

    CONSTRAINT "taste_graph_states_pkey" PRIMARY KEY ("user_id")
);

-- CreateIndex
CREATE INDEX "taste_graph_states_changed_at_idx" ON "taste_graph_states"("changed_at");

-- AddForeignKey
ALTER TABLE "taste_edges" ADD CONSTRAINT "taste_edges_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "taste_graph_states" ADD CONSTRAINT "taste_graph_states_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A person has new material when one of their bookings, feedback answers or memories is written or
-- deleted. A trigger says so, rather than the build comparing timestamps, because a deletion (a
-- forgotten memory) leaves no timestamp behind, and a row's updated_at is the writer's clock, not
-- its commit time. TG_ARGV[0] names the column holding the person. The person must still exist:
-- deleting a user cascades to their rows, and their state goes with them.
CREATE FUNCTION "taste_graph_touch"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  person uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN
    person := (to_jsonb(OLD) ->> TG_ARGV[0])::uuid;
  ELSE
    person := (to_jsonb(NEW) ->> TG_ARGV[0])::uuid;
  END IF;
  INSERT INTO "taste_graph_states" ("user_id", "version", "changed_at")
  SELECT person, 1, now() WHERE EXISTS (SELECT 1 FROM "users" WHERE "id" = person)
  ON CONFLICT ("user_id") DO UPDATE
    SET "version" = "taste_graph_states"."version" + 1,
        "changed_at" = COALESCE("taste_graph_states"."changed_at", now());
  -- A booking moved to another guest (never done today) is new material for the first one too.
  IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM (to_jsonb(NEW) ->> TG_ARGV[0]) THEN
    UPDATE "taste_graph_states"
       SET "version" = "version" + 1, "changed_at" = COALESCE("changed_at", now())
     WHERE "user_id" = (to_jsonb(OLD) ->> TG_ARGV[0])::uuid;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER "bookings_taste_graph"
  AFTER INSERT OR DELETE OR UPDATE OF "status", "venue_id", "guest_id", "starts_at" ON "bookings"
  FOR EACH ROW EXECUTE FUNCTION "taste_graph_touch"('guest_id');

CREATE TRIGGER "booking_feedback_taste_graph"
  AFTER INSERT OR DELETE OR UPDATE OF "score", "venue_id", "guest_id" ON "booking_feedback"
  FOR EACH ROW EXECUTE FUNCTION "taste_graph_touch"('guest_id');

-- Recall stamps last_used_at, which says nothing new about taste.
CREATE TRIGGER "memories_taste_graph"
  AFTER INSERT OR DELETE OR UPDATE OF "content", "importance", "created_at", "user_id" ON "memories"
  FOR EACH ROW EXECUTE FUNCTION "taste_graph_touch"('user_id');

-- Everyone with material today is due for a first build.
INSERT INTO "taste_graph_states" ("user_id", "version", "changed_at")
SELECT DISTINCT "user_id", 1, now() FROM (
  SELECT "guest_id" AS "user_id" FROM "bookings"
  UNION SELECT "guest_id" FROM "booking_feedback"
  UNION SELECT "user_id" FROM "memories"
) AS material
ON CONFLICT DO NOTHING;
