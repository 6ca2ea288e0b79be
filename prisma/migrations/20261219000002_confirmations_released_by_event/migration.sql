-- The inbound message that released a confirmation: the same message handled again (its turn
-- retried when no model answered) releases it again, where it found nothing left to release and
-- the person's Confirm was lost.
ALTER TABLE "confirmations" ADD COLUMN "released_by_event_id" UUID;
