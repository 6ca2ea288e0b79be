/**
 * The ClawPulse client against a loopback gateway that follows CLAWPULSE.md: every call, the
 * signing both ways, and each failure a real gateway gives, as the typed error the sender acts on.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClawPulseError, createClawPulseClient } from '../../src/integrations/clawpulse/client.ts';
import {
  type AgpEnvelope,
  consumerAgentId,
  parseAgentId,
  signatureVerifies,
  signEnvelope,
  venueAgentId,
} from '../../src/integrations/clawpulse/wire.ts';
import { type FakeClawPulse, startFakeClawPulse } from '../fakes/clawpulse.ts';

let gateway: FakeClawPulse;
const guest = consumerAgentId(randomUUID());
const venue = venueAgentId(randomUUID());
const key = { kid: 'k-1', secret: Buffer.alloc(32, 7) };

function envelope(): AgpEnvelope {
  return {
    protocol: 'agp/1',
    id: randomUUID(),
    from: guest,
    to: venue,
    intent: 'network.ping',
    payload: {},
    agent_context: {},
    ttl_ms: 30_000,
    timestamp: new Date().toISOString(),
  };
}

const client = (timeoutMs = 2000, apiKey?: string) =>
  createClawPulseClient({ baseUrl: `${gateway.url}/`, apiKey: apiKey ?? gateway.apiKey, timeoutMs });

beforeAll(async () => {
  gateway = await startFakeClawPulse();
});
afterAll(() => gateway.close());
beforeEach(() => {
  gateway.up();
  gateway.messages.length = 0;
  gateway.duplicateDelivery = false;
  gateway.reorder = false;
});

describe('the wire', () => {
  it('names agents by kind and id, and reads the names back', () => {
    const id = randomUUID();
    expect(parseAgentId(consumerAgentId(id))).toEqual({ kind: 'consumer', id });
    expect(parseAgentId(venueAgentId(id))).toEqual({ kind: 'venue', id });
    expect(parseAgentId('platform-agnt')).toEqual({ kind: 'platform', name: 'agnt' });
    expect(parseAgentId('venue-not-a-uuid')).toBeNull();
    expect(parseAgentId('someone')).toBeNull();
  });

  it('signs the exact envelope text with its timestamp, and any change breaks the signature', () => {
    const signed = signEnvelope(envelope(), key, 1_764_712_800);
    expect(signed.sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(signed.kid).toBe('k-1');
    expect(signatureVerifies(signed, key.secret)).toBe(true);
    expect(signatureVerifies({ ...signed, ts: signed.ts + 1 }, key.secret)).toBe(false);
    expect(
      signatureVerifies({ ...signed, envelope: signed.envelope.replace('ping', 'pong') }, key.secret),
    ).toBe(false);
    expect(signatureVerifies(signed, Buffer.alloc(32, 8))).toBe(false);
    expect(signatureVerifies({ ...signed, sig: 'v1=00' }, key.secret)).toBe(false);
  });
});

describe('the client', () => {
  it('registers, sends, reads an inbox oldest first, and acknowledges once', async () => {
    const cp = client();
    await cp.register({ agentId: venue, kind: 'venue', dna: { role: 'venue_concierge' } });
    await cp.register({ agentId: venue, kind: 'venue', dna: { role: 'venue_concierge', v: 2 } });
    expect(gateway.agents.get(venue)).toMatchObject({ registrations: 2, dna: { v: 2 } });

    const first = signEnvelope(envelope(), key, Math.floor(Date.now() / 1000));
    const second = signEnvelope(envelope(), key, Math.floor(Date.now() / 1000));
    const a = await cp.send({ to: venue, from: guest, payload: first, priority: 'high' });
    const b = await cp.send({ to: venue, from: guest, payload: second });
    expect(a.id).not.toBe(b.id);

    const inbox = await cp.inbox(venue, 10);
    expect(inbox.map((m) => m.id)).toEqual([a.id, b.id]);
    expect(inbox[0]).toMatchObject({ from: guest, to: venue, priority: 'high', payload: first });
    // Handed out and not acknowledged: hidden for the visibility timeout, then handed out again.
    expect(await cp.inbox(venue)).toEqual([]);
    gateway.advance(61_000);
    expect((await cp.inbox(venue)).map((m) => m.id)).toEqual([a.id, b.id]);

    expect(await cp.ack(venue, [a.id, b.id])).toBe(2);
    expect(await cp.ack(venue, [a.id, b.id])).toBe(0);
    expect(await cp.ack(venue, [])).toBe(0);
    gateway.advance(61_000);
    expect(await cp.inbox(venue)).toEqual([]);
  });

  it('says which failures are worth retrying', async () => {
    const cp = client();
    gateway.register(venue);
    const payload = signEnvelope(envelope(), key, Math.floor(Date.now() / 1000));

    const unknown = await cp.send({ to: venueAgentId(randomUUID()), from: guest, payload }).catch((e) => e);
    expect(unknown).toBeInstanceOf(ClawPulseError);
    expect(unknown).toMatchObject({ kind: 'unknown_recipient', status: 404, retryable: false });

    const wrongKey = await client(2000, 'not-the-key')
      .send({ to: venue, from: guest, payload })
      .catch((e) => e);
    expect(wrongKey).toMatchObject({ kind: 'unauthorized', status: 401, retryable: false });

    gateway.failNext('message', { status: 429, retryAfter: '7' });
    const limited = await cp.send({ to: venue, from: guest, payload }).catch((e) => e);
    expect(limited).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 7000, retryable: true });

    gateway.failNext('message', { status: 503 });
    expect(await cp.send({ to: venue, from: guest, payload }).catch((e) => e)).toMatchObject({
      kind: 'transient',
      status: 503,
    });

    gateway.failNext('message', { status: 400, body: { error: 'bad body' } });
    const bad = await cp.send({ to: venue, from: guest, payload }).catch((e) => e);
    expect(bad).toMatchObject({ kind: 'permanent', status: 400 });
    expect(bad.message).toContain('bad body');

    gateway.failNext('message', { reset: true });
    expect(await cp.send({ to: venue, from: guest, payload }).catch((e) => e)).toMatchObject({
      kind: 'transient',
      status: null,
    });

    gateway.failNext('inbox', { hang: true });
    const started = Date.now();
    const slow = await client(300)
      .inbox(venue)
      .catch((e) => e);
    expect(slow).toMatchObject({ kind: 'transient', status: null });
    expect(slow.message).toMatch(/within 300 ms/);
    expect(Date.now() - started).toBeLessThan(3000);

    // Nothing reached the inbox through any of the failures.
    expect(gateway.pending(venue)).toEqual([]);
  });

  it('hands on what a misbehaving gateway delivers: twice, and out of order', async () => {
    const cp = client();
    gateway.register(venue);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const payload = signEnvelope(envelope(), key, Math.floor(Date.now() / 1000));
      ids.push((await cp.send({ to: venue, from: guest, payload })).id);
    }
    gateway.duplicateDelivery = true;
    gateway.reorder = true;
    const inbox = await cp.inbox(venue);
    expect(inbox.map((m) => m.id)).toEqual([ids[2], ids[2], ids[1], ids[1], ids[0], ids[0]]);
  });

  it('a gateway that is down is a transient failure on every call', async () => {
    gateway.down();
    const cp = client();
    await expect(cp.register({ agentId: venue, kind: 'venue', dna: {} })).rejects.toMatchObject({
      kind: 'transient',
      status: 503,
    });
    await expect(cp.inbox(venue)).rejects.toMatchObject({ kind: 'transient' });
    gateway.up();
    await expect(cp.inbox(venue)).resolves.toEqual([]);
  });
});
