-- Booking fees: what a booking made through AGNT costs its venue's organisation, and the monthly
-- invoices that collect them.
--
-- A booking gets a value (minor units of its venue's currency) recorded by the venue's team; a
-- venue gets a currency (null: the configured default) and may get its own referral percentage.
-- booking_fees holds one row per fee with its amounts and where its collection stands; the money
-- itself moves only in the ledger (accrual, reversal, settlement transfers), and the row names
-- those transfers. A fee row is never deleted (RESTRICT): it is the record of what was charged.

-- AlterTable
ALTER TABLE "venues" ADD COLUMN "currency" CHAR(3),
ADD COLUMN "referral_fee_bps" INTEGER,
ADD CONSTRAINT "venues_currency_check" CHECK ("currency" ~ '^[A-Z]{3}$'),
ADD CONSTRAINT "venues_referral_fee_bps_check" CHECK ("referral_fee_bps" BETWEEN 0 AND 10000);

-- AlterTable
ALTER TABLE "bookings" ADD COLUMN "value_minor" BIGINT,
ADD COLUMN "value_recorded_at" TIMESTAMPTZ(3),
ADD CONSTRAINT "bookings_value_minor_check" CHECK ("value_minor" >= 0);

-- CreateEnum
CREATE TYPE "BookingFeeKind" AS ENUM ('REFERRAL_PCT', 'FLAT');

-- CreateEnum
CREATE TYPE "BookingFeeStatus" AS ENUM ('PENDING', 'INVOICED', 'CHARGED', 'PAID', 'WAIVED');

-- CreateEnum
CREATE TYPE "BookingFeeCollection" AS ENUM ('INVOICE', 'CHARGE');

-- CreateTable
CREATE TABLE "booking_fees" (
    "id" UUID NOT NULL,
    "booking_id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "kind" "BookingFeeKind" NOT NULL,
    "pct_bps" INTEGER NOT NULL,
    "value_minor" BIGINT NOT NULL,
    "fee_minor" BIGINT NOT NULL,
    "venue_share_minor" BIGINT NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "status" "BookingFeeStatus" NOT NULL DEFAULT 'PENDING',
    "collection" "BookingFeeCollection" NOT NULL,
    "revision" INTEGER NOT NULL DEFAULT 1,
    "accrual_transfer_id" UUID NOT NULL,
    "settlement_transfer_id" UUID,
    "waiver_transfer_id" UUID,
    "waived_reason" TEXT,
    "waived_by" TEXT,
    "fee_invoice_id" UUID,
    "stripe_invoice_item_id" TEXT,
    "stripe_payment_intent_id" TEXT,
    "charge_attempts" INTEGER NOT NULL DEFAULT 0,
    "next_charge_at" TIMESTAMPTZ(3),
    "last_charge_error" TEXT,
    "accrued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "settled_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "booking_fees_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "booking_fees_fee_minor_check" CHECK ("fee_minor" > 0),
    CONSTRAINT "booking_fees_value_minor_check" CHECK ("value_minor" >= 0),
    CONSTRAINT "booking_fees_currency_check" CHECK ("currency" ~ '^[A-Z]{3}$')
);

-- CreateTable
CREATE TABLE "fee_invoices" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "month" CHAR(7) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "stripe_invoice_id" TEXT,
    "status" TEXT NOT NULL DEFAULT 'draft',
    "amount_minor" BIGINT NOT NULL DEFAULT 0,
    "hosted_url" TEXT,
    "paid_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "fee_invoices_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "fee_invoices_month_check" CHECK ("month" ~ '^[0-9]{4}-[0-9]{2}$')
);

-- CreateIndex
CREATE UNIQUE INDEX "booking_fees_booking_id_key" ON "booking_fees"("booking_id");

-- CreateIndex
CREATE UNIQUE INDEX "booking_fees_accrual_transfer_id_key" ON "booking_fees"("accrual_transfer_id");

-- CreateIndex
CREATE INDEX "booking_fees_organization_id_status_idx" ON "booking_fees"("organization_id", "status");

-- CreateIndex
CREATE INDEX "booking_fees_status_collection_next_charge_at_idx" ON "booking_fees"("status", "collection", "next_charge_at");

-- CreateIndex
CREATE INDEX "booking_fees_fee_invoice_id_idx" ON "booking_fees"("fee_invoice_id");

-- CreateIndex
CREATE UNIQUE INDEX "fee_invoices_stripe_invoice_id_key" ON "fee_invoices"("stripe_invoice_id");

-- CreateIndex
CREATE UNIQUE INDEX "fee_invoices_organization_id_month_currency_key" ON "fee_invoices"("organization_id", "month", "currency");

-- AddForeignKey
ALTER TABLE "booking_fees" ADD CONSTRAINT "booking_fees_booking_id_fkey" FOREIGN KEY ("booking_id") REFERENCES "bookings"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "booking_fees" ADD CONSTRAINT "booking_fees_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "booking_fees" ADD CONSTRAINT "booking_fees_fee_invoice_id_fkey" FOREIGN KEY ("fee_invoice_id") REFERENCES "fee_invoices"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "fee_invoices" ADD CONSTRAINT "fee_invoices_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
