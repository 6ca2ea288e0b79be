/**
 * Bookings in a given state, written straight to the database: the state machine has tests of its
 * own, and these are the starting points other tests need.
 */
import type { Prisma } from '../../src/generated/prisma/client.ts';
import type { Db } from '../../src/platform/db.ts';

export type BookingFields = Omit<Prisma.BookingUncheckedCreateInput, 'endsAt' | 'source' | 'partySize'> & {
  partySize?: number;
  /** Defaults to 90 minutes after `startsAt`. */
  endsAt?: Date;
  source?: Prisma.BookingUncheckedCreateInput['source'];
};

/** A new booking of `guestId` at `venueId`; status REQUESTED and source DASHBOARD unless told. */
export function createBooking(db: Db, fields: BookingFields) {
  const { partySize = 2, source = 'DASHBOARD', endsAt, ...data } = fields;
  const startsAt = new Date(fields.startsAt);
  return db.booking.create({
    data: {
      partySize,
      source,
      endsAt: endsAt ?? new Date(startsAt.getTime() + 90 * 60_000),
      ...data,
    },
  });
}
