-- How a monthly fee invoice is collected, chosen once before Stripe is asked to make it: a card
-- on file (charge_payment_method) or sent to be paid (null). Asked again under the same key after
-- a timeout, the request is the same, whatever the organisation's cards are by then.
ALTER TABLE "fee_invoices" ADD COLUMN "charge_payment_method" TEXT;
ALTER TABLE "fee_invoices" ADD COLUMN "collection_chosen_at" TIMESTAMPTZ(3);
