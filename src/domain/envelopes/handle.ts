/**
 * Acting on an accepted inbound envelope, exactly once. The row is locked (`FOR UPDATE`) for the
 * whole of the handling, in one transaction with the handler's own writes: a second handler of
 * the same row (two workers, a job run again after a crash) waits, then finds `handled_at` set
 * and does nothing, and a handler that fails or dies leaves nothing half done and the row
 * unhandled for the job's retry.
 *
 * What each intent means is not decided here: callers (the venue's business agent, the consumer
 * side) pass a registry of handlers. A reply (`in_reply_to` one of our outbound envelopes) moves
 * that envelope to ANSWERED in the same transaction, and links the reply to its booking.
 */
import type { A2aEnvelope } from '../../generated/prisma/client.ts';
import type { Db, Tx } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import { type Intent, type IntentPayload, isIntent, parseIntentPayload } from './intents.ts';
import { moveEnvelope } from './states.ts';

/** A verified inbound envelope as a handler sees it. */
export interface VerifiedEnvelope<I extends Intent = Intent> {
  /** Our row (a2a_envelopes.id). */
  rowId: string;
  /** The AGP id. */
  envelopeId: string;
  from: string;
  to: string;
  intent: I;
  payload: IntentPayload<I>;
  inReplyTo: string | null;
  /** Our outbound envelope this replies to, when there is one. */
  repliesTo: A2aEnvelope | null;
  /** The booking the reply or its request is about, when known. */
  bookingId: string | null;
  receivedAt: Date;
}

/** What a handler may ask of the handling beyond its transaction. */
export interface HandleContext {
  /**
   * Runs `work` once the handling transaction has committed (a live update, an announcement to
   * dashboards, a metric), never when it rolls back. Work that fails is logged, and changes
   * nothing: the envelope is handled.
   */
  afterCommit(work: () => Promise<void> | void): void;
  /** Links the envelope's row to a booking (a request names its booking in its payload). */
  linkBooking(bookingId: string): void;
}

/**
 * Acts on one envelope inside the handling transaction (queue replies with `queueEnvelope(tx, …)`,
 * change bookings on `tx`; what must wait for the commit goes to `context.afterCommit`). Returns a
 * note to record, or the note and the booking the envelope is about (a request that made one),
 * which joins the booking's envelope history. Throwing rolls everything back and the job retries.
 */
export type IntentHandler<I extends Intent = Intent> = (
  tx: Tx,
  envelope: VerifiedEnvelope<I>,
  context: HandleContext,
) => Promise<HandlerResult> | Promise<void>;

export type HandlerResult = string | { note?: string; bookingId?: string } | undefined;

/** The handlers a caller supplies, by intent. */
export type IntentHandlers = { [I in Intent]?: IntentHandler<I> };

export interface HandleDeps {
  db: Db;
  logger: Logger;
  now: () => Date;
  /** How long one handling may hold its transaction (default 60 s). */
  timeoutMs?: number;
}

export interface HandleOutcome {
  /** false when it was handled before, is not an accepted inbound envelope, or does not exist. */
  handled: boolean;
  note: string | null;
}

/** Handles the inbound envelope `rowId` with `handlers`, exactly once. Safe to run twice. */
export async function handleEnvelope(
  deps: HandleDeps,
  rowId: string,
  handlers: IntentHandlers,
): Promise<HandleOutcome> {
  const timeout = deps.timeoutMs ?? 60_000;
  const afterCommit: (() => Promise<void> | void)[] = [];
  let linked = null as string | null;
  const context: HandleContext = {
    afterCommit: (work) => {
      afterCommit.push(work);
    },
    linkBooking: (bookingId) => {
      linked = bookingId;
    },
  };
  const outcome = await deps.db.$transaction(
    async (tx) => {
      const [row] = await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM a2a_envelopes WHERE id = ${rowId}::uuid FOR UPDATE`;
      if (!row) return { handled: false, note: null };
      const envelope = await tx.a2aEnvelope.findUniqueOrThrow({ where: { id: rowId } });
      if (envelope.direction !== 'INBOUND' || envelope.state === 'REJECTED')
        return { handled: false, note: null };
      if (envelope.handledAt) return { handled: false, note: envelope.handledNote };
      const now = deps.now();

      let repliesTo: A2aEnvelope | null = null;
      if (envelope.inReplyTo) {
        repliesTo = await tx.a2aEnvelope.findFirst({
          where: { direction: 'OUTBOUND', envelopeId: envelope.inReplyTo, toAgent: envelope.fromAgent },
        });
        if (repliesTo) {
          repliesTo = (await moveEnvelope(tx, repliesTo.id, 'ANSWERED', { now })) ?? repliesTo;
        }
      }
      let bookingId = envelope.bookingId ?? repliesTo?.bookingId ?? null;

      let note: string | null;
      const intent = envelope.intent;
      const parsed = isIntent(intent) ? parseIntentPayload(intent, envelope.payload) : null;
      if (!isIntent(intent) || !parsed?.ok) {
        // Verified when it arrived; a schema changed since. Recorded, never acted on.
        note = `not handled: the stored ${intent} payload no longer passes its schema`;
      } else if (intent === 'network.ping' && !handlers[intent]) {
        note = 'ping';
      } else {
        const handler = handlers[intent] as IntentHandler | undefined;
        if (!handler) {
          note = `no handler for ${intent}`;
        } else {
          const verified: VerifiedEnvelope = {
            rowId: envelope.id,
            envelopeId: envelope.envelopeId!,
            from: envelope.fromAgent,
            to: envelope.toAgent,
            intent,
            payload: parsed.payload,
            inReplyTo: envelope.inReplyTo,
            repliesTo,
            bookingId,
            receivedAt: envelope.createdAt,
          };
          const result = (await handler(tx, verified, context)) as HandlerResult;
          if (typeof result === 'object') {
            note = result.note ?? null;
            bookingId = result.bookingId ?? bookingId;
          } else {
            note = result ?? null;
          }
          bookingId = bookingId ?? linked;
        }
      }
      await tx.a2aEnvelope.update({
        where: { id: envelope.id },
        data: { handledAt: now, handledNote: note, bookingId },
      });
      deps.logger.debug(
        { 'envelope.id': envelope.envelopeId, 'envelope.intent': intent, 'envelope.note': note },
        'envelope handled',
      );
      return { handled: true, note };
    },
    { timeout, maxWait: timeout },
  );
  // Only a handling that committed has work to run; one that found the envelope handled has none.
  for (const work of outcome.handled ? afterCommit : []) {
    try {
      await work();
    } catch (error) {
      deps.logger.warn(
        { err: error, 'envelope.row': rowId },
        'after-commit work of a handled envelope failed',
      );
    }
  }
  return outcome;
}
