-- CreateEnum
CREATE TYPE "InboxItemKind" AS ENUM ('BOOKING_REQUEST', 'QUESTION');

-- CreateEnum
CREATE TYPE "InboxItemStatus" AS ENUM ('OPEN', 'ACCEPTED', 'DECLINED', 'ANSWERED', 'CLOSED');

-- CreateTable
CREATE TABLE "venue_inbox_items" (
    "id" UUID NOT NULL,
    "venue_id" UUID NOT NULL,
    "kind" "InboxItemKind" NOT NULL,
    "status" "InboxItemStatus" NOT NULL DEFAULT 'OPEN',
    "envelope_id" UUID NOT NULL,
    "from_agent" TEXT NOT NULL,
    "booking_id" UUID,
    "guest_id" UUID,
    "guest_text" TEXT,
    "reason" TEXT NOT NULL,
    "answer" TEXT,
    "alternatives" TIMESTAMPTZ(3)[],
    "resolved_at" TIMESTAMPTZ(3),
    "resolved_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "venue_inbox_items_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "venue_inbox_items_kind_envelope_id_key" ON "venue_inbox_items"("kind", "envelope_id");

-- CreateIndex
CREATE INDEX "venue_inbox_items_venue_id_status_created_at_idx" ON "venue_inbox_items"("venue_id", "status", "created_at");

-- CreateIndex
CREATE INDEX "venue_inbox_items_booking_id_idx" ON "venue_inbox_items"("booking_id");

-- CreateIndex
CREATE INDEX "venue_inbox_items_guest_id_idx" ON "venue_inbox_items"("guest_id");

-- CreateIndex
CREATE INDEX "venue_inbox_items_resolved_by_id_idx" ON "venue_inbox_items"("resolved_by_id");

-- AddForeignKey
ALTER TABLE "venue_inbox_items" ADD CONSTRAINT "venue_inbox_items_venue_id_fkey" FOREIGN KEY ("venue_id") REFERENCES "venues"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_inbox_items" ADD CONSTRAINT "venue_inbox_items_booking_id_fkey" FOREIGN KEY ("booking_id") REFERENCES "bookings"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_inbox_items" ADD CONSTRAINT "venue_inbox_items_guest_id_fkey" FOREIGN KEY ("guest_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "venue_inbox_items" ADD CONSTRAINT "venue_inbox_items_resolved_by_id_fkey" FOREIGN KEY ("resolved_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
