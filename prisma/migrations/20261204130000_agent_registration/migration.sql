-- AlterTable
ALTER TABLE "agents" ADD COLUMN     "registered_at" TIMESTAMPTZ(3),
ADD COLUMN     "registration_error" TEXT,
ADD COLUMN     "last_inbox_poll_at" TIMESTAMPTZ(3);
