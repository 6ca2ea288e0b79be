-- lock_for_booking of seven arguments (20261206700001) was kept by 20261209000001 for processes of
-- the release before it still running during that deploy. Every release since calls the function
-- of eight arguments, so the older one goes.
DROP FUNCTION IF EXISTS "lock_for_booking"(uuid, uuid, text, text[], text[], timestamptz, timestamptz);
