/**
 * Who may do what inside an organisation. This is the one place the role rules live; GraphQL auth
 * scopes and MCP tools ask it, and the organisation functions check it again before they write.
 */
import type { MembershipRole } from '../../generated/prisma/enums.ts';
import { batchedLookup } from '../../platform/batch.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';
import { AuthenticationError, NotAllowedError } from '../../platform/errors.ts';
import { isUuid } from '../../platform/uuid.ts';
import type { Actor } from '../identity/actor.ts';

export const MANAGERS: readonly MembershipRole[] = ['OWNER', 'ADMIN'];
export const ANY_ROLE: readonly MembershipRole[] = ['OWNER', 'ADMIN', 'STAFF'];

export interface Access {
  readonly actor: Actor;
  /** The caller's role in the organisation, or null. Memoised for the life of the request. */
  roleIn(organizationId: string): Promise<MembershipRole | null>;
  /** True when the caller holds one of `roles` there, or is a platform admin. */
  has(organizationId: string, roles: readonly MembershipRole[]): Promise<boolean>;
  /** Like `has`, but throws NotAllowedError (or AuthenticationError for anonymous callers). */
  require(organizationId: string, roles: readonly MembershipRole[]): Promise<void>;
  /**
   * Whether the caller may see this person: themselves, someone sharing an organisation with them
   * (for an API key, a member of its organisation), or anyone for a platform admin.
   */
  canSeeUser(userId: string): Promise<boolean>;
  /**
   * Records that, during this request, the caller proved to be `userId` (a sign-in or refresh
   * that came in anonymous), so the answer may show that person to them.
   */
  provedToBe(userId: string): void;
  /**
   * Hands over a signed-in person's complete roles, read with their user when the request was
   * authenticated: from then on `roleIn` answers from them (an organisation not among them is one
   * they do not belong to) without reading. Only for operations that change no membership: a
   * write that makes or ends one would not be seen.
   */
  knowRoles(roles: ReadonlyMap<string, MembershipRole>): void;
  /** Hands over the person's role in one organisation (null: none), read with something else. */
  knowRole(organizationId: string, role: MembershipRole | null): void;
  /** The signed-in user's id, or AuthenticationError. API keys act as the user who created them. */
  requireUserId(): string;
  /** Like requireUserId, but refuses API keys: for acts that only a person may do. */
  requirePerson(): string;
  /** Refuses API keys without the `write` scope: for any change at all. */
  requireWrite(): void;
  readonly isPlatformAdmin: boolean;
}

/** A person's role in an organisation, read from the memberships (null: none). */
export type RoleOf = (organizationId: string, userId: string) => Promise<MembershipRole | null>;

/**
 * Roles read by one statement for all the lookups made together (src/platform/batch.ts): a
 * process's live subscribers re-checking their access after one event ask at once. Bound to the
 * database, never to a transaction.
 */
export function batchedRoles(db: Db): RoleOf {
  const lookup = batchedLookup<string, MembershipRole | null>(async (keys) => {
    const pairs = keys.map((key) => key.split(' '));
    const rows = await db.$queryRaw<{ organization_id: string; user_id: string; role: MembershipRole }[]>`
      SELECT m.organization_id, m.user_id, m.role::text AS role
      FROM memberships m
      JOIN unnest(${pairs.map(([organizationId]) => organizationId)}::uuid[], ${pairs.map(([, userId]) => userId)}::uuid[])
        AS wanted (organization_id, user_id)
        ON m.organization_id = wanted.organization_id AND m.user_id = wanted.user_id`;
    return new Map(rows.map((row) => [`${row.organization_id} ${row.user_id}`, row.role]));
  }, null);
  // Keyed as PostgreSQL writes a uuid back (lower case), whichever case it was asked in.
  return (organizationId, userId) =>
    isUuid(organizationId) && isUuid(userId)
      ? lookup(`${organizationId.toLowerCase()} ${userId.toLowerCase()}`)
      : Promise.resolve(null);
}

/**
 * `roleOf` reads a person's roles (default: a statement of their own each; `batchedRoles` shares
 * one with the lookups made together).
 */
export function createAccess(db: DbOrTx, actor: Actor, roleOf?: RoleOf): Access {
  const roles = new Map<string, Promise<MembershipRole | null>>();
  const isPlatformAdmin = actor.kind === 'user' && actor.isPlatformAdmin;

  // Set by knowRoles: `roles` then holds every organisation the person belongs to.
  let complete = false;
  const roleIn = (organizationId: string): Promise<MembershipRole | null> => {
    let role = roles.get(organizationId);
    if (!role && complete) return Promise.resolve(null);
    if (!role) {
      role = lookUpRole(db, actor, organizationId, roleOf);
      roles.set(organizationId, role);
    }
    return role;
  };

  // One query per request, however many people a page shows.
  let colleagues: Promise<Set<string>> | null = null;
  const proven = new Set<string>();
  const canSeeUser = async (userId: string) => {
    if (isPlatformAdmin || proven.has(userId)) return true;
    if (actor.kind === 'anonymous') return false;
    if (actor.kind === 'user' && actor.userId === userId) return true;
    colleagues ??= lookUpColleagues(db, actor);
    return (await colleagues).has(userId);
  };

  const has = async (organizationId: string, allowed: readonly MembershipRole[]) => {
    if (isPlatformAdmin) return true;
    const role = await roleIn(organizationId);
    return role !== null && allowed.includes(role);
  };

  return {
    actor,
    isPlatformAdmin,
    roleIn,
    has,
    canSeeUser,
    provedToBe: (userId) => void proven.add(userId),
    knowRoles(known) {
      if (actor.kind !== 'user') return;
      for (const [organizationId, role] of known) roles.set(organizationId, Promise.resolve(role));
      complete = true;
    },
    knowRole(organizationId, role) {
      if (actor.kind === 'user') roles.set(organizationId, Promise.resolve(role));
    },
    async require(organizationId, allowed) {
      if (actor.kind === 'anonymous') throw new AuthenticationError('Sign in to do this');
      if (!(await has(organizationId, allowed))) throw new NotAllowedError();
    },
    requireUserId() {
      if (actor.kind === 'anonymous') throw new AuthenticationError('Sign in to do this');
      return actor.userId;
    },
    requireWrite() {
      if (actor.kind === 'apiKey' && !actor.scopes.includes('write')) {
        throw new NotAllowedError('This API key may only read');
      }
    },
    requirePerson() {
      if (actor.kind === 'anonymous') throw new AuthenticationError('Sign in to do this');
      if (actor.kind === 'apiKey') throw new NotAllowedError('API keys cannot do this; sign in as a person');
      return actor.userId;
    },
  };
}

async function lookUpRole(
  db: DbOrTx,
  actor: Actor,
  organizationId: string,
  roleOf?: RoleOf,
): Promise<MembershipRole | null> {
  switch (actor.kind) {
    case 'anonymous':
      return null;
    case 'apiKey':
      // A key acts within its own organisation only, with the role authenticateApiKey gave it.
      return actor.organizationId === organizationId ? actor.role : null;
    case 'user': {
      // An id that is no organisation's (not even a uuid) is a role in nothing, not a query error.
      if (!isUuid(organizationId)) return null;
      if (roleOf) return roleOf(organizationId, actor.userId);
      const membership = await db.membership.findUnique({
        where: { organizationId_userId: { organizationId, userId: actor.userId } },
        select: { role: true },
      });
      return membership?.role ?? null;
    }
  }
}

async function lookUpColleagues(
  db: DbOrTx,
  actor: Exclude<Actor, { kind: 'anonymous' }>,
): Promise<Set<string>> {
  const rows =
    actor.kind === 'apiKey'
      ? await db.membership.findMany({
          where: { organizationId: actor.organizationId },
          select: { userId: true },
        })
      : await db.$queryRaw<{ userId: string }[]>`
          SELECT DISTINCT theirs.user_id AS "userId"
          FROM memberships mine JOIN memberships theirs ON theirs.organization_id = mine.organization_id
          WHERE mine.user_id = ${actor.userId}::uuid`;
  return new Set(rows.map((r) => r.userId));
}
