/**
 * The `booking-sweep` schedule: bookings whose own expiry, no-show or completion job was lost are
 * moved on as that job would have, once the job is SWEEP_SLACK_MINUTES overdue; bookings whose job
 * may still come are left alone, and a second run changes nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SWEEP_SLACK_MINUTES, sweepOverdueBookings } from '../../src/domain/bookings/scheduled.ts';
import { sweepBookingsTask } from '../../src/domain/bookings/tasks.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createBooking } from '../factories/bookings.ts';
import { createPerson } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { runDueJobs } from '../helpers/jobs.ts';

const MINUTE = 60_000;
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

it('moves on overdue bookings whose job was lost, and nothing else', async () => {
  const db = app.services.db;
  const { noShowGraceMinutes, completeAfterMinutes } = app.services.config.bookings;
  const venue = await createBookableVenue(db, {});
  const guest = await createPerson(db);
  const now = app.clock.now().getTime();
  const at = (minutes: number) => new Date(now + minutes * MINUTE);
  const booking = (fields: Omit<Parameters<typeof createBooking>[1], 'venueId' | 'guestId'>) =>
    createBooking(db, { venueId: venue.id, guestId: guest.id, ...fields });
  const overdue = SWEEP_SLACK_MINUTES + 1;

  const lapsed = await booking({ status: 'REQUESTED', startsAt: at(600), expiresAt: at(-overdue) });
  const lapsing = await booking({ status: 'HELD', startsAt: at(600), expiresAt: at(-1) });
  const absent = await booking({ status: 'CONFIRMED', startsAt: at(-noShowGraceMinutes - overdue) });
  const late = await booking({ status: 'CONFIRMED', startsAt: at(-noShowGraceMinutes - 1) });
  const done = await booking({
    status: 'SEATED',
    startsAt: at(-300),
    endsAt: at(-completeAfterMinutes - overdue),
  });
  const eating = await booking({ status: 'SEATED', startsAt: at(-60), endsAt: at(30) });

  const swept = await sweepOverdueBookings(app.services.bookings, app.services.config.bookings);
  expect(swept).toEqual({ expired: 1, noShows: 1, completed: 1 });
  const status = async (id: string) => (await db.booking.findUniqueOrThrow({ where: { id } })).status;
  expect(await status(lapsed.id)).toBe('EXPIRED');
  expect(await status(lapsing.id)).toBe('HELD');
  expect(await status(absent.id)).toBe('NO_SHOW');
  expect(await status(late.id)).toBe('CONFIRMED');
  expect(await status(done.id)).toBe('COMPLETED');
  expect(await status(eating.id)).toBe('SEATED');

  // The scheduled job, run as a worker runs it, finds nothing more.
  const transitions = await db.bookingTransition.count();
  await enqueue(db, sweepBookingsTask, {});
  await runDueJobs(app, ['booking-sweep']);
  expect(await db.bookingTransition.count()).toBe(transitions);
});
