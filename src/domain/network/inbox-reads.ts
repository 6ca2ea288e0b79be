/**
 * When each of our agents' inboxes is read again (the response listener and the venue agents'
 * loop). The `a2a-inbox` task asks after each read and wakes the inbox then (`wakeInbox`, one job
 * per inbox), so no process keeps a loop of its own:
 *
 * - a consumer agent only while it awaits an answer: one of its OUTBOUND envelopes is SENT or
 *   DELIVERED and not expired; every `responsePollMs` (the answer is seconds away). Once nothing
 *   is awaited, no more reads: a local venue agent's answer wakes the inbox as it is sent;
 * - a venue agent while it is ACTIVE, every `inboxPollSeconds` (local senders wake it at once);
 * - anything else (the platform's sender, an agent not ours, a paused agent): never.
 */
import type { Agent } from '../../generated/prisma/client.ts';
import { parseAgentId } from '../../integrations/clawpulse/wire.ts';
import type { DbOrTx } from '../../platform/db.ts';
import { enqueue } from '../../platform/jobs.ts';
import { a2aInboxTask, inboxKey } from '../envelopes/tasks.ts';

export interface InboxReadSettings {
  /** `A2A_RESPONSE_POLL_MS`. */
  responsePollMs: number;
  /** `A2A_INBOX_POLL_SECONDS`. */
  inboxPollSeconds: number;
}

/** What the inbox's agent is, when the caller has just read it (null: not an agent of ours). */
export type KnownInboxAgent = Pick<Agent, 'kind' | 'status'> | null;

/**
 * When to read the inbox of `gatewayAgentId` again, or null for not until something wakes it.
 * `agent`, when given, is its agent as just read (an inbox read records its poll on the row).
 */
export async function nextInboxRead(
  db: DbOrTx,
  gatewayAgentId: string,
  now: Date,
  settings: InboxReadSettings,
  agent?: KnownInboxAgent,
): Promise<Date | null> {
  const parsed = parseAgentId(gatewayAgentId);
  if (parsed?.kind === 'consumer') {
    const awaited = await db.a2aEnvelope.findFirst({
      where: {
        direction: 'OUTBOUND',
        fromAgent: gatewayAgentId,
        state: { in: ['SENT', 'DELIVERED'] },
        OR: [{ expiresAt: null }, { expiresAt: { gt: now } }],
      },
      select: { id: true },
    });
    return awaited ? new Date(now.getTime() + settings.responsePollMs) : null;
  }
  if (parsed?.kind === 'venue') {
    const venueAgent =
      agent !== undefined
        ? agent
        : await db.agent.findUnique({ where: { venueId: parsed.id }, select: { kind: true, status: true } });
    return venueAgent?.kind === 'VENUE' && venueAgent.status === 'ACTIVE'
      ? new Date(now.getTime() + settings.inboxPollSeconds * 1000)
      : null;
  }
  return null;
}

/**
 * Schedules the next read of `gatewayAgentId`'s inbox by `nextInboxRead`, if there is one; for the
 * `a2a-inbox` task after each drain, and the `a2a-send` task after a consumer agent's envelope
 * went out (so its listener starts). It never postpones a read already due sooner: an inbox job
 * waiting under the key (a wake from a local sender, an earlier poll) keeps its time, while the
 * job now running under the key gets one added behind it. `agent` as nextInboxRead takes it.
 * Returns when, or null.
 */
export async function scheduleInboxRead(
  db: DbOrTx,
  gatewayAgentId: string,
  now: Date,
  settings: InboxReadSettings,
  agent?: KnownInboxAgent,
): Promise<Date | null> {
  const runAt = await nextInboxRead(db, gatewayAgentId, now, settings, agent);
  if (!runAt) return null;
  await enqueue(
    db,
    a2aInboxTask,
    { agentId: gatewayAgentId },
    { jobKey: inboxKey(gatewayAgentId), jobKeyMode: 'preserve_run_at', runAt },
  );
  return runAt;
}
