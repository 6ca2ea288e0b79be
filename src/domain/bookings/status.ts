/**
 * The booking status machine: one table of legal transitions and who may make each. GraphQL,
 * jobs and (later) A2A all move bookings through `transitionBooking`, which consults this table,
 * so an illegal transition is refused the same way wherever it comes from.
 */
import type { BookingStatus } from '../../generated/prisma/enums.ts';

/**
 * Who moves a booking: the guest, the venue's team (dashboard or its business agent), or the
 * platform itself (jobs: expiring holds, marking no-shows).
 */
export type BookingActorKind = 'guest' | 'venue' | 'system';

type Moves = Partial<Record<BookingStatus, readonly BookingActorKind[]>>;

/** Where a booking the venue has not answered yet can go; a requested one can also be held. */
const UNANSWERED: Moves = {
  CONFIRMED: ['venue', 'system'],
  DECLINED: ['venue', 'system'],
  CANCELLED_BY_GUEST: ['guest'],
  CANCELLED_BY_VENUE: ['venue'],
  EXPIRED: ['system'],
};

export const TRANSITIONS: Readonly<Record<BookingStatus, Moves>> = {
  REQUESTED: { HELD: ['venue', 'system'], ...UNANSWERED },
  HELD: UNANSWERED,
  CONFIRMED: {
    SEATED: ['venue'],
    CANCELLED_BY_GUEST: ['guest'],
    CANCELLED_BY_VENUE: ['venue'],
    NO_SHOW: ['venue', 'system'],
  },
  SEATED: {
    COMPLETED: ['venue', 'system'],
  },
  DECLINED: {},
  CANCELLED_BY_GUEST: {},
  CANCELLED_BY_VENUE: {},
  EXPIRED: {},
  COMPLETED: {},
  NO_SHOW: {},
};

/** Statuses that hold a table: they count against capacity. */
export const LIVE_STATUSES: readonly BookingStatus[] = ['REQUESTED', 'HELD', 'CONFIRMED', 'SEATED'];

/** Statuses a booking never leaves. */
export const FINAL_STATUSES: readonly BookingStatus[] = (Object.keys(TRANSITIONS) as BookingStatus[]).filter(
  (status) => Object.keys(TRANSITIONS[status]).length === 0,
);

export function canTransition(from: BookingStatus, to: BookingStatus, actor: BookingActorKind): boolean {
  return TRANSITIONS[from][to]?.includes(actor) ?? false;
}

/** Where the actor may take a booking from `from`. */
export function nextStatuses(from: BookingStatus, actor: BookingActorKind): BookingStatus[] {
  return (Object.entries(TRANSITIONS[from]) as [BookingStatus, readonly BookingActorKind[]][])
    .filter(([, actors]) => actors.includes(actor))
    .map(([to]) => to);
}
