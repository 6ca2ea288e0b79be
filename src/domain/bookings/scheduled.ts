/**
 * What the booking jobs do. Each is safe to run twice and does nothing when the booking has moved
 * on since it was scheduled (cancelled, moved to another time, already seated).
 */
import type { DbOrTx } from '../../platform/db.ts';
import { queueNotice } from '../notices/notices.ts';
import { type BookingDeps, systemTransition } from './bookings.ts';
import { queueFeedbackRequest, queueReminder } from './messages.ts';
import { LIVE_STATUSES } from './status.ts';

/** The least time before the start at which a day-ahead reminder still says what it says. */
const DAY_AHEAD_AT_LEAST_MS = 12 * 3_600_000;

export async function expireBooking(deps: BookingDeps, bookingId: string) {
  const booking = await deps.db.booking.findUnique({ where: { id: bookingId } });
  if (!booking?.expiresAt || booking.expiresAt > deps.now()) return null;
  return systemTransition(deps, {
    bookingId,
    to: 'EXPIRED',
    reason: booking.status === 'HELD' ? 'hold expired' : 'venue did not answer in time',
    onlyFrom: ['REQUESTED', 'HELD'],
    // A change since the first look may have given it a later deadline, or none.
    due: (locked) => locked.expiresAt !== null && locked.expiresAt <= deps.now(),
  });
}

/**
 * Sends the day-ahead or two-hour reminder of a confirmed booking still ahead. A day-ahead one is
 * sent only while the start is at least half a day away: a booking moved earlier since its job was
 * queued (the new day-ahead time already past, so no job of its own) would otherwise hear "see you
 * tomorrow" an hour before it starts; its two-hour reminder comes all the same.
 */
export async function sendReminder(db: DbOrTx, now: Date, bookingId: string, before: '24h' | '2h') {
  const booking = await db.booking.findUnique({ where: { id: bookingId }, include: { venue: true } });
  if (booking?.status !== 'CONFIRMED' || booking.startsAt <= now) return false;
  if (before === '24h' && booking.startsAt.getTime() - now.getTime() < DAY_AHEAD_AT_LEAST_MS) return false;
  await queueReminder(db, booking, booking.venue, before);
  return true;
}

export async function markNoShow(deps: BookingDeps, bookingId: string, graceMinutes: number) {
  const graceOver = (booking: { startsAt: Date }) =>
    deps.now().getTime() >= booking.startsAt.getTime() + graceMinutes * 60_000;
  const booking = await deps.db.booking.findUnique({ where: { id: bookingId } });
  if (booking?.status !== 'CONFIRMED' || !graceOver(booking)) return null;
  return systemTransition(deps, {
    bookingId,
    to: 'NO_SHOW',
    reason: `not seated ${graceMinutes} minutes after the start`,
    onlyFrom: ['CONFIRMED'],
    // Moved to a later start since the first look: not a no-show (its own job comes then).
    due: graceOver,
  });
}

export async function completeSeatedBooking(deps: BookingDeps, bookingId: string) {
  const turnOver = (booking: { endsAt: Date }) => booking.endsAt <= deps.now();
  const booking = await deps.db.booking.findUnique({ where: { id: bookingId } });
  if (booking?.status !== 'SEATED' || !turnOver(booking)) return null;
  return systemTransition(deps, {
    bookingId,
    to: 'COMPLETED',
    reason: 'turn over',
    onlyFrom: ['SEATED'],
    due: turnOver,
  });
}

export async function requestFeedback(db: DbOrTx, bookingId: string) {
  const booking = await db.booking.findUnique({ where: { id: bookingId }, include: { venue: true } });
  if (booking?.status !== 'COMPLETED') return false;
  await queueFeedbackRequest(db, booking, booking.venue);
  return true;
}

/** The local hour at which each venue's team gets the day's bookings. */
export const SUMMARY_HOUR = 7;

/**
 * Run every hour: venues where it is now between 07:00 and 08:00 get the day's bookings, sent to
 * their owners and admins. Keyed by venue, local date and person, so a rerun sends nothing twice.
 * The day runs from this 07:00 to the next, as a service does: tonight's bookings after midnight
 * are in it, and last night's (before 07:00 this morning) were in yesterday's. Returns how many
 * summaries were queued.
 */
export async function sendDailySummaries(db: DbOrTx, now: Date): Promise<number> {
  const venues = await db.venue.findMany({
    where: { status: { in: ['CLAIMED', 'LISTED'] }, organizationId: { not: null } },
    select: { id: true, name: true, timeZone: true, organizationId: true },
  });
  const instant = Temporal.Instant.fromEpochMilliseconds(now.getTime());
  const due = venues.filter((v) => instant.toZonedDateTimeISO(v.timeZone).hour === SUMMARY_HOUR);
  const summaryTime = Temporal.PlainTime.from({ hour: SUMMARY_HOUR });
  let queued = 0;
  for (const venue of due) {
    const today = instant.toZonedDateTimeISO(venue.timeZone).toPlainDate();
    const start = new Date(
      today.toZonedDateTime({ timeZone: venue.timeZone, plainTime: summaryTime }).epochMilliseconds,
    );
    const end = new Date(
      today.add({ days: 1 }).toZonedDateTime({ timeZone: venue.timeZone, plainTime: summaryTime })
        .epochMilliseconds,
    );
    const [bookings, managers] = await Promise.all([
      db.booking.findMany({
        where: { venueId: venue.id, status: { in: [...LIVE_STATUSES] }, startsAt: { gte: start, lt: end } },
        orderBy: { startsAt: 'asc' },
      }),
      db.membership.findMany({
        where: { organizationId: venue.organizationId!, role: { in: ['OWNER', 'ADMIN'] } },
        select: { userId: true },
      }),
    ]);
    const covers = bookings.reduce((sum, b) => sum + b.partySize, 0);
    for (const manager of managers) {
      // Each in their own language, to their chat or else their email.
      await queueNotice(db, {
        userId: manager.userId,
        kind: 'venue.daily_summary',
        params: { venue: venue.name, timeZone: venue.timeZone, bookings },
        dedupeKey: `venue:${venue.id}:summary:${today.toString()}:${manager.userId}`,
        data: { venueId: venue.id, date: today.toString(), bookings: bookings.length, covers },
      });
      queued += 1;
    }
  }
  return queued;
}

/** How long past its due time a booking's own job may still be on its way before a sweep steps in. */
export const SWEEP_SLACK_MINUTES = 15;
/** Bookings of each kind a sweep moves on per run; the rest waits for the next run. */
export const SWEEP_LIMIT = 200;

export interface SweepResult {
  expired: number;
  noShows: number;
  completed: number;
}

/**
 * Catches bookings whose own job was lost (cancelled by hand, failed for good, never enqueued by
 * older code): REQUESTED or HELD past their expiry, CONFIRMED past the no-show grace, SEATED past
 * their turn, each SWEEP_SLACK_MINUTES after its job should have run. Each goes through the same
 * function its job runs, so a booking the job already moved on is left alone, and a second run
 * changes nothing.
 */
export async function sweepOverdueBookings(
  deps: BookingDeps,
  timings: { noShowGraceMinutes: number; completeAfterMinutes: number },
  limit = SWEEP_LIMIT,
): Promise<SweepResult> {
  const cutoff = (minutes: number) =>
    new Date(deps.now().getTime() - (minutes + SWEEP_SLACK_MINUTES) * 60_000);
  const ids = (where: Parameters<typeof deps.db.booking.findMany>[0]) =>
    deps.db.booking
      .findMany({ ...where, select: { id: true }, take: limit })
      .then((rows) => rows.map((r) => r.id));
  const result: SweepResult = { expired: 0, noShows: 0, completed: 0 };
  for (const id of await ids({
    where: { status: { in: ['REQUESTED', 'HELD'] }, expiresAt: { lt: cutoff(0) } },
    orderBy: { expiresAt: 'asc' },
  })) {
    if (await expireBooking(deps, id)) result.expired += 1;
  }
  for (const id of await ids({
    where: { status: 'CONFIRMED', startsAt: { lt: cutoff(timings.noShowGraceMinutes) } },
    orderBy: { startsAt: 'asc' },
  })) {
    if (await markNoShow(deps, id, timings.noShowGraceMinutes)) result.noShows += 1;
  }
  for (const id of await ids({
    where: { status: 'SEATED', endsAt: { lt: cutoff(timings.completeAfterMinutes) } },
    orderBy: { endsAt: 'asc' },
  })) {
    if (await completeSeatedBooking(deps, id)) result.completed += 1;
  }
  return result;
}
