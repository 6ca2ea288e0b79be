import { ANY_ROLE, MANAGERS } from '../../domain/organizations/access.ts';
import { builder } from '../builder.ts';
import { idCursors } from '../cursors.ts';
import { MembershipRole } from './membership-role.ts';
import { mutation, payloadType } from './mutation.ts';

export const Organization = builder.prismaNode('Organization', {
  id: { field: 'id' },
  description: 'A business on AGNT: it owns venues, has members and API keys.',
  authScopes: (org) => ({ orgRole: { organizationId: org.id, roles: ANY_ROLE } }),
  fields: (t) => ({
    name: t.exposeString('name'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    viewerRole: t.field({
      type: MembershipRole,
      nullable: true,
      description: "The caller's role here (null for platform admins who are not members).",
      resolve: (org, _args, ctx) => ctx.access.roleIn(org.id),
    }),
    members: t.relatedConnection('memberships', {
      description: 'Members, oldest first.',
      cursor: 'id',
      query: (args) => idCursors(args, { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
      totalCount: true,
    }),
  }),
});

builder.queryField('organization', (t) =>
  t.prismaField({
    type: Organization,
    nullable: true,
    description: 'One organisation the caller belongs to.',
    args: { id: t.arg.globalID({ for: Organization, required: true }) },
    authScopes: (_root, args) => ({ orgRole: { organizationId: args.id.id, roles: ANY_ROLE } }),
    resolve: (query, _root, args, ctx) => ctx.domain.organizations.findOrganization(args.id.id, query),
  }),
);

const OrganizationPayload = payloadType('OrganizationPayload', 'organization', Organization);

mutation('createOrganization', {
  description:
    'Creates an organisation with the caller as its owner. One person owns at most ORGANIZATIONS_PER_PERSON (10) organisations: ConflictError beyond.',
  input: (t) => ({ name: t.string() }),
  payload: OrganizationPayload,
  authScopes: { person: true },
  resolve: async (input, ctx) => {
    const organization = await ctx.domain.organizations.createOrganization(ctx.access, input);
    // The owner's roles, remembered with their user (src/api/auth.ts), are read again everywhere.
    await ctx.liveAccess.membershipsChanged(organization.id);
    return { organization };
  },
});

mutation('renameOrganization', {
  description: 'Renames an organisation. Owners and admins.',
  input: (t) => ({ organizationId: t.globalID({ for: Organization }), name: t.string() }),
  payload: OrganizationPayload,
  authScopes: (input) => ({ orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } }),
  resolve: async (input, ctx) => ({
    organization: await ctx.domain.organizations.renameOrganization(ctx.access, {
      organizationId: input.organizationId.id,
      name: input.name,
    }),
  }),
});
