import { DomainError } from '../../platform/errors.ts';

/**
 * Why a delivery request was refused. The model relays the message; the code lets a caller (a
 * tool, a test) tell the cases apart without reading prose.
 */
export type DeliveryRefusal =
  /** No such quote (or the id is not one). */
  | 'NO_QUOTE'
  /** No such order. */
  | 'NO_ORDER'
  /** The quote or order belongs to someone else. */
  | 'NOT_YOURS'
  /** The person has not confirmed the quote with their own message yet. */
  | 'NOT_CONFIRMED'
  /** The confirmation (or the quote behind it) ran out of time. */
  | 'EXPIRED'
  /** The confirmation already placed an order. */
  | 'ALREADY_USED'
  /** The price differs from the one the person confirmed. */
  | 'PRICE_CHANGED'
  /** Lalamove is not configured, or did not answer. */
  | 'UNAVAILABLE'
  /** Lalamove refused the request (out of area, bad phone number, no credit, …). */
  | 'LALAMOVE_REFUSED'
  /** Lalamove may or may not have placed the order: it must not be tried again. */
  | 'PLACEMENT_UNKNOWN'
  /** The order can no longer be cancelled. */
  | 'NOT_CANCELLABLE';

export class DeliveryError extends DomainError {
  override name = 'DeliveryError';
  readonly code: DeliveryRefusal;
  constructor(code: DeliveryRefusal, message: string) {
    super(message);
    this.code = code;
  }
}
