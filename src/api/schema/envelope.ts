/**
 * A2A envelopes as support sees them: what our agents sent and received about a booking, and how
 * far each got. The state, the intent and why it failed; never the signed envelope, its payload
 * (the guest's words) or any key.
 */
import { builder } from '../builder.ts';
import { teamOf } from '../scopes.ts';
import { Booking } from './booking.ts';
import { describedEnum } from './enums.ts';

const EnvelopeDirection = describedEnum('EnvelopeDirection', {
  OUTBOUND: 'Sent by one of our agents.',
  INBOUND: 'Received by one of our agents.',
});

const EnvelopeState = describedEnum('EnvelopeState', {
  PENDING: 'Written, not sent yet (or waiting for a retry).',
  SENT: 'The gateway took it.',
  DELIVERED: "It reached the recipient's inbox.",
  ANSWERED: 'Answered (outbound) or acted on (inbound).',
  EXPIRED: 'Not delivered or answered in time.',
  FAILED: 'Sending gave up: the gateway refused it, or the retries ran out (see `lastError`).',
  REJECTED: 'Received and refused before anything acted on it (see `reason`).',
});

const Envelope = builder.prismaObject('A2aEnvelope', {
  name: 'AgentEnvelope',
  description:
    "An envelope between agents about a booking, for support. Its venue's team and platform admins.",
  fields: (t) => ({
    envelopeId: t.exposeString('envelopeId', { nullable: true, description: 'Its AGP id on the wire.' }),
    direction: t.expose('direction', { type: EnvelopeDirection }),
    intent: t.exposeString('intent', { nullable: true, description: 'Such as booking.request.' }),
    state: t.expose('state', { type: EnvelopeState }),
    fromAgent: t.exposeString('fromAgent', { description: 'The sender on the network.' }),
    toAgent: t.exposeString('toAgent', { description: 'The recipient on the network.' }),
    inReplyTo: t.exposeString('inReplyTo', { nullable: true, description: 'The envelope this one answers.' }),
    reason: t.string({
      nullable: true,
      description: 'Why it was refused, or what handling it came to when nothing acted on it.',
      select: { rejectReason: true, handledNote: true },
      resolve: (e) => e.rejectReason ?? e.handledNote,
    }),
    lastError: t.exposeString('lastError', { nullable: true, description: 'The last sending failure.' }),
    attempts: t.exposeInt('attempts', { description: 'Failed sends so far.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    sentAt: t.expose('sentAt', { type: 'DateTime', nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    answeredAt: t.expose('answeredAt', { type: 'DateTime', nullable: true }),
    handledAt: t.expose('handledAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.prismaObjectField(Booking, 'envelopes', (t) =>
  t.relation('envelopes', {
    type: Envelope,
    nullable: true,
    description:
      "The booking's envelope history between agents, oldest first, for support: its venue's team and platform admins (null for anyone else, its guest included).",
    authScopes: (b) => teamOf(b.venue.organizationId),
    unauthorizedResolver: () => null,
    query: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
  }),
);
