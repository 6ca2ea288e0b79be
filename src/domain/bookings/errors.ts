import type { BookingStatus } from '../../generated/prisma/enums.ts';
import { ConflictError } from '../../platform/errors.ts';

/** The slot asked for has no room left for the party. */
export class SlotFullError extends ConflictError {
  override name = 'SlotFullError';
}

/** The status machine does not allow this change (or not for this caller). */
export class IllegalTransitionError extends ConflictError {
  override name = 'IllegalTransitionError';
  readonly from: BookingStatus;
  readonly to: BookingStatus;
  constructor(from: BookingStatus, to: BookingStatus, message?: string) {
    super(message ?? `A ${from.toLowerCase()} booking cannot become ${to.toLowerCase()}`);
    this.from = from;
    this.to = to;
  }
}

/** Where a person's waiting bookings are counted: at one venue, or across all of them. */
export type BookingLimitScope = 'VENUE' | 'TOTAL';

/**
 * The person already has as many bookings waiting for a venue's answer (HELD or REQUESTED) as
 * one account may, at this venue or in all. `code` lets the agent's tool result name the rule.
 */
export class BookingLimitError extends ConflictError {
  override name = 'BookingLimitError';
  readonly code = 'BOOKING_LIMIT';
  readonly scope: BookingLimitScope;
  readonly limit: number;
  constructor(scope: BookingLimitScope, limit: number) {
    super(
      scope === 'VENUE'
        ? `You already have ${limit} bookings waiting at this venue; wait for the venue's answer or cancel one before asking for another`
        : `You already have ${limit} bookings waiting for venues to answer; wait for an answer or cancel one before asking for another`,
    );
    this.scope = scope;
    this.limit = limit;
  }
}
