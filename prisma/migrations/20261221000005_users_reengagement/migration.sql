-- Re-engagement runs hourly and takes the people whose own clock reads 17:00: it reads the zones
-- of people who opted in, then those people in the zones at that hour. A partial index on the zone
-- of people who opted in keeps both reads off the rest of the users.

-- Building the index holds off writes of users until it is built: give up rather than queue every
-- sign-in behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

CREATE INDEX "users_reengagement_idx" ON "users"("time_zone") WHERE reengagement_opt_in AND deleted_at IS NULL;
