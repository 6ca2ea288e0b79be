/**
 * The person's own confirmation of something the agent may not do on the model's word alone: one
 * mechanism for both things that need it.
 *
 * - a delivery quote, at its price (safety rule 1; see src/domain/delivery/confirmation.ts);
 * - a held action: one tool call (its tool, exact input and a summary the code wrote) that the
 *   agent wanted to make in a turn that had read untrusted text (src/domain/conversation/tools.ts).
 *   It is carried out exactly as held, never as the model might restate it.
 *
 * A confirmation is minted when it is shown: bound to the person, single-use, expiring. It has two
 * faces:
 *
 * - a token, 32 random bytes (256 bits), which travels only in the Confirm button's payload
 *   (`delivery:confirm:<token>` for a quote, `confirm:<token>` for an action; at most 60
 *   characters, inside Telegram's 64-byte callback_data). Only its SHA-256 is stored.
 * - a six-digit code the person may type instead ("CONFIRM 123456"), derived from the stored hash.
 *   Six digits are enough because a code is not a credential: it only counts in a message that
 *   the platform says the person sent themselves, and only against that person's own live
 *   confirmations. Nobody else's message can release it, and the model cannot send one. New codes
 *   are drawn so that a person's live confirmations never share a code; if two ever did, a typed
 *   code that matches both releases neither.
 *
 * Releasing (`releaseConfirmation`) is the only way to set `confirmedAt`, and the dispatcher calls
 * it with the person's own inbound message, never with the model's words or a tool's result. The
 * released confirmation is then used once: by placing the order (delivery/order.ts, under a row
 * lock) or by carrying out the held action (`useHeldAction`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx } from '../../platform/db.ts';

/** A held action's button; a quote's is `delivery:confirm:` (delivery/confirmation.ts). */
export const ACTION_BUTTON_PREFIX = 'confirm:';
const BUTTON = /^(?:delivery:)?confirm:([A-Za-z0-9_-]{43})$/;
/** The whole message must be the phrase: "confirm", spaces, six digits; nothing before or after. */
const TYPED = /^\s*confirm\s+(\d{6})\s*$/i;
/** A person rarely has more than a few live confirmations; this bounds the work of a typed code. */
const MAX_LIVE = 20;

export interface MintedConfirmation {
  /** For the Confirm button's payload only; never shown as text, never given to the model. */
  token: string;
  /** Six digits the person may type as "CONFIRM 123456". */
  code: string;
  expiresAt: Date;
}

/** The longest summary a held action keeps (and shows the person). */
export const HELD_SUMMARY_MAX_CHARS = 2000;

/** What carrying out a held action came to, kept with it (`recordHeldOutcome`). */
const heldOutcome = z.object({ isError: z.boolean(), content: z.string() });
export type HeldOutcome = z.infer<typeof heldOutcome>;

/** A tool call held for the person's confirmation, as stored and as carried out. */
export const heldAction = z.object({
  tool: z.string().max(80),
  input: z.unknown(),
  /** What the person was shown, whole (written by code from the input, not by the model). */
  summary: z.string().max(HELD_SUMMARY_MAX_CHARS),
  /** Once carried out: what it came to, so that the same message handled again can say so. */
  outcome: heldOutcome.optional(),
});
export type HeldAction = z.infer<typeof heldAction>;

export type ConfirmationSubject =
  | { quoteId: string; priceTotal: string; currency: string }
  | { action: HeldAction };

/** What the person's message released. */
export type Released = { quoteId: string } | { actionId: string; action: HeldAction };

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The six-digit code of a confirmation, from its stored token hash. */
export function confirmationCode(tokenHash: string): string {
  // The label predates actions; changing it would change the codes of confirmations still live.
  const digest = createHash('sha256').update(`agnt:delivery-code:${tokenHash}`).digest();
  // 48 bits modulo a million: the bias (under 2^-28) does not matter.
  return String(digest.readUIntBE(0, 6) % 1_000_000).padStart(6, '0');
}

/** Whether a button payload is a Confirm button (of either kind), live or not. */
export function isConfirmButton(payload: string | null | undefined): boolean {
  return payload ? BUTTON.test(payload) : false;
}

/**
 * Live (releasable) confirmations of a person at `now`: not used and not expired. One released
 * and not acted on yet (no model answered that turn, or the day's budget was spent) is released
 * again by the person's next press or code: each release is theirs, and the use is once.
 */
function releasable(userId: string, now: Date) {
  return { userId, usedAt: null, expiresAt: { gt: now } };
}

/** Mints a confirmation (inside the transaction that stores what it confirms, where there is one). */
export async function mintConfirmation(
  tx: DbOrTx,
  input: { userId: string; subject: ConfirmationSubject; expiresAt: Date; now: Date },
): Promise<MintedConfirmation> {
  const live = await tx.confirmation.findMany({
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
  const { subject } = input;
  await tx.confirmation.create({
    data: {
      userId: input.userId,
      tokenHash,
      ...('quoteId' in subject
        ? { quoteId: subject.quoteId, priceTotal: subject.priceTotal, currency: subject.currency }
        : { action: heldAction.parse(subject.action) as Prisma.InputJsonValue }),
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
 * the message arrived, not expired and not used, is released.
 *
 * Call it only with the person's own inbound message. `message.receivedAt` is when it reached us
 * (the inbound event's receipt time); without it, `now` stands in. A message that arrived before a
 * confirmation existed cannot release it, even when it is processed later. `message.eventId`, the
 * inbound event: the same message handled again (its turn retried) releases again what it released
 * the first time, unexpired; what is done with it is still done once (useHeldAction, the order's
 * own key).
 */
export async function releaseConfirmation(
  db: Db,
  userId: string,
  message: {
    buttonPayload: string | null;
    text: string | null;
    receivedAt?: Date | null;
    eventId?: string | null;
  },
  now: Date,
): Promise<Released | null> {
  const button = message.buttonPayload ? BUTTON.exec(message.buttonPayload) : null;
  const typed = !button && message.text ? TYPED.exec(message.text) : null;
  // Most messages carry no confirmation: nothing is read for them.
  if (!button && !typed) return null;
  const fields = { id: true, quoteId: true, action: true } as const;
  if (message.eventId) {
    // An action this message already used counts even once expired: the press was in time, and
    // the turn handled again must still learn what came of it (useHeldAction).
    const before = await db.confirmation.findFirst({
      where: {
        userId,
        releasedByEventId: message.eventId,
        OR: [{ expiresAt: { gt: now } }, { quoteId: null, usedAt: { not: null } }],
      },
      select: fields,
    });
    if (before) return releasedOf(before);
  }
  const arrived = message.receivedAt ?? now;
  // A held action is judged at the press's arrival: a press made in time and handled late (behind a
  // slow turn, an outage) still releases it. A delivery's price is judged now: Lalamove's quote
  // behind it lapses on its own clock.
  const where = {
    userId,
    usedAt: null,
    createdAt: { lt: arrived },
    OR: [
      { quoteId: null, expiresAt: { gt: arrived } },
      { quoteId: { not: null }, expiresAt: { gt: now } },
    ],
  };

  let found: { id: string; quoteId: string | null; action: Prisma.JsonValue } | null = null;
  if (button) {
    // A lookup by the hash of 256 random bits: its timing reveals nothing worth having.
    found = await db.confirmation.findFirst({
      where: { ...where, tokenHash: hashToken(button[1]!) },
      select: fields,
    });
  } else if (typed) {
    const live = await db.confirmation.findMany({
      where,
      select: { ...fields, tokenHash: true },
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
  const released = await db.confirmation.updateMany({
    where: { id: found.id, ...where },
    data: { confirmedAt: now, releasedByEventId: message.eventId ?? null },
  });
  if (released.count !== 1) return null;
  return releasedOf(found);
}

function releasedOf(found: { id: string; quoteId: string | null; action: Prisma.JsonValue }): Released {
  if (found.quoteId) return { quoteId: found.quoteId };
  return { actionId: found.id, action: heldAction.parse(found.action) };
}

/**
 * What the turn should do with a released held action (`useHeldAction`): carry it out, or not,
 * saying what came of it when this same message already carried it out.
 */
export type HeldUse = { run: true } | { run: false; outcome: HeldOutcome | null };

/**
 * Uses a released held action: `run` when this call may carry it out. Conditional on it being
 * released, unused and unexpired, so a second press (another message) never does it twice.
 *
 * The same message handled again (`eventId`: its turn retried after a crash, or after no model
 * could answer) finds the action used by itself. When what came of it was recorded
 * (`recordHeldOutcome`), that is returned and nothing runs again. When it was not, the turn
 * stopped between using it and recording it, maybe before the tool ran: it is run again rather than
 * the person's confirmed action being lost. The tools allow that: the call's key is the message's
 * (turnCallKey), a write does once what one key asks, and at worst one already done answers that it
 * cannot be done again (a booking already cancelled).
 */
export async function useHeldAction(
  db: Db,
  userId: string,
  actionId: string,
  now: Date,
  eventId?: string | null,
): Promise<HeldUse> {
  const used = await db.confirmation.updateMany({
    where: {
      id: actionId,
      userId,
      quoteId: null,
      confirmedAt: { not: null },
      usedAt: null,
      // Only the message that released it last uses it: another that released it before (two
      // messages confirming at once, each on its own turn) finds it taken and is not the one to
      // run it, so it cannot run twice. That message arrived in time (its release said so), however
      // late it is handled; without one, it must still be live now.
      ...(eventId ? { releasedByEventId: eventId } : { expiresAt: { gt: now } }),
    },
    data: { usedAt: now },
  });
  if (used.count === 1) return { run: true };
  if (!eventId) return { run: false, outcome: null };
  const mine = await db.confirmation.findFirst({
    where: { id: actionId, userId, quoteId: null, usedAt: { not: null }, releasedByEventId: eventId },
    select: { action: true },
  });
  if (!mine) return { run: false, outcome: null };
  const { outcome } = heldAction.parse(mine.action);
  return outcome ? { run: false, outcome } : { run: true };
}

/** Keeps what carrying out a held action came to with it, for the same message handled again. */
export async function recordHeldOutcome(
  db: Db,
  userId: string,
  actionId: string,
  outcome: HeldOutcome,
): Promise<void> {
  const row = await db.confirmation.findFirst({
    where: { id: actionId, userId, quoteId: null },
    select: { action: true },
  });
  if (!row) return;
  const action = heldAction.parse(row.action);
  await db.confirmation.updateMany({
    where: { id: actionId, userId, quoteId: null },
    data: { action: { ...action, outcome } as Prisma.InputJsonValue },
  });
}
