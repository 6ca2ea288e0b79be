/**
 * The A2A tasks as the worker runs them, on the app's own services: a queued envelope is sent by
 * `a2a-send`, which wakes the local recipient's inbox; `a2a-inbox` accepts it and queues
 * `a2a-handle`, which hands it to the network's handlers once. A failure for now reschedules the
 * send for its retry time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVenueAgent, ensureConsumerAgent } from '../../src/domain/agents/agents.ts';
import { queueEnvelope } from '../../src/domain/envelopes/outbox.ts';
import { inboxKey, sendKey, wakeInbox } from '../../src/domain/envelopes/tasks.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createPerson } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { type FakeClawPulse, startFakeClawPulse } from '../fakes/clawpulse.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { metric, runDueJobs } from '../helpers/jobs.ts';

let app: TestApp;
let gateway: FakeClawPulse;

beforeAll(async () => {
  gateway = await startFakeClawPulse();
  app = await startTestApp({ env: { CLAWPULSE_GATEWAY: gateway.url, CLAWPULSE_API_KEY: gateway.apiKey } });
});
afterAll(async () => {
  await app.close();
  await gateway.close();
});

async function parties() {
  const db = app.services.db;
  const person = await createPerson(db);
  await ensureConsumerAgent(db, app.services.keyring, person.id);
  const venue = await createBookableVenue(db);
  await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, venue));
  const guest = consumerAgentId(person.id);
  const place = venueAgentId(venue.id);
  gateway.register(guest);
  gateway.register(place);
  return { guest, place };
}

const jobKeys = async (key: string) =>
  app.services.db.$queryRaw<{ run_at: Date; attempts: number }[]>`
    SELECT run_at, attempts FROM graphile_worker._private_jobs WHERE key = ${key}`;

describe('the A2A tasks', () => {
  it('send, wake the recipient, accept and handle once', async () => {
    const { guest, place } = await parties();
    const questions: string[] = [];
    app.services.network.handlers['venue.question'] = async (_tx, envelope) => {
      questions.push(envelope.payload.text);
      return 'seen';
    };
    const row = await queueEnvelope(app.services.db, {
      from: guest,
      to: place,
      intent: 'venue.question',
      payload: { text: 'Is the kitchen open late?' },
    });
    const sentAt = Date.now();
    await runDueJobs(app, ['a2a-send']);
    expect((await app.services.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).state).toBe(
      'SENT',
    );
    expect(await jobKeys(inboxKey(place))).toHaveLength(1);
    // The guest's agent now awaits an answer: its inbox is read after A2A_RESPONSE_POLL_MS.
    const [listening] = await jobKeys(inboxKey(guest));
    const poll = app.services.config.network.responsePollMs;
    expect(listening!.run_at.getTime()).toBeGreaterThanOrEqual(sentAt + poll - 1_000);
    expect(listening!.run_at.getTime()).toBeLessThanOrEqual(Date.now() + poll + 1_000);

    await runDueJobs(app, ['a2a-inbox']);
    await runDueJobs(app, ['a2a-handle']);
    expect(questions).toEqual(['Is the kitchen open late?']);
    expect((await app.services.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).state).toBe(
      'DELIVERED',
    );
    const inbound = await app.services.db.a2aEnvelope.findFirstOrThrow({
      where: { direction: 'INBOUND', envelopeId: row.envelopeId! },
    });
    expect(inbound).toMatchObject({ state: 'DELIVERED', handledNote: 'seen', handledAt: expect.any(Date) });
  });

  it('reschedules a send that failed for now at its retry time', async () => {
    const { guest, place } = await parties();
    gateway.failNext('message', { status: 503 });
    const row = await queueEnvelope(app.services.db, {
      from: guest,
      to: place,
      intent: 'network.ping',
      payload: {},
    });
    const before = Date.now();
    await runDueJobs(app, ['a2a-send']);
    expect(await app.services.db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      state: 'PENDING',
      attempts: 1,
    });
    const [next] = await jobKeys(sendKey(row.id));
    expect(next!.attempts).toBe(0);
    expect(next!.run_at.getTime() - before).toBeGreaterThanOrEqual(59_000);
    expect(next!.run_at.getTime() - before).toBeLessThan(70_000);
  });

  it('keeps a venue agent’s inbox read after its last attempt failed (the gateway away)', async () => {
    const { place } = await parties();
    await wakeInbox(app.services.db, place);
    // Its last attempt: the two before it failed already.
    await app.services.db.$executeRaw`
      UPDATE graphile_worker._private_jobs SET attempts = max_attempts - 1 WHERE key = ${inboxKey(place)}`;
    gateway.down();
    const before = Date.now();
    try {
      await runDueJobs(app, ['a2a-inbox']);
    } finally {
      gateway.up();
    }
    // The failed job is kept as failed; under the key, the next read at the poll's time.
    const [next, ...more] = await jobKeys(inboxKey(place));
    expect(more).toEqual([]);
    expect(next!.attempts).toBe(0);
    expect(next!.run_at.getTime() - before).toBeGreaterThanOrEqual(59_000);
    expect(next!.run_at.getTime() - before).toBeLessThan(70_000);
    const [failed] = await app.services.db.$queryRaw<{ attempts: number; max_attempts: number }[]>`
      SELECT attempts, max_attempts FROM graphile_worker._private_jobs
      WHERE key IS NULL AND payload->>'agentId' = ${place}`;
    expect(failed).toMatchObject({ attempts: 3, max_attempts: 3 });
  });

  it('reports the breakers in /readyz and /metrics', async () => {
    const { place } = await parties();
    const breakers = app.services.network.breakers;
    // Five sends let through, then five failures: both breakers open.
    const admissions = [];
    for (let i = 0; i < 5; i++) admissions.push(await breakers.admit(place));
    for (const admission of admissions) {
      if (!admission.allowed) throw new Error('refused too early');
      await breakers.failure(admission);
    }
    const ready = (await (await fetch(`${app.url}/readyz`)).json()) as {
      ready: boolean;
      checks: Record<string, { ok: boolean; detail?: string }>;
    };
    expect(ready.ready).toBe(true);
    expect(ready.checks.a2aBreakers).toEqual({
      ok: true,
      detail: expect.stringMatching(
        new RegExp(`^global open until \\S+, recipient:${place} open until \\S+ \\(shared in Redis\\)$`),
      ),
    });
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(metric(text, 'a2a_breaker_state{scope="global"}')).toBe(2);
    expect(metric(text, `a2a_breaker_state{scope="recipient:${place}"}`)).toBe(2);
  });
});

describe('the A2A tasks on the embedded gateway', () => {
  let embedded: TestApp;
  beforeAll(async () => {
    embedded = await startTestApp();
  });
  afterAll(() => embedded.close());

  it('send, wake the recipient, accept and handle once, through the product’s own gateway', async () => {
    const db = embedded.services.db;
    const person = await createPerson(db);
    await ensureConsumerAgent(db, embedded.services.keyring, person.id);
    const venue = await createBookableVenue(db);
    await db.$transaction((tx) => createVenueAgent(tx, embedded.services.keyring, venue));
    // The gateway knows only registered agents: their registration jobs run first.
    await runDueJobs(embedded, ['agent-register']);
    const pings: string[] = [];
    embedded.services.network.handlers['network.ping'] = async (_tx, envelope) => {
      pings.push(envelope.from);
      return 'pong';
    };
    const row = await queueEnvelope(db, {
      from: consumerAgentId(person.id),
      to: venueAgentId(venue.id),
      intent: 'network.ping',
      payload: {},
    });
    await runDueJobs(embedded, ['a2a-send']);
    await runDueJobs(embedded, ['a2a-inbox']);
    await runDueJobs(embedded, ['a2a-handle']);
    expect(pings).toEqual([consumerAgentId(person.id)]);
    expect((await db.a2aEnvelope.findUniqueOrThrow({ where: { id: row.id } })).state).toBe('DELIVERED');
  });
});
