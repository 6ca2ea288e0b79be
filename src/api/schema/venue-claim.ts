/**
 * Venue claims over GraphQL: the `VenueClaim` node with its audit trail, the mutations that
 * request, verify, review and cancel claims, the organisation's claims and the review queue.
 * The rules live in src/domain/venues/claims.ts.
 */
import { z } from 'zod';
import { ANY_ROLE, MANAGERS } from '../../domain/organizations/access.ts';
import {
  CLAIM_ACTIONS,
  CLAIM_CODE_MAX_ATTEMPTS,
  CLAIM_OUTCOMES,
  type ClaimAction,
  type ClaimOutcome,
  claimStatusWhere,
  effectiveStatus,
  maskEmail,
} from '../../domain/venues/claims.ts';
import { canSeeVenue } from '../../domain/venues/venues.ts';
import { AuthenticationError, RateLimitedError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { byIdCursor, idCursors } from '../cursors.ts';
import { describedEnum } from './enums.ts';
import { commonErrors } from './errors.ts';
import { mutation, payloadType } from './mutation.ts';
import { Organization } from './organization.ts';
import { Venue } from './venue.ts';

export const VenueClaimMethod = describedEnum('VenueClaimMethod', {
  VENUE_EMAIL: "A 6-digit code is mailed to the venue's listed address.",
  WEBSITE_EMAIL:
    "A 6-digit code is mailed to an address you give on the domain of the venue's website (its host or a parent of it).",
  MANUAL_REVIEW:
    'A platform admin reads your note and decides. The only way to contest a venue another organisation runs.',
});

export const VenueClaimStatus = describedEnum('VenueClaimStatus', {
  PENDING: 'Waiting for the code, or for a reviewer.',
  APPROVED: 'The venue moved to the claiming organisation.',
  REJECTED: 'A reviewer said no; see `reviewNote`.',
  EXPIRED: 'The code ran out (30 minutes) or had 5 wrong attempts.',
  CANCELLED: 'Withdrawn by the organisation, or superseded by another approved claim.',
});

const ClaimAuditAction = builder.enumType('ClaimAuditAction', { values: CLAIM_ACTIONS });
const ClaimAuditOutcome = builder.enumType('ClaimAuditOutcome', { values: CLAIM_OUTCOMES });

builder.prismaObject('ClaimAuditEvent', {
  description: 'One step of a claim: who did what, when, by which method, and what came of it.',
  fields: (t) => ({
    id: t.exposeID('id'),
    action: t.field({ type: ClaimAuditAction, resolve: (e) => e.action as ClaimAction }),
    outcome: t.field({ type: ClaimAuditOutcome, resolve: (e) => e.outcome as ClaimOutcome }),
    method: t.expose('method', { type: VenueClaimMethod }),
    detail: t.exposeString('detail', { nullable: true }),
    actor: t.relation('actor', {
      nullable: true,
      description: 'Who acted; null for the platform itself, or for a person you may not see (a reviewer).',
      authScopes: (e) => (e.actorId ? { seesUser: e.actorId } : true),
      unauthorizedResolver: () => null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const VenueClaim = builder.prismaNode('VenueClaim', {
  id: { field: 'id' },
  description:
    "An organisation's request to take over a venue. Readable by the claiming organisation's members and platform admins.",
  // The code's hash never leaves the database: only what the fields need is selected.
  select: { id: true, organizationId: true, requestedById: true },
  authScopes: (claim) => ({ orgRole: { organizationId: claim.organizationId, roles: ANY_ROLE } }),
  fields: (t) => ({
    venue: t.field({
      type: Venue,
      nullable: true,
      description: 'The venue claimed; null once it is no longer visible to you (taken off the network).',
      select: (_args, _ctx, nestedSelection) => ({ venue: nestedSelection(true) }),
      resolve: async (claim, _args, ctx) =>
        (await canSeeVenue(ctx.access, claim.venue)) ? claim.venue : null,
    }),
    organization: t.relation('organization', { description: 'The organisation claiming the venue.' }),
    requestedBy: t.relation('requestedBy', {
      nullable: true,
      description: 'Who asked; null when you may no longer see them (they left the organisation).',
      authScopes: (claim) => ({ seesUser: claim.requestedById }),
      unauthorizedResolver: () => null,
    }),
    method: t.expose('method', { type: VenueClaimMethod }),
    status: t.field({
      type: VenueClaimStatus,
      description: 'A code claim reads EXPIRED as soon as its code runs out.',
      select: { status: true, method: true, expiresAt: true },
      resolve: (claim, _args, ctx) => effectiveStatus(claim, ctx.services.now()),
    }),
    codeSentTo: t.string({
      nullable: true,
      description: 'Where the code went, masked ("o***@example.com"); null for manual review.',
      select: { codeEmail: true },
      resolve: (claim) => (claim.codeEmail ? maskEmail(claim.codeEmail) : null),
    }),
    attemptsLeft: t.int({
      nullable: true,
      description: 'Wrong codes still allowed before the claim expires; null for manual review.',
      select: { method: true, attempts: true },
      resolve: (claim) =>
        claim.method === 'MANUAL_REVIEW' ? null : Math.max(0, CLAIM_CODE_MAX_ATTEMPTS - claim.attempts),
    }),
    expiresAt: t.expose('expiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the code stops working; null for manual review.',
    }),
    note: t.exposeString('note', { nullable: true, description: 'What the claimant told the reviewer.' }),
    reviewNote: t.exposeString('reviewNote', { nullable: true, description: "The reviewer's reason." }),
    decidedAt: t.expose('decidedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    events: t.relation('events', {
      description: 'The audit trail, oldest first.',
      query: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
    }),
  }),
});

builder.prismaObjectField(Organization, 'venueClaims', (t) =>
  t.relatedConnection('claims', {
    description: "The organisation's venue claims, newest first. Any member.",
    cursor: 'id',
    args: {
      status: t.arg({
        type: [VenueClaimStatus],
        required: false,
        description: 'Only claims in these states.',
      }),
    },
    query: (args, ctx) =>
      idCursors(args, {
        where: claimStatusWhere(args.status, ctx.services.now()),
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      }),
    totalCount: true,
  }),
);

builder.queryField('pendingVenueClaims', (t) =>
  t.prismaConnection({
    type: VenueClaim,
    cursor: 'id',
    description: 'Platform admins: the claims waiting for a code or a reviewer, oldest first.',
    authScopes: { platformAdmin: true },
    args: { method: t.arg({ type: VenueClaimMethod, required: false }) },
    totalCount: (_connection, args, ctx) =>
      ctx.domain.venues.countPendingClaims({ method: args.method, now: ctx.services.now() }),
    resolve: (query, _root, args, ctx) =>
      ctx.domain.venues.pendingClaims(
        { method: args.method, now: ctx.services.now() },
        byIdCursor(query, args),
      ),
  }),
);

// --- mutations ---

const VenueClaimPayload = payloadType('VenueClaimPayload', 'claim', VenueClaim);

mutation('requestVenueClaim', {
  description:
    'Asks to claim a venue for an organisation (its owners and admins, signed in as people). Code methods mail the code now.',
  input: (t) => ({
    venueId: t.globalID({ for: Venue }),
    organizationId: t.globalID({
      for: Organization,
      description: 'The organisation that will run the venue.',
    }),
    method: t.field({ type: VenueClaimMethod }),
    email: t.string({
      required: false,
      description: "WEBSITE_EMAIL only: an address on the domain of the venue's website.",
    }),
    note: t.string({
      required: false,
      description:
        'For the reviewer: who you are and how you are connected to the venue. Required for MANUAL_REVIEW.',
    }),
  }),
  payload: VenueClaimPayload,
  errors: [...commonErrors, RateLimitedError],
  authScopes: (input) =>
    // A malformed id goes on to the domain, which answers NotFoundError.
    z.uuid().safeParse(input.organizationId.id).success
      ? { $all: { person: true, orgRole: { organizationId: input.organizationId.id, roles: MANAGERS } } }
      : { person: true },
  resolve: async (input, ctx) => ({
    claim: await ctx.domain.venues.requestVenueClaim(ctx.access, {
      venueId: input.venueId.id,
      organizationId: input.organizationId.id,
      method: input.method,
      email: input.email,
      note: input.note,
    }),
  }),
});

mutation('verifyVenueClaim', {
  description:
    'Enters the code. The right one approves the claim and moves the venue; a wrong, expired or used-up code is an AuthenticationError.',
  input: (t) => ({
    claimId: t.globalID({ for: VenueClaim }),
    code: t.string({ description: 'The 6 digits from the mail.' }),
  }),
  payload: VenueClaimPayload,
  errors: [...commonErrors, AuthenticationError],
  authScopes: (input, ctx) => managersOfClaim(ctx, input.claimId.id),
  resolve: async (input, ctx) => ({
    claim: await venueMoved(
      ctx,
      await ctx.domain.venues.verifyVenueClaim(ctx.access, { claimId: input.claimId.id, code: input.code }),
    ),
  }),
});

mutation('reviewVenueClaim', {
  description: 'Platform admins: approves or rejects a pending claim.',
  input: (t) => ({
    claimId: t.globalID({ for: VenueClaim }),
    approve: t.boolean({ description: 'True moves the venue to the claiming organisation; false rejects.' }),
    note: t.string({ description: 'Why; the claimant sees it.' }),
  }),
  payload: VenueClaimPayload,
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    claim: await venueMoved(
      ctx,
      await ctx.domain.venues.reviewVenueClaim(ctx.access, {
        claimId: input.claimId.id,
        approve: input.approve,
        note: input.note,
      }),
    ),
  }),
});

/**
 * A claim approved moves its venue to the claiming organisation: the live subscribers' remembered
 * rights (the former team's among them) are asked again at the next event, as after a change of
 * membership, rather than trusted for up to RECHECK_MS.
 */
async function venueMoved<C extends { status: string; organizationId: string }>(ctx: Context, claim: C) {
  if (claim.status === 'APPROVED') await ctx.liveAccess.membershipsChanged(claim.organizationId);
  return claim;
}

mutation('cancelVenueClaim', {
  description: "Withdraws a pending claim. The claiming organisation's owners and admins.",
  input: (t) => ({ claimId: t.globalID({ for: VenueClaim }) }),
  payload: VenueClaimPayload,
  authScopes: (input, ctx) => managersOfClaim(ctx, input.claimId.id),
  resolve: async (input, ctx) => ({
    claim: await ctx.domain.venues.cancelVenueClaim(ctx.access, { claimId: input.claimId.id }),
  }),
});

/**
 * People who manage the claiming organisation. Outsiders, its staff and API keys are refused before
 * anything runs; an unknown claim goes on to the domain, which answers NotFoundError.
 */
async function managersOfClaim(ctx: Context, claimId: string) {
  const organizationId = await ctx.domain.venues.organizationOfClaim(claimId);
  if (!organizationId) return { person: true };
  return { $all: { person: true, orgRole: { organizationId, roles: MANAGERS } } };
}
