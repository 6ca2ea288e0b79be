/**
 * The jobs bookings cause, run by a real worker: expiry, reminders, no-shows, completion,
 * feedback and the venues' morning summaries. Time is moved by the test clock; jobs scheduled for
 * later are made due with graphile-worker's `reschedule_jobs` rather than waited for.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  changeBookingOn,
  createBooking,
  modifyBooking,
  transitionBooking,
} from '../../src/domain/bookings/bookings.ts';
import { expireBooking, markNoShow, sendReminder } from '../../src/domain/bookings/scheduled.ts';
import { bookingReminderTask, dailySummaryTask, noShowTask } from '../../src/domain/bookings/tasks.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { enqueue } from '../../src/platform/jobs.ts';
import { createBooking as createBookingRow } from '../factories/bookings.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { waitingForLock } from '../helpers/db.ts';
import { completed, FAST_WORKER_ENV, startWorkerApp, type WorkerApp } from '../helpers/jobs.ts';

let app: TestApp;
let worker: WorkerApp;
let ownerId: string;
let venueId: string;
const zone = 'Europe/Lisbon';

beforeAll(async () => {
  app = await startTestApp({ env: FAST_WORKER_ENV });
  worker = await startWorkerApp(app);
  const owner = await app.signIn();
  ownerId = owner.userId;
  const org = await app.services.db.organization.create({
    data: { name: 'Jobs Bistro Group', memberships: { create: { userId: owner.userId, role: 'OWNER' } } },
  });
  const venue = await app.services.db.venue.create({
    data: {
      name: 'Jobs Bistro',
      slug: `jobs-bistro-${randomBytes(3).toString('hex')}`,
      timeZone: zone,
      status: 'CLAIMED',
      organizationId: org.id,
      slotMinutes: 30,
      turnMinutes: 90,
      leadTimeMinutes: 0,
      bookingHorizonDays: 60,
      bookingRulesConfirmedAt: new Date(),
      hours: {
        create: [0, 1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, opensAt: '12:00', closesAt: '23:30' })),
      },
    },
  });
  venueId = venue.id;
});
afterAll(async () => {
  await worker.stop();
  await app.close();
});

const asUser = (userId: string) =>
  createAccess(app.services.db, { kind: 'user', userId, isPlatformAdmin: false });

/** 20:00 in Lisbon, `days` from the test clock's today. */
function evening(days: number): Date {
  const today = Temporal.Instant.fromEpochMilliseconds(app.clock.now().getTime())
    .toZonedDateTimeISO(zone)
    .toPlainDate();
  return new Date(
    today.add({ days }).toZonedDateTime({ timeZone: zone, plainTime: '20:00' }).epochMilliseconds,
  );
}

async function guest() {
  return (await app.signIn()).userId;
}

/**
 * A run time the worker does not reach by itself, for a job put back by hand: `runJob` makes it
 * due when the test is ready (a job due at once could run before the test's clock moves).
 */
const later = () => new Date(Date.now() + 3_600_000);

/** Makes the booking's job for `purpose` due now, and waits until the worker has run it. */
async function runJob(bookingId: string, purpose: string) {
  const { rows } = await app.services.database.pool.query<{ id: string }>(
    `SELECT id FROM graphile_worker.jobs WHERE key = $1`,
    [`booking:${bookingId}:${purpose}`],
  );
  expect(rows, `a ${purpose} job for ${bookingId}`).toHaveLength(1);
  await app.services.database.pool.query(
    `SELECT graphile_worker.reschedule_jobs(ARRAY[$1]::bigint[], run_at => now())`,
    [rows[0]!.id],
  );
  await completed(app.services.db, rows[0]!.id);
}

async function messages(bookingId: string) {
  return (
    await app.services.db.outboundMessage.findMany({ where: { bookingId }, orderBy: { createdAt: 'asc' } })
  ).map((m) => m.kind);
}

describe('booking jobs', () => {
  it('expires a hold nobody confirmed, as the system, and tells the guest', async () => {
    const userId = await guest();
    const booking = await createBooking(app.services.bookings, asUser(userId), {
      venueId,
      startsAt: evening(3),
      partySize: 2,
      source: 'CHAT',
      hold: true,
    });
    expect(booking.status).toBe('HELD');
    app.clock.advance(11 * 60_000);
    await runJob(booking.id, 'expire');
    const stored = await app.services.db.booking.findUniqueOrThrow({
      where: { id: booking.id },
      include: { transitions: true },
    });
    expect(stored.status).toBe('EXPIRED');
    expect(stored.transitions.at(-1)).toMatchObject({
      fromStatus: 'HELD',
      toStatus: 'EXPIRED',
      actorKind: 'system',
      reason: 'hold expired',
    });
    expect(await messages(booking.id)).toEqual(['booking.expired']);
  });

  it('writes a new booking’s jobs with the booking, as enqueue writes them', async () => {
    const jobsOf = async (bookingId: string) =>
      (
        await app.services.database.pool.query<{
          key: string;
          task_identifier: string;
          payload: unknown;
          run_at: Date;
          max_attempts: number;
          priority: number;
          attempts: number;
        }>(
          // The jobs view shows no payload: graphile-worker's own tables, as of 0.17.
          `SELECT jobs.key, tasks.identifier AS task_identifier, jobs.payload, jobs.run_at,
             jobs.max_attempts, jobs.priority, jobs.attempts
           FROM graphile_worker._private_jobs AS jobs
           JOIN graphile_worker._private_tasks AS tasks ON tasks.id = jobs.task_id
           WHERE jobs.key LIKE $1 ORDER BY jobs.key`,
          [`booking:${bookingId}:%`],
        )
      ).rows;
    const requested = await createBooking(app.services.bookings, asUser(await guest()), {
      venueId,
      startsAt: evening(3),
      partySize: 2,
      source: 'CHAT',
    });
    expect(await jobsOf(requested.id)).toEqual([
      {
        key: `booking:${requested.id}:expire`,
        task_identifier: 'booking-expire',
        payload: { bookingId: requested.id },
        run_at: requested.expiresAt,
        max_attempts: 10,
        priority: 0,
        attempts: 0,
      },
    ]);
    // The venue's team booking for a guest: CONFIRMED at once, with its reminders and no-show check.
    const startsAt = evening(3);
    const confirmed = await createBooking(app.services.bookings, asUser(ownerId), {
      venueId,
      startsAt,
      partySize: 2,
      source: 'DASHBOARD',
      guestEmail: `jobs-guest-${randomBytes(3).toString('hex')}@example.test`,
    });
    expect(confirmed.status).toBe('CONFIRMED');
    const job = (purpose: string, task: string, runAt: number, payload: object = {}) => ({
      key: `booking:${confirmed.id}:${purpose}`,
      task_identifier: task,
      payload: { bookingId: confirmed.id, ...payload },
      run_at: new Date(runAt),
      max_attempts: 10,
      priority: 0,
      attempts: 0,
    });
    const start = startsAt.getTime();
    expect(await jobsOf(confirmed.id)).toEqual([
      job('no-show', 'booking-no-show', start + app.services.config.bookings.noShowGraceMinutes * 60_000),
      job('reminder-24h', 'booking-reminder', start - 24 * 3_600_000, { before: '24h' }),
      job('reminder-2h', 'booking-reminder', start - 2 * 3_600_000, { before: '2h' }),
    ]);
  });

  it('does nothing when the booking moved on before its job ran', async () => {
    const userId = await guest();
    const booking = await createBooking(app.services.bookings, asUser(userId), {
      venueId,
      startsAt: evening(3),
      partySize: 2,
      source: 'CHAT',
    });
    await transitionBooking(app.services.bookings, asUser(userId), {
      bookingId: booking.id,
      to: 'CANCELLED_BY_GUEST',
    });
    app.clock.advance(3 * 3_600_000);
    await runJob(booking.id, 'expire');
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CANCELLED_BY_GUEST',
    );
  });

  it('reminds a confirmed guest 24 and 2 hours before, once each, and marks a no-show after the grace period', async () => {
    const userId = await guest();
    const booking = await createBooking(app.services.bookings, asUser(userId), {
      venueId,
      startsAt: evening(5),
      partySize: 2,
      source: 'CHAT',
    });
    await transitionBooking(app.services.bookings, asUser(ownerId), {
      bookingId: booking.id,
      to: 'CONFIRMED',
    });
    await runJob(booking.id, 'reminder-24h');
    await runJob(booking.id, 'reminder-2h');
    // Run again: the message is keyed, so nothing is sent twice.
    await enqueue(
      app.services.db,
      bookingReminderTask,
      { bookingId: booking.id, before: '24h' },
      { jobKey: `booking:${booking.id}:reminder-24h`, runAt: later() },
    );
    await runJob(booking.id, 'reminder-24h');
    expect(await messages(booking.id)).toEqual([
      'booking.confirmed',
      'booking.reminder_24h',
      'booking.reminder_2h',
    ]);

    // Before the grace period is over, nothing happens; after it, the booking is a no-show.
    app.clock.advance(evening(5).getTime() - app.clock.now().getTime() + 10 * 60_000);
    await runJob(booking.id, 'no-show');
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'CONFIRMED',
    );
    await enqueue(
      app.services.db,
      noShowTask,
      { bookingId: booking.id },
      { jobKey: `booking:${booking.id}:no-show`, runAt: later() },
    );
    app.clock.advance(30 * 60_000);
    await runJob(booking.id, 'no-show');
    const stored = await app.services.db.booking.findUniqueOrThrow({
      where: { id: booking.id },
      include: { transitions: true },
    });
    expect(stored.status).toBe('NO_SHOW');
    expect(stored.transitions.at(-1)).toMatchObject({ actorKind: 'system', toStatus: 'NO_SHOW' });
  });

  it('sends no day-ahead reminder to a booking now starting within half a day (moved earlier since)', async () => {
    const userId = await guest();
    const now = app.clock.now();
    const soon = await createBookingRow(app.services.db, {
      venueId,
      guestId: userId,
      startsAt: new Date(now.getTime() + 3_600_000),
      status: 'CONFIRMED',
    });
    expect(await sendReminder(app.services.db, now, soon.id, '24h')).toBe(false);
    expect(await sendReminder(app.services.db, now, soon.id, '2h')).toBe(true);
    const tomorrow = await createBookingRow(app.services.db, {
      venueId,
      guestId: userId,
      startsAt: new Date(now.getTime() + 20 * 3_600_000),
      status: 'CONFIRMED',
    });
    expect(await sendReminder(app.services.db, now, tomorrow.id, '24h')).toBe(true);
    expect(await messages(soon.id)).toEqual(['booking.reminder_2h']);
    expect(await messages(tomorrow.id)).toEqual(['booking.reminder_24h']);
  });

  /** A REQUESTED booking `hours` ahead whose answer is due in `dueHours`, as it stands in the table. */
  async function requested(hours: number, dueHours: number) {
    const userId = await guest();
    const now = app.clock.now().getTime();
    const booking = await createBookingRow(app.services.db, {
      venueId,
      guestId: userId,
      startsAt: new Date(now + hours * 3_600_000),
      status: 'REQUESTED',
      expiresAt: new Date(now + dueHours * 3_600_000),
    });
    return { booking, userId };
  }

  /** The guest's change of the booking's time, as modifyBooking writes it once room is found. */
  async function moveTo(
    { booking, userId }: Awaited<ReturnType<typeof requested>>,
    startsAt: Date,
    requestMinutes?: number,
  ) {
    const venue = await app.services.db.venue.findUniqueOrThrow({ where: { id: venueId } });
    const changed = await app.services.db.$transaction((tx) =>
      changeBookingOn(tx, app.services.bookings.effects, {
        booking,
        venue,
        startsAt,
        partySize: 2,
        actorKind: 'guest',
        actorId: userId,
        reason: null,
        requestMinutes,
      }),
    );
    return changed.booking;
  }

  it('brings a waiting booking’s deadline, and its expiry job, forward with it when it moves earlier', async () => {
    const asked = await requested(5, 2);
    const sooner = new Date(app.clock.now().getTime() + 3_600_000);
    expect(await moveTo(asked, sooner)).toMatchObject({ startsAt: sooner, expiresAt: sooner });
    const [job] = await app.services.db.$queryRaw<{ run_at: Date }[]>`
      SELECT run_at FROM graphile_worker._private_jobs WHERE key = ${`booking:${asked.booking.id}:expire`}`;
    expect(job!.run_at).toEqual(sooner);
  });

  it('gives a request moved later the time to be answered its making gave it, never past its start', async () => {
    // Asked an hour ahead: the venue had until the start (less than BOOKING_REQUEST_MINUTES).
    const asked = await requested(1, 1);
    const requestMinutes = app.services.config.bookings.requestMinutes;
    const tomorrow = new Date(app.clock.now().getTime() + 26 * 3_600_000);
    const moved = await moveTo(asked, tomorrow, requestMinutes);
    expect(moved.expiresAt).toEqual(new Date(asked.booking.createdAt.getTime() + requestMinutes * 60_000));
  });

  it('refuses a change built on a booking another change moved meanwhile, instead of undoing it', async () => {
    const userId = await guest();
    const booking = await createBooking(app.services.bookings, asUser(userId), {
      venueId,
      startsAt: evening(4),
      partySize: 2,
      source: 'CHAT',
    });
    // Another change is under way: it holds the venue, and makes the party 4 before it lets go.
    const other = await app.services.database.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM venues WHERE id = $1 FOR UPDATE', [venueId]);
      const mine = modifyBooking(app.services.bookings, asUser(userId), {
        bookingId: booking.id,
        startsAt: new Date(evening(4).getTime() + 3_600_000),
      });
      // It has read the booking and waits for the venue.
      await waitingForLock(app.services.db, 'FROM venues WHERE id');
      await other.query('UPDATE bookings SET party_size = 4 WHERE id = $1', [booking.id]);
      await other.query('COMMIT');
      await expect(mine).rejects.toThrow('The booking changed meanwhile; try again');
    } finally {
      other.release();
    }
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).toMatchObject({
      partySize: 4,
      startsAt: evening(4),
    });
  });

  /**
   * Runs `job` while another transaction holds the booking's row and, before letting go, gives it
   * `set` (a change landing between the job's first look and its move).
   */
  async function changedWhileJobWaits<T>(
    bookingId: string,
    set: string,
    values: unknown[],
    job: () => Promise<T>,
  ) {
    const other = await app.services.database.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM bookings WHERE id = $1 FOR UPDATE', [bookingId]);
      const running = job();
      await waitingForLock(app.services.db, 'FROM bookings WHERE id');
      await other.query(`UPDATE bookings SET ${set} WHERE id = $1`, [bookingId, ...values]);
      await other.query('COMMIT');
      return await running;
    } finally {
      other.release();
    }
  }

  it('does not mark a no-show a booking moved to a later start while its job was under way', async () => {
    const userId = await guest();
    const booking = await createBookingRow(app.services.db, {
      venueId,
      guestId: userId,
      startsAt: new Date(app.clock.now().getTime() - 3_600_000),
      status: 'CONFIRMED',
    });
    const later = new Date(app.clock.now().getTime() + 3_600_000);
    const result = await changedWhileJobWaits(booking.id, 'starts_at = $2', [later], () =>
      markNoShow(app.services.bookings, booking.id, 15),
    );
    expect(result).toBeNull();
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).toMatchObject({
      status: 'CONFIRMED',
      startsAt: later,
    });
  });

  it('does not expire a request given a later deadline while its job was under way', async () => {
    const userId = await guest();
    const now = app.clock.now().getTime();
    const booking = await createBookingRow(app.services.db, {
      venueId,
      guestId: userId,
      startsAt: new Date(now + 5 * 3_600_000),
      status: 'REQUESTED',
      expiresAt: new Date(now - 60_000),
    });
    const deadline = new Date(now + 3_600_000);
    const result = await changedWhileJobWaits(booking.id, 'expires_at = $2', [deadline], () =>
      expireBooking(app.services.bookings, booking.id),
    );
    expect(result).toBeNull();
    expect(await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).toMatchObject({
      status: 'REQUESTED',
      expiresAt: deadline,
    });
  });

  it('completes a seated party after its turn and asks the guest for feedback', async () => {
    const userId = await guest();
    const booking = await createBooking(app.services.bookings, asUser(ownerId), {
      venueId,
      startsAt: evening(6),
      partySize: 3,
      source: 'DASHBOARD',
      guestEmail: (await app.services.db.user.findUniqueOrThrow({ where: { id: userId } })).email!,
    });
    // The party arrives at its time.
    app.clock.advance(booking.startsAt.getTime() - app.clock.now().getTime());
    await transitionBooking(app.services.bookings, asUser(ownerId), { bookingId: booking.id, to: 'SEATED' });
    app.clock.advance(booking.endsAt.getTime() - app.clock.now().getTime() + 61 * 60_000);
    await runJob(booking.id, 'complete');
    expect((await app.services.db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe(
      'COMPLETED',
    );
    await runJob(booking.id, 'feedback');
    // Booked by the venue's team, CONFIRMED at once: the guest was told, then asked.
    expect(await messages(booking.id)).toEqual(['booking.confirmed', 'booking.feedback']);
  });

  it("sends each venue's owners the day's bookings at 07:00 local time, once", async () => {
    const userId = await guest();
    const day = Temporal.Instant.fromEpochMilliseconds(app.clock.now().getTime())
      .toZonedDateTimeISO(zone)
      .toPlainDate()
      .add({ days: 20 });
    const startsAt = new Date(day.toZonedDateTime({ timeZone: zone, plainTime: '13:00' }).epochMilliseconds);
    await createBooking(app.services.bookings, asUser(userId), {
      venueId,
      startsAt,
      partySize: 4,
      source: 'CHAT',
    });
    const seven = day.toZonedDateTime({ timeZone: zone, plainTime: '07:15' }).toInstant().toString();
    const six = day.toZonedDateTime({ timeZone: zone, plainTime: '06:15' }).toInstant().toString();
    for (const ts of [six, seven, seven]) {
      const job = await enqueue(app.services.db, dailySummaryTask, { _cron: { ts } });
      await completed(app.services.db, job.id);
    }
    const summaries = await app.services.db.outboundMessage.findMany({
      where: { kind: 'venue.daily_summary', userId: ownerId },
    });
    const mine = summaries.filter((m) => (m.data as { venueId: string }).venueId === venueId);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.body).toMatch(/^Jobs Bistro today: 1 booking, 4 guests\.\n• 13:00 — 4 \(requested\)$/);
  });

  it("counts a night's bookings after midnight in that day's summary, not the next day's", async () => {
    const userId = await guest();
    const day = Temporal.Instant.fromEpochMilliseconds(app.clock.now().getTime())
      .toZonedDateTimeISO(zone)
      .toPlainDate()
      .add({ days: 25 });
    const at = (date: Temporal.PlainDate, time: string) =>
      new Date(date.toZonedDateTime({ timeZone: zone, plainTime: time }).epochMilliseconds);
    // Last night's after midnight (this day's 00:30), this evening's, and tonight's after midnight.
    for (const [startsAt, partySize] of [
      [at(day, '00:30'), 6],
      [at(day, '21:00'), 2],
      [at(day.add({ days: 1 }), '00:30'), 3],
    ] as const) {
      await createBookingRow(app.services.db, {
        venueId,
        guestId: userId,
        startsAt,
        partySize,
        status: 'CONFIRMED',
      });
    }
    const seven = day.toZonedDateTime({ timeZone: zone, plainTime: '07:15' }).toInstant().toString();
    const job = await enqueue(app.services.db, dailySummaryTask, { _cron: { ts: seven } });
    await completed(app.services.db, job.id);
    const [summary] = (
      await app.services.db.outboundMessage.findMany({
        where: { kind: 'venue.daily_summary', userId: ownerId },
      })
    ).filter((m) => (m.data as { venueId: string; date: string }).date === day.toString());
    expect(summary!.body).toBe(
      'Jobs Bistro today: 2 bookings, 5 guests.\n• 21:00 — 2 (confirmed)\n• 00:30 — 3 (confirmed)',
    );
  });
});
