/**
 * Deciding venue reviews (opened by venues.ts: a new organisation's first publication, a change of
 * a live venue's name, email, phone or website). Only platform admins decide, and every decision
 * keeps who made it, when and why on the review row, which is never deleted.
 *
 * - Approving a PUBLISH review puts the venue on the network (CLAIMED) and marks its organisation
 *   trusted: its later venues publish without review. Rejecting sends the venue back to DRAFT.
 * - Approving a CHANGE review applies the proposed fields; rejecting leaves the live ones.
 *
 * A decision holds the venue row (`lockVenue`) and moves the review out of PENDING with a
 * conditional update, so two admins deciding at once, or an owner unpublishing meanwhile, end
 * with one outcome and the other told it is too late. The venue's owners and admins get a message
 * with the outcome.
 */
import { z } from 'zod';
import type { Prisma, Venue, VenueReview } from '../../generated/prisma/client.ts';
import type { VenueReviewKind, VenueReviewStatus, VenueStatus } from '../../generated/prisma/enums.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError } from '../../platform/errors.ts';
import { queueNotice } from '../notices/notices.ts';
import { type Access, MANAGERS } from '../organizations/access.ts';
import { parseInput } from '../validation.ts';
import type { IdentityField, ReviewFlag, VenueIdentity } from './lookalikes.ts';
import { lockVenue, venueChecklist } from './venues.ts';

const approveSchema = z.object({
  reviewId: z.string(),
  note: z.string().trim().max(2000, 'A note is at most 2,000 characters').nullish(),
});

const rejectSchema = z.object({
  reviewId: z.string(),
  reason: z
    .string()
    .trim()
    .min(1, 'Say why, for the venue and the audit trail')
    .max(2000, 'A reason is at most 2,000 characters'),
});

/** Which reviews the platform admins' queue lists: by default the pending ones. */
export interface ReviewQueueFilter {
  status?: readonly VenueReviewStatus[] | null;
  kind?: VenueReviewKind | null;
}

/** The platform admins' queue, oldest first; `query` is the page and selection. */
export function reviewQueue(
  db: DbOrTx,
  filter: ReviewQueueFilter,
  query: Omit<Prisma.VenueReviewFindManyArgs, 'where' | 'orderBy'> = {},
) {
  return db.venueReview.findMany({
    ...query,
    where: queueWhere(filter),
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** How many reviews `reviewQueue` lists in all. */
export function countReviewQueue(db: DbOrTx, filter: ReviewQueueFilter) {
  return db.venueReview.count({ where: queueWhere(filter) });
}

function queueWhere(filter: ReviewQueueFilter): Prisma.VenueReviewWhereInput {
  return {
    status: { in: [...(filter.status ?? ['PENDING' as const])] },
    ...(filter.kind ? { kind: filter.kind } : {}),
  };
}

/** The review a venue waits for (the newest pending one), with what `query` selects, or null. */
export function pendingReviewOf(db: DbOrTx, venueId: string, query: Prisma.VenueReviewDefaultArgs = {}) {
  return db.venueReview.findFirst({
    ...query,
    where: { venueId, status: 'PENDING' },
    orderBy: { createdAt: 'desc' },
  });
}

/** Platform admins: approve a pending review; `note` is kept with the decision. */
export async function approveVenueReview(
  db: Db,
  access: Access,
  input: z.input<typeof approveSchema>,
): Promise<VenueReview> {
  const adminId = requireReviewer(access);
  const { note } = parseInput(approveSchema, input);
  const decision = { status: 'APPROVED', adminId, reason: note ?? null } as const;
  return decideReview(db, input.reviewId, decision, async (tx, current, venue, venueStatus, now) => {
    if (current.kind === 'PUBLISH') {
      if (venueStatus !== 'IN_REVIEW') throw new ConflictError('The venue is no longer waiting for review');
      const missing = (await venueChecklist(tx, venue)).find((i) => i.key !== 'published' && !i.done);
      if (missing) {
        throw new ConflictError(`The venue is no longer ready to publish: ${missing.hint.toLowerCase()}`);
      }
      await tx.venue.update({
        where: { id: venue.id },
        data: { status: venue.organizationId ? 'CLAIMED' : 'LISTED', publishedAt: now },
      });
      if (venue.organizationId) {
        await tx.organization.updateMany({
          where: { id: venue.organizationId, trustedAt: null },
          data: { trustedAt: now },
        });
      }
    } else {
      if (venue.organizationId !== current.organizationId) {
        throw new ConflictError('The venue has changed hands since this change was proposed');
      }
      const proposed = current.proposed as VenueIdentity;
      await tx.venue.update({ where: { id: venue.id }, data: proposed as Prisma.VenueUpdateInput });
    }
  });
}

/** Platform admins: reject a pending review, saying why (the venue's team sees the reason). */
export async function rejectVenueReview(
  db: Db,
  access: Access,
  input: z.input<typeof rejectSchema>,
): Promise<VenueReview> {
  const adminId = requireReviewer(access);
  const { reason } = parseInput(rejectSchema, input);
  const decision = { status: 'REJECTED', adminId, reason } as const;
  return decideReview(db, input.reviewId, decision, async (tx, current, venue, venueStatus) => {
    if (current.kind === 'PUBLISH' && venueStatus === 'IN_REVIEW') {
      await tx.venue.update({ where: { id: venue.id }, data: { status: 'DRAFT' } });
    }
  });
}

/**
 * Decides a review: with the venue's row held and the review still pending, `apply` makes what
 * the decision changes; then the review is closed as decided and the venue's owners are told.
 */
async function decideReview(
  db: Db,
  reviewId: string,
  decision: { status: VenueReviewStatus; adminId: string; reason: string | null },
  apply: (tx: Tx, review: VenueReview, venue: Venue, venueStatus: VenueStatus, now: Date) => Promise<void>,
): Promise<VenueReview> {
  const review = await findReview(db, reviewId);
  return db.$transaction(async (tx) => {
    const venueStatus = (await lockVenue(tx, review.venueId)).status;
    const current = await requirePending(tx, review.id);
    const venue = await tx.venue.findUniqueOrThrow({ where: { id: review.venueId } });
    const now = new Date();
    await apply(tx, current, venue, venueStatus, now);
    const decided = await decide(tx, current, { ...decision, now });
    await tellOwners(tx, decided, venue.name);
    return decided;
  });
}

/** The flags stored on a review, for a reviewer. */
export function reviewFlags(review: Pick<VenueReview, 'flags'>): ReviewFlag[] {
  return Array.isArray(review.flags) ? (review.flags as unknown as ReviewFlag[]) : [];
}

/** What a review changes: each field with its value before (null for a first publication) and after. */
export function reviewChanges(
  review: Pick<VenueReview, 'kind' | 'proposed' | 'previous'>,
): { field: IdentityField; from: string | null; to: string | null }[] {
  const proposed = review.proposed as VenueIdentity;
  const previous = review.previous as VenueIdentity;
  return (Object.keys(proposed) as IdentityField[]).map((field) => ({
    field,
    from: review.kind === 'CHANGE' ? (previous[field] ?? null) : null,
    to: proposed[field] ?? null,
  }));
}

function requireReviewer(access: Access): string {
  const adminId = access.requirePerson();
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins decide venue reviews');
  return adminId;
}

async function findReview(db: Db, reviewId: string): Promise<VenueReview> {
  const review = z.uuid().safeParse(reviewId).success
    ? await db.venueReview.findUnique({ where: { id: reviewId } })
    : null;
  if (!review) throw new NotFoundError('Review not found');
  return review;
}

async function requirePending(tx: Tx, reviewId: string): Promise<VenueReview> {
  const review = await tx.venueReview.findUniqueOrThrow({ where: { id: reviewId } });
  if (review.status !== 'PENDING') {
    throw new ConflictError(
      review.status === 'WITHDRAWN'
        ? 'This review was withdrawn (the venue was unpublished, suspended, or a newer change replaced it)'
        : `This review has already been ${review.status.toLowerCase()}`,
    );
  }
  return review;
}

async function decide(
  tx: Tx,
  review: VenueReview,
  decision: { status: VenueReviewStatus; adminId: string; reason: string | null; now: Date },
): Promise<VenueReview> {
  const { count } = await tx.venueReview.updateMany({
    where: { id: review.id, status: 'PENDING' },
    data: {
      status: decision.status,
      reviewedById: decision.adminId,
      reason: decision.reason,
      decidedAt: decision.now,
    },
  });
  if (count !== 1) await requirePending(tx, review.id);
  return tx.venueReview.findUniqueOrThrow({ where: { id: review.id } });
}

/** A notice to the venue's owners and admins (chat, else email); sent once per review and person. */
async function tellOwners(tx: Tx, review: VenueReview, venueName: string): Promise<void> {
  if (!review.organizationId) return;
  const managers = await tx.membership.findMany({
    where: { organizationId: review.organizationId, role: { in: [...MANAGERS] } },
    select: { userId: true },
  });
  for (const manager of managers) {
    await queueNotice(tx, {
      userId: manager.userId,
      kind: 'venue.review_decided',
      params: {
        venue: venueName,
        change: review.kind,
        approved: review.status === 'APPROVED',
        reason: review.reason,
      },
      dedupeKey: `venue-review:${review.id}:${manager.userId}`,
      data: { venueId: review.venueId, reviewId: review.id, status: review.status },
    });
  }
}
