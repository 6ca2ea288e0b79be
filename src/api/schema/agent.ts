import { canManageAgent, canReadAgent, dnaOf } from '../../domain/agents/agents.ts';
import { AGENT_TOOLS, CAPABILITIES, TONES } from '../../domain/agents/dna.ts';
import { gatewayAgentId, registrationUpToDate } from '../../domain/agents/registration.ts';
import { PUBLIC_STATUSES } from '../../domain/venues/venues.ts';
import { builder } from '../builder.ts';
import { byIdCursor } from '../cursors.ts';
import { teamOf } from '../scopes.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';
import { User } from './user.ts';
import { Venue } from './venue.ts';

export const AgentKind = describedEnum('AgentKind', {
  CONSUMER: "A person's own agent, the one they chat with.",
  VENUE: "A venue's business agent, which answers booking requests.",
  PLATFORM: 'An agent AGNT runs for itself.',
});

export const AgentStatus = builder.enumType('AgentStatus', {
  values: ['ACTIVE', 'PAUSED', 'RETIRED'] as const,
});

const AgentTone = builder.enumType('AgentTone', { values: TONES });
const AgentCapability = builder.enumType('AgentCapability', { values: CAPABILITIES });
const AgentTool = builder.enumType('AgentTool', { values: AGENT_TOOLS });

const Persona = builder.simpleObject('AgentPersona', {
  fields: (t) => ({
    name: t.string(),
    tone: t.field({ type: AgentTone }),
    languages: t.stringList({ description: 'Language tags such as en or pt-BR, preferred first.' }),
  }),
});

const BlackoutWindow = builder.simpleObject('BlackoutWindow', {
  fields: (t) => ({
    startsAt: t.field({ type: 'DateTime' }),
    endsAt: t.field({ type: 'DateTime' }),
    reason: t.string({ nullable: true }),
  }),
});

const BookingPolicy = builder.simpleObject('AgentBookingPolicy', {
  fields: (t) => ({
    autoAcceptWithinRules: t.boolean({
      description: "Accept requests within the venue's rules without asking.",
    }),
    askStaffAbovePartySize: t.int({
      nullable: true,
      description: 'Larger parties go to staff; null: never.',
    }),
    blackoutWindows: t.field({ type: [BlackoutWindow] }),
  }),
});

const EscalationContact = builder.simpleObject('EscalationContact', {
  fields: (t) => ({
    name: t.string(),
    email: t.string({ nullable: true }),
    phone: t.string({ nullable: true }),
  }),
});

const Dna = builder.simpleObject('AgentDna', {
  description: 'Who the agent is and what it may do.',
  fields: (t) => ({
    persona: t.field({ type: Persona }),
    capabilities: t.field({ type: [AgentCapability] }),
    tools: t.field({ type: [AgentTool] }),
    bookingPolicy: t.field({ type: BookingPolicy, nullable: true }),
    escalationContact: t.field({ type: EscalationContact, nullable: true }),
  }),
});

export const Agent = builder.prismaNode('Agent', {
  id: { field: 'id' },
  description:
    "An agent on the network: venue agents of venues on the network are public, a person's agent is theirs. Its DNA is visible to whoever runs it; its signing secret never.",
  // The venue's status and owner come with the agent, so deciding who sees it costs no query.
  select: {
    id: true,
    kind: true,
    organizationId: true,
    userId: true,
    venue: { select: { status: true, organizationId: true } },
  },
  authScopes: (agent, ctx) => {
    if (agent.kind === 'VENUE' && agent.venue) {
      if (PUBLIC_STATUSES.includes(agent.venue.status)) return true;
      return teamOf(agent.venue.organizationId);
    }
    if (agent.kind === 'CONSUMER' && ctx.actor.kind === 'user' && ctx.actor.userId === agent.userId)
      return true;
    return { platformAdmin: true };
  },
  fields: (t) => ({
    kind: t.expose('kind', { type: AgentKind }),
    name: t.exposeString('name'),
    status: t.expose('status', { type: AgentStatus }),
    venue: t.relation('venue', { nullable: true }),
    dna: t.field({
      type: Dna,
      nullable: true,
      description: "Null unless you run this agent (its venue's organisation, its person, platform admins).",
      select: { dna: true },
      resolve: async (agent, _args, ctx) => {
        if (!(await canReadAgent(ctx.access, agent))) return null;
        const dna = dnaOf(agent);
        return {
          ...dna,
          bookingPolicy: dna.bookingPolicy && {
            ...dna.bookingPolicy,
            blackoutWindows: dna.bookingPolicy.blackoutWindows.map((w) => ({
              startsAt: new Date(w.startsAt),
              endsAt: new Date(w.endsAt),
              reason: w.reason ?? null,
            })),
          },
          escalationContact: dna.escalationContact && {
            name: dna.escalationContact.name,
            email: dna.escalationContact.email ?? null,
            phone: dna.escalationContact.phone ?? null,
          },
        };
      },
    }),
    networkId: t.string({
      nullable: true,
      description:
        'Its id on the agent network (`venue-<uuid>`, `consumer-<uuid>`); null for an agent not on it.',
      select: { venueId: true },
      resolve: (agent) => gatewayAgentId(agent),
    }),
    registered: t.boolean({
      description:
        'The gateway has registered the agent as it is now (its latest change and its current tool list included).',
      select: { registeredAt: true, registeredToolsVersion: true, updatedAt: true },
      resolve: (agent) => registrationUpToDate(agent),
    }),
    registeredAt: t.expose('registeredAt', {
      type: 'DateTime',
      nullable: true,
      description:
        'The version of the agent (the time of its change) the gateway last registered; null: never registered.',
    }),
    lastInboxPollAt: t.expose('lastInboxPollAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When its inbox on the network was last read.',
    }),
    registrationError: t.string({
      nullable: true,
      description:
        'Why its last registration with the gateway failed, until one succeeds. Null unless you manage the agent (its organisation’s owners and admins, its person, platform admins).',
      select: { registrationError: true },
      resolve: async (agent, _args, ctx) =>
        (await canManageAgent(ctx.access, agent)) ? agent.registrationError : null,
    }),
    hasSigningSecret: t.boolean({
      select: { signingSecretCiphertext: true },
      resolve: (agent) => agent.signingSecretCiphertext !== null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

/**
 * The agent's query as the plan made it, without the join back to its venue when all that join
 * reads is what the Agent type reads to decide who sees it (the venue's status and organisation):
 * an agent reached through its venue has that venue in the parent row. A field of Agent that
 * reads more of its venue (`venue { … }`) keeps the join. A new object: the plan's query is
 * shared with later plays and must not be changed.
 */
function withoutVisibilityVenue<Query>(query: Query): Query {
  const select = (query as { select?: Record<string, unknown> }).select;
  const venue = select?.venue as { select?: Record<string, unknown> } | undefined;
  const onlyVisibility =
    venue !== undefined &&
    Object.keys(venue).length === 1 &&
    venue.select !== undefined &&
    Object.keys(venue.select).length === 2 &&
    venue.select.status === true &&
    venue.select.organizationId === true;
  if (!onlyVisibility) return query;
  const { venue: _venue, ...rest } = select as Record<string, unknown>;
  return { ...query, select: rest };
}

builder.prismaObjectField(Venue, 'agent', (t) =>
  t.field({
    type: Agent,
    nullable: true,
    description: "The venue's business agent.",
    select: (_args, _ctx, nestedSelection) => ({
      status: true,
      organizationId: true,
      agent: withoutVisibilityVenue(nestedSelection()),
    }),
    // The agent's venue is this one: what the Agent type decides visibility on comes from this
    // row unless the agent's query loaded its venue itself (see withoutVisibilityVenue).
    // nestedSelection selects what the Agent type needs; Prisma's types cannot see that.
    resolve: (venue) =>
      (venue.agent && {
        venue: { status: venue.status, organizationId: venue.organizationId },
        ...venue.agent,
      }) as never,
  }),
);

builder.prismaObjectField(User, 'agent', (t) =>
  t.field({
    type: Agent,
    nullable: true,
    description:
      "The person's own consumer agent, the one they chat with; null if they have none yet. The person themselves and platform admins.",
    authScopes: (user, _args, ctx) =>
      ctx.actor.kind === 'user' && ctx.actor.userId === user.id ? true : { platformAdmin: true },
    unauthorizedResolver: () => null,
    // An agent with a user is that user's consumer agent (only those are made with one).
    select: (_args, _ctx, nestedSelection) => ({ agent: nestedSelection() }),
    // nestedSelection selects what the Agent type needs; the User type (no select of its own) and
    // Prisma's types cannot see that.
    resolve: (user) => (user as unknown as { agent: unknown }).agent as never,
  }),
);

builder.queryField('agents', (t) =>
  t.prismaConnection({
    type: Agent,
    cursor: 'id',
    description: 'Every agent on the platform, newest first. Platform admins only.',
    authScopes: { platformAdmin: true },
    args: { kind: t.arg({ type: AgentKind, required: false }) },
    resolve: (query, _root, args, ctx) =>
      ctx.domain.agents.listAgents(ctx.access, { kind: args.kind ?? null }, byIdCursor(query, args)),
  }),
);

const PersonaInput = builder.inputType('AgentPersonaInput', {
  fields: (t) => ({ name: t.string(), tone: t.field({ type: AgentTone }), languages: t.stringList() }),
});

const BlackoutWindowInput = builder.inputType('BlackoutWindowInput', {
  fields: (t) => ({
    startsAt: t.field({ type: 'DateTime' }),
    endsAt: t.field({ type: 'DateTime' }),
    reason: t.string({ required: false }),
  }),
});

const BookingPolicyInput = builder.inputType('AgentBookingPolicyInput', {
  fields: (t) => ({
    autoAcceptWithinRules: t.boolean(),
    askStaffAbovePartySize: t.int({ required: false }),
    blackoutWindows: t.field({ type: [BlackoutWindowInput], required: false }),
  }),
});

const EscalationContactInput = builder.inputType('EscalationContactInput', {
  fields: (t) => ({
    name: t.string(),
    email: t.string({ required: false }),
    phone: t.string({ required: false }),
  }),
});

const UpdateAgentDnaInput = builder.inputType('UpdateAgentDnaInput', {
  fields: (t) => ({
    agentId: t.globalID({ for: Agent }),
    persona: t.field({ type: PersonaInput }),
    capabilities: t.stringList({
      description: 'Capability names; unknown ones are refused with a typed error.',
    }),
    tools: t.stringList({
      description: 'Tool names; unknown ones, or ones of another kind of agent, are refused.',
    }),
    bookingPolicy: t.field({ type: BookingPolicyInput, required: false }),
    escalationContact: t.field({ type: EscalationContactInput, required: false }),
  }),
});

mutation('updateAgentDna', {
  description: "Replaces an agent's DNA: venue agents by their organisation's owners and admins.",
  input: UpdateAgentDnaInput,
  payload: payloadType('AgentPayload', 'agent', Agent),
  authScopes: { authenticated: true },
  resolve: async (input, ctx) => {
    const { agentId, bookingPolicy, escalationContact, ...rest } = input;
    const dna = {
      ...rest,
      bookingPolicy: bookingPolicy && {
        autoAcceptWithinRules: bookingPolicy.autoAcceptWithinRules,
        askStaffAbovePartySize: bookingPolicy.askStaffAbovePartySize ?? null,
        blackoutWindows: (bookingPolicy.blackoutWindows ?? []).map((w) => ({
          startsAt: w.startsAt.toISOString(),
          endsAt: w.endsAt.toISOString(),
          ...(w.reason ? { reason: w.reason } : {}),
        })),
      },
      escalationContact: escalationContact && {
        name: escalationContact.name,
        ...(escalationContact.email ? { email: escalationContact.email } : {}),
        ...(escalationContact.phone ? { phone: escalationContact.phone } : {}),
      },
    };
    return { agent: await ctx.domain.agents.updateAgentDna(ctx.access, { agentId: agentId.id, dna }) };
  },
});

mutation('setAgentPaused', {
  description:
    "Pauses a venue's agent, or lets it act again: while paused it decides nothing on its own (booking requests, changes and guests' questions go to the venue's staff). The venue's owners and admins.",
  input: (t) => ({ agentId: t.globalID({ for: Agent }), paused: t.boolean() }),
  payload: payloadType('SetAgentPausedPayload', 'agent', Agent),
  authScopes: { authenticated: true },
  resolve: async (input, ctx) => ({
    agent: await ctx.domain.agents.setAgentPaused(ctx.access, {
      agentId: input.agentId.id,
      paused: input.paused,
    }),
  }),
});

mutation('rotateAgentSigningSecret', {
  description: 'Issues a new signing secret for an agent you run; it is shown once.',
  input: (t) => ({ agentId: t.globalID({ for: Agent }) }),
  payload: builder.simpleObject('RotateAgentSigningSecretPayload', {
    fields: (t) => ({
      agent: t.field({ type: Agent }),
      signingSecret: t.string({
        description:
          'The new A2A signing secret, shown this once. The old one still verifies (never signs) for the rotation overlap, then stops working.',
      }),
    }),
  }),
  authScopes: { person: true },
  resolve: (input, ctx) =>
    ctx.domain.agents.rotateAgentSigningSecret(ctx.access, { agentId: input.agentId.id }),
});
