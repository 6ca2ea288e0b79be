-- A suspended venue remembers the status it had, so reinstating it restores that: a venue its
-- owner had taken off the network stays off it (reinstating made it public again, by its
-- publication date alone). Venues suspended before keep the old rule (the column is null).
ALTER TABLE "venues" ADD COLUMN "suspended_from" "VenueStatus";
