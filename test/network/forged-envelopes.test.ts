/**
 * Forged envelopes, end to end over HTTP: posted straight to the embedded gateway's public API
 * (`/clawpulse/api/agents/message`, with the gateway key) for a venue's agent, then read by a
 * worker's inbox drain. Tampered, stale, replayed, wrongly signed and unknown-sender envelopes are
 * each stored REJECTED with their reason, counted, and change nothing: the booking stays
 * REQUESTED, no answer is queued, no staff item is opened. The genuine one is acted on once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentSigningKey } from '../../src/domain/agents/agents.ts';
import { wakeInbox } from '../../src/domain/envelopes/tasks.ts';
import type { Booking } from '../../src/generated/prisma/client.ts';
import {
  AGP_PROTOCOL,
  type AgpEnvelope,
  consumerAgentId,
  type SignedEnvelope,
  signEnvelope,
} from '../../src/integrations/clawpulse/wire.ts';
import { NESTED_TOO_DEEP } from '../../src/platform/storable.ts';
import { createBooking } from '../factories/bookings.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FAST_WORKER_ENV, metric, startWorkerApp, type WorkerApp, waitFor } from '../helpers/jobs.ts';
import { type Guest, guest, lisbon, type VenueWithAgent, venue } from './chaos-world.ts';

let api: TestApp;
let worker: WorkerApp;

beforeAll(async () => {
  api = await startTestApp({ env: FAST_WORKER_ENV });
  worker = await startWorkerApp(api);
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

/** Posts a signed envelope to the embedded gateway over HTTP, as an agent elsewhere would. */
async function post(to: string, from: string, payload: SignedEnvelope) {
  const response = await fetch(`${api.url}/clawpulse/api/agents/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': api.services.network.gatewayKey },
    body: JSON.stringify({ to, from, payload, priority: 'normal' }),
  });
  expect(response.status, await response.clone().text()).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

/** The booking.request for `booking`, as the guest's agent would write it. */
function requestFor(from: string, to: VenueWithAgent, booking: Booking, at: Date): AgpEnvelope {
  return {
    protocol: AGP_PROTOCOL,
    id: randomUUID(),
    from,
    to: to.id,
    intent: 'booking.request',
    payload: {
      venueId: to.venueId,
      startsAt: booking.startsAt.toISOString(),
      partySize: booking.partySize,
      guestName: 'Ana',
      clientKey: booking.clientKey!,
      bookingId: booking.id,
    },
    agent_context: {},
    ttl_ms: 30_000,
    timestamp: at.toISOString(),
  };
}

function requested(g: Guest, v: VenueWithAgent, startsAt: Date) {
  return createBooking(api.services.db, {
    venueId: v.venueId,
    guestId: g.personId,
    requestedById: g.personId,
    startsAt,
    status: 'REQUESTED',
    source: 'CHAT',
    clientKey: `key-${randomUUID()}`,
  });
}

/** Has the venue agent's inbox read by the worker; resolves once the gateway holds nothing for it. */
async function drain(v: VenueWithAgent, envelopeIds: string[]) {
  await wakeInbox(api.services.db, v.id);
  await waitFor(
    async () =>
      (await api.services.db.a2aEnvelope.count({
        where: { direction: 'INBOUND', envelopeId: { in: envelopeIds } },
      })) >= envelopeIds.length,
    'the inbox to be read',
  );
}

/** Resolves once the worker has no a2a job left to run. */
async function settled() {
  await waitFor(async () => {
    const { rows } = await api.database.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE task_identifier IN ('a2a-inbox', 'a2a-handle')
         AND (run_at <= now() OR locked_at IS NOT NULL) AND attempts < max_attempts`,
    );
    return rows[0]!.n === 0;
  }, 'the worker to finish its a2a jobs');
}

async function untouched(booking: Booking, envelopeId: string) {
  const db = api.services.db;
  expect((await db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe('REQUESTED');
  expect(await db.bookingTransition.count({ where: { bookingId: booking.id } })).toBe(0);
  expect(await db.a2aEnvelope.count({ where: { direction: 'OUTBOUND', inReplyTo: envelopeId } })).toBe(0);
  expect(await db.venueInboxItem.count({ where: { bookingId: booking.id } })).toBe(0);
  expect(await db.outboundMessage.count({ where: { bookingId: booking.id } })).toBe(0);
}

async function rejections(envelopeId: string) {
  return api.services.db.a2aEnvelope.findMany({
    where: { direction: 'INBOUND', envelopeId },
    orderBy: { createdAt: 'asc' },
  });
}

describe('forged envelopes posted to the embedded gateway', () => {
  it('rejects tampered, stale, wrongly signed and unknown-sender requests with their reasons, and acts on none', async () => {
    const db = api.services.db;
    const g = await guest(api);
    const other = await guest(api);
    const v = await venue(api);
    const now = new Date();
    const ts = Math.floor(now.getTime() / 1000);
    const key = await agentSigningKey(db, api.services.keyring, g.agentRowId);
    const othersKey = await agentSigningKey(db, api.services.keyring, other.agentRowId);
    const before = metric(
      await worker.metrics(),
      'a2a_envelopes_total{intent="booking.request",direction="inbound",outcome="rejected"}',
    );

    // Tampered: the party grows after signing.
    const tamperedBooking = await requested(g, v, lisbon(3, '19:00'));
    const tampered = signEnvelope(requestFor(g.id, v, tamperedBooking, now), key, ts);
    tampered.envelope = tampered.envelope.replace('"partySize":2', '"partySize":8');
    expect(tampered.envelope).toContain('"partySize":8');
    // Stale: correctly signed, but its ts is six minutes old.
    const staleBooking = await requested(g, v, lisbon(3, '21:00'));
    const stale = signEnvelope(requestFor(g.id, v, staleBooking, now), key, ts - 360);
    // Wrongly signed: the guest's kid, another agent's key.
    const forgedBooking = await requested(g, v, lisbon(4, '19:00'));
    const forged = signEnvelope(
      requestFor(g.id, v, forgedBooking, now),
      { kid: key.kid, secret: othersKey.secret },
      ts,
    );
    // From nobody we know: a consumer id no agent of ours has, with a key of its own.
    const strangerId = consumerAgentId(randomUUID());
    const strangerBooking = await requested(g, v, lisbon(4, '21:00'));
    const stranger = signEnvelope(
      requestFor(strangerId, v, strangerBooking, now),
      { kid: 'stranger-v1', secret: randomBytes(32) },
      ts,
    );

    const cases = [
      { signed: tampered, from: g.id, booking: tamperedBooking, reason: 'bad signature' },
      { signed: stale, from: g.id, booking: staleBooking, reason: 'stale: ts is more than 300 s from now' },
      { signed: forged, from: g.id, booking: forgedBooking, reason: 'bad signature' },
      { signed: stranger, from: strangerId, booking: strangerBooking, reason: 'unknown sender' },
    ];
    for (const c of cases) await post(v.id, c.from, c.signed);
    const ids = cases.map((c) => (JSON.parse(c.signed.envelope) as AgpEnvelope).id);
    await drain(v, ids);
    await settled();

    for (const [i, c] of cases.entries()) {
      const rows = await rejections(ids[i]!);
      expect(
        rows.map((r) => [r.state, r.rejectReason]),
        c.reason,
      ).toEqual([['REJECTED', c.reason]]);
      expect(rows[0]!.handledAt).toBeNull();
      await untouched(c.booking, ids[i]!);
    }
    // Nothing left at the gateway to hand out again: rejected messages are acknowledged too.
    const { rows: unacked } = await api.database.pool.query(
      'SELECT id FROM gateway_messages WHERE to_agent = $1 AND acked_at IS NULL',
      [v.id],
    );
    expect(unacked).toEqual([]);
    expect(
      metric(
        await worker.metrics(),
        'a2a_envelopes_total{intent="booking.request",direction="inbound",outcome="rejected"}',
      ),
    ).toBe(before + 4);
  });

  it('records an outsized or absurdly nested payload REJECTED within bounds, and acknowledges it', async () => {
    const g = await guest(api);
    const v = await venue(api);
    const booking = await requested(g, v, lisbon(6, '19:00'));
    const now = new Date();
    const strangerId = consumerAgentId(randomUUID());
    const strangerKey = { kid: 'stranger-v1', secret: randomBytes(32) };
    const base = requestFor(strangerId, v, booking, now);
    // A payload of 40,000 characters, and one nested 200,000 deep (both fit the gateway's body
    // limit as the envelope's text).
    const outsized = signEnvelope(
      { ...base, id: randomUUID(), payload: { ...base.payload, notes: 'x'.repeat(40_000) } },
      strangerKey,
      Math.floor(now.getTime() / 1000),
    );
    const deep = { ...base, id: randomUUID(), payload: {} };
    const deepText = JSON.stringify(deep).replace(
      '"payload":{}',
      `"payload":{"nested":${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
    );
    const nestedSigned = signEnvelope(
      JSON.parse(deepText) as AgpEnvelope,
      strangerKey,
      Math.floor(now.getTime() / 1000),
    );
    expect(nestedSigned.envelope.length).toBeGreaterThan(400_000);

    await post(v.id, strangerId, outsized);
    await post(v.id, strangerId, nestedSigned);
    const ids = [outsized, nestedSigned].map((signed) => (JSON.parse(signed.envelope) as AgpEnvelope).id);
    await drain(v, ids);
    await settled();

    const [big] = await rejections(ids[0]!);
    expect(big).toMatchObject({ state: 'REJECTED', rejectReason: 'unknown sender', payload: {} });
    // Its text is kept for the audit, cut at 64 KB.
    expect(big!.envelope).toContain('xxxx');
    const [deepRow] = await rejections(ids[1]!);
    expect(deepRow).toMatchObject({ state: 'REJECTED', rejectReason: 'unknown sender' });
    expect(JSON.stringify(deepRow!.payload)).toContain(NESTED_TOO_DEEP);
    expect(JSON.stringify(deepRow!.payload).length).toBeLessThan(1_000);
    const { rows: unacked } = await api.database.pool.query(
      'SELECT id FROM gateway_messages WHERE to_agent = $1 AND acked_at IS NULL',
      [v.id],
    );
    expect(unacked).toEqual([]);
    await untouched(booking, ids[0]!);
  });

  it('acts once on a genuine request and rejects it as replayed when it is posted again', async () => {
    const db = api.services.db;
    const g = await guest(api);
    const v = await venue(api);
    const booking = await requested(g, v, lisbon(5, '20:00'));
    const key = await agentSigningKey(db, api.services.keyring, g.agentRowId);
    const now = new Date();
    const genuine = signEnvelope(requestFor(g.id, v, booking, now), key, Math.floor(now.getTime() / 1000));
    const id = (JSON.parse(genuine.envelope) as AgpEnvelope).id;

    await post(v.id, g.id, genuine);
    await drain(v, [id]);
    await waitFor(
      async () =>
        (await db.a2aEnvelope.findFirst({ where: { direction: 'INBOUND', envelopeId: id } }))?.handledAt,
      'the request to be handled',
    );
    // The same bytes again, later (a replay by whoever saw them), and twice at once in one read.
    await post(v.id, g.id, genuine);
    await post(v.id, g.id, genuine);
    await wakeInbox(db, v.id);
    await waitFor(async () => (await rejections(id)).length === 3, 'the replays to be read');
    await settled();

    const rows = await rejections(id);
    expect(rows.map((r) => [r.state, r.rejectReason])).toEqual([
      ['DELIVERED', null],
      ['REJECTED', 'replayed'],
      ['REJECTED', 'replayed'],
    ]);
    expect(rows[0]!.handledNote).toBe('accepted');
    expect(rows.slice(1).every((r) => r.handledAt === null)).toBe(true);
    expect((await db.booking.findUniqueOrThrow({ where: { id: booking.id } })).status).toBe('CONFIRMED');
    expect(
      (await db.bookingTransition.findMany({ where: { bookingId: booking.id } })).map((t) => t.toStatus),
    ).toEqual(['CONFIRMED']);
    const answers = await db.a2aEnvelope.findMany({ where: { direction: 'OUTBOUND', inReplyTo: id } });
    expect(answers.map((a) => a.intent)).toEqual(['booking.accepted']);
    expect(
      (await db.outboundMessage.findMany({ where: { bookingId: booking.id } })).map((m) => m.kind),
    ).toEqual(['booking.confirmed']);
    expect(await db.venueInboxItem.count({ where: { bookingId: booking.id } })).toBe(0);
  });
});
