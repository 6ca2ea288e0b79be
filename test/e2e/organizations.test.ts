import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';
import { allReadBeforeAnyWrites, committedWhileWaiting, waitingForLock } from '../helpers/db.ts';

const CreateOrganization = graphql(`
  mutation CreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id name viewerRole } }
      ... on ValidationError { message field }
      ... on ConflictError { message }
    }
  }
`);

const InviteMember = graphql(`
  mutation InviteMember($organizationId: ID!, $email: String!, $role: MembershipRole!) {
    inviteMember(input: { organizationId: $organizationId, email: $email, role: $role }) {
      __typename
      ... on InvitationPayload { invitation { id email role status organizationName invitedByName expiresAt } }
      ... on Error { message }
    }
  }
`);

const MyInvitations = graphql(`
  query MyInvitations {
    viewer { memberships { id } invitations { id role status organizationName invitedByName } }
  }
`);

const AcceptInvitation = graphql(`
  mutation AcceptInvitation($invitationId: ID!) {
    acceptInvitation(input: { invitationId: $invitationId }) {
      __typename
      ... on MembershipPayload { membership { id role organization { id } } }
      ... on Error { message }
    }
  }
`);

const DeclineInvitation = graphql(`
  mutation DeclineInvitation($invitationId: ID!) {
    declineInvitation(input: { invitationId: $invitationId }) {
      __typename
      ... on InvitationPayload { invitation { status } }
      ... on Error { message }
    }
  }
`);

const WithdrawInvitation = graphql(`
  mutation WithdrawInvitation($invitationId: ID!) {
    withdrawInvitation(input: { invitationId: $invitationId }) {
      __typename
      ... on InvitationPayload { invitation { status } }
      ... on Error { message }
    }
  }
`);

const OrganizationInvitations = graphql(`
  query OrganizationInvitations($id: ID!) {
    organization(id: $id) { members(first: 10) { totalCount } invitations { email role status } }
  }
`);

const InvitationNode = graphql(`
  query InvitationNode($id: ID!) {
    node(id: $id) { __typename ... on Invitation { email organizationName } }
  }
`);

const ChangeMemberRole = graphql(`
  mutation ChangeMemberRole($membershipId: ID!, $role: MembershipRole!) {
    changeMemberRole(input: { membershipId: $membershipId, role: $role }) {
      __typename
      ... on MembershipPayload { membership { id role } }
      ... on Error { message }
    }
  }
`);

const RemoveMember = graphql(`
  mutation RemoveMember($membershipId: ID!) {
    removeMember(input: { membershipId: $membershipId }) {
      __typename
      ... on RemoveMemberPayload { removedMembershipId }
      ... on Error { message }
    }
  }
`);

const CreateApiKey = graphql(`
  mutation OrganizationsCreateApiKey($organizationId: ID!) {
    createApiKey(input: { organizationId: $organizationId, name: "admin's script", scopes: [READ, WRITE] }) {
      __typename
      ... on CreateApiKeyPayload { secret apiKey { id } }
      ... on Error { message }
    }
  }
`);

const RenameOrganization = graphql(`
  mutation OrganizationsRename($organizationId: ID!, $name: String!) {
    renameOrganization(input: { organizationId: $organizationId, name: $name }) {
      __typename
      ... on OrganizationPayload { organization { name } }
      ... on Error { message }
    }
  }
`);

const RevokeKey = graphql(`
  mutation OrganizationsRevokeApiKey($apiKeyId: ID!) {
    revokeApiKey(input: { apiKeyId: $apiKeyId }) {
      __typename
      ... on Error { message }
    }
  }
`);

const OrganizationKeys = graphql(`
  query OrganizationsKeys($id: ID!) {
    organization(id: $id) { apiKeys(first: 10) { edges { node { id revokedAt createdBy { id } } } } }
  }
`);

const Viewer = graphql(`
  query Viewer {
    viewer { email memberships { id role organization { id name members(first: 10) { totalCount } } } }
  }
`);

let app: TestApp;

/**
 * `email` invited by `by` with `role`, signed in and accepting: their token and membership id.
 * The invitation is the one the invitee finds on their viewer.
 */
/** How many invitations were written to `email`. */
function invitationsMailedTo(email: string) {
  return app.services.db.outboundMessage.count({
    where: { kind: 'organization.invitation', emailTo: email },
  });
}

async function joinByInvitation(
  by: { token: string },
  organizationId: string,
  email: string,
  role: 'OWNER' | 'ADMIN' | 'STAFF',
) {
  const invited = await app.gql(InviteMember, { organizationId, email, role }, { token: by.token });
  const invitation = member(invited.data?.inviteMember, 'InvitationPayload', invited).invitation;
  const invitee = await app.signIn(email);
  const waiting = await app.gql(MyInvitations, {}, { token: invitee.token });
  expect(waiting.data?.viewer?.invitations.map((i) => i.id)).toContain(invitation.id);
  const accepted = await app.gql(AcceptInvitation, { invitationId: invitation.id }, { token: invitee.token });
  const { membership } = member(accepted.data?.acceptInvitation, 'MembershipPayload', accepted);
  return { ...invitee, membershipId: membership.id, role: membership.role };
}

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('organisations', () => {
  it('creates an organisation with the creator as owner, and lists it on the viewer', async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: '  Tide & Vine  ' }, { token: owner.token });
    expect(created.body).toMatchObject({
      data: {
        createOrganization: {
          __typename: 'OrganizationPayload',
          organization: { name: 'Tide & Vine', viewerRole: 'OWNER' },
        },
      },
    });
    const viewer = await app.gql(Viewer, {}, { token: owner.token });
    expect(viewer.data?.viewer?.memberships).toHaveLength(1);
    expect(viewer.data?.viewer?.memberships[0]?.organization.members.totalCount).toBe(1);
  });

  it('refuses an organisation id that names no organisation as not allowed, not as an error of ours', async () => {
    const someone = await app.signIn();
    const organizationId = Buffer.from('Organization:abc').toString('base64');
    const renamed = await app.gql(
      RenameOrganization,
      { organizationId, name: 'Nope' },
      { token: someone.token },
    );
    expect(renamed.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
  });

  it('holds an organisation to ten live API keys: the eleventh waits for one to be revoked', async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Key Ring' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const keys: { id: string; secret: string }[] = [];
    for (let i = 0; i < 10; i++) {
      const made = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
      const payload = member(made.data?.createApiKey, 'CreateApiKeyPayload', made);
      keys.push({ id: payload.apiKey.id, secret: payload.secret });
    }
    const full = {
      __typename: 'ConflictError',
      message:
        'An organisation holds at most 10 API keys that are not revoked: revoke one first (a key used today and revoked keeps its place until midnight UTC)',
    };
    const refused = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    expect(refused.data?.createApiKey).toEqual(full);
    const listed = await app.gql(OrganizationKeys, { id: organizationId }, { token: owner.token });
    expect(listed.data?.organization?.apiKeys.edges).toHaveLength(10);
    // One revoked makes room for one more.
    const revoked = await app.gql(RevokeKey, { apiKeyId: keys[0]!.id }, { token: owner.token });
    expect(revoked.data?.revokeApiKey).toMatchObject({ __typename: 'RevokeApiKeyPayload' });
    const again = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    expect(again.data?.createApiKey).toMatchObject({ __typename: 'CreateApiKeyPayload' });

    // A key that made requests today and is revoked keeps its place until midnight UTC: revoking a
    // spent key and making another does not give a fresh day's quota.
    const used = keys[1]!;
    const call = await app.gql('query { __typename }', {}, { token: used.secret });
    expect(call.status).toBe(200);
    expect(
      (await app.services.db.apiKey.findUniqueOrThrow({ where: { id: rawId(used.id) } })).lastUsedAt,
    ).not.toBeNull();
    expect(
      (await app.gql(RevokeKey, { apiKeyId: used.id }, { token: owner.token })).data?.revokeApiKey,
    ).toMatchObject({ __typename: 'RevokeApiKeyPayload' });
    expect(
      (await app.gql(CreateApiKey, { organizationId }, { token: owner.token })).data?.createApiKey,
    ).toEqual(full);
    // The next day (its use and its revocation yesterday's), its place is free.
    const yesterday = new Date(Date.now() - 86_400_000);
    await app.services.db.apiKey.update({
      where: { id: rawId(used.id) },
      data: { lastUsedAt: yesterday, revokedAt: yesterday },
    });
    const nextDay = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    expect(nextDay.data?.createApiKey).toMatchObject({ __typename: 'CreateApiKeyPayload' });
  });

  it('makes one key, not several, when an organisation one short of its ten asks for several at once', async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Busy Ring' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    for (let i = 0; i < 9; i++) await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    const answers = await allReadBeforeAnyWrites(
      app.services,
      ['SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [rawId(organizationId)]],
      6,
      () =>
        Promise.all(
          Array.from({ length: 6 }, () => app.gql(CreateApiKey, { organizationId }, { token: owner.token })),
        ),
    );
    expect(answers.map((a) => a.data?.createApiKey?.__typename).sort()).toEqual([
      'ConflictError',
      'ConflictError',
      'ConflictError',
      'ConflictError',
      'ConflictError',
      'CreateApiKeyPayload',
    ]);
    expect(
      await app.services.db.apiKey.count({
        where: { organizationId: rawId(organizationId), revokedAt: null },
      }),
    ).toBe(10);
  });

  it('makes no key for an admin removed while their key was being made', async () => {
    const owner = await app.signIn();
    const admin = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Door Ring' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const membership = await app.services.db.membership.create({
      data: { organizationId: rawId(organizationId), userId: admin.userId, role: 'ADMIN' },
    });
    const making = committedWhileWaiting(
      app.services,
      {
        hold: ['SELECT 1 FROM memberships WHERE id = $1 FOR UPDATE', [membership.id]],
        waiting: 'FROM memberships',
        change: ['DELETE FROM memberships WHERE id = $1', [membership.id]],
      },
      () => app.gql(CreateApiKey, { organizationId }, { token: admin.token }),
    );
    expect((await making).data?.createApiKey?.__typename).toBe('NotAllowedError');
    expect(await app.services.db.apiKey.count({ where: { createdById: admin.userId } })).toBe(0);
  });

  it('lets one person own ten organisations: the eleventh, even two asked at once, waits until they hand one on', async () => {
    const owner = await app.signIn();
    const create = (name: string) => app.gql(CreateOrganization, { name }, { token: owner.token });
    const ids: string[] = [];
    for (let i = 1; i <= 9; i++) {
      const made = await create(`Branch ${i}`);
      ids.push(member(made.data?.createOrganization, 'OrganizationPayload', made).organization.id);
    }
    const full = {
      __typename: 'ConflictError',
      message:
        'One person may own at most 10 organisations (one holds any number of venues): hand one you own to another owner first',
    };
    // Two asked at once for the tenth place: one is made.
    const both = await Promise.all([create('Branch 10'), create('Branch 10b')]);
    expect(both.map((r) => r.data?.createOrganization?.__typename).sort()).toEqual([
      'ConflictError',
      'OrganizationPayload',
    ]);
    expect((await create('Branch 11')).data?.createOrganization).toEqual(full);
    const viewer = await app.gql(Viewer, {}, { token: owner.token });
    expect(viewer.data?.viewer?.memberships.filter((m) => m.role === 'OWNER')).toHaveLength(10);

    // Handing one to another owner and stepping down frees its place.
    await joinByInvitation(owner, ids[0]!, uniqueEmail('next-owner'), 'OWNER');
    const own = viewer.data!.viewer!.memberships.find((m) => m.organization.id === ids[0])!;
    const stepped = await app.gql(
      ChangeMemberRole,
      { membershipId: own.id, role: 'ADMIN' },
      { token: owner.token },
    );
    expect(stepped.data?.changeMemberRole).toMatchObject({ membership: { role: 'ADMIN' } });
    expect((await create('Branch 11')).data?.createOrganization).toMatchObject({
      __typename: 'OrganizationPayload',
    });
  });

  it('refuses a blank name with a typed error naming the field, and creates nothing', async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: ' ' }, { token: owner.token });
    expect(created.body).toMatchObject({
      data: { createOrganization: { __typename: 'ValidationError', field: 'name' } },
    });
    const viewer = await app.gql(Viewer, {}, { token: owner.token });
    expect(viewer.data?.viewer?.memberships).toEqual([]);
  });

  it('keeps the last owner: cannot be demoted or removed until another owner exists', async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Last Owner Bar' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const viewer = await app.gql(Viewer, {}, { token: owner.token });
    const ownMembership = viewer.data!.viewer!.memberships[0]!.id;

    const demoted = await app.gql(
      ChangeMemberRole,
      { membershipId: ownMembership, role: 'ADMIN' },
      { token: owner.token },
    );
    expect(demoted.body).toMatchObject({ data: { changeMemberRole: { __typename: 'ConflictError' } } });
    const removed = await app.gql(RemoveMember, { membershipId: ownMembership }, { token: owner.token });
    expect(removed.body).toMatchObject({ data: { removeMember: { __typename: 'ConflictError' } } });

    const second = await joinByInvitation(owner, organizationId, uniqueEmail('second-owner'), 'OWNER');
    expect(second.role).toBe('OWNER');

    const nowDemoted = await app.gql(
      ChangeMemberRole,
      { membershipId: ownMembership, role: 'ADMIN' },
      { token: owner.token },
    );
    expect(nowDemoted.body).toMatchObject({ data: { changeMemberRole: { membership: { role: 'ADMIN' } } } });
  });

  it('two owners demoting each other at once leave one owner', async () => {
    const a = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Race Cafe' }, { token: a.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const b = await joinByInvitation(a, organizationId, uniqueEmail('owner-b'), 'OWNER');
    const bMembership = b.membershipId;
    const aMembership = (await app.gql(Viewer, {}, { token: a.token })).data!.viewer!.memberships[0]!.id;

    const [first, second] = await Promise.all([
      app.gql(ChangeMemberRole, { membershipId: bMembership, role: 'STAFF' }, { token: a.token }),
      app.gql(ChangeMemberRole, { membershipId: aMembership, role: 'STAFF' }, { token: b.token }),
    ]);
    const outcomes = [first, second].map(
      (r) => r.data?.changeMemberRole?.__typename ?? r.errors?.[0]?.extensions?.code,
    );
    // One demotion wins. The other is refused: as a conflict (no other owner would be left), or,
    // when its author has already been demoted to staff, before it runs.
    const answers = JSON.stringify([first.body, second.body]);
    expect(
      outcomes.filter((o) => o === 'MembershipPayload'),
      answers,
    ).toHaveLength(1);
    expect(
      outcomes.filter((o) => o === 'ConflictError' || o === 'FORBIDDEN'),
      answers,
    ).toHaveLength(1);
    const owners = await app.services.db.membership.count({
      where: { organizationId: rawId(organizationId), role: 'OWNER' },
    });
    expect(owners).toBe(1);
  });

  it('refuses an admin changing or removing a member who was made an owner meanwhile', async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Meanwhile Bar' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const admin = await joinByInvitation(owner, organizationId, uniqueEmail('admin'), 'ADMIN');
    const rising = await joinByInvitation(owner, organizationId, uniqueEmail('rising'), 'ADMIN');
    const id = rawId(rising.membershipId);
    for (const attempt of [
      () =>
        app.gql(
          ChangeMemberRole,
          { membershipId: rising.membershipId, role: 'STAFF' },
          { token: admin.token },
        ),
      () => app.gql(RemoveMember, { membershipId: rising.membershipId }, { token: admin.token }),
    ]) {
      // The owner's promotion holds the member's row while the admin's request reads them as ADMIN.
      const promotion = new pg.Client({ connectionString: app.database.url });
      await promotion.connect();
      try {
        await promotion.query('BEGIN');
        await promotion.query(`UPDATE memberships SET role = 'OWNER' WHERE id = $1`, [id]);
        const answer = attempt();
        await waitingForLock(app.services.db, 'memberships');
        await promotion.query('COMMIT');
        const body = (await answer).body as { data: Record<string, { __typename: string }> };
        expect(Object.values(body.data)[0]?.__typename, JSON.stringify(body)).toBe('ConflictError');
      } finally {
        await promotion.end();
      }
      expect(await app.services.db.membership.findUniqueOrThrow({ where: { id } })).toMatchObject({
        role: 'OWNER',
      });
      await app.services.db.membership.update({ where: { id }, data: { role: 'ADMIN' } });
    }
  });

  it("narrows an admin's keys when they are demoted, and revokes them when they are removed", async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Key Holders' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const admin = await joinByInvitation(owner, organizationId, uniqueEmail('admin'), 'ADMIN');
    const { membershipId } = admin;
    const made = await app.gql(CreateApiKey, { organizationId }, { token: admin.token });
    const key = member(made.data?.createApiKey, 'CreateApiKeyPayload', made);
    const rename = (name: string) =>
      app.gql(RenameOrganization, { organizationId, name }, { token: key.secret });

    expect((await rename('Renamed by the key')).data?.renameOrganization).toMatchObject({
      organization: { name: 'Renamed by the key' },
    });

    await app.gql(ChangeMemberRole, { membershipId, role: 'STAFF' }, { token: owner.token });
    const asStaff = await rename('Renamed after the demotion');
    expect(asStaff.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);

    await app.gql(RemoveMember, { membershipId }, { token: owner.token });
    const removed = await rename('Renamed after the removal');
    expect(removed.status).toBe(401);
    expect(removed.errors?.[0]?.message).toBe('The API key has been revoked');
    // The key stays listed; who made it is no longer the organisation's to show, the owner's own is.
    const ownMade = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    const ownKey = member(ownMade.data?.createApiKey, 'CreateApiKeyPayload', ownMade);
    const keys = await app.gql(OrganizationKeys, { id: organizationId }, { token: owner.token });
    expect(keys.errors).toBeUndefined();
    expect(keys.data?.organization?.apiKeys.edges).toEqual([
      { node: { id: ownKey.apiKey.id, revokedAt: null, createdBy: { id: expect.any(String) } } },
      { node: { id: key.apiKey.id, revokedAt: expect.any(String), createdBy: null } },
    ]);
  });
});

describe('invitations', () => {
  async function organizationOf(owner: { token: string }, name: string) {
    const created = await app.gql(CreateOrganization, { name }, { token: owner.token });
    return member(created.data?.createOrganization, 'OrganizationPayload', created).organization.id;
  }
  const invite = (by: { token: string }, organizationId: string, email: string, role = 'STAFF' as const) =>
    app.gql(InviteMember, { organizationId, email, role }, { token: by.token });

  it('makes no member until the person invited accepts, signed in with that address', async () => {
    const owner = await app.signIn();
    const organizationId = await organizationOf(owner, 'Consent Kitchen');
    const email = uniqueEmail('cook');
    const invited = await invite(owner, organizationId, email.toUpperCase());
    const invitation = member(invited.data?.inviteMember, 'InvitationPayload', invited).invitation;
    expect(invitation).toMatchObject({
      email,
      role: 'STAFF',
      status: 'PENDING',
      organizationName: 'Consent Kitchen',
    });
    // They are told by email; nobody joined, and no account was made for the address.
    const emails = await app.services.db.outboundMessage.findMany({
      where: { kind: 'organization.invitation', emailTo: email },
    });
    expect(emails).toHaveLength(1);
    expect(emails[0]!.subject).toContain('Consent Kitchen');
    expect(emails[0]!.body).toContain('nothing changes unless you accept');
    expect(await app.services.db.user.count({ where: { email } })).toBe(0);
    const team = await app.gql(OrganizationInvitations, { id: organizationId }, { token: owner.token });
    expect(team.data?.organization).toEqual({
      members: { totalCount: 1 },
      invitations: [{ email, role: 'STAFF', status: 'PENDING' }],
    });

    // Someone else cannot see it, nor accept it.
    const stranger = await app.signIn();
    expect((await app.gql(InvitationNode, { id: invitation.id }, { token: stranger.token })).data).toEqual({
      node: null,
    });
    const taken = await app.gql(AcceptInvitation, { invitationId: invitation.id }, { token: stranger.token });
    expect(taken.data?.acceptInvitation).toMatchObject({ __typename: 'NotFoundError' });

    // The person it was sent to sees it, with no more of the organisation than its name, and joins.
    const cook = await app.signIn(email);
    for (const token of [cook.token, owner.token]) {
      expect((await app.gql(InvitationNode, { id: invitation.id }, { token })).data).toEqual({
        node: { __typename: 'Invitation', email, organizationName: 'Consent Kitchen' },
      });
    }
    const mine = await app.gql(MyInvitations, {}, { token: cook.token });
    expect(mine.data?.viewer).toEqual({
      memberships: [],
      invitations: [
        {
          id: invitation.id,
          role: 'STAFF',
          status: 'PENDING',
          organizationName: 'Consent Kitchen',
          invitedByName: null,
        },
      ],
    });
    const accepted = await app.gql(AcceptInvitation, { invitationId: invitation.id }, { token: cook.token });
    expect(accepted.data?.acceptInvitation).toMatchObject({
      __typename: 'MembershipPayload',
      membership: { role: 'STAFF', organization: { id: organizationId } },
    });
    const after = await app.gql(OrganizationInvitations, { id: organizationId }, { token: owner.token });
    expect(after.data?.organization).toEqual({ members: { totalCount: 2 }, invitations: [] });
    // Once is all: accepting again is refused, and changes nothing.
    const again = await app.gql(AcceptInvitation, { invitationId: invitation.id }, { token: cook.token });
    expect(again.data?.acceptInvitation).toEqual({
      __typename: 'ConflictError',
      message: 'This invitation was accepted already',
    });
    expect(await app.services.db.membership.count({ where: { organizationId: rawId(organizationId) } })).toBe(
      2,
    );
  });

  it('lets the person decline, and a manager withdraw; neither makes a member', async () => {
    const owner = await app.signIn();
    const organizationId = await organizationOf(owner, 'Choice Bar');
    const [declining, withdrawn] = [uniqueEmail('declines'), uniqueEmail('withdrawn')];
    const first = await invite(owner, organizationId, declining);
    const second = await invite(owner, organizationId, withdrawn);
    const firstId = member(first.data?.inviteMember, 'InvitationPayload', first).invitation.id;
    const secondId = member(second.data?.inviteMember, 'InvitationPayload', second).invitation.id;

    const person = await app.signIn(declining);
    const declined = await app.gql(DeclineInvitation, { invitationId: firstId }, { token: person.token });
    expect(declined.data?.declineInvitation).toEqual({
      __typename: 'InvitationPayload',
      invitation: { status: 'DECLINED' },
    });
    const taken = await app.gql(WithdrawInvitation, { invitationId: secondId }, { token: owner.token });
    expect(taken.data?.withdrawInvitation).toEqual({
      __typename: 'InvitationPayload',
      invitation: { status: 'WITHDRAWN' },
    });
    const late = await app.signIn(withdrawn);
    expect((await app.gql(MyInvitations, {}, { token: late.token })).data?.viewer?.invitations).toEqual([]);
    const refused = await app.gql(AcceptInvitation, { invitationId: secondId }, { token: late.token });
    expect(refused.data?.acceptInvitation).toMatchObject({ __typename: 'ConflictError' });
    expect(await app.services.db.membership.count({ where: { organizationId: rawId(organizationId) } })).toBe(
      1,
    );
    // The person invited may not withdraw an invitation for the team.
    const refusedWithdraw = await app.gql(
      WithdrawInvitation,
      { invitationId: firstId },
      { token: person.token },
    );
    expect(refusedWithdraw.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // Nor may the organisation ask again for a month after a "no".
    const askedAgain = await invite(owner, organizationId, declining);
    expect(askedAgain.data?.inviteMember).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringContaining(`${declining} declined an invitation on`),
    });
  });

  it('leaves invitations to managers: not staff, not API keys; an owner one to owners', async () => {
    const owner = await app.signIn();
    const organizationId = await organizationOf(owner, 'Managers Only Deli');
    const staff = await joinByInvitation(owner, organizationId, uniqueEmail('staff'), 'STAFF');
    const admin = await joinByInvitation(owner, organizationId, uniqueEmail('admin'), 'ADMIN');
    const asOwner = await app.gql(
      InviteMember,
      { organizationId, email: uniqueEmail('co-owner'), role: 'OWNER' },
      { token: owner.token },
    );
    const ownerInvitation = member(asOwner.data?.inviteMember, 'InvitationPayload', asOwner).invitation.id;

    const staffReads = await app.gql(OrganizationInvitations, { id: organizationId }, { token: staff.token });
    expect(staffReads.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const staffWithdraws = await app.gql(
      WithdrawInvitation,
      { invitationId: ownerInvitation },
      { token: staff.token },
    );
    expect(staffWithdraws.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const adminWithdraws = await app.gql(
      WithdrawInvitation,
      { invitationId: ownerInvitation },
      { token: admin.token },
    );
    expect(adminWithdraws.data?.withdrawInvitation).toMatchObject({ __typename: 'NotAllowedError' });

    // A write key acts as an admin would, but the addresses invited are for people to see.
    const made = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    const key = member(made.data?.createApiKey, 'CreateApiKeyPayload', made).secret;
    const keyReads = await app.gql(OrganizationInvitations, { id: organizationId }, { token: key });
    expect(keyReads.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const keyNode = await app.gql(InvitationNode, { id: ownerInvitation }, { token: key });
    expect(keyNode.data).toEqual({ node: null });
  });

  it('is accepted only while its sender could still send it', async () => {
    const owner = await app.signIn();
    const organizationId = await organizationOf(owner, 'Changing Hands Inn');
    const admin = await joinByInvitation(owner, organizationId, uniqueEmail('admin'), 'ADMIN');
    const email = uniqueEmail('late-joiner');
    const sent = await invite(admin, organizationId, email);
    const invitationId = member(sent.data?.inviteMember, 'InvitationPayload', sent).invitation.id;
    // The admin who sent it is made staff before the person answers.
    await app.gql(
      ChangeMemberRole,
      { membershipId: admin.membershipId, role: 'STAFF' },
      { token: owner.token },
    );
    const person = await app.signIn(email);
    const refused = await app.gql(AcceptInvitation, { invitationId }, { token: person.token });
    expect(refused.data?.acceptInvitation).toMatchObject({
      __typename: 'NotAllowedError',
      message: expect.stringContaining('can no longer invite'),
    });
    expect(await app.services.db.membership.count({ where: { organizationId: rawId(organizationId) } })).toBe(
      2,
    );
  });

  it('writes to an address at most three times a day, whoever asks', async () => {
    const email = uniqueEmail('popular');
    const answers = [];
    for (let n = 0; n < 4; n++) {
      const owner = await app.signIn();
      const organizationId = await organizationOf(owner, `Popular Place ${n}`);
      answers.push((await invite(owner, organizationId, email)).data?.inviteMember);
    }
    expect(answers.map((a) => a?.__typename)).toEqual([
      'InvitationPayload',
      'InvitationPayload',
      'InvitationPayload',
      'RateLimitedError',
    ]);
    expect(await invitationsMailedTo(email)).toBe(3);
  });

  it('writes to an address at most three times a day, even when organisations ask at once', async () => {
    const email = uniqueEmail('rushed');
    const inviters = [];
    for (let n = 0; n < 6; n++) {
      const owner = await app.signIn();
      inviters.push({ owner, organizationId: await organizationOf(owner, `Rushed Place ${n}`) });
    }
    const answers = await Promise.all(
      inviters.map(({ owner, organizationId }) => invite(owner, organizationId, email)),
    );
    expect(answers.map((a) => a.data?.inviteMember?.__typename).sort()).toEqual([
      'InvitationPayload',
      'InvitationPayload',
      'InvitationPayload',
      'RateLimitedError',
      'RateLimitedError',
      'RateLimitedError',
    ]);
    expect(await invitationsMailedTo(email)).toBe(3);
  });

  it('invites an address once at a time, and again once the invitation lapsed', async () => {
    const owner = await app.signIn();
    const organizationId = await organizationOf(owner, 'Second Chance Cafe');
    const email = uniqueEmail('late');
    const first = await invite(owner, organizationId, email);
    const invitationId = member(first.data?.inviteMember, 'InvitationPayload', first).invitation.id;
    const twice = await invite(owner, organizationId, email);
    expect(twice.data?.inviteMember).toMatchObject({
      __typename: 'ConflictError',
      message: expect.stringContaining('is invited already'),
    });

    // Fourteen days pass unanswered.
    await app.services.db.organizationInvitation.update({
      where: { id: rawId(invitationId) },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const person = await app.signIn(email);
    expect((await app.gql(MyInvitations, {}, { token: person.token })).data?.viewer?.invitations).toEqual([]);
    const lapsed = await app.gql(AcceptInvitation, { invitationId }, { token: person.token });
    expect(lapsed.data?.acceptInvitation).toEqual({
      __typename: 'ConflictError',
      message: 'This invitation has lapsed: ask for a new one',
    });
    const team = await app.gql(OrganizationInvitations, { id: organizationId }, { token: owner.token });
    expect(team.data?.organization?.invitations).toEqual([{ email, role: 'STAFF', status: 'EXPIRED' }]);

    // Invited again: the same invitation, renewed and emailed again, and now it can be accepted.
    const renewed = await invite(owner, organizationId, email, 'ADMIN' as never);
    expect(member(renewed.data?.inviteMember, 'InvitationPayload', renewed).invitation).toMatchObject({
      id: invitationId,
      role: 'ADMIN',
      status: 'PENDING',
    });
    expect(await invitationsMailedTo(email)).toBe(2);
    const accepted = await app.gql(AcceptInvitation, { invitationId }, { token: person.token });
    expect(accepted.data?.acceptInvitation).toMatchObject({ membership: { role: 'ADMIN' } });
    // A member already is not invited.
    const member_ = await invite(owner, organizationId, email);
    expect(member_.data?.inviteMember).toEqual({
      __typename: 'ConflictError',
      message: `${email} is already a member`,
    });
  });

  it('does not renew a lapsed invitation withdrawn meanwhile: it sends a new one', async () => {
    const owner = await app.signIn();
    const organizationId = await organizationOf(owner, 'Second Thoughts Cafe');
    const email = uniqueEmail('withdrawn');
    const first = await invite(owner, organizationId, email);
    const lapsedId = rawId(member(first.data?.inviteMember, 'InvitationPayload', first).invitation.id);
    await app.services.db.organizationInvitation.update({
      where: { id: lapsedId },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    // Another manager withdraws it while this one invites the address again.
    const again = await committedWhileWaiting(
      app.services,
      {
        hold: ['SELECT 1 FROM organization_invitations WHERE id = $1 FOR UPDATE', [lapsedId]],
        waiting: 'organization_invitations',
        change: [
          `UPDATE organization_invitations SET status = 'WITHDRAWN', closed_at = now() WHERE id = $1`,
          [lapsedId],
        ],
      },
      () => invite(owner, organizationId, email),
    );
    const invitation = member(again.data?.inviteMember, 'InvitationPayload', again).invitation;
    expect(rawId(invitation.id)).not.toBe(lapsedId);
    expect(invitation.status).toBe('PENDING');
    const withdrawn = await app.services.db.organizationInvitation.findUniqueOrThrow({
      where: { id: lapsedId },
    });
    expect(withdrawn.status).toBe('WITHDRAWN');
    expect(withdrawn.expiresAt.getTime()).toBeLessThan(Date.now());
  });
});
