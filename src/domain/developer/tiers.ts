/**
 * An organisation's developer tier: what its API keys may do in a day (100 requests on free,
 * 10,000 on pro, by default; API_KEY_DAILY_FREE / API_KEY_DAILY_PRO). The one answer to "which
 * tier is this key on?", for the quota, the dashboard and anyone else who asks.
 *
 * - Billing on (STRIPE_SECRET_KEY set): pro is paid for. The tier is PRO while the organisation's
 *   plan is DEVELOPER_PRO in good standing (active, or past due within the grace period; see
 *   billing/standing.ts), and FREE otherwise: a restricted or cancelled subscription falls back
 *   to free at once, with no job to run.
 * - Billing off: there is nothing to pay with, so a platform admin sets the tier on the
 *   organisation (`setDeveloperTier`); FREE until then.
 */
import type { DeveloperTier } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { ConflictError, NotAllowedError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { planStanding, type StandingDeps } from '../billing/standing.ts';
import type { Actor } from '../identity/actor.ts';
import type { Access } from '../organizations/access.ts';

export type { DeveloperTier };

export const DEVELOPER_TIERS = ['FREE', 'PRO'] as const satisfies readonly DeveloperTier[];

export interface TierDeps extends StandingDeps {
  db: DbOrTx;
  /** Whether billing is on (config.billing.stripe is set). */
  billing: boolean;
}

/** The tier the organisation's keys have now. */
export async function developerTier(deps: TierDeps, organizationId: string): Promise<DeveloperTier> {
  if (deps.billing) {
    const standing = await planStanding(deps.db, deps, organizationId, 'DEVELOPER');
    return standing.plan === 'DEVELOPER_PRO' ? 'PRO' : 'FREE';
  }
  const organization = await deps.db.organization.findUnique({
    where: { id: organizationId },
    select: { developerTier: true },
  });
  return organization?.developerTier ?? 'FREE';
}

/** A key of a free-tier organisation asked for what the pro developer tier gives. */
export class ProTierRequiredError extends NotAllowedError {
  override name = 'ProTierRequiredError';
  readonly code = 'PRO_TIER_REQUIRED';
  constructor(what: string) {
    super(`${what} needs the pro developer tier: subscribe the organisation to the developer pro plan`);
  }
}

/**
 * A key books at the network's venues (not its own organisation's) as its creator, the guest: on
 * the pro developer tier only, whichever way it asks (GraphQL, MCP, public A2A).
 */
export function requireProForGuestBookings(deps: TierDeps) {
  return async (access: { actor: Actor }): Promise<void> => {
    const actor = access.actor;
    if (actor.kind !== 'apiKey') return;
    if ((await developerTier(deps, actor.organizationId)) !== 'PRO') {
      throw new ProTierRequiredError('Booking at the network’s venues with an API key');
    }
  };
}

/** Requests per UTC day a key on `tier` may make (config.rateLimits.dailyPerApiKey). */
export function dailyLimit(limits: Readonly<Record<DeveloperTier, number>>, tier: DeveloperTier): number {
  return limits[tier];
}

/** With billing on, the tier is the plan's to decide: set by subscribing, not by an admin. */
export class TierFollowsPlanError extends ConflictError {
  override name = 'TierFollowsPlanError';
  readonly code = 'TIER_FOLLOWS_PLAN';
  constructor() {
    super('Billing is on: the developer tier follows the organisation’s plan (subscribe to DEVELOPER_PRO)');
  }
}

/**
 * Sets an organisation's developer tier while billing is off. Platform admins only
 * (NotAllowedError otherwise); TierFollowsPlanError with billing on; NotFoundError for no such
 * organisation. Takes effect at the key's next request.
 */
export async function setDeveloperTier(
  deps: Pick<TierDeps, 'db' | 'billing'>,
  access: Access,
  input: { organizationId: string; tier: DeveloperTier },
) {
  if (!access.isPlatformAdmin) throw new NotAllowedError('Only platform admins set developer tiers');
  if (!(DEVELOPER_TIERS as readonly string[]).includes(input.tier)) {
    throw new ValidationError(`A tier is one of ${DEVELOPER_TIERS.join(', ')}`, 'tier');
  }
  if (deps.billing) throw new TierFollowsPlanError();
  const updated = await deps.db.organization.updateMany({
    where: { id: input.organizationId },
    data: { developerTier: input.tier },
  });
  if (updated.count === 0) throw new NotFoundError('No such organisation');
  return deps.db.organization.findUniqueOrThrow({ where: { id: input.organizationId } });
}
