-- A person whose light dream fails keeps their watermark and was tried first again every run:
-- enough such people (twice a run's limit) took every place of every run, and nobody else was
-- dreamt over. The time of a person's last failure is now kept, and those whose dream failed
-- since it last succeeded come after everyone else due (the longest failed first among them).

-- Nullable and without a default: added without rewriting the table, under a brief lock; give up
-- rather than queue sign-ins behind a long transaction (the deploy tries again).
SET LOCAL lock_timeout = '5s';

ALTER TABLE "users" ADD COLUMN "light_dream_failed_at" TIMESTAMPTZ(3);
