/**
 * Venue states for tests. New organisations publish into review (test/e2e/venue-reviews.test.ts);
 * tests about what happens after publication start from an organisation the platform already
 * vouched for, as approving one of its venues would leave it.
 */
import type { TestApp } from './app.ts';

/** Marks the organisation trusted: its venues publish without review. */
export async function trustOrganization(app: TestApp, organizationId: string): Promise<void> {
  await app.services.db.organization.update({
    where: { id: organizationId },
    data: { trustedAt: app.clock.now() },
  });
}
