/**
 * Who may call what: every mutation of the platform surface, and reads of each organisation-owned
 * node, run as every kind of caller against the real server. Each cell states its outcome:
 *
 * - `allowed`: the call succeeds and its effect is in the database;
 * - `HTTP 401`: the credential itself no longer works (a write key whose creator was removed
 *   from the organisation, or whose organisation has no owner left): refused before GraphQL
 *   runs, like any credential that does not verify. A write key whose creator was demoted to
 *   STAFF acts as that STAFF member would;
 * - `UNAUTHENTICATED` / `FORBIDDEN`: scope-auth refuses before the resolver runs (a top-level
 *   GraphQL error with that `extensions.code`, the field null);
 * - `hidden`: `node(id)` answers null with no error, as for an id that names nothing;
 * - a typed error (`NotAllowedError`, `ConflictError`): the caller may call the mutation on this
 *   organisation, but a finer rule the domain enforces says no (admins cannot touch owners, the
 *   last owner stays).
 *
 * Every refusal, of either kind, is also checked to have changed nothing in the database.
 *
 * Every cell gets a fresh organisation, so cells are independent and can be read one by one.
 * Fixtures are written straight to the database and callers get real access tokens signed with
 * the app's key (test/helpers/authz.ts): the sign-in flow itself is tested elsewhere, and running
 * it for each of the five people of 176 cells would cost most of this file's time budget.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import { type GraphQLResponse, startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import {
  ACTORS,
  type Actor,
  type Actors,
  apiKey,
  createActors,
  credentialFor,
  expectUnauthorized,
  HIDDEN,
  hiddenWhereRefused,
  type Person,
  person,
  unique,
  userOf,
} from '../helpers/authz.ts';

type Outcome =
  | 'allowed'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NotAllowedError'
  | 'ConflictError'
  | 'HTTP 401'
  | typeof HIDDEN;

const RequestSignInCode = graphql(`
  mutation AuthzRequestSignInCode($email: String!) {
    requestSignInCode(input: { email: $email }) {
      __typename
      ... on RequestSignInCodePayload { email }
      ... on Error { message }
    }
  }
`);

const SignInWithCode = graphql(`
  mutation AuthzSignInWithCode($email: String!, $code: String!) {
    signInWithCode(input: { email: $email, code: $code }) {
      __typename
      ... on SignInPayload { user { id } session { accessToken } }
      ... on Error { message }
    }
  }
`);

const RefreshSession = graphql(`
  mutation AuthzRefreshSession($refreshToken: String!) {
    refreshSession(input: { refreshToken: $refreshToken }) {
      __typename
      ... on SignInPayload { user { id } session { refreshToken } }
      ... on Error { message }
    }
  }
`);

const SignOut = graphql(`
  mutation AuthzSignOut($refreshToken: String!) {
    signOut(input: { refreshToken: $refreshToken }) { signedOut }
  }
`);

const CreateOrganization = graphql(`
  mutation AuthzCreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id name viewerRole } }
      ... on Error { message }
    }
  }
`);

const RenameOrganization = graphql(`
  mutation AuthzRenameOrganization($organizationId: ID!, $name: String!) {
    renameOrganization(input: { organizationId: $organizationId, name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id name } }
      ... on Error { message }
    }
  }
`);

const InviteMember = graphql(`
  mutation AuthzInviteMember($organizationId: ID!, $email: String!, $role: MembershipRole!) {
    inviteMember(input: { organizationId: $organizationId, email: $email, role: $role }) {
      __typename
      ... on InvitationPayload { invitation { id role status } }
      ... on Error { message }
    }
  }
`);

const WithdrawInvitation = graphql(`
  mutation AuthzWithdrawInvitation($invitationId: ID!) {
    withdrawInvitation(input: { invitationId: $invitationId }) {
      __typename
      ... on InvitationPayload { invitation { status } }
      ... on Error { message }
    }
  }
`);

const ChangeMemberRole = graphql(`
  mutation AuthzChangeMemberRole($membershipId: ID!, $role: MembershipRole!) {
    changeMemberRole(input: { membershipId: $membershipId, role: $role }) {
      __typename
      ... on MembershipPayload { membership { id role } }
      ... on Error { message }
    }
  }
`);

const RemoveMember = graphql(`
  mutation AuthzRemoveMember($membershipId: ID!) {
    removeMember(input: { membershipId: $membershipId }) {
      __typename
      ... on RemoveMemberPayload { removedMembershipId }
      ... on Error { message }
    }
  }
`);

const CreateApiKey = graphql(`
  mutation AuthzCreateApiKey($organizationId: ID!, $name: String!, $scopes: [ApiKeyScope!]!) {
    createApiKey(input: { organizationId: $organizationId, name: $name, scopes: $scopes }) {
      __typename
      ... on CreateApiKeyPayload { secret apiKey { id name scopes } }
      ... on Error { message }
    }
  }
`);

const RevokeApiKey = graphql(`
  mutation AuthzRevokeApiKey($apiKeyId: ID!) {
    revokeApiKey(input: { apiKeyId: $apiKeyId }) {
      __typename
      ... on RevokeApiKeyPayload { apiKey { id revokedAt } }
      ... on Error { message }
    }
  }
`);

const ScanBusiness = graphql(`
  mutation AuthzScanBusiness($organizationId: ID!, $url: String!) {
    scanBusiness(input: { organizationId: $organizationId, url: $url }) {
      __typename
      ... on ScanBusinessPayload { scan { id status url } }
      ... on Error { message }
    }
  }
`);

const ApplyScanDraft = graphql(`
  mutation AuthzApplyScanDraft($scanId: ID!) {
    applyScanDraft(input: { scanId: $scanId, fields: [NAME], timeZone: "Europe/Lisbon" }) {
      __typename
      ... on ApplyScanDraftPayload { applied venue { id name } }
      ... on Error { message }
    }
  }
`);

const OrganizationById = graphql(`
  query AuthzOrganization($id: ID!) {
    organization(id: $id) { id name }
  }
`);

const NodeById = graphql(`
  query AuthzNode($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on Organization { name }
      ... on Membership { role }
      ... on ApiKey { name }
    }
  }
`);

/** The callers of every table, plus the targets of this one's member and key mutations. */
interface Fixture extends Actors {
  /** Targets for member mutations: a second STAFF and a second OWNER. */
  peerStaff: Person;
  peerOwner: Person;
  /** A key to revoke and to read. */
  targetKey: { id: string };
  /** Someone's signed-in session, for the session rows (their `prepare` signs in). */
  session?: { refreshToken: string };
  /** A finished business scan of the organisation, for the draft row (its `prepare` writes it). */
  scanId?: string;
  /** An invitation of the organisation waiting for its answer (its `prepare` writes it). */
  invitationId?: string;
}

interface Row {
  name: string;
  /** Top-level field the call selects; its answer is what the outcome is read from. */
  field: string;
  /**
   * Where a scope-auth refusal is reported, when not at `field`. Scopes on a type (rather than on
   * the field) are checked as the object's first field resolves, so `node` refusals point at
   * `node.id`; `node` is null all the same.
   */
  refusedAt?: string[];
  /** Changes to the fresh fixture before the call (e.g. leave a single owner). */
  prepare?: (fx: Fixture) => Promise<void>;
  call: (fx: Fixture, token: string | undefined, actor: Actor) => Promise<GraphQLResponse<unknown>>;
  /** For allowed cells: the answer and the database show the effect. */
  effect: (fx: Fixture, answer: Record<string, unknown>, actor: Actor) => Promise<void>;
  expected: Record<Actor, Outcome>;
}

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const gid = (type: 'Organization' | 'Membership' | 'ApiKey', id: string) => encodeGlobalID(type, id);
const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

async function createFixture(): Promise<Fixture> {
  const actors = await createActors(app);
  return {
    ...actors,
    peerStaff: await person(app, actors.organizationId, 'STAFF'),
    peerOwner: await person(app, actors.organizationId, 'OWNER'),
    targetKey: await apiKey(app, actors.organizationId, actors.admin.userId, ['read']),
  };
}

/**
 * What a refused call must leave untouched: both organisations with their members and keys, and
 * the size of every table a mutation here could write. `lastUsedAt` is left out: authenticating
 * with an API key records its use, whatever the call then does.
 */
async function snapshot(fx: Fixture) {
  const db = app.services.db;
  const organizationIds = [fx.organizationId, fx.otherOrganizationId];
  return {
    organizations: await db.organization.findMany({
      where: { id: { in: organizationIds } },
      orderBy: { id: 'asc' },
    }),
    memberships: await db.membership.findMany({
      where: { organizationId: { in: organizationIds } },
      orderBy: { id: 'asc' },
    }),
    apiKeys: await db.apiKey.findMany({
      where: { organizationId: { in: organizationIds } },
      orderBy: { id: 'asc' },
      omit: { lastUsedAt: true },
    }),
    counts: {
      users: await db.user.count(),
      organizations: await db.organization.count(),
      memberships: await db.membership.count(),
      invitations: await db.organizationInvitation.count(),
      apiKeys: await db.apiKey.count(),
      businessScans: await db.businessScan.count(),
      venues: await db.venue.count(),
    },
  };
}

/** Signs somebody in through the real flow, for the rows that end or renew their session. */
async function signedIn(fx: Fixture) {
  fx.session = await app.signIn();
}

/** Gives the fixture's organisation a finished scan whose draft names a venue. */
async function finishedScan(fx: Fixture) {
  const scan = await app.services.db.businessScan.create({
    data: {
      organizationId: fx.organizationId,
      url: 'https://example.com/',
      status: 'DONE',
      draft: [{ field: 'name', value: 'Scanned Place', display: 'Scanned Place', source: 'json-ld' }],
    },
  });
  fx.scanId = scan.id;
}

/** Gives the fixture's organisation an invitation waiting for its answer. */
async function waitingInvitation(fx: Fixture) {
  const invitation = await app.services.db.organizationInvitation.create({
    data: {
      organizationId: fx.organizationId,
      email: uniqueEmail('invited'),
      role: 'STAFF',
      invitedById: fx.owner.userId,
      expiresAt: new Date(Date.now() + 86_400_000),
    },
  });
  fx.invitationId = invitation.id;
}

/** Leaves the fixture's organisation with a single owner. */
async function onlyOneOwner(fx: Fixture) {
  await app.services.db.membership.delete({ where: { id: fx.peerOwner.membershipId } });
}

async function roleOf(membershipId: string) {
  return (await app.services.db.membership.findUnique({ where: { id: membershipId } }))?.role ?? null;
}

/** Reads of organisation-owned nodes: any member and any key of the organisation, or a platform admin. */
const READ_BY_ANY_MEMBER: Record<Actor, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'allowed',
  OTHER_OWNER: 'FORBIDDEN',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'allowed',
  KEY_READ: 'allowed',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'allowed',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'UNAUTHENTICATED',
};

/** Sign-in and session mutations need no identity: the code or refresh token is the credential. */
const PUBLIC: Record<Actor, Outcome> = {
  OWNER: 'allowed',
  ADMIN: 'allowed',
  STAFF: 'allowed',
  OTHER_OWNER: 'allowed',
  PLATFORM_ADMIN: 'allowed',
  KEY_WRITE: 'allowed',
  KEY_READ: 'allowed',
  KEY_CREATOR_REMOVED: 'HTTP 401',
  KEY_CREATOR_DEMOTED: 'allowed',
  KEY_NO_OWNER: 'HTTP 401',
  ANONYMOUS: 'allowed',
};

const rows: Row[] = [
  {
    name: 'requestSignInCode',
    field: 'requestSignInCode',
    call: (_fx, token) => app.gql(RequestSignInCode, { email: uniqueEmail('code') }, { token }),
    async effect(_fx, answer) {
      expect(answer).toMatchObject({ __typename: 'RequestSignInCodePayload' });
      const email = (answer as { email: string }).email;
      await expect(app.smtp.nextMessageTo(email)).resolves.toMatchObject({
        to: expect.stringContaining(email),
      });
    },
    expected: PUBLIC,
  },
  {
    name: 'signInWithCode',
    field: 'signInWithCode',
    async call(_fx, token) {
      const email = uniqueEmail('code');
      await app.gql(RequestSignInCode, { email });
      const mail = await app.smtp.nextMessageTo(email);
      const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
      return app.gql(SignInWithCode, { email, code }, { token });
    },
    async effect(_fx, answer) {
      expect(answer).toMatchObject({ __typename: 'SignInPayload' });
      const userId = rawId((answer as { user: { id: string } }).user.id);
      const user = await app.services.db.user.findUnique({
        where: { id: userId },
        include: { refreshTokens: true },
      });
      expect(user).toMatchObject({
        email: expect.stringMatching(/^code-/),
        refreshTokens: [{ revokedAt: null }],
      });
    },
    expected: PUBLIC,
  },
  {
    name: 'refreshSession',
    field: 'refreshSession',
    prepare: signedIn,
    call: (fx, token) => app.gql(RefreshSession, { refreshToken: fx.session!.refreshToken }, { token }),
    async effect(_fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'SignInPayload',
        session: { refreshToken: expect.any(String) },
      });
    },
    expected: PUBLIC,
  },
  {
    name: 'signOut',
    field: 'signOut',
    prepare: signedIn,
    call: (fx, token) => app.gql(SignOut, { refreshToken: fx.session!.refreshToken }, { token }),
    async effect(_fx, answer) {
      expect(answer).toEqual({ signedOut: true });
    },
    expected: PUBLIC,
  },
  {
    name: 'createOrganization',
    field: 'createOrganization',
    call: (_fx, token) => app.gql(CreateOrganization, { name: unique('New Org') }, { token }),
    async effect(fx, answer, actor) {
      expect(answer).toMatchObject({
        __typename: 'OrganizationPayload',
        organization: { viewerRole: 'OWNER' },
      });
      const id = rawId((answer as { organization: { id: string } }).organization.id);
      const owners = await app.services.db.membership.findMany({ where: { organizationId: id } });
      expect(owners).toMatchObject([{ userId: userOf(fx, actor), role: 'OWNER' }]);
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'allowed',
      OTHER_OWNER: 'allowed',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'renameOrganization',
    field: 'renameOrganization',
    call: (fx, token) =>
      app.gql(
        RenameOrganization,
        { organizationId: gid('Organization', fx.organizationId), name: 'Renamed Org' },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'OrganizationPayload',
        organization: { name: 'Renamed Org' },
      });
      const organization = await app.services.db.organization.findUnique({
        where: { id: fx.organizationId },
      });
      expect(organization?.name).toBe('Renamed Org');
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  ...(['STAFF', 'OWNER'] as const).map(
    (role): Row => ({
      name: `inviteMember as ${role}`,
      field: 'inviteMember',
      call: (fx, token) =>
        app.gql(
          InviteMember,
          { organizationId: gid('Organization', fx.organizationId), email: uniqueEmail('invited'), role },
          { token },
        ),
      async effect(fx, answer) {
        // An invitation, waiting for the person to accept: no member yet.
        expect(answer).toMatchObject({
          __typename: 'InvitationPayload',
          invitation: { role, status: 'PENDING' },
        });
        const id = rawId((answer as { invitation: { id: string } }).invitation.id);
        const invitation = await app.services.db.organizationInvitation.findUniqueOrThrow({ where: { id } });
        expect(invitation).toMatchObject({ organizationId: fx.organizationId, role });
        const joined = await app.services.db.membership.count({
          where: { organizationId: fx.organizationId, user: { email: invitation.email } },
        });
        expect(joined).toBe(0);
      },
      expected: {
        OWNER: 'allowed',
        // Only an owner adds an owner.
        ADMIN: role === 'OWNER' ? 'NotAllowedError' : 'allowed',
        STAFF: 'FORBIDDEN',
        OTHER_OWNER: 'FORBIDDEN',
        PLATFORM_ADMIN: 'allowed',
        // Members and keys are for people: a leaked key must not be able to add a person who then
        // mints keys (ApiKeyScope.WRITE: "as an admin would (not members or keys)").
        KEY_WRITE: 'FORBIDDEN',
        KEY_READ: 'FORBIDDEN',
        KEY_CREATOR_REMOVED: 'HTTP 401',
        KEY_CREATOR_DEMOTED: 'FORBIDDEN',
        KEY_NO_OWNER: 'HTTP 401',
        ANONYMOUS: 'UNAUTHENTICATED',
      },
    }),
  ),
  {
    name: 'withdrawInvitation',
    field: 'withdrawInvitation',
    prepare: waitingInvitation,
    call: (fx, token) =>
      app.gql(
        WithdrawInvitation,
        { invitationId: encodeGlobalID('Invitation', fx.invitationId!) },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toEqual({ __typename: 'InvitationPayload', invitation: { status: 'WITHDRAWN' } });
      const invitation = await app.services.db.organizationInvitation.findUnique({
        where: { id: fx.invitationId! },
      });
      expect(invitation?.status).toBe('WITHDRAWN');
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      // Who is asked to join is for people, as who is a member.
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'changeMemberRole STAFF → ADMIN',
    field: 'changeMemberRole',
    call: (fx, token) =>
      app.gql(
        ChangeMemberRole,
        { membershipId: gid('Membership', fx.peerStaff.membershipId), role: 'ADMIN' },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ __typename: 'MembershipPayload', membership: { role: 'ADMIN' } });
      expect(await roleOf(fx.peerStaff.membershipId)).toBe('ADMIN');
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      // Changing roles is for owners and admins, refused before anything runs.
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'changeMemberRole STAFF → OWNER (promote)',
    field: 'changeMemberRole',
    call: (fx, token) =>
      app.gql(
        ChangeMemberRole,
        { membershipId: gid('Membership', fx.peerStaff.membershipId), role: 'OWNER' },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ __typename: 'MembershipPayload', membership: { role: 'OWNER' } });
      expect(await roleOf(fx.peerStaff.membershipId)).toBe('OWNER');
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'NotAllowedError',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'changeMemberRole OWNER → STAFF (demote one of two owners)',
    field: 'changeMemberRole',
    call: (fx, token) =>
      app.gql(
        ChangeMemberRole,
        { membershipId: gid('Membership', fx.peerOwner.membershipId), role: 'STAFF' },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ __typename: 'MembershipPayload', membership: { role: 'STAFF' } });
      expect(await roleOf(fx.peerOwner.membershipId)).toBe('STAFF');
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'NotAllowedError',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'changeMemberRole the last OWNER → ADMIN',
    field: 'changeMemberRole',
    prepare: onlyOneOwner,
    call: (fx, token) =>
      app.gql(
        ChangeMemberRole,
        { membershipId: gid('Membership', fx.owner.membershipId), role: 'ADMIN' },
        { token },
      ),
    async effect() {
      throw new Error('no caller may demote the last owner');
    },
    expected: {
      OWNER: 'ConflictError',
      ADMIN: 'NotAllowedError',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'ConflictError',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'removeMember another STAFF',
    field: 'removeMember',
    call: (fx, token) =>
      app.gql(RemoveMember, { membershipId: gid('Membership', fx.peerStaff.membershipId) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'RemoveMemberPayload',
        removedMembershipId: gid('Membership', fx.peerStaff.membershipId),
      });
      expect(await roleOf(fx.peerStaff.membershipId)).toBeNull();
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      // A STAFF may leave (next row) but not remove anybody else.
      STAFF: 'NotAllowedError',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: "removeMember the STAFF caller's own membership (STAFF leaves)",
    field: 'removeMember',
    call: (fx, token) =>
      app.gql(RemoveMember, { membershipId: gid('Membership', fx.staff.membershipId) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ __typename: 'RemoveMemberPayload' });
      expect(await roleOf(fx.staff.membershipId)).toBeNull();
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'allowed',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'removeMember an OWNER (one of two)',
    field: 'removeMember',
    call: (fx, token) =>
      app.gql(RemoveMember, { membershipId: gid('Membership', fx.peerOwner.membershipId) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ __typename: 'RemoveMemberPayload' });
      expect(await roleOf(fx.peerOwner.membershipId)).toBeNull();
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'NotAllowedError',
      STAFF: 'NotAllowedError',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'removeMember the last OWNER',
    field: 'removeMember',
    prepare: onlyOneOwner,
    call: (fx, token) =>
      app.gql(RemoveMember, { membershipId: gid('Membership', fx.owner.membershipId) }, { token }),
    async effect() {
      throw new Error('no caller may remove the last owner');
    },
    expected: {
      // The owner leaving is refused too: somebody must stay in charge.
      OWNER: 'ConflictError',
      ADMIN: 'NotAllowedError',
      STAFF: 'NotAllowedError',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'ConflictError',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'createApiKey',
    field: 'createApiKey',
    call: (fx, token) =>
      app.gql(
        CreateApiKey,
        { organizationId: gid('Organization', fx.organizationId), name: 'made in a test', scopes: ['WRITE'] },
        { token },
      ),
    async effect(fx, answer, actor) {
      expect(answer).toMatchObject({
        __typename: 'CreateApiKeyPayload',
        secret: expect.stringMatching(new RegExp(`^${app.services.config.auth.apiKeyPrefix}_`)),
        apiKey: { name: 'made in a test', scopes: ['WRITE'] },
      });
      const id = rawId((answer as { apiKey: { id: string } }).apiKey.id);
      expect(await app.services.db.apiKey.findUnique({ where: { id } })).toMatchObject({
        organizationId: fx.organizationId,
        createdById: userOf(fx, actor),
        revokedAt: null,
      });
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      // A key acts with its creator's role in the organisation, and a platform admin has none:
      // such a key would never work, so it is not made.
      PLATFORM_ADMIN: 'NotAllowedError',
      // Keys are made by people, never by another key: a leaked key cannot mint more.
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'revokeApiKey',
    field: 'revokeApiKey',
    call: (fx, token) => app.gql(RevokeApiKey, { apiKeyId: gid('ApiKey', fx.targetKey.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'RevokeApiKeyPayload',
        apiKey: { id: gid('ApiKey', fx.targetKey.id), revokedAt: expect.any(String) },
      });
      const key = await app.services.db.apiKey.findUnique({ where: { id: fx.targetKey.id } });
      expect(key?.revokedAt).toBeInstanceOf(Date);
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'FORBIDDEN',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'scanBusiness',
    field: 'scanBusiness',
    call: (fx, token) =>
      app.gql(
        ScanBusiness,
        { organizationId: gid('Organization', fx.organizationId), url: 'https://example.com/' },
        { token },
      ),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'ScanBusinessPayload',
        scan: { status: 'QUEUED', url: 'https://example.com/' },
      });
      expect(await app.services.db.businessScan.count({ where: { organizationId: fx.organizationId } })).toBe(
        1,
      );
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      // A write key acts as an admin; a read key as staff, who may not start scans.
      KEY_WRITE: 'allowed',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'applyScanDraft to a new venue',
    field: 'applyScanDraft',
    prepare: finishedScan,
    call: (fx, token) => app.gql(ApplyScanDraft, { scanId: encodeGlobalID('Scan', fx.scanId!) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'ApplyScanDraftPayload',
        applied: ['NAME'],
        venue: { name: 'Scanned Place' },
      });
      expect(
        await app.services.db.venue.count({
          where: { organizationId: fx.organizationId, name: 'Scanned Place' },
        }),
      ).toBe(1);
    },
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: 'FORBIDDEN',
      OTHER_OWNER: 'FORBIDDEN',
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: 'FORBIDDEN',
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: 'FORBIDDEN',
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: 'UNAUTHENTICATED',
    },
  },
  {
    name: 'organization(id)',
    field: 'organization',
    call: (fx, token) => app.gql(OrganizationById, { id: gid('Organization', fx.organizationId) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ id: gid('Organization', fx.organizationId), name: expect.any(String) });
    },
    expected: READ_BY_ANY_MEMBER,
  },
  {
    name: 'node(id) of an Organization',
    field: 'node',
    call: (fx, token) => app.gql(NodeById, { id: gid('Organization', fx.organizationId) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({
        __typename: 'Organization',
        id: gid('Organization', fx.organizationId),
      });
    },
    expected: hiddenWhereRefused(READ_BY_ANY_MEMBER),
  },
  {
    name: 'node(id) of a Membership',
    field: 'node',
    call: (fx, token) => app.gql(NodeById, { id: gid('Membership', fx.peerStaff.membershipId) }, { token }),
    async effect(fx, answer) {
      expect(answer).toEqual({
        __typename: 'Membership',
        id: gid('Membership', fx.peerStaff.membershipId),
        role: 'STAFF',
      });
    },
    expected: hiddenWhereRefused(READ_BY_ANY_MEMBER),
  },
  {
    name: 'node(id) of an ApiKey',
    field: 'node',
    call: (fx, token) => app.gql(NodeById, { id: gid('ApiKey', fx.targetKey.id) }, { token }),
    async effect(fx, answer) {
      expect(answer).toMatchObject({ __typename: 'ApiKey', id: gid('ApiKey', fx.targetKey.id) });
    },
    // Keys are listed and read by the organisation's managers only; to anyone else a key's id
    // names nothing.
    expected: {
      OWNER: 'allowed',
      ADMIN: 'allowed',
      STAFF: HIDDEN,
      OTHER_OWNER: HIDDEN,
      PLATFORM_ADMIN: 'allowed',
      KEY_WRITE: 'allowed',
      KEY_READ: HIDDEN,
      KEY_CREATOR_REMOVED: 'HTTP 401',
      KEY_CREATOR_DEMOTED: HIDDEN,
      KEY_NO_OWNER: 'HTTP 401',
      ANONYMOUS: HIDDEN,
    },
  },
];

describe.each(rows.map((row) => [row.name, row] as const))('%s', (_name, row) => {
  it.each(ACTORS.map((actor) => [actor, row.expected[actor]] as const))(
    'as %s: %s',
    async (actor, outcome) => {
      const fx = await createFixture();
      await row.prepare?.(fx);
      const credential = await credentialFor(app, fx, actor);
      const before = await snapshot(fx);
      const response = await row.call(fx, credential, actor);
      const body = JSON.stringify(response.body);
      if (outcome === 'HTTP 401') {
        expectUnauthorized(response, body);
        expect(await snapshot(fx), `${body}\nthe refused call changed the database`).toEqual(before);
        return;
      }
      expect(response.status, body).toBe(200);

      if (outcome === 'allowed') {
        expect(response.errors, body).toBeUndefined();
        const answer = (response.data as Record<string, Record<string, unknown>>)[row.field];
        expect(answer, body).toBeTruthy();
        await row.effect(fx, answer!, actor);
        return;
      }

      if (outcome === HIDDEN) {
        expect(response.errors, body).toBeUndefined();
        expect(response.data?.[row.field as never], body).toBeNull();
      } else if (outcome === 'UNAUTHENTICATED' || outcome === 'FORBIDDEN') {
        expect(response.errors, body).toEqual([
          expect.objectContaining({ path: row.refusedAt ?? [row.field], extensions: { code: outcome } }),
        ]);
        // A refused non-null mutation field nulls the whole `data`; a nullable query field is null.
        expect(response.data?.[row.field as never] ?? null, body).toBeNull();
      } else {
        expect(response.errors, body).toBeUndefined();
        expect(response.data, body).toMatchObject({
          [row.field]: { __typename: outcome, message: expect.any(String) },
        });
      }
      expect(await snapshot(fx), `${body}\nthe refused call changed the database`).toEqual(before);
    },
  );
});

describe('the answer to a refused call', () => {
  it('is exactly this for an anonymous renameOrganization', async () => {
    const fx = await createFixture();
    const response = await app.gql(RenameOrganization, {
      organizationId: gid('Organization', fx.organizationId),
      name: 'Hijacked',
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      data: null,
      errors: [
        {
          message: 'Sign in to do this',
          locations: [{ line: 3, column: 3 }],
          path: ['renameOrganization'],
          extensions: { code: 'UNAUTHENTICATED' },
        },
      ],
    });
  });

  it('is exactly this for a signed-in outsider reading an organisation', async () => {
    const fx = await createFixture();
    const response = await app.gql(
      OrganizationById,
      { id: gid('Organization', fx.organizationId) },
      { token: fx.otherOwner.token },
    );
    expect(response.body).toEqual({
      data: { organization: null },
      errors: [
        {
          message: 'You are not allowed to do this',
          locations: [{ line: 3, column: 3 }],
          path: ['organization'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });
});
