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
