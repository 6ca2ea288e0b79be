-- AlterTable
ALTER TABLE "billing_subscriptions" ADD COLUMN "price_id" TEXT;
