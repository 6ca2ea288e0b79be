/**
 * The venue's wiki and FAQ (src/domain/network/venue-wiki.ts, venue-faq.ts): its facts with their
 * sources, the conflicts between sources for its staff to resolve, the FAQ drafts for its staff to
 * approve, and the approved FAQ for anyone who can see the venue.
 */
import { PUBLIC_STATUSES } from '../../domain/venues/venues.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';
import { teamOf } from '../scopes.ts';
import { readOnlyKey } from './booking.ts';
import { describedEnum } from './enums.ts';
import { mutation, payloadType } from './mutation.ts';
import { Venue } from './venue.ts';

const VenueFactSource = describedEnum('VenueFactSource', {
  OWNER_EDIT: "The venue's own record, as its owners edit it.",
  SCAN: "A scan of the venue's website.",
  STAFF_ANSWER: "Staff's answer to a guest's question in the venue's inbox.",
  GUEST_FEEDBACK: "A guest's feedback on a visit.",
});

const VenueFactConflictStatus = describedEnum('VenueFactConflictStatus', {
  OPEN: "Waiting for staff to choose; the venue's agent does not answer from this key meanwhile.",
  RESOLVED: "Staff chose the fact that holds; the venue's agent answers with it.",
});

const FaqEntryStatus = describedEnum('FaqEntryStatus', {
  DRAFT: "Compiled from staff's answers, waiting for staff to approve or reject it.",
  APPROVED: "Answered by the venue's agent without staff, and shown to everyone who can see the venue.",
  REJECTED: 'Never shown, never answered with.',
});

export const VenueFact = builder.prismaNode('VenueFact', {
  id: { field: 'id' },
  description: "What one source says about one thing of the venue, and when. The venue's team.",
  select: { id: true, venue: { select: { organizationId: true } } },
  authScopes: (fact) => teamOf(fact.venue.organizationId),
  fields: (t) => ({
    key: t.exposeString('key', {
      description:
        'What it is about: a field of the venue (`hours`, `phone`, …), a topic (`pets`, `parking`, …) or `question:` and the words of a question.',
    }),
    text: t.exposeString('text', { description: 'What the source says: plain text, show it as text.' }),
    source: t.expose('source', { type: VenueFactSource }),
    observedAt: t.expose('observedAt', { type: 'DateTime', description: 'When the source said it.' }),
  }),
});

export const VenueFactConflict = builder.prismaNode('VenueFactConflict', {
  id: { field: 'id' },
  description:
    "Sources of the venue's wiki saying different things about one key, for staff to choose the fact that holds. The venue's team.",
  select: { id: true, venue: { select: { organizationId: true } } },
  authScopes: (conflict) => teamOf(conflict.venue.organizationId),
  fields: (t) => ({
    key: t.exposeString('key'),
    status: t.expose('status', { type: VenueFactConflictStatus }),
    facts: t.prismaField({
      type: [VenueFact],
      description: 'The facts that disagree (one per source).',
      select: { venueId: true, key: true },
      resolve: (query, conflict, _args, ctx) => ctx.domain.venueWiki.factsOfConflict(conflict, query),
    }),
    chosenFact: t.relation('chosenFact', { nullable: true, description: 'The fact staff chose.' }),
    resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const VenueFaqEntry = builder.prismaNode('VenueFaqEntry', {
  id: { field: 'id' },
  description:
    "A frequent guest question and the venue's answer. Approved entries: everyone who can see the venue; the rest: its team.",
  select: { id: true, status: true, venue: { select: { organizationId: true, status: true } } },
  authScopes: (entry) =>
    entry.status === 'APPROVED' && PUBLIC_STATUSES.includes(entry.venue.status)
      ? true
      : teamOf(entry.venue.organizationId),
  fields: (t) => ({
    question: t.exposeString('question', {
      description: "The latest guest's words: untrusted, show them as text.",
    }),
    answer: t.exposeString('answer'),
    status: t.expose('status', { type: FaqEntryStatus }),
    askedCount: t.exposeInt('askedCount', { description: 'How often guests asked it in the last 180 days.' }),
    lastAskedAt: t.expose('lastAskedAt', { type: 'DateTime' }),
    decidedAt: t.expose('decidedAt', { type: 'DateTime', nullable: true }),
  }),
});

// --- reads ---

builder.prismaObjectField(Venue, 'facts', (t) =>
  t.prismaField({
    type: [VenueFact],
    description: "The venue's wiki: every source's facts, by key. The venue's team.",
    authScopes: (v) => teamOf(v.organizationId),
    resolve: (query, venue, _args, ctx) =>
      ctx.domain.venueWiki.venueFacts(ctx.access, { venueId: venue.id }, query),
  }),
);

builder.prismaObjectField(Venue, 'factConflicts', (t) =>
  t.prismaField({
    type: [VenueFactConflict],
    description: "Where the wiki's sources disagree, oldest first. The venue's team.",
    authScopes: (v) => teamOf(v.organizationId),
    args: {
      status: t.arg({
        type: VenueFactConflictStatus,
        required: false,
        description: 'Only these (default: all).',
      }),
    },
    resolve: (query, venue, args, ctx) =>
      ctx.domain.venueWiki.venueFactConflicts(
        ctx.access,
        { venueId: venue.id, status: args.status ?? null },
        query,
      ),
  }),
);

builder.prismaObjectField(Venue, 'faqDrafts', (t) =>
  t.prismaField({
    type: [VenueFaqEntry],
    description:
      "Frequent guest questions waiting for staff to approve or reject, most asked first. The venue's team.",
    authScopes: (v) => teamOf(v.organizationId),
    resolve: (query, venue, _args, ctx) =>
      ctx.domain.venueWiki.faqDrafts(ctx.access, { venueId: venue.id }, query),
  }),
);

builder.prismaObjectField(Venue, 'faq', (t) =>
  t.prismaField({
    type: [VenueFaqEntry],
    description: "The venue's approved FAQ, most asked first. Everyone who can see the venue.",
    resolve: (query, venue, _args, ctx) =>
      ctx.domain.venueWiki.venueFaq(ctx.access, { venueId: venue.id }, query),
  }),
);

// --- writes ---

/** The venue's team (any role), never a read-only key. */
async function teamOfOwner(organizationId: Promise<string | null>, ctx: Context) {
  if (readOnlyKey(ctx)) return false;
  return teamOf(await organizationId);
}

mutation('resolveVenueFactConflict', {
  description:
    "Resolves a conflict of the venue's wiki by choosing the fact that holds; the venue's agent answers with it. The venue's team.",
  input: (t) => ({
    conflictId: t.globalID({ for: VenueFactConflict }),
    factId: t.globalID({ for: VenueFact, description: 'One of the facts of the conflict.' }),
  }),
  payload: payloadType('VenueFactConflictPayload', 'conflict', VenueFactConflict),
  authScopes: (input, ctx) =>
    teamOfOwner(ctx.domain.venueWiki.organizationOfFactConflict(input.conflictId.id), ctx),
  resolve: async (input, ctx) => {
    const { id } = await ctx.domain.venueWiki.resolveFactConflict(ctx.access, {
      conflictId: input.conflictId.id,
      factId: input.factId.id,
    });
    return { conflict: await ctx.domain.venueWiki.findFactConflictWithOwnerOrThrow(id) };
  },
});

const VenueFaqEntryPayload = payloadType('VenueFaqEntryPayload', 'entry', VenueFaqEntry);

mutation('approveFaqEntry', {
  description:
    "Approves a FAQ entry, with its question and answer edited if given: the venue's agent answers the question with it, and everyone who can see the venue reads it. The venue's team.",
  input: (t) => ({
    entryId: t.globalID({ for: VenueFaqEntry }),
    question: t.string({
      required: false,
      description:
        "The question as everyone will read it (it is a guest's own words until reworded), up to 500 characters.",
    }),
    answer: t.string({
      required: false,
      description: 'The answer as it should stand: plain text, up to 2000 characters.',
    }),
  }),
  payload: VenueFaqEntryPayload,
  authScopes: (input, ctx) => teamOfOwner(ctx.domain.venueWiki.organizationOfFaqEntry(input.entryId.id), ctx),
  resolve: async (input, ctx) => {
    const { id } = await ctx.domain.venueWiki.approveFaqEntry(ctx.access, {
      entryId: input.entryId.id,
      question: input.question ?? null,
      answer: input.answer ?? null,
    });
    return { entry: await ctx.domain.venueWiki.findFaqEntryWithVenueOrThrow(id) };
  },
});

mutation('rejectFaqEntry', {
  description: "Rejects a FAQ entry: never shown, never answered with. The venue's team.",
  input: (t) => ({ entryId: t.globalID({ for: VenueFaqEntry }) }),
  payload: VenueFaqEntryPayload,
  authScopes: (input, ctx) => teamOfOwner(ctx.domain.venueWiki.organizationOfFaqEntry(input.entryId.id), ctx),
  resolve: async (input, ctx) => {
    const { id } = await ctx.domain.venueWiki.rejectFaqEntry(ctx.access, { entryId: input.entryId.id });
    return { entry: await ctx.domain.venueWiki.findFaqEntryWithVenueOrThrow(id) };
  },
});
