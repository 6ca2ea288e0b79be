/**
 * The person's confirmation of a delivery quote (safety rule 1: no delivery is booked without the
 * person's explicit confirmation of that quote).
 *
 * When a quote is shown, one confirmation is minted for it through the platform's one confirmation
 * mechanism (src/domain/confirmations): bound to the person, the quote and its price, single-use,
 * expiring with the quote or after DELIVERY_CONFIRM_MINUTES, whichever is first. Its token travels
 * only in the Confirm button's payload (`delivery:confirm:<token>`, 60 characters: inside Telegram's
 * 64-byte callback_data); the person may type its six-digit code instead.
 *
 * Only the person's own inbound message releases it (`releaseConfirmation`, called by the
 * dispatcher), and placing the order (order.ts) then consumes the released confirmation once,
 * under a row lock, checking that the price is still the one confirmed.
 */
import type { DbOrTx } from '../../platform/db.ts';
import { type MintedConfirmation, mintConfirmation as mint } from '../confirmations/confirmations.ts';

export const CONFIRM_BUTTON_PREFIX = 'delivery:confirm:';

export function confirmButtonPayload(token: string): string {
  return `${CONFIRM_BUTTON_PREFIX}${token}`;
}

/** Mints the quote's confirmation (inside the transaction that stores the quote). */
export function mintConfirmation(
  tx: DbOrTx,
  input: {
    userId: string;
    quoteId: string;
    priceTotal: string;
    currency: string;
    expiresAt: Date;
    now: Date;
  },
): Promise<MintedConfirmation> {
  const { quoteId, priceTotal, currency, ...rest } = input;
  return mint(tx, { ...rest, subject: { quoteId, priceTotal, currency } });
}
