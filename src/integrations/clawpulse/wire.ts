/**
 * The ClawPulse wire (CLAWPULSE.md): agent ids, the AGP envelope, and the signed payload that
 * carries it through a gateway. Signing covers the exact characters of the serialised envelope
 * and the timestamp, so there is no canonical-JSON problem: the receiver verifies the string it
 * was given, then parses it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type AgentKindOnWire = 'consumer' | 'venue' | 'platform';

export type Priority = 'low' | 'normal' | 'high';

/** `consumer-<user uuid>`: a person's consumer agent on the network. */
export function consumerAgentId(userId: string): string {
  return `consumer-${userId}`;
}

/** `venue-<venue uuid>`: a venue's business agent on the network. */
export function venueAgentId(venueId: string): string {
  return `venue-${venueId}`;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const AGENT_ID = new RegExp(`^(?:(consumer|venue)-(${UUID})|platform-([A-Za-z0-9_.-]{1,64}))$`);

/** What an agent id names, or null when it follows none of the three forms. */
export function parseAgentId(
  agentId: string,
): { kind: 'consumer' | 'venue'; id: string } | { kind: 'platform'; name: string } | null {
  const match = AGENT_ID.exec(agentId);
  if (!match) return null;
  if (match[3]) return { kind: 'platform', name: match[3] };
  return { kind: match[1] as 'consumer' | 'venue', id: match[2]! };
}

export const AGP_PROTOCOL = 'agp/1';

/** The AGP envelope, as its sender serialised it. */
export interface AgpEnvelope {
  protocol: string;
  id: string;
  from: string;
  to: string;
  intent: string;
  payload: Record<string, unknown>;
  agent_context: Record<string, unknown>;
  ttl_ms: number;
  /** ISO 8601 with milliseconds, the moment it was signed. */
  timestamp: string;
  in_reply_to?: string;
}

/** The gateway message's `payload`: the envelope as a string, and its signature. */
export interface SignedEnvelope {
  envelope: string;
  /** Seconds since the epoch. */
  ts: number;
  kid: string;
  /** `v1=<hex HMAC-SHA256(key, ts + '.' + envelope)>`. */
  sig: string;
}

export function signatureOf(key: Buffer, ts: number, envelope: string): string {
  return `v1=${createHmac('sha256', key).update(`${ts}.${envelope}`).digest('hex')}`;
}

/** Serialises and signs an envelope with the sender's key. */
export function signEnvelope(
  envelope: AgpEnvelope,
  key: { kid: string; secret: Buffer },
  ts: number,
): SignedEnvelope {
  const text = JSON.stringify(envelope);
  return { envelope: text, ts, kid: key.kid, sig: signatureOf(key.secret, ts, text) };
}

/** Whether `signed.sig` is the MAC of its envelope and ts under `key`, compared in constant time. */
export function signatureVerifies(signed: SignedEnvelope, key: Buffer): boolean {
  const expected = Buffer.from(signatureOf(key, signed.ts, signed.envelope));
  const given = Buffer.from(String(signed.sig));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A message as a gateway hands it out of an inbox. */
export interface InboxMessage {
  /** The gateway's id for this message (acknowledge it by this id). */
  id: string;
  from: string;
  to: string;
  priority: Priority;
  /** As sent: a SignedEnvelope when the sender followed the wire, anything when it did not. */
  payload: unknown;
  receivedAt: string;
}
