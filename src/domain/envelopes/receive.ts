/**
 * Reading an agent's inbox at the gateway. Every message is verified before anything acts on it
 * (CLAWPULSE.md, "The signed envelope"): a well-formed signed envelope from an agent of ours,
 * the gateway's `from` equal to the envelope's, the signature valid in constant time under the
 * sender's key named by `kid` (its current key, or its previous one during a rotation overlap),
 * `ts` within 300 s of its arrival, `timestamp + ttl_ms` not passed when it arrived, protocol
 * `agp/1`, an intent we know with a payload that passes its schema, addressed to this agent, and an
 * id never accepted before. "Arrived" is when the gateway received it (`receivedAt`, never later
 * than our clock): a message that reached the inbox in time stays in time while it waits for our
 * read, or comes back after a drain that failed (60 s later), instead of being refused as expired
 * and lost.
 *
 * An accepted envelope becomes an INBOUND row, DELIVERED, and its `a2a-handle` job, in one
 * transaction; a refused one an INBOUND row, REJECTED, with the reason, which nothing ever acts
 * on. The same message handed out twice by the gateway (at least once) is recognised by its
 * gateway id and only acknowledged again. Every message handed out is acknowledged after it is
 * recorded, rejected ones too, so none comes back; a crash before the acknowledgement hands the
 * same messages out again, which is harmless. A message whose recording fails is left
 * unacknowledged for the gateway to hand out again, and the rest of the batch goes on: one message
 * never holds up the inbox. One still failing `UNRECORDABLE_AFTER_MS` (a day) after the gateway
 * received it is given up on: recorded REJECTED as it came (its text for the audit, no payload),
 * with the error, and acknowledged, so an inbox is not read again for it for ever. What is stored
 * of a message is made storable first (no NUL, no lone surrogate: a sender chooses those
 * characters and PostgreSQL refuses them).
 */
import { randomUUID } from 'node:crypto';
import type { Agent, Prisma } from '../../generated/prisma/client.ts';
import type { ClawPulseClient } from '../../integrations/clawpulse/client.ts';
import {
  AGP_PROTOCOL,
  type AgpEnvelope,
  type InboxMessage,
  type SignedEnvelope,
  signatureVerifies,
} from '../../integrations/clawpulse/wire.ts';
import type { Db } from '../../platform/db.ts';
import { addJobColumns, jobToAdd } from '../../platform/jobs.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Metrics } from '../../platform/metrics.ts';
import { storable, storableText } from '../../platform/storable.ts';
import { isUuid } from '../../platform/uuid.ts';
import { agentByGatewayId, recordInboxPoll, verifyingKey } from '../agents/agents.ts';
import type { SecretKeyring } from '../agents/secrets.ts';
import { type Intent, isIntent, parseIntentPayload } from './intents.ts';
import { movableTo } from './states.ts';
import { a2aHandleTask, handleKey } from './tasks.ts';

/** How far a signature's `ts` may be from our clock. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** Messages read per drain (the gateway's limit). */
export const INBOX_BATCH = 100;

/** How long after the gateway received it a message that cannot be recorded is tried again. */
export const UNRECORDABLE_AFTER_MS = 24 * 60 * 60 * 1000;

export interface ReceiveDeps {
  db: Db;
  keyring: SecretKeyring;
  client: ClawPulseClient;
  logger: Logger;
  now: () => Date;
  platformAgentId: string;
  metrics?: Pick<Metrics, 'a2aEnvelopes'> & Partial<Pick<Metrics, 'a2aInboxLagSeconds'>>;
  /** Messages per read (default and maximum 100). */
  batch?: number;
}

export interface InboxDrainResult {
  received: number;
  accepted: number;
  rejected: number;
  /** Handed out again by the gateway after we had recorded them. */
  duplicates: number;
  /** Not recorded (an error of ours): left unacknowledged, so the gateway hands them out again. */
  failed: number;
  /** Not recorded for `UNRECORDABLE_AFTER_MS`: recorded REJECTED as they came, and acknowledged. */
  abandoned: number;
  /** The read was full: the inbox may hold more. */
  more: boolean;
  /** The agent of ours whose inbox this is, as it was when the read was recorded; null: none. */
  agent?: Pick<Agent, 'kind' | 'status'> | null;
}

type Verdict =
  | { ok: true; envelope: AgpEnvelope & { intent: Intent }; payload: Record<string, unknown> }
  | { ok: false; reason: string; envelope: Partial<AgpEnvelope> | null };

/** Reads, verifies, records and acknowledges one batch of `gatewayAgentId`'s inbox. */
export async function drainInbox(deps: ReceiveDeps, gatewayAgentId: string): Promise<InboxDrainResult> {
  const batch = Math.min(INBOX_BATCH, deps.batch ?? INBOX_BATCH);
  const messages = await deps.client.inbox(gatewayAgentId, batch);
  const result: InboxDrainResult = {
    received: messages.length,
    accepted: 0,
    rejected: 0,
    duplicates: 0,
    failed: 0,
    abandoned: 0,
    more: messages.length >= batch,
  };
  const kind = gatewayAgentId.split('-')[0] ?? 'unknown';
  const recorded: string[] = [];
  for (const message of messages) {
    const waited = (deps.now().getTime() - Date.parse(message.receivedAt)) / 1000;
    if (Number.isFinite(waited)) deps.metrics?.a2aInboxLagSeconds?.observe({ kind }, Math.max(0, waited));
    try {
      const outcome = await receiveMessage(deps, gatewayAgentId, message);
      result[outcome] += 1;
      recorded.push(message.id);
    } catch (error) {
      const log = { err: error, 'agent.gateway_id': gatewayAgentId, 'gateway.message': message.id };
      if (
        !(waited * 1000 >= UNRECORDABLE_AFTER_MS && (await abandon(deps, gatewayAgentId, message, error)))
      ) {
        result.failed += 1;
        deps.logger.error(log, 'inbox message not recorded; the gateway hands it out again');
        continue;
      }
      result.abandoned += 1;
      recorded.push(message.id);
      deps.logger.error(log, 'inbox message not recorded for a day: kept as rejected and acknowledged');
    }
  }
  if (recorded.length) await deps.client.ack(gatewayAgentId, recorded);
  result.agent = await recordInboxPoll(deps.db, gatewayAgentId, deps.platformAgentId, deps.now());
  return result;
}

/**
 * Records a message given up on as REJECTED, as it came: its text for the audit and its sender as
 * the gateway named it, nothing parsed from it. False when even that cannot be written.
 */
async function abandon(
  deps: ReceiveDeps,
  gatewayAgentId: string,
  message: InboxMessage,
  error: unknown,
): Promise<boolean> {
  const why = error instanceof Error ? error.message : String(error);
  try {
    await deps.db.a2aEnvelope.create({
      data: {
        id: randomUUID(),
        direction: 'INBOUND',
        fromAgent: storableText(String(message.from).slice(0, 200)),
        toAgent: gatewayAgentId,
        payload: {},
        envelope: auditText(message.payload),
        state: 'REJECTED',
        rejectReason: storableText(`not recorded for a day: ${why}`.slice(0, 500)),
        priority: priorityOf(message.priority),
        gatewayMessageId: storableText(String(message.id)),
      },
    });
    deps.metrics?.a2aEnvelopes.inc({ intent: 'unknown', direction: 'inbound', outcome: 'rejected' });
    return true;
  } catch (again) {
    deps.logger.error({ err: again, 'gateway.message': message.id }, 'inbox message not kept as rejected');
    return false;
  }
}

/** Verifies and records one message; what became of it. */
export async function receiveMessage(
  deps: ReceiveDeps,
  gatewayAgentId: string,
  message: InboxMessage,
): Promise<'accepted' | 'rejected' | 'duplicates'> {
  const now = deps.now();
  const verdict = await verify(deps, gatewayAgentId, message, now);
  const envelopeId = verdict.envelope && isUuid(verdict.envelope.id) ? verdict.envelope.id : null;
  const intent = typeof verdict.envelope?.intent === 'string' ? verdict.envelope.intent.slice(0, 100) : null;
  const count = (outcome: string) =>
    deps.metrics?.a2aEnvelopes.inc({
      intent: isIntent(intent) ? intent : 'unknown',
      direction: 'inbound',
      outcome,
    });

  // The gateway handing out again a message we recorded (at least once): acknowledge it only.
  // For an envelope that passed, the insert below asks the same in its own statement.
  if (envelopeId && !verdict.ok) {
    const seen = await deps.db.a2aEnvelope.findFirst({
      where: {
        direction: 'INBOUND',
        envelopeId,
        gatewayMessageId: storableText(String(message.id)),
        fromAgent: storableText(String(message.from)),
      },
      select: { id: true },
    });
    if (seen) {
      count('duplicate');
      return 'duplicates';
    }
  }
  const audit = auditText(message.payload);
  const log = { 'envelope.id': envelopeId, 'envelope.from': message.from, 'gateway.message': message.id };

  if (verdict.ok) {
    const { envelope } = verdict;
    // One statement, so one atomic write without a transaction: the row, unless this gateway
    // message was recorded before (the gateway handing it out again, an earlier read refusing it);
    // its handling job, added only when the row was; and, when an agent of ours sent it, our own
    // outbound row moved to DELIVERED as moveEnvelope moves it. The partial unique index
    // (direction, envelope_id) of accepted rows decides replays, also between two drains of one
    // inbox at once. (The gateway's `from` is the envelope's: a message whose differ does not pass.)
    const rowId = randomUUID();
    const values: unknown[] = [
      rowId,
      envelope.id,
      envelope.from,
      envelope.to,
      envelope.intent,
      JSON.stringify(storable(verdict.payload)),
      audit,
      envelope.in_reply_to ?? null,
      priorityOf(message.priority),
      new Date(Date.parse(envelope.timestamp) + envelope.ttl_ms),
      message.id,
      now,
      movableTo('DELIVERED', ['SENT']),
    ];
    const [job] = addJobColumns(
      [
        jobToAdd(
          a2aHandleTask,
          { envelopeRowId: rowId, intent: envelope.intent },
          { jobKey: handleKey(rowId), jobKeyMode: 'replace' },
        ),
      ],
      values,
    );
    const inserted = await deps.db.$queryRawUnsafe<unknown[]>(
      `
      WITH inserted AS (
        INSERT INTO a2a_envelopes (id, envelope_id, direction, from_agent, to_agent, intent, payload,
                                   envelope, state, in_reply_to, priority, expires_at,
                                   gateway_message_id, delivered_at, updated_at)
        SELECT $1::uuid, $2::uuid, 'INBOUND', $3::text, $4::text, $5::text, $6::text::jsonb, $7::text,
               'DELIVERED', $8::uuid, $9::text, $10::timestamptz, $11::text, $12::timestamptz,
               $12::timestamptz
        WHERE NOT EXISTS (
          SELECT 1 FROM a2a_envelopes
          WHERE direction = 'INBOUND' AND envelope_id = $2::uuid
            AND gateway_message_id = $11::text AND from_agent = $3::text)
        ON CONFLICT (direction, envelope_id) WHERE state <> 'REJECTED' DO NOTHING
        RETURNING 1
      ),
      delivered AS (
        UPDATE a2a_envelopes SET state = 'DELIVERED', delivered_at = $12::timestamptz,
                                 updated_at = $12::timestamptz
        WHERE direction = 'OUTBOUND' AND envelope_id = $2::uuid AND state::text = ANY ($13::text[])
          AND EXISTS (SELECT 1 FROM inserted)
        RETURNING 1
      )
      SELECT ${job} FROM inserted`,
      ...values,
    );
    const accepted = inserted.length > 0;
    if (accepted) {
      count('accepted');
      deps.logger.debug({ ...log, 'envelope.intent': envelope.intent }, 'envelope accepted');
      return 'accepted';
    }
    // Not written: this gateway message recorded before (handed out again), or taken meanwhile by
    // another drain of this inbox from the same message; either is a duplicate, not a replay.
    const same = await deps.db.a2aEnvelope.findFirst({
      where: {
        direction: 'INBOUND',
        envelopeId: envelope.id,
        gatewayMessageId: message.id,
        OR: [{ fromAgent: message.from }, { state: { not: 'REJECTED' } }],
      },
      select: { id: true },
    });
    if (same) {
      count('duplicate');
      return 'duplicates';
    }
  }
  const reason = verdict.ok ? 'replayed' : verdict.reason;
  await deps.db.a2aEnvelope.create({
    data: {
      id: randomUUID(),
      envelopeId,
      direction: 'INBOUND',
      fromAgent: storableText(
        (typeof verdict.envelope?.from === 'string' ? verdict.envelope.from : String(message.from)).slice(
          0,
          200,
        ),
      ),
      toAgent: gatewayAgentId,
      intent: intent === null ? null : storableText(intent),
      payload: rejectedPayload(verdict.envelope?.payload),
      envelope: audit,
      state: 'REJECTED',
      rejectReason: storableText(reason),
      inReplyTo:
        verdict.envelope && isUuid(verdict.envelope.in_reply_to) ? verdict.envelope.in_reply_to : null,
      priority: priorityOf(message.priority),
      gatewayMessageId: storableText(String(message.id)),
    },
  });
  count('rejected');
  deps.logger.warn({ ...log, 'envelope.reject_reason': reason }, 'envelope rejected');
  return 'rejected';
}

async function verify(deps: ReceiveDeps, to: string, message: InboxMessage, now: Date): Promise<Verdict> {
  const signed = message.payload as Partial<SignedEnvelope> | null;
  if (
    !isObject(signed) ||
    typeof signed.envelope !== 'string' ||
    !Number.isInteger(signed.ts) ||
    typeof signed.kid !== 'string' ||
    typeof signed.sig !== 'string'
  ) {
    return { ok: false, reason: 'malformed: not a signed envelope', envelope: null };
  }
  // Parsed only to know what it claims; nothing acts on it unless every check below passes.
  let envelope: Partial<AgpEnvelope>;
  try {
    const parsed: unknown = JSON.parse(signed.envelope);
    if (!isObject(parsed)) throw new Error('not an object');
    envelope = parsed as Partial<AgpEnvelope>;
  } catch {
    return { ok: false, reason: 'malformed: the envelope is not a JSON object', envelope: null };
  }
  const refuse = (reason: string): Verdict => ({ ok: false, reason, envelope });
  if (
    !isUuid(envelope.id) ||
    typeof envelope.from !== 'string' ||
    typeof envelope.to !== 'string' ||
    typeof envelope.intent !== 'string' ||
    !isObject(envelope.payload) ||
    typeof envelope.ttl_ms !== 'number' ||
    typeof envelope.timestamp !== 'string' ||
    Number.isNaN(Date.parse(envelope.timestamp)) ||
    (envelope.in_reply_to !== undefined && !isUuid(envelope.in_reply_to))
  ) {
    return refuse('malformed: the envelope lacks a field or has one of the wrong type');
  }
  const sender: Agent | null = await agentByGatewayId(deps.db, envelope.from, deps.platformAgentId);
  if (!sender) return refuse('unknown sender');
  // A retired agent speaks for no one any more (a paused one may still answer what it started).
  if (sender.status === 'RETIRED') return refuse('sender retired');
  if (message.from !== envelope.from)
    return refuse('sender mismatch: the gateway message is from another agent');
  // A retired key verifies what reached the gateway while it was valid, whenever it is read.
  const arrived = arrivalOf(message, now);
  const key = verifyingKey(deps.keyring, sender, signed.kid, new Date(arrived));
  if (!key) return refuse('unknown key: the sender has no valid key with this kid');
  if (!signatureVerifies(signed as SignedEnvelope, key.secret)) return refuse('bad signature');
  if (Math.abs(arrived / 1000 - signed.ts!) > MAX_CLOCK_SKEW_SECONDS) {
    return refuse(`stale: ts is more than ${MAX_CLOCK_SKEW_SECONDS} s from now`);
  }
  if (Date.parse(envelope.timestamp) + envelope.ttl_ms <= arrived)
    return refuse('expired: its ttl has passed');
  if (envelope.protocol !== AGP_PROTOCOL)
    return refuse(`unsupported protocol ${String(envelope.protocol).slice(0, 40)}`);
  if (!isIntent(envelope.intent)) return refuse('unknown intent');
  const payload = parseIntentPayload(envelope.intent, envelope.payload);
  if (!payload.ok) return refuse(`invalid payload: ${payload.reason}`);
  if (envelope.to !== to) return refuse('wrong recipient: addressed to another agent');
  return {
    ok: true,
    envelope: envelope as AgpEnvelope & { intent: Intent },
    payload: payload.payload as Record<string, unknown>,
  };
}

/**
 * When the message reached the inbox (ms): the gateway's `receivedAt`, never later than `now`
 * (a gateway clock ahead of ours gains a sender nothing); `now` when the gateway gives none.
 */
function arrivalOf(message: InboxMessage, now: Date): number {
  const received = Date.parse(message.receivedAt);
  return Number.isFinite(received) ? Math.min(received, now.getTime()) : now.getTime();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function priorityOf(priority: unknown): 'low' | 'normal' | 'high' {
  return priority === 'low' || priority === 'high' ? priority : 'normal';
}

/** The message's payload as received, for audit (bounded: a hostile sender chooses its size). */
/** Most of a rejected envelope's payload kept as JSON; a larger one is only in its audit text. */
const REJECTED_PAYLOAD_CHARS = 16_384;

/**
 * What a REJECTED row keeps as its payload: anyone can send one, unverified, so only a payload
 * within REJECTED_PAYLOAD_CHARS (and STORABLE_DEPTH) is kept as JSON; a larger one is `{}`, its
 * first 64 KB in the envelope's audit text.
 */
function rejectedPayload(payload: unknown): Prisma.InputJsonValue {
  if (!isObject(payload)) return {};
  const kept = storable(payload);
  return JSON.stringify(kept).length <= REJECTED_PAYLOAD_CHARS ? (kept as Prisma.InputJsonValue) : {};
}

function auditText(payload: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(payload) ?? 'undefined';
  } catch {
    text = String(payload);
  }
  return storableText(text.length > 65_536 ? `${text.slice(0, 65_536)}…` : text);
}
