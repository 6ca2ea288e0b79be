import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reencryptAgentSecrets, agentSigningSecret as storedSecret } from '../../src/domain/agents/agents.ts';
import { generateKeyringSpec, openSecret, parseKeyring } from '../../src/domain/agents/secrets.ts';
import { createOrganizationAs } from '../factories/organizations.ts';
import { FIRST_VENUE_DEFAULT } from '../fixtures/agent-tools.ts';
import { graphql } from '../generated/gql.ts';
import type { UpdateAgentDnaInput } from '../generated/graphql.ts';
import { member, rawId, startTestApp, type TestApp } from '../helpers/app.ts';

const CreateOrganization = graphql(`
  mutation AgentsCreateOrganization($name: String!) {
    createOrganization(input: { name: $name }) {
      __typename
      ... on OrganizationPayload { organization { id onboarding { complete next steps { key done required } } } }
    }
  }
`);

const CreateVenue = graphql(`
  mutation AgentsCreateVenue($input: CreateVenueInput!) {
    createVenue(input: $input) {
      __typename
      ... on CreateVenuePayload {
        agentSigningSecret
        venue { id agent { id kind name dna { persona { name tone languages } tools capabilities bookingPolicy { autoAcceptWithinRules askStaffAbovePartySize } } } }
      }
    }
  }
`);

const UpdateDna = graphql(`
  mutation UpdateAgentDna($input: UpdateAgentDnaInput!) {
    updateAgentDna(input: $input) {
      __typename
      ... on AgentPayload { agent { name dna { persona { name tone languages } tools capabilities escalationContact { name email } bookingPolicy { blackoutWindows { startsAt endsAt reason } } } } }
      ... on ValidationError { message field }
      ... on Error { message }
    }
  }
`);

const Rotate = graphql(`
  mutation RotateAgentSecret($agentId: ID!) {
    rotateAgentSigningSecret(input: { agentId: $agentId }) {
      __typename
      ... on RotateAgentSigningSecretPayload { signingSecret agent { hasSigningSecret } }
      ... on Error { message }
    }
  }
`);

const ReadAgent = graphql(`
  query ReadAgent($id: ID!) {
    node(id: $id) { ... on Agent { kind name dna { tools } } }
  }
`);

const VenueAgent = graphql(`
  query VenueAgentWithVenue($id: ID!) {
    node(id: $id) { ... on Venue { agent { name venue { id status } } } }
  }
`);

const VenueAgentName = graphql(`
  query VenueAgentName($id: ID!) {
    node(id: $id) { ... on Venue { agent { name } } }
  }
`);

const Onboarding = graphql(`
  query Onboarding($id: ID!) {
    organization(id: $id) { onboarding { complete next steps { key done } } }
  }
`);

let app: TestApp;
let owner: { token: string };
let organizationId: string;

beforeAll(async () => {
  app = await startTestApp();
  owner = await app.signIn();
  organizationId = await createOrganizationAs(app, owner.token, 'Agent Keepers');
});
afterAll(() => app.close());

async function newVenue(name: string) {
  const res = await app.gql(
    CreateVenue,
    { input: { organizationId, name, timeZone: 'Europe/Madrid' } },
    { token: owner.token },
  );
  return member(res.data?.createVenue, 'CreateVenuePayload', res);
}

describe('agent registry', () => {
  it('gives every new venue a business agent with sensible DNA', async () => {
    const { venue } = await newVenue('Bodega Norte');
    expect(venue.agent).toMatchObject({
      kind: 'VENUE',
      name: 'Bodega Norte concierge',
      dna: {
        persona: { tone: 'warm', languages: ['en'] },
        capabilities: ['bookings', 'questions'],
        bookingPolicy: { autoAcceptWithinRules: true, askStaffAbovePartySize: 8 },
      },
    });
    expect(venue.agent?.dna?.tools).toContain('accept_booking');
  });

  it('lets the venue team edit the DNA, and refuses unknown tools and capabilities by field', async () => {
    const { venue } = await newVenue('Taberna Sur');
    const agentId = venue.agent!.id;
    const base: UpdateAgentDnaInput = {
      agentId,
      persona: { name: 'Sol', tone: 'playful', languages: ['es', 'en'] },
      capabilities: ['bookings', 'events'],
      tools: ['check_availability', 'accept_booking', 'escalate_to_staff'],
      escalationContact: { name: 'Marta', email: 'marta@taberna.test' },
      bookingPolicy: {
        autoAcceptWithinRules: false,
        askStaffAbovePartySize: 6,
        blackoutWindows: [
          { startsAt: '2026-12-31T20:00:00Z', endsAt: '2027-01-01T03:00:00Z', reason: 'Private party' },
        ],
      },
    };
    const ok = await app.gql(UpdateDna, { input: base }, { token: owner.token });
    expect(member(ok.data?.updateAgentDna, 'AgentPayload', ok).agent).toMatchObject({
      name: 'Sol',
      dna: {
        persona: { tone: 'playful' },
        escalationContact: { name: 'Marta' },
        bookingPolicy: { blackoutWindows: [{ reason: 'Private party' }] },
      },
    });

    const unknownTool = await app.gql(
      UpdateDna,
      { input: { ...base, tools: ['check_availability', 'launch_rockets'] } },
      { token: owner.token },
    );
    expect(unknownTool.body).toMatchObject({
      data: {
        updateAgentDna: {
          __typename: 'ValidationError',
          field: 'tools.1',
          message: 'Unknown tool "launch_rockets"',
        },
      },
    });
    const consumerTool = await app.gql(
      UpdateDna,
      { input: { ...base, tools: ['quote_delivery'] } },
      { token: owner.token },
    );
    expect(consumerTool.body).toMatchObject({
      data: { updateAgentDna: { __typename: 'ValidationError', field: 'tools.0' } },
    });
    const unknownCapability = await app.gql(
      UpdateDna,
      { input: { ...base, capabilities: ['telepathy'] } },
      { token: owner.token },
    );
    expect(unknownCapability.body).toMatchObject({
      data: { updateAgentDna: { __typename: 'ValidationError', field: 'capabilities.0' } },
    });

    const stored = await app.services.db.agent.findUniqueOrThrow({ where: { id: rawId(agentId) } });
    expect(stored.name).toBe('Sol');
  });

  it("shows a venue agent made before its newer tools with them, and keeps the team's edited list", async () => {
    const { venue } = await newVenue('Casa Antiga');
    const agentId = venue.agent!.id;
    const first = FIRST_VENUE_DEFAULT;
    // As code before tool versions stored it: the first default list, no toolsVersion.
    const row = await app.services.db.agent.findUniqueOrThrow({ where: { id: rawId(agentId) } });
    const { toolsVersion: _, ...unversioned } = row.dna as Record<string, unknown>;
    await app.services.db.agent.update({
      where: { id: row.id },
      data: { dna: { ...unversioned, tools: first } },
    });
    const read = await app.gql(ReadAgent, { id: agentId }, { token: owner.token });
    expect(read.data?.node).toMatchObject({
      dna: { tools: [...first, 'venue_create_booking', 'venue_send_menu', 'escalate_to_human'] },
    });

    // The team's own choice of that same list, written now, is kept as written.
    const edit = await app.gql(
      UpdateDna,
      {
        input: {
          agentId,
          persona: { name: 'Casa Antiga concierge', tone: 'warm', languages: ['en'] },
          capabilities: ['bookings'],
          tools: first,
        },
      },
      { token: owner.token },
    );
    member(edit.data?.updateAgentDna, 'AgentPayload', edit);
    const again = await app.gql(ReadAgent, { id: agentId }, { token: owner.token });
    expect(again.data?.node).toMatchObject({ dna: { tools: first } });
    const stored = await app.services.db.agent.findUniqueOrThrow({ where: { id: row.id } });
    expect(stored.dna).toMatchObject({ tools: first, toolsVersion: 1 });
  });

  it('shows strangers the agent of a venue on the network but not its DNA, and lets only the team edit it', async () => {
    const { venue } = await newVenue('Casa Cerrada');
    const stranger = await app.signIn();
    // While the venue is a draft, its agent is as hidden as the venue.
    const hidden = await app.gql(ReadAgent, { id: venue.agent!.id }, { token: stranger.token });
    expect(hidden.body).toEqual({ data: { node: null } });
    await app.services.db.venue.update({ where: { id: rawId(venue.id) }, data: { status: 'CLAIMED' } });
    const read = await app.gql(ReadAgent, { id: venue.agent!.id }, { token: stranger.token });
    expect(read.data?.node).toEqual({ kind: 'VENUE', name: 'Casa Cerrada concierge', dna: null });
    const edit = await app.gql(
      UpdateDna,
      {
        input: {
          agentId: venue.agent!.id,
          persona: { name: 'Mine', tone: 'formal', languages: ['en'] },
          capabilities: [],
          tools: [],
        },
      },
      { token: stranger.token },
    );
    expect(edit.body).toMatchObject({ data: { updateAgentDna: { __typename: 'NotAllowedError' } } });
  });

  it("answers a venue's agent with the venue: seen as the venue is, with its venue when asked", async () => {
    const { venue } = await newVenue('Casa Propia');
    const stranger = await app.signIn();
    // A draft: its team sees its agent (decided on the venue's own row), strangers neither.
    const name = await app.gql(VenueAgentName, { id: venue.id }, { token: owner.token });
    expect(name.body).toEqual({ data: { node: { agent: { name: 'Casa Propia concierge' } } } });
    const withVenue = await app.gql(VenueAgent, { id: venue.id }, { token: owner.token });
    expect(withVenue.body).toEqual({
      data: { node: { agent: { name: 'Casa Propia concierge', venue: { id: venue.id, status: 'DRAFT' } } } },
    });
    expect((await app.gql(VenueAgentName, { id: venue.id }, { token: stranger.token })).body).toEqual({
      data: { node: null },
    });
    await app.services.db.venue.update({ where: { id: rawId(venue.id) }, data: { status: 'CLAIMED' } });
    const onNetwork = await app.gql(VenueAgent, { id: venue.id }, { token: stranger.token });
    expect(onNetwork.body).toEqual({
      data: {
        node: { agent: { name: 'Casa Propia concierge', venue: { id: venue.id, status: 'CLAIMED' } } },
      },
    });
  });

  it('keeps each signing secret encrypted, bound to its agent, shown only at creation or rotation', async () => {
    const { venue, agentSigningSecret } = await newVenue('Secret Garden');
    const agentId = rawId(venue.agent!.id);
    const row = await app.services.db.agent.findUniqueOrThrow({ where: { id: agentId } });
    expect(row.signingSecretCiphertext).not.toContain(agentSigningSecret);
    expect((await storedSecret(app.services.db, app.services.keyring, agentId)).toString('base64url')).toBe(
      agentSigningSecret,
    );
    // A ciphertext moved onto another agent does not decrypt.
    const other = await newVenue('Other Garden');
    expect(() =>
      openSecret(
        app.services.keyring,
        { ciphertext: row.signingSecretCiphertext!, keyId: row.signingSecretKeyId! },
        rawId(other.venue.agent!.id),
      ),
    ).toThrow(/does not decrypt/);

    const rotated = await app.gql(Rotate, { agentId: venue.agent!.id }, { token: owner.token });
    const { signingSecret } = member(
      rotated.data?.rotateAgentSigningSecret,
      'RotateAgentSigningSecretPayload',
      rotated,
    );
    expect(signingSecret).not.toBe(agentSigningSecret);
    expect((await storedSecret(app.services.db, app.services.keyring, agentId)).toString('base64url')).toBe(
      signingSecret,
    );

    // No field of the API returns a secret.
    const fields = await app.gql<{ __type: { fields: { name: string }[] } }, never>(
      '{ __type(name: "Agent") { fields { name } } }',
    );
    const names = fields.data!.__type.fields.map((f) => f.name);
    expect(names.filter((n) => /secret|cipher/i.test(n))).toEqual(['hasSigningSecret']);
  });

  it('re-encrypts every secret under a new key, which the old keyring then cannot read', async () => {
    const { venue, agentSigningSecret } = await newVenue('Rotating Room');
    const agentId = rawId(venue.agent!.id);
    const oldSpec = [...app.services.keyring.keys]
      .map(([id, key]) => `${id}:${key.toString('base64url')}`)
      .join(',');
    const rotated = parseKeyring(`${generateKeyringSpec('next')},${oldSpec}`);
    expect(await reencryptAgentSecrets(app.services.db, rotated)).toBeGreaterThan(0);
    const row = await app.services.db.agent.findUniqueOrThrow({ where: { id: agentId } });
    expect(row.signingSecretKeyId).toBe('next');
    expect((await storedSecret(app.services.db, rotated, agentId)).toString('base64url')).toBe(
      agentSigningSecret,
    );
    await expect(storedSecret(app.services.db, app.services.keyring, agentId)).rejects.toThrow(/No key next/);
  });
});

describe('onboarding checklist', () => {
  it('walks an organisation from sign-up to its first published venue', async () => {
    const me = await app.signIn();
    const created = await app.gql(CreateOrganization, { name: 'Fresh Start' }, { token: me.token });
    const org = member(created.data?.createOrganization, 'OrganizationPayload', created).organization;
    expect(org.onboarding).toMatchObject({ complete: false, next: 'venue' });
    expect(org.onboarding.steps.map((s) => [s.key, s.done, s.required])).toEqual([
      ['organization', true, true],
      ['venue', false, true],
      ['venueDetails', false, true],
      ['published', false, true],
      ['team', false, false],
      ['apiKey', false, false],
    ]);
    await app.gql(
      CreateVenue,
      { input: { organizationId: org.id, name: 'First Light', timeZone: 'Europe/Lisbon' } },
      { token: me.token },
    );
    const after = await app.gql(Onboarding, { id: org.id }, { token: me.token });
    expect(after.data?.organization?.onboarding).toMatchObject({ complete: false, next: 'venueDetails' });
  });
});
