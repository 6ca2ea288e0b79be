/**
 * The person's confirmation of a delivery quote (safety rule 1: no delivery is booked without the
 * person's explicit confirmation of that quote).
 *
 * When a quote is shown, one confirmation is minted for it: bound to the person, the quote and its
 * price, single-use, expiring with the quote or after DELIVERY_CONFIRM_MINUTES, whichever is first.
 * It has two faces:
 *
 * - a token, 32 random bytes (256 bits), which travels only in the Confirm button's payload
 *   (`delivery:confirm:<token>`, 60 characters: inside Telegram's 64-byte callback_data). Only its
 *   SHA-256 is stored.
 * - a six-digit code the person may type instead ("CONFIRM 123456"), derived from the stored hash.
 *   Six digits are enough because a code is not a credential: it only counts in a message that
 *   the platform says the person sent themselves, and only against that person's own live
 *   confirmations. Nobody else's message can release it, and the model cannot send one. New codes
 *   are drawn so that a person's live confirmations never share a code; if two ever did, a typed
 *   code that matches both releases neither.
 *
 * Releasing (`releaseConfirmation`) is the only way to set `confirmedAt`, and the dispatcher calls
 * it with the person's own inbound message, never with the model's words or a tool's result.
 * Placing the order (order.ts) then consumes the released confirmation once, under a row lock.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db, DbOrTx } from '../../platform/db.ts';

export const CONFIRM_BUTTON_PREFIX = 'delivery:confirm:';
const BUTTON = /^delivery:confirm:([A-Za-z0-9_-]{43})$/;
/** The whole message must be the phrase: "confirm", spaces, six digits; nothing before or after. */
const TYPED = /^\s*confirm\s+(\d{6})\s*$/i;
/** A person rarely has more than one or two live quotes; this bounds the work of a typed code. */
const MAX_LIVE = 20;

export interface MintedConfirmation {
  /** For the Confirm button's payload only (see `confirmButtonPayload`); never shown as text. */
  token: string;
  /** Six digits the person may type as "CONFIRM 123456". */
  code: string;
  expiresAt: Date;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The six-digit code of a confirmation, from its stored token hash. */
export function confirmationCode(tokenHash: string): string {
  const digest = createHash('sha256').update(`agnt:delivery-code:${tokenHash}`).digest();
  // 48 bits modulo a million: the bias (under 2^-28) does not matter.
  return String(digest.readUIntBE(0, 6) % 1_000_000).padStart(6, '0');
}

export function confirmButtonPayload(token: string): string {
  return `${CONFIRM_BUTTON_PREFIX}${token}`;
}

/** Live (releasable) confirmations of a person at `now`. */
function releasable(userId: string, now: Date) {
  return { userId, confirmedAt: null, usedAt: null, expiresAt: { gt: now } };
}

/** Mints the quote's confirmation (inside the transaction that stores the quote). */
export async function mintConfirmation(
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
  const live = await tx.deliveryConfirmation.findMany({
    where: releasable(input.userId, input.now),
    select: { tokenHash: true },
    take: 1000,
  });
  const taken = new Set(live.map((c) => confirmationCode(c.tokenHash)));
  let token: string;
  let tokenHash: string;
  do {
    token = randomBytes(32).toString('base64url');
    tokenHash = hashToken(token);
  } while (taken.has(confirmationCode(tokenHash)));
  await tx.deliveryConfirmation.create({
    data: {
      quoteId: input.quoteId,
      userId: input.userId,
      tokenHash,
      priceTotal: input.priceTotal,
      currency: input.currency,
      expiresAt: input.expiresAt,
      // On the app's clock, like the message times it is compared with.
      createdAt: input.now,
    },
  });
  return { token, code: confirmationCode(tokenHash), expiresAt: input.expiresAt };
}

/**
 * Releases the confirmation the person's own message carries, if any: a Confirm button's payload,
 * or a text that is exactly "CONFIRM <code>". Only a confirmation of this person, minted before
 * the message arrived, not expired, not yet released and not used, is released.
 *
 * Call it only with the person's own inbound message. `message.receivedAt` is when it reached us
 * (the inbound event's receipt time); without it, `now` stands in. A message that arrived before a
 * quote existed cannot confirm that quote, even when it is processed later.
 */
export async function releaseConfirmation(
  db: Db,
  userId: string,
  message: { buttonPayload: string | null; text: string | null; receivedAt?: Date | null },
  now: Date,
): Promise<{ quoteId: string } | null> {
  const arrived = message.receivedAt ?? now;
  const where = { ...releasable(userId, now), createdAt: { lt: arrived } };

  let found: { id: string; quoteId: string } | null = null;
  const button = message.buttonPayload ? BUTTON.exec(message.buttonPayload) : null;
  const typed = !button && message.text ? TYPED.exec(message.text) : null;
  if (button) {
    // A lookup by the hash of 256 random bits: its timing reveals nothing worth having.
    found = await db.deliveryConfirmation.findFirst({
      where: { ...where, tokenHash: hashToken(button[1]!) },
      select: { id: true, quoteId: true },
    });
  } else if (typed) {
    const live = await db.deliveryConfirmation.findMany({
      where,
      select: { id: true, quoteId: true, tokenHash: true },
      orderBy: { createdAt: 'desc' },
      take: MAX_LIVE,
    });
    const presented = Buffer.from(typed[1]!);
    // Every candidate is compared, in constant time, so timing does not tell which one matched.
    const matches = live.filter((c) =>
      timingSafeEqual(Buffer.from(confirmationCode(c.tokenHash)), presented),
    );
    if (matches.length === 1) found = matches[0]!;
  }
  if (!found) return null;

  // Conditional on the same facts, so a concurrent release or use cannot be overwritten.
  const released = await db.deliveryConfirmation.updateMany({
    where: { id: found.id, ...where },
    data: { confirmedAt: now },
  });
  return released.count === 1 ? { quoteId: found.quoteId } : null;
}
