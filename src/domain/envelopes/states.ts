/**
 * The envelope states of CLAWPULSE.md ("Envelope states") and the one table of moves between
 * them. Every change of an envelope's state is a conditional UPDATE whose WHERE names the states
 * the move may start from (`movableTo`), so two processes racing on one row cannot both move it,
 * and a move the table does not allow changes nothing: `moveEnvelope`, or (an inbox read's one
 * statement, src/domain/envelopes/receive.ts) an UPDATE of its own with `movableTo`'s states.
 */
import type { A2aEnvelope, Prisma } from '../../generated/prisma/client.ts';
import type { EnvelopeState } from '../../generated/prisma/enums.ts';
import type { DbOrTx } from '../../platform/db.ts';

export type { EnvelopeState } from '../../generated/prisma/enums.ts';

export const ENVELOPE_STATES = [
  'PENDING',
  'SENT',
  'DELIVERED',
  'ANSWERED',
  'EXPIRED',
  'FAILED',
  'REJECTED',
] as const satisfies readonly EnvelopeState[];

/**
 * For each state, the states it may move to.
 *
 * - PENDING (written with the change that caused it) → SENT when the gateway answers 202;
 *   → FAILED on 401/404/permanent answers or when the retries are spent; → EXPIRED by the reaper.
 *   → ANSWERED too: a reply can overtake our own bookkeeping (the gateway took the envelope and
 *   the worker died before recording SENT), and the reply proves it arrived.
 * - SENT → DELIVERED when the recipient (an agent of ours) accepted it; → ANSWERED when a reply
 *   arrives (a remote recipient's acceptance is never seen); → EXPIRED by the reaper.
 * - DELIVERED → ANSWERED, or → EXPIRED by the reaper.
 * - EXPIRED → ANSWERED: a late answer is still an answer (the person is told when it comes).
 * - ANSWERED, FAILED and REJECTED are final. Inbound rows are written DELIVERED or REJECTED and
 *   never move (their handling is `handled_at`, not a state).
 */
export const ENVELOPE_TRANSITIONS: Readonly<Record<EnvelopeState, readonly EnvelopeState[]>> = {
  PENDING: ['SENT', 'ANSWERED', 'FAILED', 'EXPIRED'],
  SENT: ['DELIVERED', 'ANSWERED', 'EXPIRED'],
  DELIVERED: ['ANSWERED', 'EXPIRED'],
  EXPIRED: ['ANSWERED'],
  ANSWERED: [],
  FAILED: [],
  REJECTED: [],
};

/** Whether the table allows `from` → `to`. */
export function canMove(from: EnvelopeState, to: EnvelopeState): boolean {
  return ENVELOPE_TRANSITIONS[from].includes(to);
}

/** The states from which the table allows a move to `to`. */
export function statesBefore(to: EnvelopeState): EnvelopeState[] {
  return ENVELOPE_STATES.filter((from) => canMove(from, to));
}

/** The states a move to `to` may start from: those the table allows, among `from` when given. */
export function movableTo(to: EnvelopeState, from?: readonly EnvelopeState[]): EnvelopeState[] {
  return statesBefore(to).filter((state) => !from || from.includes(state));
}

/** The timestamp column a state stamps when an envelope reaches it. */
const STAMPS: Partial<Record<EnvelopeState, 'sentAt' | 'deliveredAt' | 'answeredAt'>> = {
  SENT: 'sentAt',
  DELIVERED: 'deliveredAt',
  ANSWERED: 'answeredAt',
};

/**
 * Moves an envelope to `to` when its current state allows it (and is among `from`, when given),
 * with `data` written in the same UPDATE. The envelope is its row id, or one of our OUTBOUND
 * envelopes by its AGP id (unique among them) and, when given, its recipient. Returns the row as it
 * now is, or null when the move was refused (illegal from its state, or another process moved it
 * first) or the row does not exist.
 */
export async function moveEnvelope(
  db: DbOrTx,
  envelope: string | { direction: 'OUTBOUND'; envelopeId: string; toAgent?: string },
  to: EnvelopeState,
  options: {
    from?: readonly EnvelopeState[];
    data?: Omit<Prisma.A2aEnvelopeUpdateManyMutationInput, 'state'>;
    now?: Date;
  } = {},
): Promise<A2aEnvelope | null> {
  const allowed = movableTo(to, options.from);
  if (allowed.length === 0) return null;
  const stamp = STAMPS[to];
  // One statement: the conditional UPDATE returns the row as it wrote it.
  const [moved] = await db.a2aEnvelope.updateManyAndReturn({
    where: {
      ...(typeof envelope === 'string' ? { id: envelope } : envelope),
      state: { in: allowed },
    },
    data: { ...options.data, state: to, ...(stamp ? { [stamp]: options.now ?? new Date() } : {}) },
  });
  return moved ?? null;
}
