/**
 * A platform admin's suspension stands against an owner's publish or unpublish that read the
 * venue just before it: both ask again under the venue's lock, and refuse, changing nothing. (An
 * unpublish that overwrote SUSPENDED with DRAFT let the next publish put the venue straight back
 * on the network, its publishedAt being set.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { publishVenue, unpublishVenue } from '../../src/domain/venues/venues.ts';
import { NotAllowedError } from '../../src/platform/errors.ts';
import { createOrganization } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { person } from '../helpers/authz.ts';
import { waitingForLock } from '../helpers/db.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

/** Runs `act` while the venue's row is locked, then suspends the venue and lets `act` go on. */
async function suspendedMeanwhile(venueId: string, act: () => Promise<unknown>): Promise<unknown> {
  const client = await app.services.database.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT 1 FROM venues WHERE id = $1 FOR UPDATE', [venueId]);
    const acting = act().then(
      () => null,
      (error: unknown) => error,
    );
    await waitingForLock(app.services.db, 'FROM venues WHERE id');
    await client.query(`UPDATE venues SET status = 'SUSPENDED', suspended_from = status WHERE id = $1`, [
      venueId,
    ]);
    await client.query('COMMIT');
    return await acting;
  } finally {
    client.release();
  }
}

describe('a suspension committed while an owner publishes or unpublishes', () => {
  it('stands: the unpublish and the publish are refused, the venue stays suspended', async () => {
    const db = app.services.db;
    const organization = await createOrganization(db);
    const owner = await person(app, organization.id, 'OWNER');
    const access = await createAccess(db, { kind: 'user', userId: owner.userId, isPlatformAdmin: false });

    const live = await createBookableVenue(db, { organizationId: organization.id, publishedAt: new Date() });
    const unpublished = await suspendedMeanwhile(live.id, () =>
      unpublishVenue(db, access, { venueId: live.id }),
    );
    expect(unpublished).toBeInstanceOf(NotAllowedError);
    expect((await db.venue.findUniqueOrThrow({ where: { id: live.id } })).status).toBe('SUSPENDED');

    // A draft that was on the network before publishes without review (its fast way).
    const draft = await createBookableVenue(db, {
      organizationId: organization.id,
      status: 'DRAFT',
      publishedAt: new Date(),
      description: 'Grilled fish by the river, and a long list of green wines.',
      cuisines: ['portuguese'],
      addressLine1: 'Rua do Rio 4',
      city: 'Lisboa',
      countryCode: 'PT',
      latitude: 38.71,
      longitude: -9.14,
    });
    const published = await suspendedMeanwhile(draft.id, () =>
      publishVenue(db, access, { venueId: draft.id }),
    );
    expect(published).toBeInstanceOf(NotAllowedError);
    expect((await db.venue.findUniqueOrThrow({ where: { id: draft.id } })).status).toBe('SUSPENDED');
  });
});
