/**
 * `create_booking` asked for the same table again: while its booking stands (a retried turn, a
 * repeated "book it") it is that booking, once; once it has ended (cancelled, declined, expired) or
 * moved, asking again books anew instead of answering with the old booking or a conflict.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPerson } from '../factories/people.ts';
import { toolCaller, toolContext } from '../factories/tools.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

it('books the same table again once its booking has ended or moved, and not twice while it stands', async () => {
  const db = app.services.db;
  const person = await createPerson(db);
  const venue = await createBookableVenue(db);
  const tool = toolCaller(app.services, toolContext(person.id));
  const call = (name: string, input: Record<string, unknown>) =>
    tool<{ bookingId: string; status: string }>(name, input);
  const date = Temporal.Now.plainDateISO(venue.timeZone).add({ days: 3 }).toString();
  const table = { venue_id: venue.id, date, time: '20:00', party_size: 2 };

  // Asked twice while it stands: one booking.
  const first = await call('create_booking', table);
  expect((await call('create_booking', table)).bookingId).toBe(first.bookingId);

  // Cancelled, then asked for again: a new request.
  await call('cancel_booking', { booking_id: first.bookingId });
  const second = await call('create_booking', table);
  expect(second.bookingId).not.toBe(first.bookingId);
  expect(second.status).toBe('REQUESTED');
  expect((await call('create_booking', table)).bookingId).toBe(second.bookingId);

  // Declined by the venue, then asked for again: another.
  await db.booking.update({ where: { id: second.bookingId }, data: { status: 'DECLINED' } });
  const third = await call('create_booking', table);
  expect([first.bookingId, second.bookingId]).not.toContain(third.bookingId);

  // Moved to 21:00, then 20:00 asked for again: a booking at 20:00, the moved one untouched.
  await call('modify_booking', { booking_id: third.bookingId, time: '21:00' });
  // The history says what changed, and where it was asked.
  const moved = await db.bookingTransition.findFirstOrThrow({
    where: { bookingId: third.bookingId, fromStatus: 'REQUESTED', toStatus: 'REQUESTED' },
  });
  expect(moved.reason).toMatch(/^changed time \S+ → \S+ \(changed in chat\)$/);
  const fourth = await call('create_booking', table);
  expect(fourth.bookingId).not.toBe(third.bookingId);
  const mine = await db.booking.findMany({
    where: { guestId: person.id },
    orderBy: { createdAt: 'asc' },
    select: { id: true, status: true },
  });
  expect(mine.map((b) => [b.id, b.status])).toEqual([
    [first.bookingId, 'CANCELLED_BY_GUEST'],
    [second.bookingId, 'DECLINED'],
    [third.bookingId, 'REQUESTED'],
    [fourth.bookingId, 'REQUESTED'],
  ]);
});
