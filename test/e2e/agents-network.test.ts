/**
 * Agents on the network as GraphQL shows them: each agent's id on the network, whether the
 * gateway has it registered as it is now and when its inbox was last read; why its registration
 * failed, for those who manage it only; a person's own consumer agent (`viewer.agent`); and the
 * list of every agent, for platform admins only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLS_VERSION } from '../../src/domain/agents/dna.ts';
import { consumerAgentId, venueAgentId } from '../../src/integrations/clawpulse/wire.ts';
import { createBookableVenue } from '../factories/venues.ts';
import { graphql } from '../generated/gql.ts';
import { type GraphQLResponse, rawId, startTestApp, type TestApp } from '../helpers/app.ts';
import { type Actors, createActors, guest, unique } from '../helpers/authz.ts';

const ViewerAgent = graphql(`
  query ViewerAgent {
    viewer { id agent { id kind status networkId registered registeredAt lastInboxPollAt registrationError } }
  }
`);

const VenueAgent = graphql(`
  query VenueAgentOnNetwork($id: ID!) {
    node(id: $id) { ... on Venue { agent { id networkId status registered lastInboxPollAt registrationError } } }
  }
`);

const AllAgents = graphql(`
  query AllAgents($kind: AgentKind, $first: Int, $after: String) {
    agents(kind: $kind, first: $first, after: $after) {
      edges { node { id kind networkId } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

let app: TestApp;
let fx: Actors;

beforeAll(async () => {
  app = await startTestApp();
  fx = await createActors(app);
}, 60_000);

afterAll(() => app?.close());

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

function ok<T>(res: GraphQLResponse<T>): T {
  expect(res.errors, JSON.stringify(res.body, null, 2)).toBeUndefined();
  return res.data!;
}

describe('viewer.agent', () => {
  it('is the person’s own consumer agent, with its network id and registration', async () => {
    const person = await guest(app);
    const polledAt = new Date('2026-12-01T10:00:00.000Z');
    const agent = await app.services.db.agent.create({
      data: {
        kind: 'CONSUMER',
        name: unique('Concierge'),
        userId: person.userId,
        lastInboxPollAt: polledAt,
        registrationError: 'gateway answered 503',
      },
    });
    // The gateway registered it as it is now, with today's tool catalogue.
    await app.services.db.$executeRaw`
      UPDATE agents SET registered_at = updated_at, registered_tools_version = ${TOOLS_VERSION}
      WHERE id = ${agent.id}::uuid`;

    const data = ok(await app.gql(ViewerAgent, {}, { token: person.token }));
    expect(data.viewer?.agent).toMatchObject({
      id: gid('Agent', agent.id),
      kind: 'CONSUMER',
      status: 'ACTIVE',
      networkId: consumerAgentId(person.userId),
      registered: true,
      lastInboxPollAt: polledAt.toISOString(),
      registrationError: 'gateway answered 503',
    });

    // A tool catalogue newer than the one the gateway took puts it behind (as after a release)...
    await app.services.db.$executeRaw`
      UPDATE agents SET registered_tools_version = ${TOOLS_VERSION - 1} WHERE id = ${agent.id}::uuid`;
    expect(ok(await app.gql(ViewerAgent, {}, { token: person.token })).viewer?.agent?.registered).toBe(false);
    await app.services.db.$executeRaw`
      UPDATE agents SET registered_tools_version = ${TOOLS_VERSION} WHERE id = ${agent.id}::uuid`;
    expect(ok(await app.gql(ViewerAgent, {}, { token: person.token })).viewer?.agent?.registered).toBe(true);

    // ...and so does a change, until the gateway takes it again.
    await app.services.db.agent.update({ where: { id: agent.id }, data: { name: unique('Renamed') } });
    expect(ok(await app.gql(ViewerAgent, {}, { token: person.token })).viewer?.agent?.registered).toBe(false);
  });

  it('is null for a person with no agent yet, and for anyone signed out', async () => {
    const person = await guest(app);
    const data = ok(await app.gql(ViewerAgent, {}, { token: person.token }));
    expect(data.viewer?.id).toBe(gid('User', person.userId));
    expect(data.viewer?.agent).toBeNull();
    expect(ok(await app.gql(ViewerAgent, {})).viewer).toBeNull();
  });
});

describe('a venue agent’s registration', () => {
  it('shows its network id to all who see it, and its registration error to managers only', async () => {
    const venue = await createBookableVenue(app.services.db, { organizationId: fx.organizationId });
    await app.services.db.agent.create({
      data: {
        kind: 'VENUE',
        name: unique('Front desk'),
        venueId: venue.id,
        organizationId: fx.organizationId,
        registrationError: 'gateway answered 401',
      },
    });
    const read = async (token?: string) =>
      ok(await app.gql(VenueAgent, { id: gid('Venue', venue.id) }, { token })).node;
    const agentOf = (node: Awaited<ReturnType<typeof read>>) => (node && 'agent' in node ? node.agent : null);

    for (const token of [fx.owner.token, fx.admin.token, fx.platformAdmin.token]) {
      expect(agentOf(await read(token))).toMatchObject({
        networkId: venueAgentId(venue.id),
        registered: false,
        registrationError: 'gateway answered 401',
      });
    }
    for (const token of [fx.staff.token, fx.otherOwner.token, undefined]) {
      expect(agentOf(await read(token))).toMatchObject({
        networkId: venueAgentId(venue.id),
        registrationError: null,
      });
    }
  });
});

describe('agents', () => {
  it('lists every agent, by kind, for platform admins', async () => {
    const person = await guest(app);
    const consumer = await app.services.db.agent.create({
      data: { kind: 'CONSUMER', name: unique('Listed'), userId: person.userId },
    });
    const all = ok(await app.gql(AllAgents, { first: 50 }, { token: fx.platformAdmin.token }));
    expect(all.agents.edges.map((e) => rawId(e.node.id))).toContain(consumer.id);

    const consumers = ok(
      await app.gql(AllAgents, { kind: 'CONSUMER', first: 50 }, { token: fx.platformAdmin.token }),
    );
    expect(consumers.agents.edges.every((e) => e.node.kind === 'CONSUMER')).toBe(true);
    // Newest first: the one just made leads.
    expect(rawId(consumers.agents.edges[0]!.node.id)).toBe(consumer.id);
    expect(consumers.agents.edges[0]!.node.networkId).toBe(consumerAgentId(person.userId));
  });

  it('is refused to everyone else', async () => {
    for (const token of [fx.owner.token, fx.staff.token, fx.keyWrite.secret]) {
      const res = await app.gql(AllAgents, {}, { token });
      expect(res.errors?.[0]?.extensions?.code, JSON.stringify(res.body)).toBe('FORBIDDEN');
      expect(res.data?.agents ?? null).toBeNull();
    }
    const anonymous = await app.gql(AllAgents, {});
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
