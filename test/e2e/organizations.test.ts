import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../generated/gql.ts';
import { member, rawId, startTestApp, type TestApp, uniqueEmail } from '../helpers/app.ts';

const CreateOrganization = graphql(`
  mutation CreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id name viewerRole } }
      ... on ValidationError { message field }
    }
  }
`);

const InviteMember = graphql(`
  mutation InviteMember($organizationId: ID!, $email: String!, $role: MembershipRole!) {
    inviteMember(input: { organizationId: $organizationId, email: $email, role: $role }) {
      __typename
      ... on MembershipPayload { membership { id role user { email } } }
      ... on Error { message }
    }
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
    organization(id: $id) { apiKeys(first: 10) { edges { node { id revokedAt } } } }
  }
`);

const Viewer = graphql(`
  query Viewer {
    viewer { email memberships { id role organization { id name members(first: 10) { totalCount } } } }
  }
`);

let app: TestApp;
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
    const keys: string[] = [];
    for (let i = 0; i < 10; i++) {
      const made = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
      keys.push(member(made.data?.createApiKey, 'CreateApiKeyPayload', made).apiKey.id);
    }
    const refused = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    expect(refused.data?.createApiKey).toEqual({
      __typename: 'ConflictError',
      message: 'An organisation holds at most 10 API keys that are not revoked: revoke one first',
    });
    const listed = await app.gql(OrganizationKeys, { id: organizationId }, { token: owner.token });
    expect(listed.data?.organization?.apiKeys.edges).toHaveLength(10);
    // One revoked makes room for one more.
    const revoked = await app.gql(RevokeKey, { apiKeyId: keys[0]! }, { token: owner.token });
    expect(revoked.data?.revokeApiKey).toMatchObject({ __typename: 'RevokeApiKeyPayload' });
    const again = await app.gql(CreateApiKey, { organizationId }, { token: owner.token });
    expect(again.data?.createApiKey).toMatchObject({ __typename: 'CreateApiKeyPayload' });
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

    const second = uniqueEmail('second-owner');
    const invited = await app.gql(
      InviteMember,
      { organizationId, email: second, role: 'OWNER' },
      { token: owner.token },
    );
    expect(invited.body).toMatchObject({
      data: { inviteMember: { __typename: 'MembershipPayload', membership: { role: 'OWNER' } } },
    });

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
    const bEmail = uniqueEmail('owner-b');
    const invited = await app.gql(
      InviteMember,
      { organizationId, email: bEmail, role: 'OWNER' },
      { token: a.token },
    );
    const bMembership = member(invited.data?.inviteMember, 'MembershipPayload', invited).membership.id;
    const b = await app.signIn(bEmail);
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

  it("narrows an admin's keys when they are demoted, and revokes them when they are removed", async () => {
    const owner = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Key Holders' }, { token: owner.token });
    const organizationId = member(created.data?.createOrganization, 'OrganizationPayload', created)
      .organization.id;
    const adminEmail = uniqueEmail('admin');
    const invited = await app.gql(
      InviteMember,
      { organizationId, email: adminEmail, role: 'ADMIN' },
      { token: owner.token },
    );
    const membershipId = member(invited.data?.inviteMember, 'MembershipPayload', invited).membership.id;
    const admin = await app.signIn(adminEmail);
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
    const keys = await app.gql(OrganizationKeys, { id: organizationId }, { token: owner.token });
    expect(keys.data?.organization?.apiKeys.edges).toEqual([
      { node: { id: key.apiKey.id, revokedAt: expect.any(String) } },
    ]);
  });
});
