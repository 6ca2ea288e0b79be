/**
 * Invitations: how a person joins an organisation. Belonging somewhere is the person's own choice,
 * so a manager's invitation makes no membership: it is emailed to the address, and the membership is
 * made only when the person signed in with that address accepts it (they may decline it instead).
 * Until then the organisation shows them nothing but its name, the role and who invited them.
 *
 * An invitation can be accepted for INVITATIONS.validDays; a manager may withdraw it before, and
 * may invite the address again once it has lapsed (the same row, renewed and emailed again).
 * Managers invite (owners and admins); only an owner invites, or withdraws the invitation of,
 * another owner. It is accepted only while the member who sent it could still send it (a manager
 * still, an owner still for an owner's invitation). API keys do none of it: who belongs is
 * decided by people.
 *
 * The email carries words the inviter chose (the organisation's name, their own), so nobody can
 * use it to write to an address at will: an address gets INVITATIONS.emailsPerAddressPerDay, a
 * person sends INVITATIONS.perInviterPerDay, and an organisation an address declined may not ask
 * it again for INVITATIONS.afterDeclineDays.
 */
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { MembershipRole } from '../../generated/prisma/enums.ts';
import { type Db, type DbOrTx, holdKeys, type Tx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError, RateLimitedError } from '../../platform/errors.ts';
import { normalizeEmail } from '../identity/email.ts';
import { queueEmail } from '../notices/notices.ts';
import type { Access } from '../organizations/access.ts';
import { MANAGERS } from '../organizations/access.ts';
import { requireOrganization, requireOwner } from '../organizations/organizations.ts';
import { parseInput } from '../validation.ts';

export const INVITATIONS = {
  /** Days an invitation can be accepted. */
  validDays: 14,
  /** Invitations an organisation may have waiting at once. */
  pendingPerOrganization: 50,
  /** Invitations (so emails) one address gets in 24 hours, from every organisation together. */
  emailsPerAddressPerDay: 3,
  /** Invitations one person sends in 24 hours, to every organisation together. */
  perInviterPerDay: 100,
  /** Days an organisation waits, after an address declined, before inviting it again. */
  afterDeclineDays: 30,
} as const;

const DAY_MS = 86_400_000;

export interface InvitationDeps {
  db: Db;
  now: () => Date;
}

const role = z.enum(['OWNER', 'ADMIN', 'STAFF']);
const invitationId = z.object({ invitationId: z.uuid() });

/** What is read of an invitation: with its organisation's name and its inviter's, which the invitee may see. */
const VIEW = {
  id: true,
  organizationId: true,
  email: true,
  role: true,
  status: true,
  invitedById: true,
  expiresAt: true,
  closedAt: true,
  createdAt: true,
  organization: { select: { name: true } },
  invitedBy: { select: { displayName: true } },
} as const satisfies Prisma.OrganizationInvitationSelect;

export type Invitation = Prisma.OrganizationInvitationGetPayload<{ select: typeof VIEW }>;

/** Where an invitation stands at `now`: a pending one past its time has lapsed (EXPIRED). */
export function invitationStatus(
  invitation: Pick<Invitation, 'status' | 'expiresAt'>,
  now: Date,
): Invitation['status'] | 'EXPIRED' {
  return invitation.status === 'PENDING' && invitation.expiresAt <= now ? 'EXPIRED' : invitation.status;
}

/**
 * Invites `email` to the organisation with `role`, and emails them. ConflictError when the address
 * is a member already, is invited already (until the invitation lapses), or the organisation has
 * INVITATIONS.pendingPerOrganization waiting.
 */
export async function inviteMember(
  deps: InvitationDeps,
  access: Access,
  input: { organizationId: string; email: string; role: MembershipRole },
): Promise<Invitation> {
  const parsed = {
    ...parseInput(z.object({ organizationId: z.uuid(), role }), input),
    email: normalizeEmail(input.email),
  };
  const inviterId = access.requirePerson();
  await requireOrganization(deps.db, parsed.organizationId);
  await access.require(parsed.organizationId, MANAGERS);
  if (parsed.role === 'OWNER') await requireOwner(access, parsed.organizationId);
  const now = deps.now();
  const expiresAt = new Date(now.getTime() + INVITATIONS.validDays * DAY_MS);

  return deps.db.$transaction(async (tx) => {
    // One invitation at a time per organisation: the count and the "invited already" check hold.
    const [organization] = await tx.$queryRaw<{ name: string }[]>`
      SELECT name FROM organizations WHERE id = ${parsed.organizationId}::uuid FOR NO KEY UPDATE`;
    if (!organization) throw new NotFoundError('No such organization');
    // The day's limits count every organisation's invitations to the address and by the inviter:
    // those are counted and written one at a time too.
    await holdKeys(tx, `invitations-to:${parsed.email}`, `invitations-by:${inviterId}`);
    const member = await tx.membership.findFirst({
      where: { organizationId: parsed.organizationId, user: { email: parsed.email } },
      select: { id: true },
    });
    if (member) throw new ConflictError(`${parsed.email} is already a member`);
    const waiting = await tx.organizationInvitation.findMany({
      where: { organizationId: parsed.organizationId, status: 'PENDING', expiresAt: { gt: now } },
      select: { email: true, expiresAt: true },
    });
    const already = waiting.find((invitation) => invitation.email === parsed.email);
    if (already) {
      throw new ConflictError(
        `${parsed.email} is invited already, until ${already.expiresAt.toISOString().slice(0, 10)}: withdraw that invitation to send another`,
      );
    }
    if (waiting.length >= INVITATIONS.pendingPerOrganization) {
      throw new ConflictError(
        `${INVITATIONS.pendingPerOrganization} invitations are waiting already: withdraw some, or wait for them to be answered`,
      );
    }
    await requireInvitable(tx, parsed.organizationId, parsed.email, inviterId, now);
    const fields = { role: parsed.role, invitedById: inviterId, expiresAt, createdAt: now };
    // A lapsed invitation to the address is the one renewed (one pending row per address), under
    // its lock: one withdrawn or declined meanwhile is not renewed (a new one is made instead).
    const [lapsed] = await tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM organization_invitations
      WHERE organization_id = ${parsed.organizationId}::uuid AND email = ${parsed.email} AND status = 'PENDING'
      FOR UPDATE`;
    const invitation = lapsed
      ? await tx.organizationInvitation.update({ where: { id: lapsed.id }, data: fields, select: VIEW })
      : await tx.organizationInvitation.create({
          data: { ...fields, organizationId: parsed.organizationId, email: parsed.email },
          select: VIEW,
        });
    await emailInvitation(tx, invitation, inviterId);
    return invitation;
  });
}

/**
 * The limits on who may be written to (see the top): RateLimitedError past a day's invitations to
 * the address or by the inviter; ConflictError while the address's "no" to the organisation stands.
 */
async function requireInvitable(tx: Tx, organizationId: string, email: string, inviterId: string, now: Date) {
  const dayAgo = new Date(now.getTime() - DAY_MS);
  const [counts] = await tx.$queryRaw<{ toAddress: number; byInviter: number; declinedAt: Date | null }[]>`
    SELECT
      (SELECT count(*)::int FROM organization_invitations
        WHERE email = ${email} AND created_at > ${dayAgo}) AS "toAddress",
      (SELECT count(*)::int FROM organization_invitations
        WHERE invited_by_id = ${inviterId}::uuid AND created_at > ${dayAgo}) AS "byInviter",
      (SELECT max(closed_at) FROM organization_invitations
        WHERE organization_id = ${organizationId}::uuid AND email = ${email} AND status = 'DECLINED') AS "declinedAt"`;
  if (counts!.toAddress >= INVITATIONS.emailsPerAddressPerDay) {
    throw new RateLimitedError(
      `${email} has had ${INVITATIONS.emailsPerAddressPerDay} invitations today: try again tomorrow`,
      86_400,
    );
  }
  if (counts!.byInviter >= INVITATIONS.perInviterPerDay) {
    throw new RateLimitedError(
      `You have sent ${INVITATIONS.perInviterPerDay} invitations today: try again tomorrow`,
      86_400,
    );
  }
  const declinedAt = counts!.declinedAt;
  if (declinedAt && now.getTime() - declinedAt.getTime() < INVITATIONS.afterDeclineDays * DAY_MS) {
    const again = new Date(declinedAt.getTime() + INVITATIONS.afterDeclineDays * DAY_MS);
    throw new ConflictError(
      `${email} declined an invitation on ${declinedAt.toISOString().slice(0, 10)}: it can be invited again from ${again.toISOString().slice(0, 10)}`,
    );
  }
}

/** The invitation's email to the address, once per invitation and renewal. */
async function emailInvitation(tx: Tx, invitation: Invitation, inviterId: string) {
  const who = invitation.invitedBy.displayName?.trim() || 'A member';
  const until = invitation.expiresAt.toISOString().slice(0, 10);
  await queueEmail(tx, {
    userId: inviterId,
    kind: 'organization.invitation',
    emailTo: invitation.email,
    subject: `${who} invited you to ${invitation.organization.name} on AGNT`,
    body: [
      `${who} invited you to join ${invitation.organization.name} on AGNT as ${invitation.role.toLowerCase()}.`,
      '',
      `To accept, sign in to your AGNT dashboard with this address (${invitation.email}) before ${until} (UTC): the invitation waits there, and you can accept or decline it.`,
      '',
      'If you did not expect it, you need not do anything: nothing changes unless you accept.',
    ].join('\n'),
    data: { organizationId: invitation.organizationId, invitationId: invitation.id },
    dedupeKey: `invitation:${invitation.id}:${invitation.expiresAt.toISOString()}`,
  });
}

/** The signed-in person's address (normalised), or null for an account without one. */
async function addressOf(db: DbOrTx, userId: string): Promise<string | null> {
  const user = await db.user.findUnique({ where: { id: userId }, select: { email: true } });
  return user?.email ?? null;
}

/** Whether the caller is a person signed in with `email` (an invitation to it is theirs to see). */
export async function isAddressOf(db: DbOrTx, access: Access, email: string): Promise<boolean> {
  if (access.actor.kind !== 'user') return false;
  return (await addressOf(db, access.actor.userId)) === email;
}

/** The invitations waiting for the signed-in person's address, newest first. */
export async function pendingInvitations(deps: InvitationDeps, access: Access): Promise<Invitation[]> {
  const email = await addressOf(deps.db, access.requirePerson());
  if (!email) return [];
  const now = deps.now();
  return deps.db.organizationInvitation.findMany({
    where: { email, status: 'PENDING', expiresAt: { gt: now } },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: VIEW,
  });
}

/** The organisation's invitations still waiting (lapsed ones too, to be renewed), newest first. */
export async function organizationInvitations(
  deps: InvitationDeps,
  access: Access,
  organizationId: string,
): Promise<Invitation[]> {
  access.requirePerson();
  await access.require(organizationId, MANAGERS);
  return deps.db.organizationInvitation.findMany({
    where: { organizationId, status: 'PENDING' },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    select: VIEW,
  });
}

/**
 * The invitation under its row lock, for the person it was sent to. NotFoundError for anyone else
 * (an invitation to another address is not theirs to know of); ConflictError once it is answered,
 * withdrawn or lapsed.
 */
async function ownPendingInvitation(tx: Tx, access: Access, id: string, now: Date) {
  // Under a share lock, and only while the account is not being deleted.
  const [person] = await tx.$queryRaw<{ email: string | null }[]>`
    SELECT email FROM users WHERE id = ${access.requirePerson()}::uuid AND deleted_at IS NULL FOR SHARE`;
  const email = person?.email ?? null;
  await tx.$queryRaw`SELECT 1 FROM organization_invitations WHERE id = ${id}::uuid FOR UPDATE`;
  const invitation = await tx.organizationInvitation.findUnique({ where: { id }, select: VIEW });
  if (!invitation || !email || invitation.email !== email) throw new NotFoundError('No such invitation');
  requirePending(invitation, now);
  return invitation;
}

function requirePending(invitation: Invitation, now: Date) {
  if (invitation.status !== 'PENDING') {
    throw new ConflictError(`This invitation was ${invitation.status.toLowerCase()} already`);
  }
  if (invitation.expiresAt <= now) throw new ConflictError('This invitation has lapsed: ask for a new one');
}

/**
 * The person it was sent to joins the organisation with the invited role; the membership. A member
 * already (joined another way) keeps the role they have.
 */
export async function acceptInvitation(
  deps: InvitationDeps,
  access: Access,
  input: { invitationId: string },
) {
  const { invitationId: id } = parseInput(invitationId, input);
  const userId = access.requirePerson();
  const now = deps.now();
  return deps.db.$transaction(async (tx) => {
    const invitation = await ownPendingInvitation(tx, access, id, now);
    await requireInviterStill(tx, invitation);
    await tx.organizationInvitation.update({
      where: { id },
      data: { status: 'ACCEPTED', closedAt: now },
    });
    const key = { organizationId_userId: { organizationId: invitation.organizationId, userId } };
    const member = await tx.membership.findUnique({ where: key });
    if (member) return member;
    return tx.membership.create({
      data: { organizationId: invitation.organizationId, userId, role: invitation.role },
    });
  });
}

/**
 * An invitation speaks for the member who sent it only while they could still send it: a manager of
 * the organisation (an owner, for an owner's invitation), or a platform admin, with an account
 * not being deleted. NotAllowedError otherwise (the organisation may invite them again).
 */
async function requireInviterStill(tx: Tx, invitation: Invitation) {
  const [inviter] = await tx.$queryRaw<{ admin: boolean; role: MembershipRole | null }[]>`
    SELECT u.is_platform_admin AS admin, m.role::text AS role
    FROM users u
    LEFT JOIN memberships m ON m.user_id = u.id AND m.organization_id = ${invitation.organizationId}::uuid
    WHERE u.id = ${invitation.invitedById}::uuid AND u.deleted_at IS NULL
    FOR SHARE OF u`;
  const may =
    inviter &&
    (inviter.admin ||
      (inviter.role !== null &&
        (invitation.role === 'OWNER' ? inviter.role === 'OWNER' : MANAGERS.includes(inviter.role))));
  if (!may) {
    throw new NotAllowedError(
      'The member who sent this invitation can no longer invite to this organisation: ask its team for a new one',
    );
  }
}

/** The person it was sent to says no; the invitation, declined. */
export async function declineInvitation(
  deps: InvitationDeps,
  access: Access,
  input: { invitationId: string },
): Promise<Invitation> {
  const { invitationId: id } = parseInput(invitationId, input);
  const now = deps.now();
  return deps.db.$transaction(async (tx) => {
    await ownPendingInvitation(tx, access, id, now);
    return tx.organizationInvitation.update({
      where: { id },
      data: { status: 'DECLINED', closedAt: now },
      select: VIEW,
    });
  });
}

/**
 * A manager takes a waiting invitation back (only an owner one to be an owner); it, withdrawn.
 * A lapsed one may be withdrawn too.
 */
export async function withdrawInvitation(
  deps: InvitationDeps,
  access: Access,
  input: { invitationId: string },
): Promise<Invitation> {
  const { invitationId: id } = parseInput(invitationId, input);
  access.requirePerson();
  const now = deps.now();
  const found = await deps.db.organizationInvitation.findUnique({
    where: { id },
    select: { organizationId: true, role: true },
  });
  if (!found) throw new NotFoundError('No such invitation');
  await access.require(found.organizationId, MANAGERS);
  if (found.role === 'OWNER') await requireOwner(access, found.organizationId);
  return deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT 1 FROM organization_invitations WHERE id = ${id}::uuid FOR UPDATE`;
    const invitation = await tx.organizationInvitation.findUniqueOrThrow({ where: { id }, select: VIEW });
    // Renewed as an owner's invitation since it was read: only an owner takes that back.
    if (invitation.role === 'OWNER' && found.role !== 'OWNER')
      await requireOwner(access, found.organizationId);
    if (invitation.status !== 'PENDING') {
      throw new ConflictError(`This invitation was ${invitation.status.toLowerCase()} already`);
    }
    return tx.organizationInvitation.update({
      where: { id },
      data: { status: 'WITHDRAWN', closedAt: now },
      select: VIEW,
    });
  });
}

/** The organisation an invitation is to, for the API's checks; null when there is no such one. */
export async function organizationOfInvitation(db: DbOrTx, id: string): Promise<string | null> {
  if (!z.uuid().safeParse(id).success) return null;
  const invitation = await db.organizationInvitation.findUnique({
    where: { id },
    select: { organizationId: true },
  });
  return invitation?.organizationId ?? null;
}
