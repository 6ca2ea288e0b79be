/**
 * Our agents on the gateway: a venue's agent is registered when it is made and again when its DNA
 * changes, a person's consumer agent on first contact; a registration the gateway refused is
 * retried by its job and found again by the sweep, as is an agent registered before a release that
 * changed the tool catalogue.
 */
import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVenueAgent, ensureConsumerAgent, updateAgentDna } from '../../src/domain/agents/agents.ts';
import { defaultVenueDna, TOOLS_VERSION, VENUE_TOOLS } from '../../src/domain/agents/dna.ts';
import {
  registerAgent,
  registrationUpToDate,
  sweepAgentRegistrations,
} from '../../src/domain/agents/registration.ts';
import { createAccess } from '../../src/domain/organizations/access.ts';
import { ClawPulseError } from '../../src/integrations/clawpulse/client.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createPerson } from '../factories/people.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { type FakeClawPulse, startFakeClawPulse } from '../fakes/clawpulse.ts';
import { FIRST_VENUE_DEFAULT } from '../fixtures/agent-tools.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { person } from '../helpers/authz.ts';
import { runDueJobs } from '../helpers/jobs.ts';

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

const deps = () => ({ db: app.services.db, clawpulse: app.services.network.clawpulse });

describe('registering agents with the gateway', () => {
  it('registers a new venue agent by its job, with the profile the network reads', async () => {
    const db = app.services.db;
    const venue = await createBookableVenue(db, { name: 'Casa Azul', city: 'Lisboa' });
    const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, venue));
    const [queued] = await db.$queryRaw<{ payload: unknown }[]>`
      SELECT payload FROM graphile_worker._private_jobs WHERE key = ${`agent-register:${agent.id}`}`;
    expect(queued?.payload).toEqual({ agentId: agent.id });
    await runDueJobs(app, ['agent-register']);

    const registered = gateway.agents.get(venueAgentId(venue.id));
    expect(registered).toMatchObject({
      kind: 'venue',
      registrations: 1,
      dna: {
        capabilities: { role: 'venue_concierge', venue_name: 'Casa Azul', venue_area: 'Lisboa' },
        behavioral: { inboxPollEnabled: true },
      },
    });
    const row = await db.agent.findUniqueOrThrow({ where: { id: agent.id } });
    expect(row.registeredAt?.getTime()).toBe(row.updatedAt.getTime());
    expect(row.registeredToolsVersion).toBe(TOOLS_VERSION);
    // Nothing changed: nothing to send again.
    expect(await registerAgent(deps(), agent.id)).toBe('unchanged');

    // New DNA: the gateway gets the new profile.
    const dna = {
      ...defaultVenueDna('Casa Azul'),
      persona: { name: 'Azul', tone: 'formal', languages: ['pt'] },
    };
    const admin = await createPerson(db, { isPlatformAdmin: true });
    await updateAgentDna(db, createAccess(db, { kind: 'user', userId: admin.id, isPlatformAdmin: true }), {
      agentId: agent.id,
      dna,
    });
    await runDueJobs(app, ['agent-register']);
    expect(gateway.agents.get(venueAgentId(venue.id))).toMatchObject({
      registrations: 2,
      dna: { persona: { name: 'Azul', languages: ['pt'] } },
    });
  });

  it("is paused and resumed by the venue's owners and admins, and the gateway is told each time", async () => {
    const db = app.services.db;
    const organization = await db.organization.create({ data: { name: 'Pausing House' } });
    const owner = await person(app, organization.id, 'OWNER');
    const staff = await person(app, organization.id, 'STAFF');
    const venue = await createBookableVenue(db, { name: 'Quiet Corner', organizationId: organization.id });
    const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, venue));
    await runDueJobs(app, ['agent-register']);
    const pause = (token: string, paused: boolean, agentId = agent.id) =>
      app.gql(
        `mutation P($input: SetAgentPausedInput!) { setAgentPaused(input: $input) {
          __typename
          ... on SetAgentPausedPayload { agent { status } }
          ... on Error { message }
        } }`,
        { input: { agentId: encodeGlobalID('Agent', agentId), paused } },
        { token },
      );
    const onGateway = () => gateway.agents.get(venueAgentId(venue.id));
    expect(onGateway()).toMatchObject({ registrations: 1, dna: { status: 'active' } });

    // Staff may not; nothing changes.
    const refused = await pause(staff.token, true);
    expect(refused.data, JSON.stringify(refused.body)).toEqual({
      setAgentPaused: { __typename: 'NotAllowedError', message: 'You are not allowed to do this' },
    });
    expect((await db.agent.findUniqueOrThrow({ where: { id: agent.id } })).status).toBe('ACTIVE');

    const paused = await pause(owner.token, true);
    expect(paused.data, JSON.stringify(paused.body)).toEqual({
      setAgentPaused: { __typename: 'SetAgentPausedPayload', agent: { status: 'PAUSED' } },
    });
    await runDueJobs(app, ['agent-register']);
    expect(onGateway()).toMatchObject({
      registrations: 2,
      dna: { status: 'paused', behavioral: { inboxPollEnabled: false } },
    });
    // Asked again, nothing to tell the gateway.
    expect((await pause(owner.token, true)).data).toMatchObject({
      setAgentPaused: { agent: { status: 'PAUSED' } },
    });
    await runDueJobs(app, ['agent-register']);
    expect(onGateway()).toMatchObject({ registrations: 2 });

    expect((await pause(owner.token, false)).data).toMatchObject({
      setAgentPaused: { agent: { status: 'ACTIVE' } },
    });
    await runDueJobs(app, ['agent-register']);
    expect(onGateway()).toMatchObject({
      registrations: 3,
      dna: { status: 'active', behavioral: { inboxPollEnabled: true } },
    });

    // A retired agent stays retired; a person's own agent is not the venue's to pause.
    await db.agent.update({ where: { id: agent.id }, data: { status: 'RETIRED' } });
    expect((await pause(owner.token, false)).data).toEqual({
      setAgentPaused: { __typename: 'ConflictError', message: 'This agent is retired: it cannot act again' },
    });
    const consumer = await ensureConsumerAgent(db, app.services.keyring, owner.userId);
    expect((await pause(owner.token, true, consumer.id)).data).toEqual({
      setAgentPaused: { __typename: 'ValidationError', message: "Only a venue's agent can be paused" },
    });
  });

  it('registers a person’s consumer agent once, however often they arrive', async () => {
    const db = app.services.db;
    const person = await createPerson(db);
    await Promise.all([1, 2, 3].map(() => ensureConsumerAgent(db, app.services.keyring, person.id)));
    await runDueJobs(app, ['agent-register']);
    expect(gateway.agents.get(consumerAgentId(person.id))).toMatchObject({
      kind: 'consumer',
      registrations: 1,
      dna: { capabilities: { role: 'consumer_concierge' } },
    });
  });

  it('keeps why a registration failed, and the sweep finds the agent again', async () => {
    const db = app.services.db;
    const venue = await createBookableVenue(db);
    const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, venue));
    gateway.down();
    const failure = await registerAgent(deps(), agent.id).catch((error) => error);
    expect(failure).toBeInstanceOf(ClawPulseError);
    expect(failure.retryable).toBe(true);
    expect(await db.agent.findUniqueOrThrow({ where: { id: agent.id } })).toMatchObject({
      registeredAt: null,
      registrationError: expect.stringContaining('503'),
    });
    gateway.up();
    // The job is gone (say it failed for good): the sweep queues the agent again.
    await db.$executeRaw`DELETE FROM graphile_worker._private_jobs WHERE key = ${`agent-register:${agent.id}`}`;
    expect(await sweepAgentRegistrations(db)).toBeGreaterThanOrEqual(1);
    await runDueJobs(app, ['agent-register']);
    expect(gateway.agents.has(venueAgentId(venue.id))).toBe(true);
    expect(await db.agent.findUniqueOrThrow({ where: { id: agent.id } })).toMatchObject({
      registrationError: null,
    });
  });

  it('registers again, with today’s tools, an agent the gateway took before the tool catalogue changed, and only that one', async () => {
    const db = app.services.db;
    const queued = async (agentId: string) =>
      (
        await db.$queryRaw<{ n: number }[]>`
          SELECT count(*)::int AS n FROM graphile_worker._private_jobs
          WHERE key = ${`agent-register:${agentId}`}`
      )[0]?.n;
    const venueAgent = async () => {
      const venue = await createBookableVenue(db);
      const { agent } = await db.$transaction((tx) => createVenueAgent(tx, app.services.keyring, venue));
      return { agent, networkId: venueAgentId(venue.id) };
    };
    const older = await venueAgent();
    const current = await venueAgent();
    await runDueJobs(app, ['agent-register']);

    // `older` as a release ago left it: DNA written before versions with the first venue default,
    // sent to the gateway as written, at the catalogue before today's. By SQL, so that updated_at
    // stays: the row itself has not changed since the gateway took it.
    const firstVenueTools = [...FIRST_VENUE_DEFAULT];
    await db.$executeRaw`
      UPDATE agents
      SET dna = jsonb_set(dna - 'toolsVersion', '{tools}', ${JSON.stringify(firstVenueTools)}::jsonb),
          registered_tools_version = ${TOOLS_VERSION - 1}
      WHERE id = ${older.agent.id}::uuid`;
    const stale = gateway.agents.get(older.networkId)!;
    (stale.dna as { capabilities: { tools: string[] } }).capabilities.tools = firstVenueTools;
    const before = await db.agent.findUniqueOrThrow({ where: { id: older.agent.id } });
    expect(before.registeredAt?.getTime()).toBe(before.updatedAt.getTime());
    expect(registrationUpToDate(before)).toBe(false);

    expect(await sweepAgentRegistrations(db)).toBeGreaterThanOrEqual(1);
    expect(await queued(older.agent.id)).toBe(1);
    expect(await queued(current.agent.id)).toBe(0);
    await runDueJobs(app, ['agent-register']);

    expect(gateway.agents.get(older.networkId)).toMatchObject({
      registrations: 2,
      dna: { capabilities: { tools: [...VENUE_TOOLS] } },
    });
    expect(gateway.agents.get(current.networkId)).toMatchObject({
      registrations: 1,
      dna: { capabilities: { tools: [...VENUE_TOOLS] } },
    });
    const after = await db.agent.findUniqueOrThrow({ where: { id: older.agent.id } });
    expect(after).toMatchObject({ registeredToolsVersion: TOOLS_VERSION, updatedAt: before.updatedAt });
    expect(after.registeredAt?.getTime()).toBe(after.updatedAt.getTime());
    expect(await registerAgent(deps(), older.agent.id)).toBe('unchanged');

    // Up to date now: the next sweep leaves both alone.
    await sweepAgentRegistrations(db);
    expect(await queued(older.agent.id)).toBe(0);
    expect(await queued(current.agent.id)).toBe(0);
  });
});

describe('with the embedded gateway', () => {
  let local: TestApp;
  beforeAll(async () => {
    local = await startTestApp();
  });
  afterAll(() => local.close());

  it('registers through the same client, in-process, into the gateway’s own tables, and serves it at /clawpulse', async () => {
    const db = local.services.db;
    expect(local.services.network.gateway).toBeDefined();
    const venue = await createBookableVenue(db, { name: 'Tasca' });
    await db.$transaction((tx) => createVenueAgent(tx, local.services.keyring, venue));
    await runDueJobs(local, ['agent-register']);
    const [row] = await db.$queryRaw<{ kind: string; dna: { capabilities: { venue_name: string } } }[]>`
      SELECT kind, dna FROM gateway_agents WHERE agent_id = ${venueAgentId(venue.id)}`;
    expect(row).toMatchObject({ kind: 'venue', dna: { capabilities: { venue_name: 'Tasca' } } });

    // Agents elsewhere reach it over HTTP with the key, and nothing without it; but the inboxes of
    // its own agents (its venues', its people's, the platform's) are not theirs to read.
    const inboxOf = (agentId: string) => `${local.url}/clawpulse/api/agents/${agentId}/inbox`;
    const key = { 'x-api-key': local.services.network.gatewayKey };
    expect((await fetch(inboxOf(venueAgentId(venue.id)))).status).toBe(401);
    const person = await createPerson(db);
    for (const ours of [
      venueAgentId(venue.id),
      consumerAgentId(person.id),
      local.services.config.network.platformAgentId,
    ]) {
      const refused = await fetch(inboxOf(ours), { headers: key });
      expect(refused.status, ours).toBe(403);
    }
    const elsewhere = venueAgentId(randomUUID());
    const answer = await fetch(inboxOf(elsewhere), { headers: key });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ messages: [] });
  });
});
