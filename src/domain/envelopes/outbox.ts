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
import { addJobColumns, type JobToAdd, jobToAdd } from '../../platform/jobs.ts';
import { storable } from '../../platform/storable.ts';
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
 * caller's transaction), in one statement with `jobs` (more jobs the caller adds with it, such as
 * a check that an answer came). The payload is checked against its intent's schema first, so we
 * never send what a receiver of ours would refuse. `rowId`: the row's id, when the caller's jobs
 * name it (default: a new uuid). Returns the row as written.
 */
export async function queueEnvelope<I extends Intent>(
  tx: DbOrTx,
  input: QueueEnvelopeInput<I>,
  options: { rowId?: string; jobs?: readonly JobToAdd[] } = {},
): Promise<A2aEnvelope> {
  const parsed = INTENT_SCHEMAS[input.intent].safeParse(input.payload);
  if (!parsed.success) {
    throw new InvalidEnvelopeError(
      `The ${input.intent} payload does not pass its schema: ${parsed.error.message}`,
    );
  }
  const now = input.now ?? new Date();
  const at = new Date();
  const row: A2aEnvelope = {
    id: options.rowId ?? randomUUID(),
    envelopeId: input.envelopeId ?? randomUUID(),
    direction: 'OUTBOUND',
    fromAgent: input.from,
    toAgent: input.to,
    intent: input.intent,
    payload: parsed.data as Prisma.JsonValue,
    envelope: null,
    state: 'PENDING',
    rejectReason: null,
    lastError: null,
    inReplyTo: input.inReplyTo ?? null,
    bookingId: input.bookingId ?? null,
    priority: input.priority ?? 'normal',
    attempts: 0,
    nextAttemptAt: now,
    expiresAt: input.expiresAt ?? new Date(now.getTime() + DEFAULT_ENVELOPE_LIFETIME_MS),
    handledAt: null,
    handledNote: null,
    gatewayMessageId: null,
    sentAt: null,
    deliveredAt: null,
    answeredAt: null,
    createdAt: at,
    updatedAt: at,
  };
  const values: unknown[] = [
    row.id,
    row.envelopeId,
    row.fromAgent,
    row.toAgent,
    row.intent,
    // A payload may carry a model's words (the venue agent's answer): kept as PostgreSQL can hold
    // them, where a NUL failed the insert and the decision with it.
    JSON.stringify(storable(row.payload)),
    row.inReplyTo,
    row.bookingId,
    row.priority,
    row.nextAttemptAt,
    row.expiresAt,
    row.createdAt,
  ];
  const jobs = [
    jobToAdd(a2aSendTask, { envelopeRowId: row.id }, { jobKey: sendKey(row.id), jobKeyMode: 'replace' }),
    ...(options.jobs ?? []),
  ];
  const added = addJobColumns(jobs, values);
  await tx.$queryRawUnsafe(
    `
    WITH envelope AS (
      INSERT INTO a2a_envelopes (id, envelope_id, direction, from_agent, to_agent, intent, payload,
        state, in_reply_to, booking_id, priority, attempts, next_attempt_at, expires_at, created_at,
        updated_at)
      VALUES ($1::uuid, $2::uuid, 'OUTBOUND', $3::text, $4::text, $5::text, $6::text::jsonb,
        'PENDING', $7::uuid, $8::uuid, $9::text, 0, $10::timestamptz, $11::timestamptz,
        $12::timestamptz, $12::timestamptz)
      RETURNING 1
    )
    SELECT ${added.join(', ')}
    FROM envelope`,
    ...values,
  );
  return row;
}
