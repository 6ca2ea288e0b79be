/**
 * The lists whose "none" is an empty list (an API key's scopes, a venue's cuisines and photos, a
 * webhook subscription's events, the times staff offered instead, the meanings a person forgot)
 * are never NULL: the migration makes the NULLs written before it empty lists, and from then on
 * the database refuses NULL there (SQL written by hand read NULL as null, not as an empty list,
 * and a venue or an API key holding it failed the requests that met it).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { createTestDatabase, runMigrationFrom, type TestDatabase } from '../helpers/db.ts';

const MIGRATION = '20261221000027_list_columns_never_null';
/** Where the migration's work begins, after its lock timeout. */
const FROM = 'UPDATE "api_keys"';

const COLUMNS = [
  { table: 'api_keys', column: 'scopes' },
  { table: 'venues', column: 'cuisines' },
  { table: 'venues', column: 'photos' },
  { table: 'webhook_subscriptions', column: 'events' },
  { table: 'venue_inbox_items', column: 'alternatives' },
  { table: 'users', column: 'forgotten_meanings' },
] as const;

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

/** One row in each table, by the product's own client; the id of each by table. */
async function rows(): Promise<Record<(typeof COLUMNS)[number]['table'], string>> {
  const db = database.prisma;
  const owner = await createPerson(db);
  const organization = await createOrganization(db, { members: [{ userId: owner.id, role: 'OWNER' }] });
  const venue = await createVenue(db, { organizationId: organization.id });
  const key = await db.apiKey.create({
    data: {
      organizationId: organization.id,
      createdById: owner.id,
      name: 'old key',
      prefix: `agnt_test_${randomUUID().slice(0, 8)}`,
      secretHash: 'x',
      scopes: ['read'],
    },
  });
  const subscription = await db.webhookSubscription.create({
    data: {
      organizationId: organization.id,
      url: 'https://hooks.example.test/agnt',
      events: ['booking.confirmed'],
      secretCiphertext: 'sealed',
      secretKeyId: 'k1',
    },
  });
  const item = await db.venueInboxItem.create({
    data: {
      venueId: venue.id,
      kind: 'QUESTION',
      envelopeId: randomUUID(),
      fromAgent: `consumer-${owner.id}`,
      guestId: owner.id,
      guestText: 'Do you have a terrace?',
      reason: 'not in the wiki',
    },
  });
  return {
    api_keys: key.id,
    venues: venue.id,
    webhook_subscriptions: subscription.id,
    venue_inbox_items: item.id,
    users: owner.id,
  };
}

const read = async (table: string, column: string, id: string) =>
  (await database.pool.query(`SELECT "${column}" AS value FROM "${table}" WHERE id = $1`, [id])).rows[0]
    ?.value;

it('makes the NULLs written before it empty lists, then refuses NULL there and leaves the row as it was', async () => {
  const ids = await rows();
  // As they were before the migration: no constraint, NULL written from outside the product.
  for (const { table, column } of COLUMNS) {
    await database.pool.query(`ALTER TABLE "${table}" DROP CONSTRAINT "${table}_${column}_check"`);
    await database.pool.query(`UPDATE "${table}" SET "${column}" = NULL WHERE id = $1`, [ids[table]]);
    expect(await read(table, column, ids[table])).toBeNull();
  }

  await runMigrationFrom(database, MIGRATION, FROM);

  for (const { table, column } of COLUMNS) {
    expect(await read(table, column, ids[table]), `${table}.${column}`).toEqual([]);
    await expect(
      database.pool.query(`UPDATE "${table}" SET "${column}" = NULL WHERE id = $1`, [ids[table]]),
      `${table}.${column}`,
    ).rejects.toMatchObject({ code: '23514', constraint: `${table}_${column}_check` });
    expect(await read(table, column, ids[table])).toEqual([]);
  }
});

it('gives a row written without the list an empty one', async () => {
  const owner = await createPerson(database.prisma);
  const organization = await createOrganization(database.prisma, {
    members: [{ userId: owner.id, role: 'OWNER' }],
  });
  const { rows: inserted } = await database.pool.query(
    `INSERT INTO api_keys (id, organization_id, created_by_id, name, prefix, secret_hash)
     VALUES (gen_random_uuid(), $1, $2, 'imported', $3, 'x') RETURNING scopes`,
    [organization.id, owner.id, `agnt_test_${randomUUID().slice(0, 8)}`],
  );
  expect(inserted[0]?.scopes).toEqual([]);
});
