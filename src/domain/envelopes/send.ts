/**
 * Sending one outbound envelope (the `a2a-send` job's work). Each attempt signs the envelope
 * afresh with the sender's current key (a new `ts` and `timestamp`, the same id), asks the
 * breakers first, and posts it through the gateway client. What the gateway answers decides:
 *
 * - 202: SENT, with the gateway's message id and the exact signed envelope kept for audit.
 * - 401 (our key), 404 (no such recipient), any other refusal: FAILED at once, with the reason
 *   (dead letters: retrying cannot help).
 * - A failure for now (timeout, connection, 5xx): one attempt counted, the next after
 *   `retryDelaysSeconds[attempts - 1]` (1, 5, 25 minutes); FAILED when they are spent.
 * - 429: wait `Retry-After`, no attempt counted.
 * - A breaker open: wait until it lets a probe through, no attempt counted; nothing is dropped.
 *   A probe that fails re-opens the breaker and counts no attempt either: the envelope that
 *   happened to probe waits like the rest, so an outage longer than the retries loses nothing.
 *
 * The function returns when to run again (`retryAfterMs`); the task reschedules itself, domain
 * code never calls back into the worker. A 429, 401 or 404 is an answer from a working gateway,
 * so to the breakers it is a success; only failures for now count against them.
 */
import type { A2aEnvelope, Agent } from '../../generated/prisma/client.ts';
import { type ClawPulseClient, ClawPulseError } from '../../integrations/clawpulse/client.ts';
import {
  AGP_PROTOCOL,
  type AgpEnvelope,
  type Priority,
  signEnvelope,
} from '../../integrations/clawpulse/wire.ts';
import type { Db } from '../../platform/db.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { storableText } from '../../platform/storable.ts';
import { agentsByGatewayIds, ensurePlatformAgent, signingKeyOf } from '../agents/agents.ts';
import { registerAgent } from '../agents/registration.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import type { EnvelopeBreakers } from './breakers.ts';
import { moveEnvelope } from './states.ts';

/** After a failed probe: ask the breakers again shortly (they answer with the new cooldown). */
const PROBE_FAILED_WAIT_MS = 1000;

export interface SendDeps {
  db: Db;
  keyring: SecretKeyring;
  client: ClawPulseClient;
  breakers: EnvelopeBreakers;
  logger: Logger;
  now: () => Date;
  /** The platform's own sender (`CLAWPULSE_PLATFORM_AGENT_ID`), signed with the PLATFORM agent's key. */
  platformAgentId: string;
  /** Waits before each retry after a failure for now (`A2A_RETRY_DELAYS_SECONDS`). */
  retryDelaysSeconds: readonly number[];
  /** The envelope's `ttl_ms` (`A2A_ENVELOPE_TTL_MS`). */
  envelopeTtlMs: number;
  metrics?: Pick<Metrics, 'a2aEnvelopes'> & Partial<Pick<Metrics, 'a2aInboxLagSeconds'>>;
}

export type SendResult = 'sent' | 'retry' | 'waiting' | 'failed' | 'expired' | 'skipped';

export interface EnvelopeSendOutcome {
  result: SendResult;
  /** Run the send again after this long; null when the envelope needs no more sending. */
  retryAfterMs: number | null;
  /** The recipient's gateway id when it is an agent of ours and the envelope went out: wake its inbox. */
  localRecipient: string | null;
  /** The sender's gateway id once the envelope went out (its inbox may now await an answer). */
  sender?: string;
  /**
   * What the send knows of the sender's inbox, with `sender` (for its next read, nextInboxRead):
   * its agent as the send read it, and that the envelope just sent awaits an answer.
   */
  senderInbox?: { agent: Pick<Agent, 'kind' | 'status'>; awaitingAnswer: true };
}

const done = (result: SendResult, localRecipient: string | null = null): EnvelopeSendOutcome => ({
  result,
  retryAfterMs: null,
  localRecipient,
});

/** Sends the outbound envelope `rowId` once, if it is PENDING and due. Safe to run twice. */
export async function sendEnvelope(deps: SendDeps, rowId: string): Promise<EnvelopeSendOutcome> {
  const row = await deps.db.a2aEnvelope.findUnique({ where: { id: rowId } });
  if (row?.direction === 'OUTBOUND' && row.state === 'SENT') {
    // Sent by a run that may have died before it woke the recipient and the sender's listener:
    // woken again (one read more is harmless; a lost wake is an answer nobody reads).
    const agents = await agentsByGatewayIds(deps.db, [row.toAgent], deps.platformAgentId);
    return { ...done('skipped', agents.has(row.toAgent) ? row.toAgent : null), sender: row.fromAgent };
  }
  if (row?.direction !== 'OUTBOUND' || row.state !== 'PENDING') return done('skipped');
  const now = deps.now();
  const count = (outcome: SendResult) =>
    deps.metrics?.a2aEnvelopes.inc({ intent: row.intent ?? 'unknown', direction: 'outbound', outcome });

  if (row.expiresAt && row.expiresAt <= now) {
    await moveEnvelope(deps.db, row.id, 'EXPIRED', { from: ['PENDING'], data: { nextAttemptAt: null } });
    count('expired');
    return done('expired');
  }
  // Woken early (the outbox sweep, a duplicate job): not before its time.
  if (row.nextAttemptAt && row.nextAttemptAt > now) {
    return {
      result: 'waiting',
      retryAfterMs: row.nextAttemptAt.getTime() - now.getTime(),
      localRecipient: null,
    };
  }

  // Both ends at once: the sender signs; a recipient of ours has its inbox woken once it is sent.
  const agents = await agentsByGatewayIds(deps.db, [row.fromAgent, row.toAgent], deps.platformAgentId);
  const senderAgent =
    agents.get(row.fromAgent) ??
    (row.fromAgent === deps.platformAgentId ? await ensurePlatformAgent(deps.db, deps.keyring) : null);
  const sender = senderAgent ? signingKeyOf(deps.keyring, senderAgent) : null;
  if (!senderAgent || !sender) {
    // Our own bug (a row queued for a sender we do not have): nothing to retry.
    await fail(deps, row, `unknown sender ${row.fromAgent}: not an agent of ours`);
    count('failed');
    return done('failed');
  }
  const admission = await deps.breakers.admit(row.toAgent);
  if (!admission.allowed) {
    await wait(
      deps,
      row,
      admission.retryAt,
      `circuit open (${admission.scope}) until ${admission.retryAt.toISOString()}`,
    );
    count('waiting');
    return {
      result: 'waiting',
      retryAfterMs: Math.max(0, admission.retryAt.getTime() - now.getTime()),
      localRecipient: null,
    };
  }

  const envelope: AgpEnvelope = {
    protocol: AGP_PROTOCOL,
    id: row.envelopeId!,
    from: row.fromAgent,
    to: row.toAgent,
    intent: row.intent!,
    payload: row.payload as Record<string, unknown>,
    agent_context: {},
    ttl_ms: deps.envelopeTtlMs,
    timestamp: now.toISOString(),
    ...(row.inReplyTo ? { in_reply_to: row.inReplyTo } : {}),
  };
  const signed = signEnvelope(envelope, sender, Math.floor(now.getTime() / 1000));

  let gatewayId: string;
  try {
    gatewayId = (
      await deps.client.send({
        to: row.toAgent,
        from: row.fromAgent,
        payload: signed,
        priority: row.priority as Priority,
      })
    ).id;
  } catch (error) {
    if (!(error instanceof ClawPulseError)) {
      // Not the gateway's answer: the job's own retry. The probe lease frees a held probe.
      throw error;
    }
    const log = {
      'envelope.id': row.envelopeId,
      'envelope.row': row.id,
      'envelope.to': row.toAgent,
      err: error.message,
    };
    if (error.kind === 'transient') {
      await deps.breakers.failure(admission);
      // A failed probe is the breaker's question, not this envelope's: it re-opens the breaker
      // and waits like every other envelope, so a long outage dead-letters nothing (the
      // envelope's expiry still ends the wait).
      if (Object.keys(admission.probes).length > 0) {
        const retryAt = new Date(now.getTime() + PROBE_FAILED_WAIT_MS);
        await wait(deps, row, retryAt, `probe failed, circuit open again: ${error.message}`);
        count('waiting');
        return { result: 'waiting', retryAfterMs: PROBE_FAILED_WAIT_MS, localRecipient: null };
      }
      const attempts = row.attempts + 1;
      const delay = deps.retryDelaysSeconds[attempts - 1];
      if (delay === undefined) {
        await fail(deps, row, `retries spent after ${attempts} attempts: ${error.message}`, { attempts });
        deps.logger.warn(log, 'envelope failed: the gateway kept failing');
        count('failed');
        return done('failed');
      }
      const retryAt = new Date(now.getTime() + delay * 1000);
      await wait(deps, row, retryAt, error.message, { attempts });
      count('retry');
      return { result: 'retry', retryAfterMs: delay * 1000, localRecipient: null };
    }
    await deps.breakers.success(admission);
    // One of our own agents the gateway does not know yet (its registration job has not run, or
    // the gateway lost it): register it now and send again shortly, once per attempt count.
    if (error.kind === 'unknown_recipient' && row.attempts < deps.retryDelaysSeconds.length) {
      const recipient = agents.get(row.toAgent);
      if (recipient && recipient.status !== 'RETIRED') {
        const registered = await registerAgent({ db: deps.db, clawpulse: deps.client }, recipient.id)
          .then(() => true)
          .catch(() => false);
        if (registered) {
          const attempts = row.attempts + 1;
          await wait(deps, row, new Date(now.getTime() + 1000), error.message, { attempts });
          deps.logger.info(log, 'recipient registered with the gateway; sending again');
          count('retry');
          return { result: 'retry', retryAfterMs: 1000, localRecipient: null };
        }
      }
    }
    if (error.kind === 'rate_limited') {
      const waitMs = error.retryAfterMs ?? 60_000;
      await wait(deps, row, new Date(now.getTime() + waitMs), error.message);
      count('waiting');
      return { result: 'waiting', retryAfterMs: waitMs, localRecipient: null };
    }
    const reason =
      error.kind === 'unauthorized'
        ? `unauthorized: the gateway refused our API key (${error.message})`
        : error.kind === 'unknown_recipient'
          ? `unknown recipient ${row.toAgent} (${error.message})`
          : `refused: ${error.message}`;
    await fail(deps, row, reason);
    deps.logger.warn(log, 'envelope failed: the gateway refused it');
    count('failed');
    return done('failed');
  }

  await deps.breakers.success(admission);
  await moveEnvelope(deps.db, row.id, 'SENT', {
    from: ['PENDING'],
    now,
    data: {
      // The gateway's answer, kept as PostgreSQL can hold it (a NUL failed the write, and the
      // envelope was sent again).
      gatewayMessageId: storableText(gatewayId),
      envelope: JSON.stringify(signed),
      lastError: null,
      nextAttemptAt: null,
    },
  });
  count('sent');
  return {
    ...done('sent', agents.has(row.toAgent) ? row.toAgent : null),
    sender: row.fromAgent,
    senderInbox: { agent: { kind: senderAgent.kind, status: senderAgent.status }, awaitingAnswer: true },
  };
}

/** Leaves the row PENDING until `retryAt` (only while still PENDING). */
async function wait(
  deps: SendDeps,
  row: A2aEnvelope,
  retryAt: Date,
  reason: string,
  extra: { attempts?: number } = {},
) {
  await deps.db.a2aEnvelope.updateMany({
    where: { id: row.id, state: 'PENDING' },
    data: { nextAttemptAt: retryAt, lastError: storableText(reason.slice(0, 1000)), ...extra },
  });
}

async function fail(deps: SendDeps, row: A2aEnvelope, reason: string, extra: { attempts?: number } = {}) {
  await moveEnvelope(deps.db, row.id, 'FAILED', {
    from: ['PENDING'],
    data: { lastError: storableText(reason.slice(0, 1000)), nextAttemptAt: null, ...extra },
  });
}
