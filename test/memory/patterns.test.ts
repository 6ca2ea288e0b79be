/**
 * A person's habits from their bookings, on a real database: which bookings count, local times in
 * each venue's zone, "usual" meaning at least two bookings, and one SQL statement however long
 * the history.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BehaviourPatterns,
  behaviourPatterns,
  describePatterns,
  EMPTY_PATTERNS,
} from '../../src/domain/memory/patterns.ts';
import type { BookingStatus } from '../../src/generated/prisma/enums.ts';
import { createBooking } from '../factories/bookings.ts';
import { createPerson } from '../factories/people.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let database: TestDatabase;
const db = () => database.prisma;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

/** A Friday. */
const NOW = new Date('2026-11-20T12:00:00Z');
const DAY = 86_400_000;

const hex = () => randomBytes(5).toString('hex');

async function person(): Promise<string> {
  return (await createPerson(db(), { label: 'patterns' })).id;
}

async function venue(data: { timeZone: string; city?: string | null; region?: string; cuisines?: string[] }) {
  const name = `Venue ${hex()}`;
  const { id } = await db().venue.create({
    data: { name, slug: name.toLowerCase().replace(' ', '-'), status: 'LISTED', ...data },
  });
  return id;
}

/** An instant given as a wall-clock time in a zone ("2026-11-13T20:00" in Europe/Lisbon). */
function local(dateTime: string, timeZone: string): Date {
  return new Date(Temporal.PlainDateTime.from(dateTime).toZonedDateTime(timeZone).epochMilliseconds);
}

async function book(
  guestId: string,
  venueId: string,
  startsAt: Date,
  partySize: number,
  status: BookingStatus = 'COMPLETED',
) {
  await createBooking(db(), { guestId, venueId, startsAt, partySize, status, source: 'CHAT' });
}

describe('behaviourPatterns', () => {
  it('is empty for a person with no bookings', async () => {
    expect(await behaviourPatterns(db(), await person(), NOW)).toEqual(EMPTY_PATTERNS);
    expect(describePatterns(EMPTY_PATTERNS)).toBeNull();
  });

  it('reads the usual party, days, hours, areas and cuisines from the bookings that count', async () => {
    const guestId = await person();
    const lisbonItalian = await venue({
      timeZone: 'Europe/Lisbon',
      city: 'Lisbon',
      cuisines: ['Italian', 'pizza'],
    });
    const lisbonJapanese = await venue({
      timeZone: 'Europe/Lisbon',
      city: ' Lisbon ',
      cuisines: ['japanese'],
    });
    const portoItalian = await venue({
      timeZone: 'Europe/Lisbon',
      city: null,
      region: 'Porto',
      cuisines: ['italian'],
    });
    const tokyoSushi = await venue({
      timeZone: 'Asia/Tokyo',
      city: 'Tokyo',
      cuisines: ['Japanese', 'sushi'],
    });

    // Fridays at 20:00 Lisbon time, for two (13 Nov 2026 is a Friday; 6 Nov too; 30 Oct too).
    await book(guestId, lisbonItalian, local('2026-11-13T20:00', 'Europe/Lisbon'), 2);
    await book(guestId, lisbonJapanese, local('2026-11-06T20:00', 'Europe/Lisbon'), 2, 'CONFIRMED');
    await book(guestId, portoItalian, local('2026-10-30T20:30', 'Europe/Lisbon'), 2, 'SEATED');
    // A Friday at 20:00 in Tokyo is 11:00 UTC: the venue's local time counts.
    await book(guestId, tokyoSushi, local('2026-07-10T20:00', 'Asia/Tokyo'), 4, 'REQUESTED');
    // Upcoming, on a Saturday at 13:00.
    await book(guestId, lisbonItalian, local('2026-11-28T13:00', 'Europe/Lisbon'), 4, 'HELD');

    // None of these count: what did not happen, what is older than a year, someone else's.
    for (const status of [
      'DECLINED',
      'CANCELLED_BY_GUEST',
      'CANCELLED_BY_VENUE',
      'EXPIRED',
      'NO_SHOW',
    ] as const) {
      await book(guestId, tokyoSushi, local('2026-09-12T13:00', 'Asia/Tokyo'), 6, status);
    }
    await book(guestId, tokyoSushi, new Date(NOW.getTime() - 370 * DAY), 6);
    await book(guestId, tokyoSushi, new Date(NOW.getTime() - 380 * DAY), 6);
    const someoneElse = await person();
    for (let i = 0; i < 3; i++) await book(someoneElse, tokyoSushi, new Date(NOW.getTime() - i * DAY), 8);

    const patterns = await behaviourPatterns(db(), guestId, NOW);
    expect(patterns).toEqual({
      bookingsCount: 5,
      usualPartySize: 2,
      usualTimes: { weekdays: ['FRIDAY'], hours: [20] },
      // Lisbon 3 times (spaces trimmed); Porto (a region) and Tokyo once: not usual.
      usualAreas: ['Lisbon'],
      // italian 3 times; pizza and japanese (lower-cased) twice each, pizza booked more recently.
      favouriteCuisines: ['italian', 'pizza', 'japanese'],
    } satisfies BehaviourPatterns);
    expect(describePatterns(patterns)).toBe(
      'Usually books for 2; on Fridays; around 20:00; in Lisbon; likes italian, pizza and japanese (from 5 recent bookings).',
    );
  });

  it('needs two bookings for anything to be usual', async () => {
    const guestId = await person();
    const v = await venue({ timeZone: 'Europe/Lisbon', city: 'Lisbon', cuisines: ['thai'] });
    await book(guestId, v, local('2026-11-13T20:00', 'Europe/Lisbon'), 3);
    const patterns = await behaviourPatterns(db(), guestId, NOW);
    expect(patterns).toEqual({ ...EMPTY_PATTERNS, bookingsCount: 1 });
    expect(describePatterns(patterns)).toBeNull();
  });

  it('breaks ties by the most recent booking', async () => {
    const guestId = await person();
    const v = await venue({ timeZone: 'Europe/Lisbon', city: 'Lisbon' });
    await book(guestId, v, local('2026-01-05T19:00', 'Europe/Lisbon'), 4);
    await book(guestId, v, local('2026-01-12T19:00', 'Europe/Lisbon'), 4);
    await book(guestId, v, local('2026-10-01T21:00', 'Europe/Lisbon'), 2);
    await book(guestId, v, local('2026-10-08T21:00', 'Europe/Lisbon'), 2);
    const patterns = await behaviourPatterns(db(), guestId, NOW);
    expect(patterns.usualPartySize).toBe(2);
    expect(patterns.usualTimes).toEqual({ weekdays: ['THURSDAY', 'MONDAY'], hours: [21, 19] });
  });

  it('costs one SQL statement, however long the history', async () => {
    const guestId = await person();
    const venues = await Promise.all(
      ['a', 'b', 'c'].map((c) => venue({ timeZone: 'Europe/Lisbon', city: `City ${c}`, cuisines: [c, 'x'] })),
    );
    const statements = async () => {
      let count = 0;
      const stop = database.onQuery(() => {
        count++;
      });
      try {
        await behaviourPatterns(db(), guestId, NOW);
      } finally {
        stop();
      }
      return count;
    };
    const empty = await statements();
    for (let i = 0; i < 30; i++) {
      await book(guestId, venues[i % 3]!, new Date(NOW.getTime() - (i + 1) * 7 * DAY), (i % 4) + 1);
    }
    expect(empty).toBe(1);
    expect(await statements()).toBe(1);
  });
});
