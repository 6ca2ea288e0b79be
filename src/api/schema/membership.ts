import { encodeGlobalID } from '@pothos/plugin-relay';
import { ANY_ROLE, MANAGERS } from '../../domain/organizations/access.ts';
import {
  changeMemberRole,
  inviteMember,
  organizationOfMembership,
  removeMember,
} from '../../domain/organizations/organizations.ts';
import type { MembershipRole as MembershipRoleValue } from '../../generated/prisma/enums.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { commonErrors } from './errors.ts';
import { MembershipRole } from './membership-role.ts';
import { Organization } from './organization.ts';

export const Membership = builder.prismaNode('Membership', {
  id: { field: 'id' },
  description: "A person's role in an organisation.",
  authScopes: (m) => ({ orgRole: { organizationId: m.organizationId, roles: ANY_ROLE } }),
  fields: (t) => ({
    role: t.expose('role', { type: MembershipRole }),
    user: t.relation('user'),
    organization: t.relation('organization'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const InviteMemberInput = builder.inputType('InviteMemberInput', {
  fields: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    email: t.string({ description: 'The address the person signs in with.' }),
    role: t.field({ type: MembershipRole }),
  }),
});

const MembershipPayload = builder.simpleObject('MembershipPayload', {
  fields: (t) => ({ membership: t.field({ type: Membership }) }),
});

builder.mutationField('inviteMember', (t) =>
  t.field({
    type: MembershipPayload,
    description: 'Adds a person to an organisation by email. Owners and admins; only owners add owners.',
    errors: { types: commonErrors, result: { name: 'InviteMemberResult' } },
    args: { input: t.arg({ type: InviteMemberInput, required: true }) },
    authScopes: (_root, { input }) => ({
      $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
    }),
    resolve: async (_root, { input }, ctx) => ({
      membership: await inviteMember(ctx.services.db, ctx.access, {
        organizationId: input.organizationId.id,
        email: input.email,
        role: input.role,
      }),
    }),
  }),
);

const ChangeMemberRoleInput = builder.inputType('ChangeMemberRoleInput', {
  fields: (t) => ({
    membershipId: t.globalID({ for: Membership }),
    role: t.field({ type: MembershipRole }),
  }),
});

builder.mutationField('changeMemberRole', (t) =>
  t.field({
    type: MembershipPayload,
    description: "Changes a member's role. The last owner cannot be demoted.",
    errors: { types: commonErrors, result: { name: 'ChangeMemberRoleResult' } },
    args: { input: t.arg({ type: ChangeMemberRoleInput, required: true }) },
    authScopes: (root, args, ctx) => roleInMembershipOrganization(root, args, ctx, MANAGERS),
    resolve: async (_root, { input }, ctx) => ({
      membership: await changeMemberRole(ctx.services.db, ctx.access, {
        membershipId: input.membershipId.id,
        role: input.role,
      }),
    }),
  }),
);

const RemoveMemberInput = builder.inputType('RemoveMemberInput', {
  fields: (t) => ({ membershipId: t.globalID({ for: Membership }) }),
});

const RemoveMemberPayload = builder.simpleObject('RemoveMemberPayload', {
  fields: (t) => ({ removedMembershipId: t.id() }),
});

builder.mutationField('removeMember', (t) =>
  t.field({
    type: RemoveMemberPayload,
    description: 'Removes a member, or lets a member leave. The last owner can do neither.',
    errors: { types: commonErrors, result: { name: 'RemoveMemberResult' } },
    args: { input: t.arg({ type: RemoveMemberInput, required: true }) },
    // Any member may call it, because anyone may leave; removing others is the domain's rule.
    authScopes: (root, args, ctx) => roleInMembershipOrganization(root, args, ctx, ANY_ROLE),
    resolve: async (_root, { input }, ctx) => {
      await removeMember(ctx.services.db, ctx.access, { membershipId: input.membershipId.id });
      return { removedMembershipId: encodeGlobalID('Membership', input.membershipId.id) };
    },
  }),
);

/**
 * Outsiders and API keys are refused before anything runs; within the organisation the finer rules (admins
 * cannot touch owners, the last owner stays) are the domain's, returned as typed errors.
 */
async function roleInMembershipOrganization(
  _root: unknown,
  { input }: { input: { membershipId: { id: string } } },
  ctx: Context,
  roles: readonly MembershipRoleValue[],
) {
  const organizationId = await organizationOfMembership(ctx.services.db, input.membershipId.id);
  if (!organizationId) return { person: true };
  return { $all: { person: true, orgRole: { organizationId, roles } } };
}
