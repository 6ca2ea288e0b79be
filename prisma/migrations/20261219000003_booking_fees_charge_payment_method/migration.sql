-- The card a pay-as-you-go charge attempt is made to, chosen once per attempt: a charge retried
-- under the same idempotency key is the same request, whatever the customer's default is now.
ALTER TABLE "booking_fees" ADD COLUMN "charge_payment_method" TEXT;
