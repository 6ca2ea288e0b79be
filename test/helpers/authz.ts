/**
 * The callers of the authorisation table tests: one organisation with an OWNER, an ADMIN, a STAFF
 * and two API keys, a second organisation owned by an outsider, and a platform admin; and, made
 * for the cell that uses them (credentialFor), write keys whose creator has since lost their
 * rights or whose organisation has lost its owners. Written
 * straight to the database, with real access tokens signed by the app's key: the sign-in flow is
 * tested elsewhere, and running it for every person of every cell would cost most of a table's
 * time budget.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { issueAccessToken } from '../../src/domain/identity/access-tokens.ts';
import { createApiKey } from '../../src/domain/identity/api-keys.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { changeMemberRole, removeMember } from '../../src/domain/organizations/organizations.ts';
import { type TestApp, uniqueEmail } from './app.ts';

/** Every kind of caller a table has a column for. */
export const ACTORS = [
  'OWNER',
  'ADMIN',
  'STAFF',
  'OTHER_OWNER',
  'PLATFORM_ADMIN',
  'KEY_WRITE',
  'KEY_READ',
  // Write keys made by the ADMIN, who was then removed from the organisation, or demoted to STAFF;
  // and one made by the ADMIN of an organisation that has since lost every owner.
  'KEY_CREATOR_REMOVED',
  'KEY_CREATOR_DEMOTED',
  'KEY_NO_OWNER',
  'ANONYMOUS',
] as const;
export type Actor = (typeof ACTORS)[number];
/** The callers whose key is made, and whose situation brought about, by credentialFor. */
type KeyInASituation = 'KEY_CREATOR_REMOVED' | 'KEY_CREATOR_DEMOTED' | 'KEY_NO_OWNER';

export interface Person {
  userId: string;
  email: string;
  membershipId: string;
  token: string;
}

export interface Key {
  id: string;
  secret: string;
}

/** One caller of each kind: the organisation's members and keys, an outsider, a platform admin. */
export interface Actors {
  organizationId: string;
  otherOrganizationId: string;
  owner: Person;
  admin: Person;
  staff: Person;
  /** The OWNER of the other organisation. */
  otherOwner: Person;
  platformAdmin: { userId: string; token: string };
  /** Scopes `read` and `write`: acts as an ADMIN of its organisation would. */
  keyWrite: Key;
  /** Scope `read` only: acts as a STAFF would. */
  keyRead: Key;
}

/** A label made unique, for names that must not clash between cells. */
export const unique = (label: string) => `${label} ${randomBytes(4).toString('hex')}`;

/** A real access token for the user, signed with the app's key at the app's current time. */
export async function accessToken(app: TestApp, userId: string): Promise<string> {
  const issued = await issueAccessToken(app.services.keys, {
    userId,
    auth: app.services.config.auth,
    now: app.clock.now(),
  });
  return issued.token;
}

/** A new user holding `role` in the organisation, with an access token. */
export async function person(
  app: TestApp,
  organizationId: string,
  role: 'OWNER' | 'ADMIN' | 'STAFF',
): Promise<Person> {
  const db = app.services.db;
  const email = uniqueEmail(role.toLowerCase());
  const user = await db.user.create({ data: { email } });
  const membership = await db.membership.create({ data: { organizationId, userId: user.id, role } });
  return { userId: user.id, email, membershipId: membership.id, token: await accessToken(app, user.id) };
}

/** Someone with an account and no membership anywhere: a guest, a stranger. */
export type Guest = Omit<Person, 'membershipId'>;

/** A new user of no organisation, with an access token. */
export async function guest(app: TestApp, label = 'guest'): Promise<Guest> {
  const email = uniqueEmail(label);
  const user = await app.services.db.user.create({ data: { email } });
  return { userId: user.id, email, token: await accessToken(app, user.id) };
}

/** A new API key of the organisation, made on behalf of `createdById`, with its secret. */
export async function apiKey(
  app: TestApp,
  organizationId: string,
  createdById: string,
  scopes: string[],
): Promise<Key> {
  const { apiKey, secret } = await createApiKey(
    app.services.db,
    { organizationId, createdById, name: unique(`key ${scopes.join('+')}`), scopes },
    { keyPrefix: app.services.config.auth.apiKeyPrefix },
  );
  return { id: apiKey.id, secret };
}

/** Two fresh organisations and one caller of each kind; tables add the targets their rows need. */
export async function createActors(app: TestApp): Promise<Actors> {
  const db = app.services.db;
  const organization = await db.organization.create({ data: { name: unique('Authz Org') } });
  const other = await db.organization.create({ data: { name: unique('Outsider Org') } });
  const owner = await person(app, organization.id, 'OWNER');
  const platformAdmin = await db.user.create({
    data: { email: uniqueEmail('platform'), isPlatformAdmin: true },
  });
  return {
    organizationId: organization.id,
    otherOrganizationId: other.id,
    owner,
    admin: await person(app, organization.id, 'ADMIN'),
    staff: await person(app, organization.id, 'STAFF'),
    otherOwner: await person(app, other.id, 'OWNER'),
    platformAdmin: { userId: platformAdmin.id, token: await accessToken(app, platformAdmin.id) },
    keyWrite: await apiKey(app, organization.id, owner.userId, ['read', 'write']),
    keyRead: await apiKey(app, organization.id, owner.userId, ['read']),
  };
}

/**
 * What the actor sends as `Authorization: Bearer`, after bringing about the actor's situation in
 * this fixture: a write key the ADMIN makes, then the ADMIN's removal or demotion by the OWNER
 * (through the same domain functions as the API), or the organisation's owners gone (as deleting
 * their accounts would leave it; nothing in the API removes the last owner).
 */
export async function credentialFor(app: TestApp, fx: Actors, actor: Actor): Promise<string | undefined> {
  if (actor !== 'KEY_CREATOR_REMOVED' && actor !== 'KEY_CREATOR_DEMOTED' && actor !== 'KEY_NO_OWNER') {
    return credentialOf(fx, actor);
  }
  const db = app.services.db;
  const key = await apiKey(app, fx.organizationId, fx.admin.userId, ['read', 'write']);
  const owner = createAccess(db, { kind: 'user', userId: fx.owner.userId, isPlatformAdmin: false });
  if (actor === 'KEY_CREATOR_REMOVED') {
    await removeMember(db, owner, { membershipId: fx.admin.membershipId });
  } else if (actor === 'KEY_CREATOR_DEMOTED') {
    await changeMemberRole(db, owner, { membershipId: fx.admin.membershipId, role: 'STAFF' });
  } else {
    await db.membership.deleteMany({ where: { organizationId: fx.organizationId, role: 'OWNER' } });
  }
  return key.secret;
}

/** What the actor sends as `Authorization: Bearer`; nothing for an anonymous caller. */
function credentialOf(fx: Actors, actor: Exclude<Actor, KeyInASituation>): string | undefined {
  switch (actor) {
    case 'OWNER':
      return fx.owner.token;
    case 'ADMIN':
      return fx.admin.token;
    case 'STAFF':
      return fx.staff.token;
    case 'OTHER_OWNER':
      return fx.otherOwner.token;
    case 'PLATFORM_ADMIN':
      return fx.platformAdmin.token;
    case 'KEY_WRITE':
      return fx.keyWrite.secret;
    case 'KEY_READ':
      return fx.keyRead.secret;
    case 'ANONYMOUS':
      return undefined;
  }
}

/** The person a call acts for: an API key acts for the person who created it. */
export function userOf(fx: Actors, actor: Actor): string | undefined {
  switch (actor) {
    case 'OWNER':
    case 'KEY_WRITE':
    case 'KEY_READ':
      return fx.owner.userId;
    case 'ADMIN':
    case 'KEY_CREATOR_REMOVED':
    case 'KEY_CREATOR_DEMOTED':
    case 'KEY_NO_OWNER':
      return fx.admin.userId;
    case 'STAFF':
      return fx.staff.userId;
    case 'OTHER_OWNER':
      return fx.otherOwner.userId;
    case 'PLATFORM_ADMIN':
      return fx.platformAdmin.userId;
    case 'ANONYMOUS':
      return undefined;
  }
}

/**
 * Checks a cell whose credential no longer works at all: the request is refused before GraphQL
 * runs, with 401 and UNAUTHENTICATED, as any credential that does not verify is.
 */
export function expectUnauthorized(response: { status: number; errors?: unknown }, body: string): void {
  expect(response.status, body).toBe(401);
  expect(response.errors, body).toEqual([
    { message: expect.any(String), extensions: { code: 'UNAUTHENTICATED' } },
  ]);
}

/** The value at `path` inside a GraphQL `data` object. */
export function valueAt(data: unknown, path: string[]): unknown {
  return path.reduce<unknown>((value, key) => (value as Record<string, unknown> | null)?.[key], data);
}

/**
 * What `node(id)` answers a caller who may not see the object: null and no error, exactly as for
 * an id that names nothing, so an id reveals neither that the object exists nor its type.
 */
export const HIDDEN = 'hidden';

/** `outcomes` for a read through `node(id)`: every refusal becomes HIDDEN. */
export function hiddenWhereRefused<C extends string, O extends string>(
  outcomes: Record<C, O>,
): Record<C, O | typeof HIDDEN> {
  const mapped = {} as Record<C, O | typeof HIDDEN>;
  for (const [caller, outcome] of Object.entries(outcomes) as [C, O][]) {
    mapped[caller] = outcome === 'FORBIDDEN' || outcome === 'UNAUTHENTICATED' ? HIDDEN : outcome;
  }
  return mapped;
}

/**
 * Checks a cell that did not change anything: a field that reads null, a call refused before it
 * ran (exactly one error with the code, at `refusedAt`, and the field null — a refused non-null
 * field nulls its parent, `data` or `node`), a node hidden from the caller (HIDDEN: the top-level
 * field null, no error), or a typed error member of the field's result.
 */
export function expectRefusal(
  response: { data?: unknown; errors?: unknown },
  outcome: string,
  row: { path: string[]; refusedAt?: string[] },
  body: string,
): void {
  if (outcome === HIDDEN) {
    expect(response.errors, body).toBeUndefined();
    expect(valueAt(response.data, row.path.slice(0, 1)), body).toBeNull();
  } else if (outcome === 'null') {
    expect(response.errors, body).toBeUndefined();
    expect(valueAt(response.data, row.path), body).toBeNull();
  } else if (outcome === 'UNAUTHENTICATED' || outcome === 'FORBIDDEN') {
    expect(response.errors, body).toEqual([
      expect.objectContaining({ path: row.refusedAt ?? row.path, extensions: { code: outcome } }),
    ]);
    expect(
      (response.data as Record<string, unknown> | null | undefined)?.[row.path[0]!] ?? null,
      body,
    ).toBeNull();
  } else {
    expect(response.errors, body).toBeUndefined();
    expect(valueAt(response.data, row.path), body).toMatchObject({
      __typename: outcome,
      message: expect.any(String),
    });
  }
}
