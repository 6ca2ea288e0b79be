/**
 * When each of our agents' inboxes is read again (the response listener and the venue agents'
 * loop). The `a2a-inbox` task asks after each read and wakes the inbox then (`wakeInbox`, one job
 * per inbox), so no process keeps a loop of its own:
 *
 * - a consumer agent only while it awaits an answer: one of its OUTBOUND envelopes is SENT or
 *   DELIVERED and not expired; every `responsePollMs` (the answer is seconds away). Once nothing
 *   is awaited, no more reads: a local venue agent's answer wakes the inbox as it is sent;
 * - a venue agent while it is ACTIVE, every `inboxPollSeconds` (local senders wake it at once);
 * - anything else (the platform's sender, an agent not ours, a paused agent): never;
 * - but a consumer agent whose last read failed, or left messages it could not record, is read
 *   again after `inboxPollSeconds` whether or not it awaits an answer: a venue's late answer
 *   (staff answering a question hours on) wakes it once, and must not be lost to one bad read.
 */
import type { Agent } from '../../generated/prisma/client.ts';
import { parseAgentId } from '../../integrations/clawpulse/wire.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { enqueueAll, type JobToAdd, jobToAdd } from '../../platform/jobs.ts';
import { a2aInboxTask, inboxKey } from '../envelopes/tasks.ts';

export interface InboxReadSettings {
  /** `A2A_RESPONSE_POLL_MS`. */
  responsePollMs: number;
  /** `A2A_INBOX_POLL_SECONDS`. */
  inboxPollSeconds: number;
}

/**
 * What the caller knows already, so nextInboxRead need not read it: the inbox's agent as just read
 * (null: not an agent of ours; an inbox read records its poll on the row, a send reads its sender),
 * and that one of its envelopes was just sent and awaits an answer.
 */
export interface KnownOfInbox {
  agent?: Pick<Agent, 'kind' | 'status'> | null;
  awaitingAnswer?: boolean;
  /** The read just made failed, or left messages unrecorded (they come back to a later read). */
  unfinished?: boolean;
}

/** When to read the inbox of `gatewayAgentId` again, or null for not until something wakes it. */
export async function nextInboxRead(
  db: DbOrTx,
  gatewayAgentId: string,
  now: Date,
  settings: InboxReadSettings,
  known: KnownOfInbox = {},
): Promise<Date | null> {
  const parsed = parseAgentId(gatewayAgentId);
  if (parsed?.kind === 'consumer') {
    if (known.awaitingAnswer) return new Date(now.getTime() + settings.responsePollMs);
    const awaited = await db.a2aEnvelope.findFirst({
      where: {
        direction: 'OUTBOUND',
        fromAgent: gatewayAgentId,
        state: { in: ['SENT', 'DELIVERED'] },
        OR: [{ expiresAt: null }, { expiresAt: { gt: now } }],
      },
      select: { id: true },
    });
    if (awaited) return new Date(now.getTime() + settings.responsePollMs);
    if (!known.unfinished) return null;
    // A retired agent (its account erased) is not read again for its leftovers.
    const agent = await db.agent.findUnique({ where: { userId: parsed.id }, select: { status: true } });
    return agent && agent.status !== 'RETIRED'
      ? new Date(now.getTime() + settings.inboxPollSeconds * 1000)
      : null;
  }
  if (parsed?.kind === 'venue') {
    const venueAgent =
      known.agent !== undefined
        ? known.agent
        : await db.agent.findUnique({ where: { venueId: parsed.id }, select: { kind: true, status: true } });
    return venueAgent?.kind === 'VENUE' && venueAgent.status === 'ACTIVE'
      ? new Date(now.getTime() + settings.inboxPollSeconds * 1000)
      : null;
  }
  return null;
}

/**
 * Schedules the next read of `gatewayAgentId`'s inbox by `nextInboxRead`, if there is one; for the
 * `a2a-inbox` task after each drain, and the `a2a-send` task after an envelope went out (so a
 * consumer agent's listener starts). It never postpones a read already due sooner: an inbox job
 * waiting under the key (a wake from a local sender, an earlier poll) keeps its time, while the
 * job now running under the key gets one added behind it. `known` as nextInboxRead takes it.
 * Returns when, or null.
 */
export async function scheduleInboxRead(
  db: DbOrTx,
  gatewayAgentId: string,
  now: Date,
  settings: InboxReadSettings,
  known: KnownOfInbox = {},
): Promise<Date | null> {
  const job = await inboxReadJob(db, gatewayAgentId, now, settings, known);
  if (job) await enqueueAll(db, [job]);
  return job?.options.runAt ?? null;
}

/** scheduleInboxRead's job, to add with others (`enqueueAll`); null when there is no next read. */
export async function inboxReadJob(
  db: DbOrTx,
  gatewayAgentId: string,
  now: Date,
  settings: InboxReadSettings,
  known: KnownOfInbox = {},
): Promise<(JobToAdd & { options: { runAt: Date } }) | null> {
  const runAt = await nextInboxRead(db, gatewayAgentId, now, settings, known);
  if (!runAt) return null;
  return {
    ...jobToAdd(a2aInboxTask, { agentId: gatewayAgentId }),
    options: { jobKey: inboxKey(gatewayAgentId), jobKeyMode: 'preserve_run_at', runAt },
  };
}
