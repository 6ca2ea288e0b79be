-- Public A2A: a task an outside agent started with an organisation's API key. The task as last
-- saved is kept whole (A2A's JSON form); a task that books names its booking, whose status is
-- what the task's state is read from, so it survives restarts and follows the venue's answer.
CREATE TABLE "a2a_tasks" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "api_key_id" UUID,
    "context_id" TEXT NOT NULL,
    "booking_id" UUID,
    "task" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "a2a_tasks_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "a2a_tasks_organization_id_created_at_idx" ON "a2a_tasks"("organization_id", "created_at");
CREATE INDEX "a2a_tasks_booking_id_idx" ON "a2a_tasks"("booking_id");

ALTER TABLE "a2a_tasks" ADD CONSTRAINT "a2a_tasks_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "a2a_tasks" ADD CONSTRAINT "a2a_tasks_booking_id_fkey" FOREIGN KEY ("booking_id") REFERENCES "bookings"("id") ON DELETE CASCADE ON UPDATE CASCADE;
