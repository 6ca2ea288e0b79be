/**
 * What follows a booking change. Inside the transaction that made the change: the jobs it needs
 * (expiry, reminders, no-show check, completion, feedback) and the messages it sends, so none is
 * lost and none is sent for a change that rolled back. After the commit: the event that live
 * dashboards receive.
 *
 * Jobs are keyed per booking and purpose and replaced on every change, so a moved booking is
 * reminded at its new time; a job that finds its booking has moved on does nothing.
 */
import type { Agent, Booking, Venue } from '../../generated/prisma/client.ts';
import type { BookingStatus } from '../../generated/prisma/enums.ts';
import type { Tx } from '../../platform/db.ts';
import { enqueueAll, type JobToAdd, jobToAdd } from '../../platform/jobs.ts';
import { bookingFeeTask } from '../billing/fee-tasks.ts';
import { FEE_SOURCES } from '../billing/fees.ts';
import { queueChangeNotice, queueGuestMessage } from './messages.ts';
import {
  bookingReminderTask,
  completeBookingTask,
  expireBookingTask,
  feedbackRequestTask,
  noShowTask,
} from './tasks.ts';

export interface BookingChange {
  booking: Booking;
  venue: Venue;
  /** The status before; null for a new booking. */
  from: BookingStatus | null;
  /** Time or party size changed, status unchanged. */
  modified?: boolean;
  /**
   * A change of time or party made by someone other than the guest (the venue's team): the
   * booking as it was, for the guest's notice. A guest's own change is no news to them.
   */
  changedForGuest?: { startsAt: Date; partySize: number };
  /** A decline's other times on offer, for the guest's notice. */
  alternatives?: readonly Date[];
  /**
   * What the hooks would read, when the change's caller read it already (with the venue, before
   * taking its lock): the venue's agent (null: none) and its organisation's enabled webhook
   * subscriptions; and, set by the venue's agent answering one, that the booking was asked for
   * through the agent network. Hooks read them themselves when it is absent.
   */
  known?: {
    agent: Pick<Agent, 'id' | 'kind' | 'status' | 'dna'> | null;
    webhookSubscriptions: readonly { id: string; events: string[] }[];
    requestedThroughAgents?: boolean;
  };
  /**
   * The caller added the jobs `jobsFor` names for this change with its own write (createBooking:
   * in the booking's statement), so `inTransaction` does not add them again.
   */
  jobsAdded?: boolean;
}

export interface BookingEvent {
  booking: Booking;
  from: BookingStatus | null;
}

/**
 * More that follows a change, from an area that bookings cannot import without a cycle (the
 * network's booking requests to a venue's agent): run last, in the change's transaction.
 */
export type BookingChangeHook = (tx: Tx, change: BookingChange) => Promise<void>;

export interface BookingEffects {
  /**
   * The jobs a change needs (expiry, reminders, no-show check, completion, feedback, fee), as
   * `inTransaction` adds them: for a caller that adds them with its own write, one round trip
   * fewer, and then says so with `jobsAdded`.
   */
  jobsFor(change: Pick<BookingChange, 'booking' | 'from' | 'modified'>): JobToAdd[];
  inTransaction(tx: Tx, change: BookingChange): Promise<void>;
  afterCommit(event: BookingEvent): Promise<void>;
}

export interface BookingTimings {
  /** Minutes after the start a confirmed party may still arrive. */
  noShowGraceMinutes: number;
  /** Minutes after the end of the turn a seated booking is completed. */
  completeAfterMinutes: number;
  /** Minutes after completion the guest is asked for feedback. */
  feedbackAfterMinutes: number;
}

const HOUR = 3_600_000;

export function createBookingEffects(options: {
  timings: BookingTimings;
  now: () => Date;
  /** Tells live subscribers (pub/sub); failures are logged by the caller, never undo the change. */
  publish: (event: BookingEvent) => Promise<void>;
  hooks?: readonly BookingChangeHook[];
}): BookingEffects {
  const { timings, now } = options;
  const jobsFor: BookingEffects['jobsFor'] = ({ booking, from, modified }) => {
    const id = booking.id;
    const status = booking.status;
    const key = (purpose: string) => ({
      jobKey: `booking:${id}:${purpose}`,
      jobKeyMode: 'replace' as const,
    });
    const jobs: JobToAdd[] = [];
    if ((status === 'REQUESTED' || status === 'HELD') && booking.expiresAt) {
      jobs.push(
        jobToAdd(expireBookingTask, { bookingId: id }, { runAt: booking.expiresAt, ...key('expire') }),
      );
    }
    if (status === 'CONFIRMED' && (from !== 'CONFIRMED' || modified)) {
      const start = booking.startsAt.getTime();
      for (const [before, hours] of [
        ['24h', 24],
        ['2h', 2],
      ] as const) {
        const runAt = new Date(start - hours * HOUR);
        // A booking made less than a day ahead gets only the reminders still ahead of it.
        if (runAt > now()) {
          jobs.push(
            jobToAdd(bookingReminderTask, { bookingId: id, before }, { runAt, ...key(`reminder-${before}`) }),
          );
        }
      }
      jobs.push(
        jobToAdd(
          noShowTask,
          { bookingId: id },
          { runAt: new Date(start + timings.noShowGraceMinutes * 60_000), ...key('no-show') },
        ),
      );
    }
    if (status === 'SEATED' && from !== 'SEATED') {
      const runAt = new Date(booking.endsAt.getTime() + timings.completeAfterMinutes * 60_000);
      jobs.push(jobToAdd(completeBookingTask, { bookingId: id }, { runAt, ...key('complete') }));
    }
    if (status === 'COMPLETED' && from !== 'COMPLETED') {
      const runAt = new Date(now().getTime() + timings.feedbackAfterMinutes * 60_000);
      jobs.push(jobToAdd(feedbackRequestTask, { bookingId: id }, { runAt, ...key('feedback') }));
      // A booking made through AGNT and honoured earns its fee (src/domain/billing/fees.ts).
      if ((FEE_SOURCES as readonly string[]).includes(booking.source)) {
        jobs.push(jobToAdd(bookingFeeTask, { bookingId: id }, key('fee')));
      }
    }
    return jobs;
  };
  return {
    jobsFor,
    async inTransaction(
      tx,
      { booking, venue, from, modified, changedForGuest, alternatives, known, jobsAdded },
    ) {
      const status = booking.status;
      if (!jobsAdded) await enqueueAll(tx, jobsFor({ booking, from, modified }));
      // A move is news to the guest; so is a booking the venue's team made for them, CONFIRMED
      // at once (a booking the guest asked for themselves is no news until the venue answers).
      if (from !== status && (from !== null || status === 'CONFIRMED')) {
        await queueGuestMessage(tx, { booking, venue, event: status, alternatives });
      }
      if (changedForGuest) await queueChangeNotice(tx, { booking, venue, was: changedForGuest });
      for (const hook of options.hooks ?? []) await hook(tx, { booking, venue, from, modified, known });
    },
    async afterCommit(event) {
      await options.publish(event);
    },
  };
}
