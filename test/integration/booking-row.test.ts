/**
 * A booking written by raw SQL is returned as Prisma returns it (`BOOKING_FIELDS`): the same
 * fields, the same values, the same types (dates as Date, the value as bigint, enums as strings).
 * A column added to `bookings` and not to the list fails here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOKING_FIELDS } from '../../src/domain/bookings/bookings.ts';
import type { Booking } from '../../src/generated/prisma/client.ts';
import { createBooking } from '../factories/bookings.ts';
import { createOrganization, createPerson } from '../factories/people.ts';
import { createVenue } from '../factories/venues.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

async function asWritten(id: string): Promise<Booking | undefined> {
  const [row] = await database.prisma.$queryRaw<Booking[]>`
    SELECT ${BOOKING_FIELDS} FROM bookings WHERE id = ${id}::uuid`;
  return row;
}

describe('a booking row returned by raw SQL', () => {
  it('equals the Prisma client’s Booking, with every field set and with the optional ones empty', async () => {
    const { prisma } = database;
    const organization = await createOrganization(prisma);
    const venue = await createVenue(prisma, { organizationId: organization.id });
    const guest = await createPerson(prisma);
    const startsAt = new Date('2027-03-05T19:30:00.000Z');
    const full = await createBooking(prisma, {
      venueId: venue.id,
      guestId: guest.id,
      requestedById: guest.id,
      startsAt,
      status: 'CONFIRMED',
      source: 'CHAT',
      notes: 'window table',
      specialRequests: 'a high chair',
      clientKey: 'row-test',
      expiresAt: new Date('2027-03-04T12:00:00.123Z'),
      valueMinor: 12_345n,
      valueRecordedAt: new Date('2027-03-06T09:00:00.456Z'),
    });
    const bare = await createBooking(prisma, { venueId: venue.id, guestId: guest.id, startsAt });

    for (const booking of [full, bare]) {
      const viaPrisma = await prisma.booking.findUniqueOrThrow({ where: { id: booking.id } });
      expect(await asWritten(booking.id)).toStrictEqual(viaPrisma);
    }
    expect((await asWritten(full.id))?.valueMinor).toBe(12_345n);
  });
});
