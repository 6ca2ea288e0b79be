/**
 * Reading an inbox: every message is verified before anything acts on it. A valid envelope is
 * accepted once (DELIVERED, with its handle job); a tampered, wrongly signed, stale, expired,
 * replayed, unknown, mismatched or malformed one is REJECTED with its reason and never handled.
 * Every message handed out is acknowledged. Key rotation: the previous key verifies within its
 * overlap, not after.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentSigningKey,
  rotateAgentSigningSecret,
  type SigningKey,
} from '../../src/domain/agents/agents.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { drainInbox, receiveMessage } from '../../src/domain/envelopes/receive.ts';
import { sendEnvelope } from '../../src/domain/envelopes/send.ts';
import { handleKey } from '../../src/domain/envelopes/tasks.ts';
import { OUTBOXES, outboxBacklog, sweepOutboxes } from '../../src/domain/operations/outboxes.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import {
  AGP_PROTOCOL,
  type AgpEnvelope,
  type SignedEnvelope,
  signatureOf,
  signEnvelope,
} from '../../src/integrations/clawpulse/wire.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { type EnvelopeWorld, envelopeWorld, seriesValue } from './envelopes-world.ts';

let world: EnvelopeWorld;
beforeAll(async () => {
  world = await envelopeWorld();
});
afterAll(() => world.close());

type Party = Awaited<ReturnType<EnvelopeWorld['consumer']>>;

/** A guest and a venue, and the guest's current key. */
async function pair() {
  const [guest, place] = await Promise.all([world.consumer(), world.venue()]);
  const key = await agentSigningKey(world.db, world.keyring, guest.agent.id);
  return { guest, place, key };
}

/**
 * Makes the database refuse to store a message whose payload's text is "boom" (as it would for a
 * fault of ours), nothing else; the function returned lifts it.
 */
async function refuseBoom(): Promise<() => Promise<void>> {
  await world.db.$executeRawUnsafe(`
    CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.payload->>'text' = 'boom' THEN RAISE EXCEPTION 'refused for the test'; END IF;
      RETURN NEW;
    END $$`);
  await world.db.$executeRawUnsafe(
    'CREATE TRIGGER refuse_boom BEFORE INSERT ON a2a_envelopes FOR EACH ROW EXECUTE FUNCTION refuse_boom()',
  );
  return async () => {
    await world.db.$executeRawUnsafe('DROP TRIGGER refuse_boom ON a2a_envelopes');
    await world.db.$executeRawUnsafe('DROP FUNCTION refuse_boom()');
  };
}

function envelopeFrom(guest: Party, to: string, fields: Partial<AgpEnvelope> = {}): AgpEnvelope {
  return {
    protocol: AGP_PROTOCOL,
    id: randomUUID(),
    from: guest.id,
    to,
    intent: 'venue.question',
    payload: { text: 'Do you take dogs?' },
    agent_context: {},
    ttl_ms: 30_000,
    timestamp: world.clock.now().toISOString(),
    ...fields,
  };
}

const nowTs = () => Math.floor(world.clock.now().getTime() / 1000);

/** Posts a signed payload to `to`'s inbox as `from` through the fake gateway. */
async function post(from: string, to: string, payload: SignedEnvelope) {
  await world.client.send({ from, to, payload });
}

async function inbound(to: string) {
  return world.db.a2aEnvelope.findMany({
    where: { direction: 'INBOUND', toAgent: to },
    orderBy: { createdAt: 'asc' },
  });
}

async function handleJobs(rowIds: string[]) {
  return (await Promise.all(rowIds.map((id) => world.jobs(handleKey(id))))).flat();
}

describe('receiving envelopes', () => {
  it('accepts a valid envelope once, queues its handling, acknowledges it, and rejects its replay', async () => {
    const { guest, place, key } = await pair();
    const envelope = envelopeFrom(guest, place.id);
    const signed = signEnvelope(envelope, key, nowTs());
    await post(guest.id, place.id, signed);

    expect(await drainInbox(world.deps, place.id)).toEqual({
      received: 1,
      accepted: 1,
      rejected: 0,
      duplicates: 0,
      failed: 0,
      abandoned: 0,
      more: false,
      agent: { id: place.agent.id, kind: 'VENUE', status: 'ACTIVE' },
    });
    const [row] = await inbound(place.id);
    expect(row).toMatchObject({
      envelopeId: envelope.id,
      state: 'DELIVERED',
      fromAgent: guest.id,
      intent: 'venue.question',
      payload: { text: 'Do you take dogs?' },
      handledAt: null,
      envelope: JSON.stringify(signed),
    });
    expect(await world.jobs(handleKey(row!.id))).toEqual([
      expect.objectContaining({
        task: 'a2a-handle',
        payload: { envelopeRowId: row!.id, intent: 'venue.question' },
      }),
    ]);
    expect(world.gateway.pending(place.id)).toEqual([]);
    const lastPoll = await world.db.agent.findUniqueOrThrow({ where: { id: place.agent.id } });
    expect(lastPoll.lastInboxPollAt).not.toBeNull();

    // The same envelope posted again (a replay): refused and never handled.
    await post(guest.id, place.id, signed);
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 0, rejected: 1 });
    const rows = await inbound(place.id);
    expect(rows.map((r) => [r.state, r.rejectReason])).toEqual([
      ['DELIVERED', null],
      ['REJECTED', 'replayed'],
    ]);
    expect(await handleJobs([rows[1]!.id])).toEqual([]);
    expect(
      await seriesValue(world, 'a2a_envelopes_total', {
        intent: 'venue.question',
        direction: 'inbound',
        outcome: 'accepted',
      }),
    ).toBe(1);
  });

  it('is swept: an accepted envelope whose handling job was lost gets it again, and a handled one does not', async () => {
    const { guest, place, key } = await pair();
    const lost = envelopeFrom(guest, place.id);
    const done = envelopeFrom(guest, place.id, { payload: { text: 'Is there parking?' } });
    await post(guest.id, place.id, signEnvelope(lost, key, nowTs()));
    await post(guest.id, place.id, signEnvelope(done, key, nowTs()));
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 2 });
    const rows = await inbound(place.id);
    const lostRow = rows.find((r) => r.envelopeId === lost.id)!;
    const doneRow = rows.find((r) => r.envelopeId === done.id)!;
    // Both jobs gone (a worker died with them, or they gave up); one envelope was handled first.
    for (const row of rows) {
      await world.db.$executeRaw`DELETE FROM graphile_worker._private_jobs WHERE key = ${handleKey(row.id)}`;
    }
    await world.db.$executeRaw`
      UPDATE a2a_envelopes SET created_at = now() - interval '2 minutes' WHERE to_agent = ${place.id}`;
    await world.db.a2aEnvelope.update({ where: { id: doneRow.id }, data: { handledAt: new Date() } });

    const outboxes = OUTBOXES.filter((o) => o.name === 'a2a-inbound');
    const logger = createLogger('silent');
    expect(await sweepOutboxes(world.db, { logger, outboxes })).toEqual([
      { outbox: 'a2a-inbound', scheduled: [handleKey(lostRow.id)] },
    ]);
    expect(await world.jobs(handleKey(lostRow.id))).toEqual([
      expect.objectContaining({
        task: 'a2a-handle',
        payload: { envelopeRowId: lostRow.id, intent: 'venue.question' },
      }),
    ]);
    expect(await world.jobs(handleKey(doneRow.id))).toEqual([]);
    // What waits is counted meanwhile, and the next sweep leaves the envelope to its job.
    const backlog = await outboxBacklog(world.db, outboxes);
    const waiting = backlog.find((l) => l.channel === 'clawpulse')!;
    expect(waiting.pending).toBeGreaterThanOrEqual(1);
    expect(waiting.oldestAgeSeconds).toBeGreaterThanOrEqual(119);
    expect(await sweepOutboxes(world.db, { logger, outboxes })).toEqual([
      { outbox: 'a2a-inbound', scheduled: [] },
    ]);
  });
  it('takes a message the gateway hands out twice as one', async () => {
    const { guest, place, key } = await pair();
    world.gateway.duplicateDelivery = true;
    try {
      await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
      expect(await drainInbox(world.deps, place.id)).toEqual({
        received: 2,
        accepted: 1,
        rejected: 0,
        duplicates: 1,
        failed: 0,
        abandoned: 0,
        more: false,
        agent: { id: place.agent.id, kind: 'VENUE', status: 'ACTIVE' },
      });
    } finally {
      world.gateway.duplicateDelivery = false;
    }
    expect((await inbound(place.id)).map((r) => r.state)).toEqual(['DELIVERED']);
    expect(world.gateway.pending(place.id)).toEqual([]);
  });

  it('acknowledges again, and acts on nothing again, a message recorded before a crash kept it from being acknowledged', async () => {
    const { guest, place, key } = await pair();
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
    // A drain that recorded the message and died before acknowledging it.
    const [message] = await world.client.inbox(place.id);
    expect(await receiveMessage(world.deps, place.id, message!)).toBe('accepted');
    world.gateway.advance(61_000);
    expect(await drainInbox(world.deps, place.id)).toMatchObject({
      received: 1,
      accepted: 0,
      rejected: 0,
      duplicates: 1,
    });
    expect((await inbound(place.id)).map((r) => r.state)).toEqual(['DELIVERED']);
    expect(world.gateway.pending(place.id)).toEqual([]);
  });

  it('takes one gateway message handed to two drains at once as one', async () => {
    const { guest, place, key } = await pair();
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
    const [message] = await world.client.inbox(place.id);
    const outcomes = await Promise.all([
      receiveMessage(world.deps, place.id, message!),
      receiveMessage(world.deps, place.id, message!),
    ]);
    expect(outcomes.sort()).toEqual(['accepted', 'duplicates']);
    expect((await inbound(place.id)).map((r) => r.state)).toEqual(['DELIVERED']);
  });

  it('rejects every envelope that fails a check, with its reason, and acts on none', async () => {
    const { guest, place, key } = await pair();
    const stranger = await world.consumer();
    const cases: [string, () => Promise<void>][] = [
      [
        'bad signature',
        async () => {
          const signed = signEnvelope(envelopeFrom(guest, place.id), key, nowTs());
          // Tampered: one character of the envelope changed after signing.
          await post(guest.id, place.id, { ...signed, envelope: signed.envelope.replace('dogs', 'cats') });
        },
      ],
      [
        'bad signature',
        async () => {
          // Signed with a key that is not the guest's, under the guest's kid.
          const wrong: SigningKey = { kid: key.kid, secret: randomBytes(32) };
          await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), wrong, nowTs()));
        },
      ],
      [
        'stale: ts is more than 300 s from now',
        async () => {
          await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs() - 360));
        },
      ],
      [
        'expired: its ttl has passed',
        async () => {
          const old = new Date(world.clock.now().getTime() - 31_000).toISOString();
          await post(
            guest.id,
            place.id,
            signEnvelope(envelopeFrom(guest, place.id, { timestamp: old }), key, nowTs()),
          );
        },
      ],
      [
        'unknown sender',
        async () => {
          const nobody = `consumer-${randomUUID()}`;
          await post(
            nobody,
            place.id,
            signEnvelope(envelopeFrom(guest, place.id, { from: nobody }), key, nowTs()),
          );
        },
      ],
      [
        'sender mismatch: the gateway message is from another agent',
        async () => {
          await post(stranger.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
        },
      ],
      [
        'unknown key: the sender has no valid key with this kid',
        async () => {
          const other: SigningKey = { kid: `${guest.agent.id.slice(0, 8)}-v9`, secret: key.secret };
          await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), other, nowTs()));
        },
      ],
      [
        'unknown intent',
        async () => {
          await post(
            guest.id,
            place.id,
            signEnvelope(envelopeFrom(guest, place.id, { intent: 'booking.steal' }), key, nowTs()),
          );
        },
      ],
      [
        'invalid payload',
        async () => {
          const envelope = envelopeFrom(guest, place.id, {
            intent: 'booking.request',
            payload: {
              venueId: place.venue.id,
              startsAt: 'tomorrow at 8',
              partySize: 2,
              guestName: 'Ana',
              clientKey: 'k',
            },
          });
          await post(guest.id, place.id, signEnvelope(envelope, key, nowTs()));
        },
      ],
      [
        'wrong recipient: addressed to another agent',
        async () => {
          await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, stranger.id), key, nowTs()));
        },
      ],
      [
        'unsupported protocol agp/2',
        async () => {
          await post(
            guest.id,
            place.id,
            signEnvelope(envelopeFrom(guest, place.id, { protocol: 'agp/2' }), key, nowTs()),
          );
        },
      ],
      [
        'malformed: not a signed envelope',
        async () => {
          await post(guest.id, place.id, {
            envelope: 42,
            ts: nowTs(),
            kid: key.kid,
            sig: 'v1=00',
          } as unknown as SignedEnvelope);
        },
      ],
      [
        'malformed: the envelope is not a JSON object',
        async () => {
          const text = 'not json';
          await post(guest.id, place.id, {
            envelope: text,
            ts: nowTs(),
            kid: key.kid,
            sig: signatureOf(key.secret, nowTs(), text),
          });
        },
      ],
    ];
    for (const [reason, send] of cases) {
      await send();
      const result = await drainInbox(world.deps, place.id);
      expect(result, reason).toMatchObject({ received: 1, accepted: 0, rejected: 1 });
      const rows = await inbound(place.id);
      const last = rows.at(-1)!;
      expect(last.state, reason).toBe('REJECTED');
      if (reason === 'invalid payload') expect(last.rejectReason).toMatch(/^invalid payload: /);
      else expect(last.rejectReason).toBe(reason);
    }
    const rows = await inbound(place.id);
    expect(rows).toHaveLength(cases.length);
    expect(rows.every((r) => r.handledAt === null && r.state === 'REJECTED')).toBe(true);
    expect(await handleJobs(rows.map((r) => r.id))).toEqual([]);
    expect(world.gateway.pending(place.id)).toEqual([]);
    expect(
      await seriesValue(world, 'a2a_envelopes_total', {
        intent: 'unknown',
        direction: 'inbound',
        outcome: 'rejected',
      }),
    ).toBeGreaterThanOrEqual(3);
  });

  it('rejects envelopes from a retired agent of ours', async () => {
    const { guest, place, key } = await pair();
    await world.db.agent.update({ where: { id: guest.agent.id }, data: { status: 'RETIRED' } });
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 0, rejected: 1 });
    expect((await inbound(place.id)).map((r) => r.rejectReason)).toEqual(['sender retired']);
  });

  it('takes an envelope that reached the inbox within its ttl when it is read after it, and after a failed drain', async () => {
    const { guest, place, key } = await pair();
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
    // Read 90 s later (a drain that failed, the message handed out again after 60 s): the ttl of
    // 30 s had not passed when the gateway received it.
    world.clock.advance(90_000);
    try {
      expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 1, rejected: 0 });
    } finally {
      world.clock.advance(-90_000);
    }
    expect((await inbound(place.id)).map((r) => r.state)).toEqual(['DELIVERED']);
  });

  it('stores what a sender put NUL characters or lone surrogates in, and goes on with the inbox', async () => {
    const { guest, place, key } = await pair();
    // Unsigned, claiming an intent with a NUL in it; then a signed question whose text has both.
    await post(guest.id, place.id, {
      envelope: JSON.stringify({ intent: 'venue.question\u0000', from: `${guest.id}\u0000` }),
      ts: nowTs(),
      kid: 'k\u0000',
      sig: 'v1=00',
    });
    const text = 'Dogs\u0000 welcome? \ud800';
    await post(
      guest.id,
      place.id,
      signEnvelope(envelopeFrom(guest, place.id, { payload: { text } }), key, nowTs()),
    );
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
    expect(await drainInbox(world.deps, place.id)).toMatchObject({
      received: 3,
      accepted: 2,
      rejected: 1,
      failed: 0,
    });
    const rows = await inbound(place.id);
    expect(rows.map((r) => r.state)).toEqual(['REJECTED', 'DELIVERED', 'DELIVERED']);
    expect(rows[0]).toMatchObject({ intent: 'venue.question\ufffd', fromAgent: `${guest.id}\ufffd` });
    expect(rows[1]!.payload).toEqual({ text: 'Dogs\ufffd welcome? \ufffd' });
    expect(world.gateway.pending(place.id)).toEqual([]);
  });

  it('leaves a message it could not record for the gateway to hand out again, and records the rest', async () => {
    const { guest, place, key } = await pair();
    // The database refuses this one message (as it would for a fault of ours), nothing else.
    const allow = await refuseBoom();
    try {
      const boom = envelopeFrom(guest, place.id, { payload: { text: 'boom' } });
      await post(guest.id, place.id, signEnvelope(boom, key, nowTs()));
      await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), key, nowTs()));
      expect(await drainInbox(world.deps, place.id)).toMatchObject({ received: 2, accepted: 1, failed: 1 });
      expect(
        world.gateway.pending(place.id).map((m) => (m.payload as { envelope: string }).envelope),
      ).toEqual([JSON.stringify(boom)]);
    } finally {
      await allow();
    }
    // Handed out again once its time is up, and recorded now.
    world.gateway.advance(61_000);
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ received: 1, accepted: 1, failed: 0 });
    expect(world.gateway.pending(place.id)).toEqual([]);
    expect((await inbound(place.id)).map((r) => r.state)).toEqual(['DELIVERED', 'DELIVERED']);
  });

  it('gives up on a message it could not record for a day: kept as rejected, as it came, and acknowledged', async () => {
    const { guest, place, key } = await pair();
    const allow = await refuseBoom();
    try {
      const boom = envelopeFrom(guest, place.id, { payload: { text: 'boom' } });
      await post(guest.id, place.id, signEnvelope(boom, key, nowTs()));
      expect(await drainInbox(world.deps, place.id)).toMatchObject({ failed: 1, abandoned: 0 });
      // Handed out again within the day: still tried, still left for the gateway.
      world.gateway.advance(61_000);
      world.clock.advance(23 * 3600_000);
      expect(await drainInbox(world.deps, place.id)).toMatchObject({ failed: 1, abandoned: 0 });
      expect(world.gateway.pending(place.id)).toHaveLength(1);
      // A day after the gateway received it: kept as rejected and acknowledged.
      world.gateway.advance(61_000);
      world.clock.advance(3600_000);
      expect(await drainInbox(world.deps, place.id)).toMatchObject({ received: 1, failed: 0, abandoned: 1 });
      expect(world.gateway.pending(place.id)).toEqual([]);
      const [kept] = await inbound(place.id);
      expect(kept).toMatchObject({
        state: 'REJECTED',
        fromAgent: guest.id,
        envelopeId: null,
        payload: {},
        rejectReason: expect.stringMatching(/^not recorded for a day: .*refused for the test/s),
      });
      expect(kept!.envelope).toContain('boom');
    } finally {
      // Our clock back beside the gateway's, for the tests that follow.
      world.clock.advance(-24 * 3600_000);
      await allow();
    }
  });

  it('moves our own envelope to DELIVERED when an agent of ours accepts it', async () => {
    const { guest, place } = await pair();
    const queued = await queueEnvelope(world.db, {
      from: guest.id,
      to: place.id,
      intent: 'network.ping',
      payload: {},
    });
    const sent = await sendEnvelope(world.deps, queued.id);
    expect(sent).toMatchObject({ result: 'sent', localRecipient: place.id });
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 1 });
    expect(await world.db.a2aEnvelope.findUniqueOrThrow({ where: { id: queued.id } })).toMatchObject({
      state: 'DELIVERED',
      deliveredAt: expect.any(Date),
    });
  });
});

describe('signing key rotation', () => {
  it('keeps the previous key verifying within the overlap, and not after', async () => {
    const { guest, place, key: before } = await pair();
    const access = createAccess(world.db, { kind: 'user', userId: guest.person.id, isPlatformAdmin: false });
    const { signingSecret } = await rotateAgentSigningSecret(world.db, access, world.keyring, {
      agentId: guest.agent.id,
      keyOverlapSeconds: 3600,
      now: world.clock.now(),
    });
    const after = await agentSigningKey(world.db, world.keyring, guest.agent.id);
    expect(after.secret.toString('base64url')).toBe(signingSecret);
    expect(after.kid).toBe(`${guest.agent.id.slice(0, 8)}-v2`);
    expect(before.kid).toBe(`${guest.agent.id.slice(0, 8)}-v1`);

    // Within the overlap: both keys verify.
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), before, nowTs()));
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), after, nowTs()));
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 2, rejected: 0 });

    // After it: only the new one.
    world.gateway.advance(3601_000);
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), before, nowTs()));
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), after, nowTs()));
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 1, rejected: 1 });
    const rejected = (await inbound(place.id)).filter((r) => r.state === 'REJECTED');
    expect(rejected.map((r) => r.rejectReason)).toEqual([
      'unknown key: the sender has no valid key with this kid',
    ]);
  });

  it('judges the previous key by when the envelope reached the gateway, not when it is read', async () => {
    const { guest, place, key: before } = await pair();
    const access = createAccess(world.db, { kind: 'user', userId: guest.person.id, isPlatformAdmin: false });
    await rotateAgentSigningSecret(world.db, access, world.keyring, {
      agentId: guest.agent.id,
      keyOverlapSeconds: 60,
      now: world.clock.now(),
    });
    // Arrived within the overlap, read two minutes later (a backlog): it verifies.
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), before, nowTs()));
    world.clock.advance(120_000);
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 1, rejected: 0 });
  });

  it('with no overlap, the previous key stops at once', async () => {
    const { guest, place, key: before } = await pair();
    const access = createAccess(world.db, { kind: 'user', userId: guest.person.id, isPlatformAdmin: false });
    await rotateAgentSigningSecret(world.db, access, world.keyring, {
      agentId: guest.agent.id,
      keyOverlapSeconds: 0,
    });
    await post(guest.id, place.id, signEnvelope(envelopeFrom(guest, place.id), before, nowTs()));
    expect(await drainInbox(world.deps, place.id)).toMatchObject({ accepted: 0, rejected: 1 });
  });
});
