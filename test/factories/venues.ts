/**
 * Venues in the state a test needs: opening hours for every day of the week, tables, a unique
 * slug, and whatever columns the test cares about. Written straight to the database: the
 * onboarding and publishing flows have tests of their own.
 */
import { randomUUID } from 'node:crypto';
import type { Prisma } from '../../src/generated/prisma/client.ts';
import type { Db } from '../../src/platform/db.ts';
import { createPerson, tag } from './people.ts';

/** The same opening hours on all seven weekdays, as `hours.create` rows. */
export function everyDay(opensAt: string, closesAt: string) {
  return [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt, closesAt }));
}

export type VenueFields = Omit<
  Prisma.VenueUncheckedCreateInput,
  'name' | 'slug' | 'hours' | 'tables' | 'timeZone'
> & {
  /** Defaults to a name of its own. */
  name?: string;
  /** The slug's readable part; a random tag keeps it unique. Defaults to `venue`. */
  slug?: string;
  timeZone?: string;
  /** Opening and closing time for every day; none when not given. */
  open?: [opensAt: string, closesAt: string];
  tables?: { name: string; seats: number }[];
};

/** A new venue (Europe/Lisbon unless told), with daily hours and tables when given. */
export function createVenue(db: Db, fields: VenueFields = {}) {
  const { slug = 'venue', open, tables, name, timeZone, ...data } = fields;
  return db.venue.create({
    data: {
      name: name ?? `Venue ${tag()}`,
      slug: `${slug}-${tag()}`,
      timeZone: timeZone ?? 'Europe/Lisbon',
      ...data,
      hours: open ? { create: everyDay(open[0], open[1]) } : undefined,
      tables: tables ? { create: tables } : undefined,
    },
  });
}

/**
 * The booking rules most tests take as given (as `setBookingRules` input or venue columns): parties
 * of 1 to 8, 30-minute slots, 90-minute turns, an hour's notice, 60 days ahead.
 */
export const BOOKING_RULES = {
  partySizeMin: 1,
  partySizeMax: 8,
  slotMinutes: 30,
  turnMinutes: 90,
  leadTimeMinutes: 60,
  bookingHorizonDays: 60,
};

/**
 * A venue that takes bookings: claimed, BOOKING_RULES confirmed, open 18:00 to 23:00 every day,
 * four tables of four unless `fields` say otherwise.
 */
export function createBookableVenue(db: Db, fields: VenueFields = {}) {
  return createVenue(db, {
    status: 'CLAIMED',
    ...BOOKING_RULES,
    bookingRulesConfirmedAt: new Date(),
    open: ['18:00', '23:00'],
    tables: [1, 2, 3, 4].map((n) => ({ name: `T${n}`, seats: 4 })),
    ...fields,
  });
}

/** A guest's question to the venue, answered by its staff: a new guest, and the ANSWERED inbox item. */
export async function answeredQuestion(
  db: Db,
  venueId: string,
  ask: { text: string; answer: string; answerForAll?: boolean; resolvedAt?: Date },
) {
  const guest = await createPerson(db);
  return db.venueInboxItem.create({
    data: {
      venueId,
      kind: 'QUESTION',
      status: 'ANSWERED',
      envelopeId: randomUUID(),
      fromAgent: `consumer-${guest.id}`,
      guestId: guest.id,
      guestText: ask.text,
      reason: 'not in the wiki',
      answer: ask.answer,
      answerForAll: ask.answerForAll ?? false,
      resolvedAt: ask.resolvedAt ?? new Date(),
    },
  });
}
