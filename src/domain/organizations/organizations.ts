/**
 * Organisations and their members. Every function takes the caller's Access and checks it before
 * writing, so GraphQL, MCP and scripts share one set of rules. Who belongs to an organisation is
 * decided by people: API keys cannot add, change or remove members.
 */
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { MembershipRole } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError } from '../../platform/errors.ts';
import { parseInput } from '../validation.ts';
import { type Access, ANY_ROLE, MANAGERS } from './access.ts';

const organizationName = z
  .string()
  .trim()
  .min(2, 'Name must be at least 2 characters')
  .max(100, 'Name must be at most 100 characters');

const role = z.enum(['OWNER', 'ADMIN', 'STAFF']);

/** A person owns as many organisations as they may: one must be given up before another is made. */
export class OrganizationLimitError extends ConflictError {
  override name = 'OrganizationLimitError';
  constructor(limit: number) {
    super(
      `One person may own at most ${limit} organisations (one holds any number of venues): hand one you own to another owner first`,
    );
  }
}

/**
 * Makes an organisation with the caller as its owner. The organisations a person owns are capped
 * (`organizationsPerPerson`, ORGANIZATIONS_PER_PERSON): each holds its own API keys, each key its
 * own daily quota, so organisations without end would make that quota without end. One person's
 * creations are counted one at a time, so two at the same instant cannot both pass the count.
 */
export async function createOrganization(
  db: Db,
  access: Access,
  input: { name: string },
  options: { organizationsPerPerson: number },
) {
  const userId = access.requirePerson();
  const { name } = parseInput(z.object({ name: organizationName }), input);
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`organizations-of:${userId}`}, 0))`;
    const owned = await tx.membership.count({ where: { userId, role: 'OWNER' } });
    if (owned >= options.organizationsPerPerson)
      throw new OrganizationLimitError(options.organizationsPerPerson);
    return tx.organization.create({
      data: { name, memberships: { create: { userId, role: 'OWNER' } } },
    });
  });
}

export async function renameOrganization(
  db: Db,
  access: Access,
  input: { organizationId: string; name: string },
) {
  const { organizationId, name } = parseInput(
    z.object({ organizationId: z.uuid(), name: organizationName }),
    input,
  );
  await requireOrganization(db, organizationId);
  await access.require(organizationId, MANAGERS);
  return db.organization.update({ where: { id: organizationId }, data: { name } });
}

/**
 * Changes a member's role. Managers may move people between ADMIN and STAFF; only an OWNER may make
 * or unmake an OWNER, and the last OWNER cannot be demoted.
 */
export async function changeMemberRole(
  db: Db,
  access: Access,
  input: { membershipId: string; role: MembershipRole },
) {
  const parsed = parseInput(z.object({ membershipId: z.uuid(), role }), input);
  access.requirePerson();
  const membership = await requireMembership(db, parsed.membershipId);
  await access.require(membership.organizationId, MANAGERS);
  if (membership.role === 'OWNER' || parsed.role === 'OWNER') {
    await requireOwner(access, membership.organizationId);
  }
  if (membership.role === parsed.role) return membership;

  return db.$transaction(async (tx) => {
    if (membership.role === 'OWNER') await keepAnotherOwner(tx, membership.organizationId, membership.id);
    // Only from the role the rules above were applied to: promoted or demoted meanwhile, the
    // member is judged again.
    const changed = await tx.membership.updateMany({
      where: { id: membership.id, role: membership.role },
      data: { role: parsed.role },
    });
    if (changed.count !== 1) throw roleChangedMeanwhile();
    return tx.membership.findUniqueOrThrow({ where: { id: membership.id } });
  });
}

function roleChangedMeanwhile(): ConflictError {
  return new ConflictError("The member's role changed meanwhile, or they left: look again");
}

/**
 * Removes a member. Managers remove others (only an OWNER removes an OWNER); anyone may leave.
 * The last OWNER can do neither. The API keys the member made for the organisation are revoked
 * with the membership (authenticateApiKey refuses them anyway; revoking shows it in the list).
 */
export async function removeMember(db: Db, access: Access, input: { membershipId: string }) {
  const { membershipId } = parseInput(z.object({ membershipId: z.uuid() }), input);
  access.requirePerson();
  const membership = await requireMembership(db, membershipId);
  const leaving = access.actor.kind === 'user' && access.actor.userId === membership.userId;
  if (!leaving) {
    await access.require(membership.organizationId, MANAGERS);
    if (membership.role === 'OWNER') await requireOwner(access, membership.organizationId);
  }
  return db.$transaction(async (tx) => {
    if (membership.role === 'OWNER') await keepAnotherOwner(tx, membership.organizationId, membership.id);
    // Only in the role the rules above were applied to (see changeMemberRole).
    const removed = await tx.membership.deleteMany({ where: { id: membership.id, role: membership.role } });
    if (removed.count !== 1) throw roleChangedMeanwhile();
    await tx.apiKey.updateMany({
      where: { organizationId: membership.organizationId, createdById: membership.userId, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    return membership;
  });
}

/** The organisation a membership belongs to, or null (for authorising before the real work). */
export async function organizationOfMembership(db: Db, membershipId: string): Promise<string | null> {
  if (!z.uuid().safeParse(membershipId).success) return null;
  const membership = await db.membership.findUnique({
    where: { id: membershipId },
    select: { organizationId: true },
  });
  return membership?.organizationId ?? null;
}

/**
 * An organisation by id, with what `query` selects (a Prisma select or include), or null. Who may
 * read it is the caller's to decide (the GraphQL type's auth scopes).
 */
export function findOrganization(
  db: DbOrTx,
  organizationId: string,
  query: Prisma.OrganizationDefaultArgs = {},
) {
  return db.organization.findUnique({ ...query, where: { id: organizationId } });
}

/** Organisations the caller belongs to, or that a platform admin asks about. */
export async function requireReadableOrganization(db: Db, access: Access, organizationId: string) {
  const organization = await requireOrganization(db, organizationId);
  await access.require(organizationId, ANY_ROLE);
  return organization;
}

export async function requireOrganization(db: DbOrTx, organizationId: string) {
  const organization = await db.organization.findUnique({ where: { id: organizationId } });
  if (!organization) throw new NotFoundError('Organization not found');
  return organization;
}

async function requireMembership(db: Db, membershipId: string) {
  const membership = await db.membership.findUnique({ where: { id: membershipId } });
  if (!membership) throw new NotFoundError('Membership not found');
  return membership;
}

export async function requireOwner(access: Access, organizationId: string) {
  if (access.isPlatformAdmin) return;
  if ((await access.roleIn(organizationId)) !== 'OWNER') {
    throw new NotAllowedError('Only an owner can add, change or remove an owner');
  }
}

/**
 * Locks the organisation's OWNER rows and refuses if `membershipId` is the only one whose person
 * is not deleting their account (such an owner is gone in 30 days, and acts for no one meanwhile).
 * The lock makes two owners demoting each other at the same moment serialise, so one of them
 * stays an owner.
 */
async function keepAnotherOwner(tx: Tx, organizationId: string, membershipId: string) {
  await tx.$queryRaw`
    SELECT id FROM memberships
    WHERE organization_id = ${organizationId}::uuid AND role = 'OWNER'
    ORDER BY id
    FOR UPDATE`;
  // Read after the lock, in a statement of its own: an account deletion that held these rows (it
  // locks them too) has committed by now, and its person is seen leaving.
  const owners = await tx.$queryRaw<{ id: string; leaving: boolean }[]>`
    SELECT m.id, u.deleted_at IS NOT NULL AS leaving
    FROM memberships m JOIN users u ON u.id = m.user_id
    WHERE m.organization_id = ${organizationId}::uuid AND m.role = 'OWNER'`;
  if (!owners.some((o) => o.id !== membershipId && !o.leaving)) {
    throw new ConflictError('An organization needs at least one owner: make someone else an owner first');
  }
}
