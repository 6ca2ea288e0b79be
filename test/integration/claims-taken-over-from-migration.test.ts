/**
 * The migration that keeps on an approved takeover whom the venue was taken from: applied to
 * claims approved before it, a takeover gets the organisation its audit line names, and a claim of
 * a venue nobody held keeps none.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { createTestDatabase, runMigrationFrom, type TestDatabase } from '../helpers/db.ts';

const MIGRATION = '20261221000010_venue_claims_taken_over_from';
/** Where the migration's backfill begins: the column is already there in a test database. */
const BACKFILL = '-- Takeovers approved before';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

it('gives a takeover approved before the organisation its audit line names, and a first claim none', async () => {
  const db = database.prisma;
  const requester = await createPerson(db);
  const [first, holder, buyer] = await Promise.all([
    createOrganization(db),
    createOrganization(db),
    createOrganization(db),
  ]);
  const approved = async (organizationId: string, detail: string | null) => {
    const venue = await createVenue(db);
    const claim = await db.venueClaim.create({
      data: {
        venueId: venue.id,
        organizationId,
        requestedById: requester.id,
        method: 'MANUAL_REVIEW',
        status: 'APPROVED',
        decidedAt: new Date(),
      },
    });
    await db.claimAuditEvent.create({
      data: {
        claimId: claim.id,
        venueId: venue.id,
        action: 'REVIEW',
        method: 'MANUAL_REVIEW',
        outcome: 'APPROVED',
        detail,
      },
    });
    return claim.id;
  };
  const firstClaim = await approved(first.id, 'Menu and lease checked.');
  const takeover = await approved(buyer.id, `taken over from organisation ${holder.id}`);

  await runMigrationFrom(database, MIGRATION, BACKFILL);

  const taken = async (id: string) =>
    (await db.venueClaim.findUniqueOrThrow({ where: { id }, select: { takenOverFrom: true } })).takenOverFrom;
  expect(await taken(firstClaim)).toBeNull();
  expect(await taken(takeover)).toBe(holder.id);
});
