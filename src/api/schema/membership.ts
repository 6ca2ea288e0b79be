import { encodeGlobalID } from '@pothos/plugin-relay';
import { invitationStatus } from '../../domain/invitations/invitations.ts';
import { ANY_ROLE, MANAGERS } from '../../domain/organizations/access.ts';
import type { MembershipRole as MembershipRoleValue } from '../../generated/prisma/enums.ts';
import { RateLimitedError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { commonErrors } from './errors.ts';
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

const InvitationStatus = builder.enumType('InvitationStatus', {
  description: 'Where an invitation stands.',
  values: {
    PENDING: { description: 'Waiting for the person to accept or decline it.' },
    ACCEPTED: { description: 'The person joined.' },
    DECLINED: { description: 'The person said no.' },
    WITHDRAWN: { description: 'A manager took it back.' },
    EXPIRED: { description: 'Not answered in time: it can no longer be accepted; invite the address again.' },
  } as const,
});

export const Invitation = builder.prismaNode('OrganizationInvitation', {
  variant: 'Invitation',
  id: { field: 'id' },
  description:
    "An invitation to join an organisation: the membership is made only when the person signed in with its address accepts it. Seen by the organisation's managers and by that person.",
  // People only: the addresses of people who agreed to nothing yet are not for API keys.
  authScopes: (invitation) => ({
    $all: {
      person: true,
      $any: {
        orgRole: { organizationId: invitation.organizationId, roles: MANAGERS },
        ownsAddress: invitation.email,
      },
    },
  }),
  fields: (t) => ({
    email: t.exposeString('email', { description: 'The address invited.' }),
    role: t.expose('role', { type: MembershipRole, description: 'The role the person gets on accepting.' }),
    status: t.field({
      type: InvitationStatus,
      select: { status: true, expiresAt: true },
      resolve: (invitation, _args, ctx) => invitationStatus(invitation, ctx.services.now()),
    }),
    organizationName: t.string({
      description: 'The name of the organisation (the person sees no more of it until they accept).',
      select: { organization: { select: { name: true } } },
      resolve: (invitation) => invitation.organization.name,
    }),
    invitedByName: t.string({
      nullable: true,
      description: 'The display name of the member who invited them.',
      select: { invitedBy: { select: { displayName: true } } },
      resolve: (invitation) => invitation.invitedBy.displayName,
    }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'Until when it can be accepted.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const InvitationPayload = payloadType('InvitationPayload', 'invitation', Invitation);

mutation('inviteMember', {
  description:
    'Invites a person to an organisation by email: they are emailed, and join when they accept, signed in with that address (within 14 days). Owners and admins; only owners invite owners. An address gets at most 3 invitations a day, and one that declined is not asked again by the organisation for 30 days.',
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    email: t.string({ description: 'The address the person signs in with.' }),
    role: t.field({ type: MembershipRole }),
  }),
  payload: InvitationPayload,
  errors: [...commonErrors, RateLimitedError],
  authScopes: (input) => ({
    $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
  }),
  resolve: async (input, ctx) => ({
    invitation: await ctx.domain.organizations.inviteMember(ctx.access, {
      organizationId: input.organizationId.id,
      email: input.email,
      role: input.role,
    }),
  }),
});

mutation('acceptInvitation', {
  description: 'Joins the organisation an invitation to your address is from, with its role.',
  input: (t) => ({ invitationId: t.globalID({ for: Invitation }) }),
  payload: MembershipPayload,
  authScopes: { person: true },
  resolve: async (input, ctx) => {
    const membership = await ctx.domain.organizations.acceptInvitation(ctx.access, {
      invitationId: input.invitationId.id,
    });
    // The new member's roles, remembered with their user (src/api/auth.ts), are read again.
    await ctx.liveAccess.membershipsChanged(membership.organizationId);
    return { membership };
  },
});

mutation('declineInvitation', {
  description: 'Says no to an invitation to your address.',
  input: (t) => ({ invitationId: t.globalID({ for: Invitation }) }),
  payload: InvitationPayload,
  authScopes: { person: true },
  resolve: async (input, ctx) => ({
    invitation: await ctx.domain.organizations.declineInvitation(ctx.access, {
      invitationId: input.invitationId.id,
    }),
  }),
});

mutation('withdrawInvitation', {
  description:
    'Takes back an invitation not yet answered. Owners and admins; only owners take back an owner one.',
  input: (t) => ({ invitationId: t.globalID({ for: Invitation }) }),
  payload: InvitationPayload,
  authScopes: async (input, ctx) => {
    const organizationId = await ctx.domain.organizations.organizationOfInvitation(input.invitationId.id);
    if (!organizationId) return { person: true };
    return { $all: { person: true, orgRole: { organizationId, roles: MANAGERS } } };
  },
  resolve: async (input, ctx) => ({
    invitation: await ctx.domain.organizations.withdrawInvitation(ctx.access, {
      invitationId: input.invitationId.id,
    }),
  }),
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

builder.prismaObjectField('User', 'invitations', (t) =>
  t.field({
    type: [Invitation],
    description: 'Invitations to your address still waiting for your answer, newest first (yours alone).',
    authScopes: (user, _args, ctx) => ctx.actor.kind === 'user' && ctx.actor.userId === user.id,
    resolve: (_user, _args, ctx) => ctx.domain.organizations.pendingInvitations(ctx.access),
  }),
);

builder.prismaObjectField('Organization', 'invitations', (t) =>
  t.field({
    type: [Invitation],
    description:
      'Invitations not yet answered (lapsed ones too, to invite again or withdraw), newest first. Owners and admins.',
    authScopes: (org) => ({ $all: { person: true, orgRole: { organizationId: org.id, roles: MANAGERS } } }),
    resolve: (org, _args, ctx) => ctx.domain.organizations.organizationInvitations(ctx.access, org.id),
  }),
);
