import { type DeveloperTier, TierFollowsPlanError } from '../../domain/developer/tiers.ts';
import { type DayUsage, MAX_USAGE_DAYS } from '../../domain/developer/usage.ts';
import { MANAGERS } from '../../domain/organizations/access.ts';
import { NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import { idCursors } from '../cursors.ts';
import { describedEnum } from './enums.ts';
import { errorType } from './errors.ts';
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
  select: { id: true, organizationId: true, createdById: true },
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
    createdBy: t.relation('createdBy', {
      nullable: true,
      description:
        'Who made it; null once they are no longer someone you can see (removed from the organisation, their keys revoked with it).',
      authScopes: (key) => ({ seesUser: key.createdById }),
      unauthorizedResolver: () => null,
    }),
    organization: t.relation('organization'),
  }),
});

builder.prismaObjectField(Organization, 'apiKeys', (t) =>
  t.relatedConnection('apiKeys', {
    description: 'API keys, newest first, revoked ones included. Owners and admins.',
    authScopes: (org) => ({ orgRole: { organizationId: org.id, roles: MANAGERS } }),
    cursor: 'id',
    query: (args) => idCursors(args, { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
    totalCount: true,
  }),
);

mutation('createApiKey', {
  description:
    'Creates an API key. Owners and admins, signed in as themselves (not with a key). An organisation holds at most API_KEYS_PER_ORGANIZATION (10) keys that are not revoked (one used today and revoked keeps its place until midnight UTC): ConflictError beyond.',
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

// --- tiers and daily usage ---

export const DeveloperTierEnum = describedEnum('DeveloperTier', {
  FREE: 'API_KEY_DAILY_FREE requests per key per UTC day (100 by default).',
  PRO: 'API_KEY_DAILY_PRO requests per key per UTC day (10,000 by default). With billing on, while the organisation is on DEVELOPER_PRO in good standing.',
} satisfies Record<DeveloperTier, string>);

errorType(
  TierFollowsPlanError,
  'TierFollowsPlanError',
  "Billing is on, so the developer tier follows the organisation's plan: it is changed by subscribing, not set.",
);

const ApiKeyDayUsage = builder.objectRef<DayUsage>('ApiKeyDayUsage').implement({
  description: "An API key's requests on one UTC day.",
  fields: (t) => ({
    day: t.exposeString('day', { description: 'The UTC day, YYYY-MM-DD.' }),
    requests: t.exposeInt('requests', {
      description: 'Requests admitted that day (refused ones are not counted).',
    }),
    limit: t.exposeInt('limit', { description: "The key's daily limit that day." }),
  }),
});

builder.prismaObjectFields(ApiKey, (t) => ({
  tier: t.field({
    type: DeveloperTierEnum,
    description: "The tier the key's organisation is on now, which sets its daily limit.",
    resolve: (key, _args, ctx) => ctx.domain.developer.developerTier(key.organizationId),
  }),
  usage: t.field({
    type: [ApiKeyDayUsage],
    description:
      'Requests per UTC day, newest first, today included (live); a day without requests shows 0. Past days are as flushed from the counters (every five minutes). A request is a GraphQL request or WebSocket operation, or a tool call (MCP, A2A).',
    args: { days: t.arg.int({ defaultValue: 30, description: `1 to ${MAX_USAGE_DAYS}.` }) },
    resolve: (key, args, ctx) =>
      ctx.domain.developer.apiKeyUsage(ctx.access, { apiKeyId: key.id, days: args.days }),
  }),
}));

builder.prismaObjectField(Organization, 'developerTier', (t) =>
  t.field({
    type: DeveloperTierEnum,
    nullable: true,
    description: "The tier the organisation's API keys are on now. Owners and admins (null for others).",
    authScopes: (org) => ({ orgRole: { organizationId: org.id, roles: MANAGERS } }),
    unauthorizedResolver: () => null,
    resolve: (org, _args, ctx) => ctx.domain.developer.developerTier(org.id),
  }),
);

mutation('setDeveloperTier', {
  description:
    "Platform admins, while billing is off: sets the tier an organisation's API keys are on. With billing on the tier follows the plan (TierFollowsPlanError).",
  input: (t) => ({
    organizationId: t.globalID({ for: Organization }),
    tier: t.field({ type: DeveloperTierEnum }),
  }),
  payload: payloadType('SetDeveloperTierPayload', 'organization', Organization),
  errors: [ValidationError, NotFoundError, NotAllowedError, TierFollowsPlanError],
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    organization: await ctx.domain.developer.setDeveloperTier(ctx.access, {
      organizationId: input.organizationId.id,
      tier: input.tier,
    }),
  }),
});
