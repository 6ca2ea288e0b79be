/**
 * Callbacks from outside services other than the chat platforms (Stripe, Lalamove; ClawPulse
 * plugs in the same way), kept once per (provider, event id) in `provider_events`.
 *
 * The webhook verifies a delivery, records its event here together with the job that handles it
 * (one statement, see `insertAndEnqueue`, which the webhooks' group commit runs in one transaction
 * with other deliveries': src/platform/group-commit.ts) and answers 2xx once that has committed;
 * the job reads the event back and applies it. A redelivery of a recorded event is answered the
 * same and adds no job. The job runs until it succeeds (or spends its attempts), so an event is
 * never lost to a provider we could not reach while applying it, and the provider never waits on
 * our work.
 *
 * The chat platforms keep their own `inbound_events` (src/domain/channels/inbound.ts): their
 * events are processed per chat, in order, which these are not.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Database, Db, DbOrTx } from './db.ts';
import type { GroupCommit } from './group-commit.ts';
import { insertAndEnqueue, type TaskDeclaration } from './jobs.ts';
import { storable, storableKey } from './storable.ts';

/** The payload of every provider event's task: the recorded event's id. */
export const providerEventPayload = z.object({ id: z.uuid() });

export interface ProviderEventInput {
  /** `lalamove`, `stripe`, `clawpulse`: also the first word of its task's name. */
  provider: string;
  /** The provider's id for the event: what a redelivery repeats. */
  eventId: string;
  eventType: string;
  /** The verified event, as the task will apply it. */
  payload: unknown;
}

export interface ProviderEvent extends ProviderEventInput {
  id: string;
  receivedAt: Date;
  processedAt: Date | null;
  outcome: string | null;
}

const INSERT = `
  INSERT INTO provider_events (id, provider, event_id, event_type, payload)
  VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text::jsonb)
  ON CONFLICT (provider, event_id) DO NOTHING
  RETURNING 1`;

/**
 * Records an event unless it was recorded before, and adds `task`'s job for it in the same
 * statement. Returns whether it was new. Through a group commit, the statement's lock key is the
 * event's (provider, id), the row a concurrent batch holding the same event would wait on: two
 * batches take such rows in one order and do not deadlock each other. Within one batch a second
 * delivery of an event finds the first's row and stores nothing, as it would after its commit.
 */
export async function recordProviderEvent(
  db: Db | Database | GroupCommit,
  event: ProviderEventInput,
  task: TaskDeclaration<string, typeof providerEventPayload>,
): Promise<{ stored: boolean }> {
  const id = randomUUID();
  const eventId = storableKey(event.eventId);
  return insertAndEnqueue(
    db,
    {
      name: 'record-provider-event',
      text: INSERT,
      // What a provider sends is made storable (no NUL, no lone surrogate: PostgreSQL refuses
      // them; ids no longer than their index holds), and one refused event would fail every
      // delivery of its group commit.
      values: [
        id,
        event.provider,
        eventId,
        storableKey(event.eventType),
        JSON.stringify(storable(event.payload)),
      ],
      lockKey: `provider-event:${event.provider}:${eventId}`,
    },
    task,
    { id },
  );
}

/** The recorded event, or null when there is none with this id. */
export async function readProviderEvent(db: DbOrTx, id: string): Promise<ProviderEvent | null> {
  const row = await db.providerEvent.findUnique({ where: { id } });
  return row && { ...row, payload: row.payload as unknown };
}

/** Notes what applying the event did (for operators; a task may apply an event again). */
export async function finishProviderEvent(db: DbOrTx, id: string, outcome: string): Promise<void> {
  await db.providerEvent.update({ where: { id }, data: { outcome, processedAt: new Date() } });
}
