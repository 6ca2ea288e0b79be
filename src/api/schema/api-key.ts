import { MANAGERS } from '../../domain/organizations/access.ts';
import { builder } from '../builder.ts';
import { mutation, payloadType } from './mutation.ts';
import { Organization } from './organization.ts';

export const ApiKeyScope = builder.enumType('ApiKeyScope', {
  values: {
    READ: { value: 'read', description: 'Read what the organisation may read.' },
    WRITE: { value: 'write', description: 'Also change things, as an admin would (not members or keys).' },
  } as const,
});

export const ApiKey = builder.prismaNode('ApiKey', {
  id: { field: 'id' },
  description: "An organisation's API key. The secret is shown once, when it is created.",
  // The hash never leaves the database: only what the fields need is selected.
  select: { id: true, organizationId: true },
  authScopes: (key) => ({ orgRole: { organizationId: key.organizationId, roles: MANAGERS } }),
  fields: (t) => ({
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix', { description: 'The public start of the key, to recognise it by.' }),
    scopes: t.field({
      type: [ApiKeyScope],
      select: { scopes: true },
      resolve: (key) => key.scopes.filter((s): s is 'read' | 'write' => s === 'read' || s === 'write'),
    }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    createdBy: t.relation('createdBy'),
    organization: t.relation('organization'),
  }),
});

builder.prismaObjectField(Organization, 'apiKeys', (t) =>
  t.relatedConnection('apiKeys', {
    description: 'API keys, newest first, revoked ones included. Owners and admins.',
    authScopes: (org) => ({ orgRole: { organizationId: org.id, roles: MANAGERS } }),
    cursor: 'id',
    query: { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] },
    totalCount: true,
  }),
);

mutation('createApiKey', {
  description: 'Creates an API key. Owners and admins, signed in as themselves (not with a key).',
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    name: t.string({ description: 'What the key is for, to recognise it later.' }),
    scopes: t.field({ type: [ApiKeyScope], defaultValue: ['read'] }),
  }),
  payload: builder.simpleObject('CreateApiKeyPayload', {
    fields: (t) => ({
      apiKey: t.field({ type: ApiKey }),
      secret: t.string({ description: 'The whole key. It is shown this once and cannot be read again.' }),
    }),
  }),
  authScopes: (input) => ({
    $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } },
  }),
  resolve: async (input, ctx) => {
    const { apiKey, secret } = await ctx.domain.organizations.createOrganizationApiKey(ctx.access, {
      organizationId: input.organizationId.id,
      name: input.name,
      scopes: input.scopes,
    });
    return { apiKey, secret };
  },
});

mutation('revokeApiKey', {
  description: 'Revokes an API key at once. Owners and admins.',
  input: (t) => ({ apiKeyId: t.globalID({ for: ApiKey }) }),
  payload: payloadType('RevokeApiKeyPayload', 'apiKey', ApiKey),
  // Like creating, revoking is for people: a leaked key must not be able to revoke the others.
  authScopes: async (input, ctx) => {
    const organizationId = await ctx.domain.organizations.organizationOfApiKey(input.apiKeyId.id);
    return organizationId
      ? { $all: { person: true, orgRole: { organizationId, roles: MANAGERS } } }
      : { person: true };
  },
  resolve: async (input, ctx) => ({
    apiKey: await ctx.domain.organizations.revokeOrganizationApiKey(ctx.access, {
      apiKeyId: input.apiKeyId.id,
    }),
  }),
});
