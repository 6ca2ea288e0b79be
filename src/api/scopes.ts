import { ANY_ROLE } from '../domain/organizations/access.ts';

/**
 * Auth scopes for what an organisation's team sees: any member of `organizationId`; with no
 * organisation (an unowned venue, and what hangs on it), platform admins alone. Platform admins
 * pass `orgRole` too, so they always see it.
 */
export function teamOf(organizationId: string | null) {
  return organizationId ? { orgRole: { organizationId, roles: ANY_ROLE } } : { platformAdmin: true as const };
}
