/**
 * The A2A tasks: producers (the outbox, the inbox drain, whoever wakes an inbox) and the worker's
 * thin handlers (src/worker/tasks/a2a-*.ts and the two schedules) import these declarations.
 */
import { z } from 'zod';
import type { DbOrTx } from '../../platform/db.ts';
import {
  cronPayload,
  defineTask,
  type EnqueuedJob,
  type EnqueueOptions,
  enqueue,
  type JobToAdd,
  jobToAdd,
} from '../../platform/jobs.ts';

/** Sends one outbound envelope (a row of a2a_envelopes), keyed by the row. */
export const a2aSendTask = defineTask({
  name: 'a2a-send',
  schema: z.object({ envelopeRowId: z.uuid() }),
  // Gateway failures are the envelope's own retries (rescheduled by the task); these attempts
  // are only for errors of ours (the database away, a key that does not decrypt).
  maxAttempts: 10,
});

export function sendKey(envelopeRowId: string): string {
  return `a2a-send:${envelopeRowId}`;
}

/** Acts on one accepted inbound envelope, exactly once. */
export const a2aHandleTask = defineTask({
  name: 'a2a-handle',
  schema: z.object({
    envelopeRowId: z.uuid(),
    /**
     * The envelope's intent, as accepted (it never changes), so the handling knows without a
     * read whether its handler prepares anything first. Absent in jobs queued before it was added.
     */
    intent: z.string().min(1).max(200).optional(),
  }),
  maxAttempts: 10,
});

export function handleKey(envelopeRowId: string): string {
  return `a2a-handle:${envelopeRowId}`;
}

/** Drains one of our agents' inboxes at the gateway (by its gateway id) once. */
export const a2aInboxTask = defineTask({
  name: 'a2a-inbox',
  schema: z.object({ agentId: z.string().min(1).max(200) }),
  // The next poll or wake is the retry.
  maxAttempts: 3,
});

export function inboxKey(agentId: string): string {
  return `a2a-inbox:${agentId}`;
}

/**
 * Has an agent's inbox read at `runAt` (default now). One job per inbox (`a2a-inbox:<agentId>`,
 * replace): waking an inbox whose poll is due later brings it forward, and a wake while a drain
 * runs adds one more drain after it, so nothing sent meanwhile waits for the next poll.
 */
export function wakeInbox(db: DbOrTx, agentId: string, runAt?: Date): Promise<EnqueuedJob> {
  return enqueue(db, a2aInboxTask, { agentId }, wakeOptions(agentId, runAt));
}

/** wakeInbox's job, to add with others (`enqueueAll`). */
export function wakeInboxJob(agentId: string, runAt?: Date): JobToAdd {
  return jobToAdd(a2aInboxTask, { agentId }, wakeOptions(agentId, runAt));
}

function wakeOptions(agentId: string, runAt: Date | undefined): EnqueueOptions {
  return { jobKey: inboxKey(agentId), jobKeyMode: 'replace', runAt };
}

/** Every 15 minutes: outbound envelopes past their expiry that were never answered → EXPIRED. */
export const reapStaleEnvelopesTask = defineTask({
  name: 'reap-stale-envelopes',
  schema: cronPayload.partial(),
  maxAttempts: 1,
});

/** Every 30 minutes: inbound replies nobody is waiting for, left unhandled, are closed. */
export const sweepOrphanedResponsesTask = defineTask({
  name: 'sweep-orphaned-responses',
  schema: cronPayload.partial(),
  maxAttempts: 1,
});
