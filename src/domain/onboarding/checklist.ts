/**
 * The onboarding checklist a dashboard draws for an organisation: what is done and what is left
 * between signing up and taking bookings. Required steps gate "complete"; optional ones are
 * suggestions.
 *
 * The venue steps follow one venue, the one being set up: the first venue on the network once
 * there is one (onboarding is then done, and a second draft has its own checklist on `Venue`),
 * else the draft nearest to ready (the most recently changed among equals).
 */
import type { Db } from '../../platform/db.ts';
import { type Access, ANY_ROLE } from '../organizations/access.ts';
import { claimStatusWhere } from '../venues/claims.ts';
import { BOOKABLE_STEPS, checklistOf, PUBLIC_STATUSES } from '../venues/venues.ts';

export type OnboardingStepKey = 'organization' | 'venue' | 'venueDetails' | 'published' | 'team' | 'apiKey';

export interface OnboardingStep {
  key: OnboardingStepKey;
  done: boolean;
  required: boolean;
  hint: string;
}

export interface OnboardingChecklist {
  steps: OnboardingStep[];
  /** Every required step is done. */
  complete: boolean;
  /** The first required step not done, for a "continue" button. */
  next: OnboardingStepKey | null;
  /** The venue the venue steps follow; null before there is one. */
  venueId: string | null;
}

export async function onboardingChecklist(
  db: Db,
  access: Access,
  organizationId: string,
): Promise<OnboardingChecklist> {
  await access.require(organizationId, ANY_ROLE);
  const [venues, pendingClaims, members, apiKeys] = await Promise.all([
    db.venue.findMany({
      where: { organizationId },
      include: { _count: { select: { hours: true, tables: true } } },
    }),
    // Waiting still: a code that ran out reads EXPIRED (claims.ts).
    db.venueClaim.count({ where: { organizationId, ...claimStatusWhere(['PENDING'], new Date()) } }),
    db.membership.count({ where: { organizationId } }),
    db.apiKey.count({ where: { organizationId, revokedAt: null } }),
  ]);
  const missing = (v: (typeof venues)[number]) =>
    checklistOf(v, v._count).filter((item) => item.key !== 'published' && !item.done);
  const live = venues
    .filter((v) => PUBLIC_STATUSES.includes(v.status))
    .sort((a, b) => (a.publishedAt?.getTime() ?? 0) - (b.publishedAt?.getTime() ?? 0))[0];
  const followed =
    live ??
    venues
      .filter((v) => v.status === 'DRAFT')
      .sort(
        (a, b) => missing(a).length - missing(b).length || b.updatedAt.getTime() - a.updatedAt.getTime(),
      )[0] ??
    // Only suspended venues: the platform took them off; there is nothing else to follow.
    venues[0];
  // A live venue published through its checklist had it all and keeps what bookings need
  // (venues.ts); one claimed from the listings came with none of it. Either way what bookings need
  // is asked of it, not its profile's finish (which may change once live).
  const unfinished = !followed
    ? []
    : live
      ? missing(followed).filter((item) => BOOKABLE_STEPS.has(item.key))
      : missing(followed);
  const steps: OnboardingStep[] = [
    { key: 'organization', done: true, required: true, hint: 'Create your organisation' },
    {
      key: 'venue',
      done: venues.length > 0,
      required: true,
      hint:
        pendingClaims > 0
          ? 'Finish your venue claim (check the code we emailed), or add a venue'
          : 'Add your venue, or claim it if it is already listed',
    },
    {
      key: 'venueDetails',
      done: followed !== undefined && unfinished.length === 0,
      required: true,
      hint: unfinished[0]?.hint ?? 'Add hours, booking rules and tables to your venue',
    },
    {
      key: 'published',
      done: live !== undefined,
      required: true,
      hint: venues.some((v) => v.status === 'IN_REVIEW')
        ? 'Your venue is waiting for the AGNT team to review it'
        : 'Publish a venue so people can book it',
    },
    { key: 'team', done: members > 1, required: false, hint: 'Invite your team' },
    {
      key: 'apiKey',
      done: apiKeys > 0,
      required: false,
      hint: 'Create an API key to connect your own systems',
    },
  ];
  const next = steps.find((s) => s.required && !s.done)?.key ?? null;
  return { steps, complete: next === null, next, venueId: followed?.id ?? null };
}
