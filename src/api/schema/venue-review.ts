/**
 * Venue reviews over GraphQL: the `VenueReview` node, the platform admins' queue and decisions,
 * and each venue's reviews for its own team. The rules live in src/domain/venues/venues.ts (when
 * a review opens) and src/domain/venues/reviews.ts (deciding).
 */
import { ANY_ROLE } from '../../domain/organizations/access.ts';
import type { ReviewFlag } from '../../domain/venues/lookalikes.ts';
import { reviewChanges, reviewFlags } from '../../domain/venues/reviews.ts';
import { canSeeVenue } from '../../domain/venues/venues.ts';
import { builder } from '../builder.ts';
import { byIdCursor, idCursors } from '../cursors.ts';
import { teamOf } from '../scopes.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';
import { Venue } from './venue.ts';

export const VenueReviewKind = describedEnum('VenueReviewKind', {
  PUBLISH: 'The first publication of a venue of an organisation nobody has vouched for yet.',
  CHANGE: 'A new name, email, phone or website for a venue that has been on the network.',
});

export const VenueReviewStatus = describedEnum('VenueReviewStatus', {
  PENDING: 'Waiting for a platform admin.',
  APPROVED: 'Published, or the change applied.',
  REJECTED: 'Not approved; see `reason`.',
  WITHDRAWN: 'Closed without a decision: unpublished, suspended, or replaced by a newer change.',
});

const VenueReviewFlagKind = describedEnum('VenueReviewFlagKind', {
  NEW_ORGANIZATION: 'The organisation has no verified claim and no approved venue yet.',
  SIMILAR_NAME: 'Another owner’s venue nearby has a name that looks alike.',
  SAME_CONTACT: 'Another owner’s venue gives the same email, phone or website.',
});

const IdentityFieldEnum = builder.enumType('VenueIdentityField', {
  values: ['name', 'email', 'phone', 'website'] as const,
});

const VenueReviewFlag = builder.objectRef<ReviewFlag>('VenueReviewFlag').implement({
  description: 'Why a reviewer should look twice.',
  fields: (t) => ({
    kind: t.field({ type: VenueReviewFlagKind, resolve: (f) => f.kind }),
    venue: t.field({
      type: Venue,
      nullable: true,
      description: 'The other venue (SIMILAR_NAME, SAME_CONTACT).',
      resolve: (f, _args, ctx) => ('venueId' in f ? ctx.domain.venues.findVenue(f.venueId) : null),
    }),
    venueName: t.string({
      nullable: true,
      description: "The other venue's name when the review was opened.",
      resolve: (f) => ('name' in f ? f.name : null),
    }),
    field: t.field({
      type: IdentityFieldEnum,
      nullable: true,
      description: 'SAME_CONTACT: which contact is shared.',
      resolve: (f) => (f.kind === 'SAME_CONTACT' ? f.field : null),
    }),
    similarity: t.float({
      nullable: true,
      description: 'SIMILAR_NAME: trigram similarity of the names, 0 to 1.',
      resolve: (f) => (f.kind === 'SIMILAR_NAME' ? f.similarity : null),
    }),
    distanceMeters: t.float({
      nullable: true,
      description: 'SIMILAR_NAME: how far apart; null when compared by city.',
      resolve: (f) => (f.kind === 'SIMILAR_NAME' ? f.distanceMeters : null),
    }),
  }),
});

const VenueReviewChange = builder.simpleObject('VenueReviewChange', {
  description: 'One field under review: its live value (null for a first publication) and the one proposed.',
  fields: (t) => ({
    field: t.field({ type: IdentityFieldEnum }),
    from: t.string({ nullable: true }),
    to: t.string({ nullable: true }),
  }),
});

export const VenueReview = builder.prismaNode('VenueReview', {
  id: { field: 'id' },
  description:
    "A platform admin's review of who a venue says it is. Readable by the venue's organisation (the one running it now) and platform admins.",
  select: { id: true, venueId: true, requestedById: true, reviewedById: true },
  // By the venue's organisation now: after a venue changes hands its reviews are its new team's
  // to read (they were refused, and broke the venue's list of reviews), not its old team's.
  authScopes: (review) => ({ venueRole: { venueId: review.venueId, roles: ANY_ROLE } }),
  fields: (t) => ({
    venue: t.field({
      type: Venue,
      nullable: true,
      description: 'The venue; null once you may no longer see it.',
      select: (_args, _ctx, nestedSelection) => ({ venue: nestedSelection(true) }),
      resolve: async (review, _args, ctx) =>
        (await canSeeVenue(ctx.access, review.venue)) ? review.venue : null,
    }),
    kind: t.expose('kind', { type: VenueReviewKind }),
    status: t.expose('status', { type: VenueReviewStatus }),
    changes: t.field({
      type: [VenueReviewChange],
      select: { kind: true, proposed: true, previous: true },
      resolve: (review) => reviewChanges(review),
    }),
    flags: t.field({
      type: [VenueReviewFlag],
      nullable: true,
      description: 'Platform admins only (null for everyone else): they may name venues you cannot see.',
      authScopes: { platformAdmin: true },
      unauthorizedResolver: () => null,
      select: { flags: true },
      resolve: (review) => reviewFlags(review),
    }),
    requestedBy: t.relation('requestedBy', {
      nullable: true,
      authScopes: (review) => (review.requestedById ? { seesUser: review.requestedById } : true),
      unauthorizedResolver: () => null,
    }),
    reviewedBy: t.relation('reviewedBy', {
      nullable: true,
      description: 'The platform admin who decided; null until then, or when not yours to see.',
      authScopes: (review) => (review.reviewedById ? { seesUser: review.reviewedById } : true),
      unauthorizedResolver: () => null,
    }),
    reason: t.exposeString('reason', {
      nullable: true,
      description: "The reviewer's note or reason (or why the review was withdrawn).",
    }),
    decidedAt: t.expose('decidedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const teamOrAdmins = (venue: { organizationId: string | null }) => teamOf(venue.organizationId);

builder.prismaObjectField(Venue, 'pendingReview', (t) =>
  t.prismaField({
    type: VenueReview,
    nullable: true,
    description:
      'The review the venue waits for (its publication, or a change of name, email, phone or website). Its organisation only (null for everyone else).',
    authScopes: teamOrAdmins,
    unauthorizedResolver: () => null,
    select: { id: true },
    resolve: (query, venue, _args, ctx) => ctx.domain.venues.pendingReviewOf(venue.id, query),
  }),
);

builder.prismaObjectField(Venue, 'reviews', (t) =>
  t.relatedConnection('reviews', {
    nullable: true,
    description:
      "The venue's reviews, newest first, with their outcome. Its organisation only (null for everyone else).",
    authScopes: teamOrAdmins,
    unauthorizedResolver: () => null,
    cursor: 'id',
    query: (args) => idCursors(args, { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
    totalCount: true,
  }),
);

builder.queryField('venueReviews', (t) =>
  t.prismaConnection({
    type: VenueReview,
    cursor: 'id',
    description: 'Platform admins: venue reviews, oldest first (by default the pending ones: the queue).',
    authScopes: { platformAdmin: true },
    args: {
      status: t.arg({ type: [VenueReviewStatus], required: false, description: 'Default: PENDING.' }),
      kind: t.arg({ type: VenueReviewKind, required: false }),
    },
    totalCount: (_connection, args, ctx) => ctx.domain.venues.countReviewQueue(args),
    resolve: (query, _root, args, ctx) => ctx.domain.venues.reviewQueue(args, byIdCursor(query, args)),
  }),
);

// --- mutations ---

const VenueReviewPayload = payloadType('VenueReviewPayload', 'review', VenueReview);

mutation('approveVenueReview', {
  description:
    'Platform admins: approves a pending review. A publication goes on the network (and its organisation publishes without review from then on); a change is applied.',
  input: (t) => ({
    reviewId: t.globalID({ for: VenueReview }),
    note: t.string({ required: false, description: 'Kept with the decision; the venue’s team sees it.' }),
  }),
  payload: VenueReviewPayload,
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    review: await ctx.domain.venues.approveVenueReview(ctx.access, {
      reviewId: input.reviewId.id,
      note: input.note,
    }),
  }),
});

mutation('rejectVenueReview', {
  description:
    'Platform admins: rejects a pending review, saying why. A publication goes back to DRAFT; a change is not applied.',
  input: (t) => ({
    reviewId: t.globalID({ for: VenueReview }),
    reason: t.string({ description: 'Why; the venue’s team sees it.' }),
  }),
  payload: VenueReviewPayload,
  authScopes: { platformAdmin: true },
  resolve: async (input, ctx) => ({
    review: await ctx.domain.venues.rejectVenueReview(ctx.access, {
      reviewId: input.reviewId.id,
      reason: input.reason,
    }),
  }),
});
