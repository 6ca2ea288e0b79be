-- A fee keeps the terms it was priced on, so recording its value later prices it the same way
-- whatever the settings are by then: the flat fee or the referral minimum, and the value cap.
ALTER TABLE "booking_fees" ADD COLUMN "floor_minor" BIGINT;
ALTER TABLE "booking_fees" ADD COLUMN "max_value_minor" BIGINT;

-- A flat fee was its flat amount. A referral fee's minimum and either kind's cap were not kept:
-- left NULL, they are read from the settings, as before. Only a pending fee is ever revalued, so
-- only those are written (not every fee ever charged).
UPDATE "booking_fees" SET "floor_minor" = "fee_minor" WHERE "kind" = 'FLAT' AND "status" = 'PENDING';
