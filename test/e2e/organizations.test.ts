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
});
