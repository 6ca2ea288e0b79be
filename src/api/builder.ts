/**
 * The Pothos builder: configuration only. Types live in src/api/schema/, one file per type.
 * Plugin order matters: relay first, then scope-auth so that authorisation wraps every resolver,
 * then errors, then prisma.
 */
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import SimpleObjectsPlugin from '@pothos/plugin-simple-objects';
import { GraphQLError } from 'graphql';
import type PrismaTypes from '../generated/pothos-types.ts';
import { getDatamodel } from '../generated/pothos-types.ts';
import type { MembershipRole } from '../generated/prisma/enums.ts';
import { NotFoundError } from '../platform/errors.ts';
import type { Context } from './context.ts';
import { prismaClient } from './prisma-client.ts';

export interface AuthScopes {
  /** A verified user token or API key. */
  authenticated: boolean;
  /** A person signed in with a user token (not an API key). */
  person: boolean;
  platformAdmin: boolean;
  /** Holds one of `roles` in the organisation (platform admins always pass). */
  orgRole: { organizationId: string; roles: readonly MembershipRole[] };
  /** May see this person (themselves, a colleague, or as a platform admin). */
  seesUser: string;
  /** Holds one of `roles` in the organisation that owns the venue (platform admins always pass). */
  venueRole: { venueId: string; roles: readonly MembershipRole[] };
  /** Holds one of `roles` in the organisation that owns the booking's venue. */
  bookingVenueRole: { bookingId: string; roles: readonly MembershipRole[] };
  /** May see the booking: its guest, its venue's team, platform admins. */
  seesBooking: string;
  /** A person signed in with this address (an invitation sent to it is theirs). */
  ownsAddress: string;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: AuthScopes;
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string | number };
  };
}>({
  plugins: [RelayPlugin, ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin, SimpleObjectsPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Replaced by src/api/schema/node.ts, which answers null for what the caller may not see.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      authenticated: ctx.actor.kind !== 'anonymous',
      person: ctx.actor.kind === 'user',
      platformAdmin: ctx.access.isPlatformAdmin,
      orgRole: ({ organizationId, roles }) => ctx.access.has(organizationId, roles),
      seesUser: (userId) => ctx.access.canSeeUser(userId),
      venueRole: async ({ venueId, roles }) => {
        if (ctx.access.isPlatformAdmin) return true;
        const organizationId = await ctx.domain.venues.organizationOfVenue(venueId);
        return organizationId !== null && ctx.access.has(organizationId, roles);
      },
      bookingVenueRole: async ({ bookingId, roles }) => {
        if (ctx.access.isPlatformAdmin) return true;
        const organizationId = await ctx.domain.bookings.organizationOfBooking(bookingId);
        return organizationId !== null && ctx.access.has(organizationId, roles);
      },
      ownsAddress: (email) => ctx.domain.organizations.isAddressOf(ctx.access, email),
      seesBooking: async (bookingId) => {
        try {
          await ctx.domain.bookings.requireBooking(ctx.access, bookingId);
          return true;
        } catch (error) {
          if (error instanceof NotFoundError) return false;
          throw error;
        }
      },
    }),
    // A refused call is a GraphQL error with a stable code; expected failures inside an allowed
    // call (a rule the domain enforces) come back as typed members of the field's result union.
    unauthorizedError: (_parent, ctx) =>
      ctx.actor.kind === 'anonymous'
        ? new GraphQLError('Sign in to do this', { extensions: { code: 'UNAUTHENTICATED' } })
        : new GraphQLError('You are not allowed to do this', { extensions: { code: 'FORBIDDEN' } }),
  },
  errors: {
    directResult: true,
  },
  prisma: {
    // Under a symbol, not a named field of the context: see src/api/prisma-client.ts.
    client: (ctx) => ctx[prismaClient],
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
    onUnusedQuery: 'error',
  },
});

builder.queryType({});
builder.mutationType({});
