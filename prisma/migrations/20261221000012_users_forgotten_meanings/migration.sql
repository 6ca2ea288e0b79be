-- The meanings (as digests) of memories a person forgot one by one: dreaming never makes them
-- again from a chat's summary written before the memory was forgotten.
ALTER TABLE "users" ADD COLUMN "forgotten_meanings" TEXT[] DEFAULT ARRAY[]::TEXT[];
