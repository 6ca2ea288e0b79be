-- Joining an organisation is the person's own choice: a manager's invitation waits for the person
-- signed in with the invited address to accept it (or decline it), and only then is the membership
-- made. Memberships made before stay as they are.
CREATE TYPE "InvitationStatus" AS ENUM ('PENDING', 'ACCEPTED', 'DECLINED', 'WITHDRAWN');

CREATE TABLE "organization_invitations" (
    "id" UUID NOT NULL,
    "organization_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "role" "MembershipRole" NOT NULL,
    "status" "InvitationStatus" NOT NULL DEFAULT 'PENDING',
    "invited_by_id" UUID NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "closed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organization_invitations_pkey" PRIMARY KEY ("id")
);

-- One pending invitation per address and organisation; a person's invitations, and how many an
-- address got and a person sent in a day (the limits on invitation emails).
CREATE UNIQUE INDEX "organization_invitations_pending_key" ON "organization_invitations"("organization_id", "email") WHERE status = 'PENDING';
CREATE INDEX "organization_invitations_email_created_at_idx" ON "organization_invitations"("email", "created_at");
CREATE INDEX "organization_invitations_invited_by_id_created_at_idx" ON "organization_invitations"("invited_by_id", "created_at");
-- The data-retention job: closed and lapsed invitations are deleted after a while.
CREATE INDEX "organization_invitations_created_at_idx" ON "organization_invitations"("created_at");

ALTER TABLE "organization_invitations" ADD CONSTRAINT "organization_invitations_organization_id_fkey"
    FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "organization_invitations" ADD CONSTRAINT "organization_invitations_invited_by_id_fkey"
    FOREIGN KEY ("invited_by_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
