-- Lists whose "none" is an empty list (an API key's scopes, a venue's cuisines and photos, a
-- webhook subscription's events, the times staff offered instead, the meanings a person forgot)
-- were nullable, as Prisma leaves list columns. Prisma's client reads NULL as an empty list, but
-- the SQL written by hand read it as null: a venue with NULL cuisines failed a signed-in person's
-- search, and an API key with NULL scopes failed every request it made. Rows are only written
-- that way from outside the product (an import, a repair by hand); now they cannot be: each
-- column defaults to an empty list and a CHECK keeps NULL out (Prisma's schema cannot say NOT
-- NULL of a list, so the constraint is the database's own; existing NULLs become empty lists).

-- Each table is scanned under its lock once: give up rather than queue writes behind a long
-- transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

UPDATE "api_keys" SET "scopes" = '{}' WHERE "scopes" IS NULL;
ALTER TABLE "api_keys"
    ALTER COLUMN "scopes" SET DEFAULT '{}',
    ADD CONSTRAINT "api_keys_scopes_check" CHECK ("scopes" IS NOT NULL);

UPDATE "venues" SET "cuisines" = '{}' WHERE "cuisines" IS NULL;
UPDATE "venues" SET "photos" = '{}' WHERE "photos" IS NULL;
ALTER TABLE "venues"
    ALTER COLUMN "cuisines" SET DEFAULT '{}',
    ALTER COLUMN "photos" SET DEFAULT '{}',
    ADD CONSTRAINT "venues_cuisines_check" CHECK ("cuisines" IS NOT NULL),
    ADD CONSTRAINT "venues_photos_check" CHECK ("photos" IS NOT NULL);

UPDATE "webhook_subscriptions" SET "events" = '{}' WHERE "events" IS NULL;
ALTER TABLE "webhook_subscriptions"
    ALTER COLUMN "events" SET DEFAULT '{}',
    ADD CONSTRAINT "webhook_subscriptions_events_check" CHECK ("events" IS NOT NULL);

UPDATE "venue_inbox_items" SET "alternatives" = '{}' WHERE "alternatives" IS NULL;
ALTER TABLE "venue_inbox_items"
    ALTER COLUMN "alternatives" SET DEFAULT '{}',
    ADD CONSTRAINT "venue_inbox_items_alternatives_check" CHECK ("alternatives" IS NOT NULL);

UPDATE "users" SET "forgotten_meanings" = '{}' WHERE "forgotten_meanings" IS NULL;
ALTER TABLE "users" ADD CONSTRAINT "users_forgotten_meanings_check" CHECK ("forgotten_meanings" IS NOT NULL);
