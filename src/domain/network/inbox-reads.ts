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
import { parseAgentId } from '../../integrations/clawpulse/wire.ts';
import type { DbOrTx } from '../../platform/db.ts';

export interface InboxReadSettings {
  /** `A2A_RESPONSE_POLL_MS`. */
  responsePollMs: number;
  /** `A2A_INBOX_POLL_SECONDS`. */
  inboxPollSeconds: number;
}

/** When to read the inbox of `gatewayAgentId` again, or null for not until something wakes it. */
export async function nextInboxRead(
  db: DbOrTx,
  gatewayAgentId: string,
  now: Date,
  settings: InboxReadSettings,
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
    const agent = await db.agent.findUnique({
      where: { venueId: parsed.id },
      select: { kind: true, status: true },
    });
    return agent?.kind === 'VENUE' && agent.status === 'ACTIVE'
      ? new Date(now.getTime() + settings.inboxPollSeconds * 1000)
      : null;
  }
  return null;
}
