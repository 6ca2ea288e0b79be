/**
 * Acting on an accepted inbound envelope, exactly once. The row is locked (`FOR UPDATE`) for the
 * whole of the handling's transaction, which holds the handler's own writes: a second handler of
 * the same row (two workers, a job run again after a crash) waits, then finds `handled_at` set
 * and does nothing, and a handler that fails or dies leaves nothing half done and the row
 * unhandled for the job's retry.
 *
 * Nothing slow or outside the database happens inside that transaction: it holds a pooled
 * connection and the row's lock, and a few handlings waiting on a language model would hold the
 * pool. A handler that needs such a call (the venue agent's model, for a question) has a
 * preparation step (`prepare`), run before the transaction on the plain client with no lock,
 * whose result the handler is given inside it. The preparation only reads and asks; it writes
 * nothing the handling depends on, so a run that dies after it leaves the envelope unhandled and
 * the retry prepares again (at most one wasted call), and two runs at once may both prepare, but
 * only the first to take the lock writes.
 *
 * What each intent means is not decided here: callers (the venue's business agent, the consumer
 * side) pass a registry of handlers. A reply (`in_reply_to` one of our outbound envelopes) moves
 * that envelope to ANSWERED in the same transaction, and links the reply to its booking.
 */
import { type A2aEnvelope, Prisma } from '../../generated/prisma/client.ts';
import type { Db, DbOrTx, Tx } from '../../platform/db.ts';
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
 * It must not call out (a model, HTTP): that belongs in a `PreparedIntentHandler`'s `prepare`.
 */
export type IntentHandler<I extends Intent = Intent> = (
  tx: Tx,
  envelope: VerifiedEnvelope<I>,
  context: HandleContext,
) => Promise<HandlerResult> | Promise<void>;

/**
 * A handler whose slow or outside work (a language model, HTTP) runs before the handling
 * transaction. `prepare` runs with the plain client, holding no connection or lock between its
 * queries, only for an envelope that was accepted, inbound and not yet handled when read just
 * before (it may be handled meanwhile: its result is then dropped). It must write nothing the
 * handling depends on. Throwing fails the handling before anything is written; the job retries.
 * `handle` then runs in the transaction, as an `IntentHandler` does, with what `prepare` returned.
 * For `prepare`, `envelope.repliesTo` is as read then (not yet moved to ANSWERED).
 */
export interface PreparedIntentHandler<I extends Intent, P> {
  prepare(db: Db, envelope: VerifiedEnvelope<I>): Promise<P>;
  handle(
    tx: Tx,
    envelope: VerifiedEnvelope<I>,
    context: HandleContext,
    prepared: P,
  ): Promise<HandlerResult> | Promise<void>;
}

export type HandlerResult = string | { note?: string; bookingId?: string } | undefined;

/** The handlers a caller supplies, by intent: in the transaction only, or prepared before it. */
export type IntentHandlers = {
  [I in Intent]?: IntentHandler<I> | PreparedIntentHandler<I, unknown>;
};

/**
 * A prepared handler for a registry: `prepare`'s result and `handle`'s argument checked to be one
 * type here, where they meet; the registry only passes one to the other.
 */
export function preparedHandler<I extends Intent, P>(
  handler: PreparedIntentHandler<I, P>,
): PreparedIntentHandler<I, unknown> {
  return handler as PreparedIntentHandler<I, unknown>;
}

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

/** The handler of an intent, when `handlers` has one. */
function handlerOf(handlers: IntentHandlers, intent: Intent) {
  return handlers[intent] as IntentHandler | PreparedIntentHandler<Intent, unknown> | undefined;
}

/** What handling reads of an inbound row: each field, and the column it is read from. */
const INBOUND_COLUMNS = {
  id: 'id::text',
  envelopeId: 'envelope_id::text',
  direction: 'direction::text',
  fromAgent: 'from_agent',
  toAgent: 'to_agent',
  intent: 'intent',
  payload: 'payload',
  state: 'state::text',
  inReplyTo: 'in_reply_to::text',
  bookingId: 'booking_id::text',
  handledAt: 'handled_at',
  handledNote: 'handled_note',
  createdAt: 'created_at',
} as const;
/** The model's fields of those names: one misspelled or not in the model does not compile. */
type InboundRow = Pick<A2aEnvelope, keyof typeof INBOUND_COLUMNS>;
/** The select list, each column under its field's name. */
const INBOUND_SELECT = Prisma.raw(
  Object.entries(INBOUND_COLUMNS)
    .map(([field, column]) => `${column} AS "${field}"`)
    .join(', '),
);

/**
 * The row `rowId`, locked for the rest of the transaction (`FOR UPDATE`), read in the same
 * statement that takes the lock; null when it is gone.
 */
async function lockedRow(tx: Tx, rowId: string): Promise<InboundRow | null> {
  const [row] = await tx.$queryRaw<InboundRow[]>`
    SELECT ${INBOUND_SELECT} FROM a2a_envelopes WHERE id = ${rowId}::uuid FOR UPDATE`;
  return row ?? null;
}

/** Whether a stored row is an envelope to act on: accepted, inbound, not yet handled. */
function toHandle(envelope: InboundRow): boolean {
  return envelope.direction === 'INBOUND' && envelope.state !== 'REJECTED' && !envelope.handledAt;
}

/** Our outbound envelope that `envelope` replies to, when there is one. */
function repliedTo(db: DbOrTx, envelope: InboundRow): Promise<A2aEnvelope | null> {
  if (!envelope.inReplyTo) return Promise.resolve(null);
  return db.a2aEnvelope.findFirst({
    where: { direction: 'OUTBOUND', envelopeId: envelope.inReplyTo, toAgent: envelope.fromAgent },
  });
}

function verifiedOf<I extends Intent>(
  envelope: InboundRow,
  intent: I,
  payload: IntentPayload<I>,
  repliesTo: A2aEnvelope | null,
): VerifiedEnvelope<I> {
  return {
    rowId: envelope.id,
    envelopeId: envelope.envelopeId!,
    from: envelope.fromAgent,
    to: envelope.toAgent,
    intent,
    payload,
    inReplyTo: envelope.inReplyTo,
    repliesTo,
    bookingId: envelope.bookingId ?? repliesTo?.bookingId ?? null,
    receivedAt: envelope.createdAt,
  };
}

/**
 * Runs the preparation of the envelope's handler, if it has one, before the handling transaction:
 * the row is read without a lock, and an envelope already handled, rejected or not inbound (the
 * transaction would not act on it) is not prepared. Null when there is nothing to prepare.
 */
async function prepare(db: Db, rowId: string, handlers: IntentHandlers): Promise<{ value: unknown } | null> {
  const envelope = await db.a2aEnvelope.findUnique({ where: { id: rowId } });
  if (!envelope || !toHandle(envelope) || !isIntent(envelope.intent)) return null;
  const intent = envelope.intent;
  const handler = handlerOf(handlers, intent);
  if (!handler || typeof handler === 'function') return null;
  const parsed = parseIntentPayload(intent, envelope.payload);
  if (!parsed.ok) return null;
  const verified = verifiedOf(envelope, intent, parsed.payload, await repliedTo(db, envelope));
  return { value: await handler.prepare(db, verified) };
}

/**
 * Whether the envelope's handler may prepare before the transaction: not when its intent is known
 * (from the job that carries it) and its handler is none or one without a preparation.
 */
function mayPrepare(handlers: IntentHandlers, intent: string | undefined): boolean {
  if (intent === undefined) return true;
  if (!isIntent(intent)) return false;
  const handler = handlerOf(handlers, intent);
  return handler !== undefined && typeof handler !== 'function';
}

/**
 * Handles the inbound envelope `rowId` with `handlers`, exactly once. Safe to run twice.
 * `known.intent`, the envelope's intent when the caller has it (its job does), spares an envelope
 * whose handler prepares nothing the row's read before the transaction.
 */
export async function handleEnvelope(
  deps: HandleDeps,
  rowId: string,
  handlers: IntentHandlers,
  known: { intent?: string | undefined } = {},
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
  // Before the transaction: no connection is held while a handler's outside call is pending.
  const prepared = mayPrepare(handlers, known.intent) ? await prepare(deps.db, rowId, handlers) : null;
  const outcome = await deps.db.$transaction(
    async (tx) => {
      const envelope = await lockedRow(tx, rowId);
      if (!envelope) return { handled: false, note: null };
      if (envelope.direction !== 'INBOUND' || envelope.state === 'REJECTED')
        return { handled: false, note: null };
      if (envelope.handledAt) return { handled: false, note: envelope.handledNote };
      const now = deps.now();

      // The envelope of ours this one answers, ANSWERED now; read as it is when it cannot be
      // (answered before) or is not there.
      const repliesTo = envelope.inReplyTo
        ? ((await moveEnvelope(
            tx,
            { direction: 'OUTBOUND', envelopeId: envelope.inReplyTo, toAgent: envelope.fromAgent },
            'ANSWERED',
            { now },
          )) ?? (await repliedTo(tx, envelope)))
        : null;
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
        const handler = handlerOf(handlers, intent);
        if (!handler) {
          note = `no handler for ${intent}`;
        } else {
          const verified = verifiedOf(envelope, intent, parsed.payload, repliesTo);
          let result: HandlerResult;
          if (typeof handler === 'function') {
            result = (await handler(tx, verified, context)) as HandlerResult;
          } else {
            // An accepted row is never unhandled again, and what a preparation reads of it stays:
            // an account deletion redacts only a booking's guest (`notes`, `guestName`) in its
            // payload, which the one prepared intent (a question) does not carry. Were it not so,
            // the retry prepares afresh.
            if (!prepared) throw new Error(`envelope ${rowId} became one to handle after it was read`);
            result = (await handler.handle(tx, verified, context, prepared.value)) as HandlerResult;
          }
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
