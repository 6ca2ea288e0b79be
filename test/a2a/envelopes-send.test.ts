/**
 * Sending envelopes through the fake gateway: signed with the sender's current key, SENT on 202;
 * failures for now retried after 1, 5 and 25 minutes then FAILED; 401 and 404 FAILED at once (a
 * 404 for an agent of ours registers it and sends again);
 * 429, an open breaker and a failed probe wait without counting an attempt.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentSigningKey } from '../../src/domain/agents/agents.ts';
import { recipientScope } from '../../src/domain/envelopes/breakers.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import {
  type AgpEnvelope,
  type SignedEnvelope,
  signatureVerifies,
} from '../../src/integrations/clawpulse/wire.ts';
import { type EnvelopeWorld, envelopeWorld, seriesValue } from './envelopes-world.ts';

let world: EnvelopeWorld;
beforeAll(async () => {
  world = await envelopeWorld();
});
afterAll(() => world.close());
beforeEach(async () => {
  world.gateway.up();
  await world.redis.flush();
});

async function queue(options: { to?: string } = {}) {
  const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
  const row = await queueEnvelope(world.db, {
    from: guest.id,
    to: options.to ?? place.id,
    intent: 'venue.question',
    payload: { text: 'Is there a vegetarian menu?' },
    now: world.clock.now(),
  });
  return { guest, place, row };
}

const row = (id: string) => world.db.a2aEnvelope.findUniqueOrThrow({ where: { id } });

describe('sending an envelope', () => {
  it('signs it with the sender’s current key and records it SENT with the gateway’s id', async () => {
    const { guest, place, row: queued } = await queue();
    const outcome = await sendEnvelope(world.deps, queued.id);
    // Sent: the recipient (ours) is woken, and the sender may now await an answer.
    expect(outcome).toEqual({
      result: 'sent',
      retryAfterMs: null,
      localRecipient: place.id,
      sender: guest.id,
      senderInbox: { agent: { kind: 'CONSUMER', status: 'ACTIVE' }, awaitingAnswer: true },
    });

    const [message] = world.gateway.pending(place.id);
    expect(message).toMatchObject({ from: guest.id, to: place.id, priority: 'normal' });
    const signed = message!.payload as SignedEnvelope;
    const key = await agentSigningKey(world.db, world.keyring, guest.agent.id);
    expect(signed.kid).toBe(key.kid);
    expect(signed.kid).toBe(`${guest.agent.id.slice(0, 8)}-v1`);
    expect(signatureVerifies(signed, key.secret)).toBe(true);
    const envelope = JSON.parse(signed.envelope) as AgpEnvelope;
    expect(envelope).toMatchObject({
      protocol: 'agp/1',
      id: queued.envelopeId,
      from: guest.id,
      to: place.id,
      intent: 'venue.question',
      payload: { text: 'Is there a vegetarian menu?' },
      ttl_ms: 30_000,
    });
    expect(Math.abs(signed.ts - world.clock.now().getTime() / 1000)).toBeLessThan(5);

    const sent = await row(queued.id);
    expect(sent).toMatchObject({
      state: 'SENT',
      gatewayMessageId: message!.id,
      attempts: 0,
      lastError: null,
    });
    expect(sent.envelope).toBe(JSON.stringify(signed));
    expect(sent.sentAt).not.toBeNull();
    expect(
      await seriesValue(world, 'a2a_envelopes_total', {
        intent: 'venue.question',
        direction: 'outbound',
        outcome: 'sent',
      }),
    ).toBeGreaterThanOrEqual(1);

    // Sent once: running the job again sends nothing, and wakes the recipient and the sender's
    // listener again (the run that sent it may have died before it woke them).
    expect(await sendEnvelope(world.deps, queued.id)).toEqual({
      result: 'skipped',
      retryAfterMs: null,
      localRecipient: place.id,
      sender: guest.id,
    });
    expect(world.gateway.pending(place.id)).toHaveLength(1);
    expect(world.gateway.pending(place.id)).toHaveLength(1);
  });

  it('queues a payload holding a NUL (a model’s words) as U+FFFD, and sends it so', async () => {
    const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
    const queued = await queueEnvelope(world.db, {
      from: guest.id,
      to: place.id,
      intent: 'venue.question',
      payload: { text: 'Is there a\u0000 terrace?' },
      now: world.clock.now(),
    });
    expect((await row(queued.id)).payload).toEqual({ text: 'Is there a\ufffd terrace?' });
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    const [message] = world.gateway.pending(place.id);
    const envelope = JSON.parse((message!.payload as SignedEnvelope).envelope) as AgpEnvelope;
    expect(envelope.payload).toEqual({ text: 'Is there a\ufffd terrace?' });
  });

  it('retries failures for now after 1, 5 and 25 minutes, then gives up', async () => {
    const { place, row: queued } = await queue();
    for (const [attempt, delay] of [
      [1, 60],
      [2, 300],
      [3, 1500],
    ] as const) {
      world.gateway.failNext('message', attempt === 2 ? { hang: true } : { status: 503 });
      const outcome = await sendEnvelope(world.deps, queued.id);
      expect(outcome, `attempt ${attempt}`).toEqual({
        result: 'retry',
        retryAfterMs: delay * 1000,
        localRecipient: null,
      });
      const waiting = await row(queued.id);
      expect(waiting).toMatchObject({ state: 'PENDING', attempts: attempt });
      expect(waiting.nextAttemptAt!.getTime() - world.clock.now().getTime()).toBeGreaterThan(
        delay * 1000 - 5000,
      );
      // Not due yet: a job started early goes back to sleep without a call.
      const early = await sendEnvelope(world.deps, queued.id);
      expect(early.result).toBe('waiting');
      world.clock.advance(delay * 1000);
      // Breakers are not what this test is about.
      await world.redis.flush();
    }
    world.gateway.failNext('message', { status: 502 });
    expect(await sendEnvelope(world.deps, queued.id)).toEqual({
      result: 'failed',
      retryAfterMs: null,
      localRecipient: null,
    });
    const failed = await row(queued.id);
    expect(failed).toMatchObject({ state: 'FAILED', attempts: 4 });
    expect(failed.lastError).toMatch(/^retries spent after 4 attempts/);
    expect(world.gateway.pending(place.id)).toHaveLength(0);
  });

  it('signs each attempt afresh, with the same envelope id', async () => {
    const { place, row: queued } = await queue();
    world.gateway.failNext('message', { status: 500 });
    await sendEnvelope(world.deps, queued.id);
    world.clock.advance(61_000);
    await sendEnvelope(world.deps, queued.id);
    const [message] = world.gateway.pending(place.id);
    const signed = message!.payload as SignedEnvelope;
    const envelope = JSON.parse(signed.envelope) as AgpEnvelope;
    expect(envelope.id).toBe(queued.envelopeId);
    expect(Date.parse(envelope.timestamp)).toBeGreaterThanOrEqual(world.clock.now().getTime() - 5000);
    expect(signed.ts).toBeGreaterThanOrEqual(Math.floor(world.clock.now().getTime() / 1000) - 5);
  });

  it('dead-letters at once on 401 and on 404', async () => {
    const first = await queue();
    world.gateway.failNext('message', { status: 401 });
    expect((await sendEnvelope(world.deps, first.row.id)).result).toBe('failed');
    expect(await row(first.row.id)).toMatchObject({
      state: 'FAILED',
      attempts: 0,
      lastError: expect.stringMatching(/^unauthorized/),
    });

    // An agent the gateway does not know: the fake answers 404.
    const second = await queue({ to: 'venue-00000000-0000-4000-8000-000000000000' });
    expect((await sendEnvelope(world.deps, second.row.id)).result).toBe('failed');
    expect(await row(second.row.id)).toMatchObject({
      state: 'FAILED',
      attempts: 0,
      lastError: expect.stringMatching(/^unknown recipient/),
    });
    expect(
      await seriesValue(world, 'a2a_envelopes_total', {
        intent: 'venue.question',
        direction: 'outbound',
        outcome: 'failed',
      }),
    ).toBeGreaterThanOrEqual(2);
  });

  it('registers an agent of ours the gateway does not know yet, and sends again', async () => {
    const { place, row: queued } = await queue();
    // Its registration job has not run (or the gateway lost it): the gateway answers 404.
    world.gateway.agents.delete(place.id);
    const outcome = await sendEnvelope(world.deps, queued.id);
    expect(outcome).toMatchObject({ result: 'retry', retryAfterMs: 1000 });
    expect(world.gateway.agents.get(place.id)).toMatchObject({ kind: 'venue', registrations: 1 });
    expect(await row(queued.id)).toMatchObject({ state: 'PENDING', attempts: 1 });
    world.clock.advance(1000);
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    expect(world.gateway.pending(place.id)).toHaveLength(1);
  });

  it('waits as long as a 429 says without counting an attempt, then sends', async () => {
    const { place, row: queued } = await queue();
    world.gateway.failNext('message', { status: 429, retryAfter: '7' });
    expect(await sendEnvelope(world.deps, queued.id)).toEqual({
      result: 'waiting',
      retryAfterMs: 7000,
      localRecipient: null,
    });
    expect(await row(queued.id)).toMatchObject({ state: 'PENDING', attempts: 0 });
    world.clock.advance(7000);
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    expect(world.gateway.pending(place.id)).toHaveLength(1);
  });

  it('waits while the recipient’s breaker is open, counting no attempt, and sends after the probe', async () => {
    const { place, row: queued } = await queue();
    // Five failures to this recipient within the window open its breaker.
    for (let i = 0; i < 5; i++) {
      const admission = await world.breakers.admit(place.id);
      if (!admission.allowed) throw new Error('refused too early');
      await world.breakers.failure(admission);
    }
    expect((await world.breakers.snapshot(recipientScope(place.id))).state).toBe('open');
    const outcome = await sendEnvelope(world.deps, queued.id);
    expect(outcome.result).toBe('waiting');
    expect(outcome.retryAfterMs).toBeGreaterThan(295_000);
    expect(outcome.retryAfterMs).toBeLessThanOrEqual(300_000);
    expect(await row(queued.id)).toMatchObject({
      state: 'PENDING',
      attempts: 0,
      lastError: expect.stringMatching(/circuit open/),
    });
    expect(world.gateway.pending(place.id)).toHaveLength(0);

    world.clock.advance(300_000);
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    expect((await world.breakers.snapshot(recipientScope(place.id))).state).toBe('closed');
  });

  it('counts no attempt for a failed probe: an outage longer than the retries dead-letters nothing', async () => {
    const { place, row: queued } = await queue();
    for (let i = 0; i < 5; i++) {
      const admission = await world.breakers.admit(place.id);
      if (!admission.allowed) throw new Error('refused too early');
      await world.breakers.failure(admission);
    }
    // Five cooldowns in a row, more than the three retries: each time this envelope is the probe.
    for (let probe = 1; probe <= 5; probe++) {
      world.clock.advance(300_000);
      world.gateway.failNext('message', { status: 503 });
      const outcome = await sendEnvelope(world.deps, queued.id);
      expect(outcome.result, `probe ${probe}`).toBe('waiting');
      expect(await row(queued.id)).toMatchObject({
        state: 'PENDING',
        attempts: 0,
        lastError: expect.stringMatching(/^probe failed, circuit open again/),
      });
      expect((await world.breakers.snapshot(recipientScope(place.id))).state).toBe('open');
      // Asked again a second later, the re-opened breaker holds it for a full cooldown.
      world.clock.advance(1000);
      const held = await sendEnvelope(world.deps, queued.id);
      expect(held.result).toBe('waiting');
      expect(held.retryAfterMs).toBeGreaterThan(290_000);
    }
    world.clock.advance(300_000);
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    expect(world.gateway.pending(place.id)).toHaveLength(1);
  });

  it('opens the breakers when the gateway keeps failing, and nothing is lost', async () => {
    world.gateway.down();
    const sends = await Promise.all([queue(), queue(), queue(), queue(), queue(), queue()]);
    const results = [];
    for (const { row: queued } of sends) results.push((await sendEnvelope(world.deps, queued.id)).result);
    // Five failures anywhere open the global breaker; the sixth waits without an attempt.
    expect(results).toEqual(['retry', 'retry', 'retry', 'retry', 'retry', 'waiting']);
    expect((await world.breakers.snapshot('global')).state).toBe('open');
    const rows = await Promise.all(sends.map((s) => row(s.row.id)));
    expect(rows.map((r) => [r.state, r.attempts])).toEqual([
      ['PENDING', 1],
      ['PENDING', 1],
      ['PENDING', 1],
      ['PENDING', 1],
      ['PENDING', 1],
      ['PENDING', 0],
    ]);

    // The gateway recovers; after the cooldown one probe goes first and closes the breaker.
    world.gateway.up();
    world.clock.advance(300_000);
    for (const { row: queued } of sends)
      expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    for (const { place } of sends) expect(world.gateway.pending(place.id)).toHaveLength(1);
  });

  it('signs the platform’s envelopes with the platform agent’s key', async () => {
    const place = await world.venue();
    const queued = await queueEnvelope(world.db, {
      from: 'platform-agnt',
      to: place.id,
      intent: 'network.ping',
      payload: {},
      now: world.clock.now(),
    });
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('sent');
    const platform = await world.db.agent.findFirstOrThrow({ where: { kind: 'PLATFORM' } });
    const key = await agentSigningKey(world.db, world.keyring, platform.id);
    const signed = world.gateway.pending(place.id)[0]!.payload as SignedEnvelope;
    expect(signed.kid).toBe(key.kid);
    expect(signatureVerifies(signed, key.secret)).toBe(true);
  });

  it('dead-letters an envelope queued for a sender that is not ours, asking the breakers nothing', async () => {
    const place = await world.venue();
    const nobody = 'consumer-00000000-0000-4000-8000-000000000001';
    const queued = await queueEnvelope(world.db, {
      from: nobody,
      to: place.id,
      intent: 'network.ping',
      payload: {},
      now: world.clock.now(),
    });
    expect((await sendEnvelope(world.deps, queued.id)).result).toBe('failed');
    expect(await row(queued.id)).toMatchObject({
      state: 'FAILED',
      lastError: `unknown sender ${nobody}: not an agent of ours`,
    });
    expect(world.gateway.pending(place.id)).toHaveLength(0);
  });
});
