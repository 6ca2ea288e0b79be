import { encodeGlobalID } from '@pothos/plugin-relay';
import { ANY_ROLE, MANAGERS } from '../../domain/organizations/access.ts';
import type { MembershipRole as MembershipRoleValue } from '../../generated/prisma/enums.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { MembershipRole } from './membership-role.ts';
import { mutation, payloadType } from './mutation.ts';
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

const MembershipPayload = payloadType('MembershipPayload', 'membership', Membership);

mutation('inviteMember', {
  description: 'Adds a person to an organisation by email. Owners and admins; only owners add owners.',
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    email: t.string({ description: 'The address the person signs in with.' }),
    role: t.field({ type: MembershipRole }),
  }),
  payload: MembershipPayload,
  authScopes: (input) => ({
    $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
  }),
  resolve: async (input, ctx) => {
    const membership = await ctx.domain.organizations.inviteMember(ctx.access, {
      organizationId: input.organizationId.id,
      email: input.email,
      role: input.role,
    });
    await ctx.liveAccess.membershipsChanged(membership.organizationId);
    return { membership };
  },
});

mutation('changeMemberRole', {
  description: "Changes a member's role. The last owner cannot be demoted.",
  input: (t) => ({ membershipId: t.globalID({ for: Membership }), role: t.field({ type: MembershipRole }) }),
  payload: MembershipPayload,
  authScopes: (input, ctx) => roleInMembershipOrganization(input.membershipId.id, ctx, MANAGERS),
  resolve: async (input, ctx) => {
    const membership = await ctx.domain.organizations.changeMemberRole(ctx.access, {
      membershipId: input.membershipId.id,
      role: input.role,
    });
    await ctx.liveAccess.membershipsChanged(membership.organizationId);
    return { membership };
  },
});

mutation('removeMember', {
  description: 'Removes a member, or lets a member leave. The last owner can do neither.',
  input: (t) => ({ membershipId: t.globalID({ for: Membership }) }),
  payload: builder.simpleObject('RemoveMemberPayload', { fields: (t) => ({ removedMembershipId: t.id() }) }),
  // Any member may call it, because anyone may leave; removing others is the domain's rule.
  authScopes: (input, ctx) => roleInMembershipOrganization(input.membershipId.id, ctx, ANY_ROLE),
  resolve: async (input, ctx) => {
    const removed = await ctx.domain.organizations.removeMember(ctx.access, {
      membershipId: input.membershipId.id,
    });
    // Live subscriptions of the member check their rights again at their next event.
    await ctx.liveAccess.membershipsChanged(removed.organizationId);
    return { removedMembershipId: encodeGlobalID('Membership', input.membershipId.id) };
  },
});

/**
 * Outsiders and API keys are refused before anything runs; within the organisation the finer rules (admins
 * cannot touch owners, the last owner stays) are the domain's, returned as typed errors.
 */
async function roleInMembershipOrganization(
  membershipId: string,
  ctx: Context,
  roles: readonly MembershipRoleValue[],
) {
  const organizationId = await ctx.domain.organizations.organizationOfMembership(membershipId);
  if (!organizationId) return { person: true };
  return { $all: { person: true, orgRole: { organizationId, roles } } };
}
