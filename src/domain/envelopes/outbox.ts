/**
 * The envelope outbox: an envelope to send is a PENDING OUTBOUND row of `a2a_envelopes`, written
 * in the transaction of the change that causes it together with the `a2a-send` job that sends it.
 * A rolled-back change sends nothing; a committed one is sent (and retried) until it is SENT,
 * FAILED or EXPIRED. Stranded rows (a lost job) are found by the outbox sweep
 * (src/domain/operations/outboxes.ts).
 */
import { randomUUID } from 'node:crypto';
import type { A2aEnvelope, Prisma } from '../../generated/prisma/client.ts';
import type { Priority } from '../../integrations/clawpulse/wire.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { enqueue } from '../../platform/jobs.ts';
import { INTENT_SCHEMAS, type Intent, type IntentPayload } from './intents.ts';
import { a2aSendTask, sendKey } from './tasks.ts';

/**
 * How long an outbound envelope is worth sending or answering when the caller does not say:
 * longer than the retry schedule (1 + 5 + 25 minutes), so retries are not cut short.
 */
export const DEFAULT_ENVELOPE_LIFETIME_MS = 60 * 60_000;

export class InvalidEnvelopeError extends Error {
  override name = 'InvalidEnvelopeError';
}

export interface QueueEnvelopeInput<I extends Intent = Intent> {
  /** Gateway ids: `consumer-<user>`, `venue-<venue>`, or the platform's sender. */
  from: string;
  to: string;
  intent: I;
  payload: IntentPayload<I>;
  /** The envelope this one answers (its AGP id). */
  inReplyTo?: string | null;
  bookingId?: string | null;
  priority?: Priority;
  /** When it is no longer worth delivering or answering (default: an hour from now). */
  expiresAt?: Date;
  /** The AGP id (default: a new uuid). */
  envelopeId?: string;
  now?: Date;
}

/**
 * Queues an envelope: the OUTBOUND row, PENDING, and its `a2a-send` job, both on `tx` (the
 * caller's transaction). The payload is checked against its intent's schema first, so we never
 * send what a receiver of ours would refuse. Returns the row.
 */
export async function queueEnvelope<I extends Intent>(
  tx: DbOrTx,
  input: QueueEnvelopeInput<I>,
): Promise<A2aEnvelope> {
  const parsed = INTENT_SCHEMAS[input.intent].safeParse(input.payload);
  if (!parsed.success) {
    throw new InvalidEnvelopeError(
      `The ${input.intent} payload does not pass its schema: ${parsed.error.message}`,
    );
  }
  const now = input.now ?? new Date();
  const row = await tx.a2aEnvelope.create({
    data: {
      id: randomUUID(),
      envelopeId: input.envelopeId ?? randomUUID(),
      direction: 'OUTBOUND',
      fromAgent: input.from,
      toAgent: input.to,
      intent: input.intent,
      payload: parsed.data as Prisma.InputJsonValue,
      state: 'PENDING',
      inReplyTo: input.inReplyTo ?? null,
      bookingId: input.bookingId ?? null,
      priority: input.priority ?? 'normal',
      nextAttemptAt: now,
      expiresAt: input.expiresAt ?? new Date(now.getTime() + DEFAULT_ENVELOPE_LIFETIME_MS),
    },
  });
  await enqueue(
    tx,
    a2aSendTask,
    { envelopeRowId: row.id },
    { jobKey: sendKey(row.id), jobKeyMode: 'replace' },
  );
  return row;
}
