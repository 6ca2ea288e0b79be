/**
 * The signed-in person's taste (src/domain/graph): `viewer.tasteProfile`, their strongest likes
 * with a sentence each, and `viewer.suggestedVenues`, places like the ones they liked with why.
 * Private to the person, as their memories are (memory.ts): what someone likes is built from what
 * they booked, rated and told their agent.
 */
import type { TasteEdgeView } from '../../domain/graph/profile.ts';
import { describeEdge } from '../../domain/graph/profile.ts';
import type { VenueSuggestion as Suggestion } from '../../domain/graph/suggest.ts';
import { builder } from '../builder.ts';
import { describedEnum } from './enums.ts';
import { isThemselves } from './memory.ts';
import { User } from './user.ts';
import { Venue } from './venue.ts';

const TasteEdgeKind = describedEnum('TasteEdgeKind', {
  VENUE: 'A venue you booked or rated.',
  CUISINE: 'A cuisine, from the venues you booked and what you told your agent.',
  AREA: 'A city you go out in.',
});

const TasteEdge = builder.objectRef<TasteEdgeView>('TasteEdge').implement({
  description: 'One of your likes, from your bookings, ratings and memories. Only you can read it.',
  fields: (t) => ({
    kind: t.field({ type: TasteEdgeKind, resolve: (edge) => edge.kind }),
    label: t.exposeString('label', { description: 'The venue, cuisine or city.' }),
    weight: t.exposeFloat('weight', {
      description: 'How strong, faded with time (half every 180 days); higher is stronger.',
    }),
    explanation: t.string({
      description: 'What it stands on, in one sentence.',
      resolve: (edge) => describeEdge(edge),
    }),
    lastEvidenceAt: t.expose('evidenceAt', { type: 'DateTime', description: 'Its newest evidence.' }),
  }),
});

const VenueSuggestion = builder.objectRef<Suggestion>('VenueSuggestion').implement({
  description: 'A venue like the ones you liked.',
  fields: (t) => ({
    venue: t.field({ type: Venue, resolve: (suggestion) => suggestion.venue }),
    explanation: t.exposeString('explanation', { description: 'Why it is suggested, in one sentence.' }),
  }),
});

builder.prismaObjectField(User, 'tasteProfile', (t) =>
  t.field({
    type: [TasteEdge],
    description:
      'Your strongest likes (venues, cuisines, areas), strongest first; rebuilt hourly. Only you, signed in as yourself.',
    args: { first: t.arg.int({ required: false, description: 'At most 50; 10 when absent.' }) },
    authScopes: (user, _args, ctx) => isThemselves(user.id, ctx),
    resolve: (user, args, ctx) => ctx.domain.graph.tasteProfile(user.id, args.first),
  }),
);

builder.prismaObjectField(User, 'suggestedVenues', (t) =>
  t.field({
    type: [VenueSuggestion],
    description:
      'Venues you have not been to, like the ones you liked, best first, each with why. Only you, signed in as yourself.',
    args: { first: t.arg.int({ required: false, description: 'At most 20; 5 when absent.' }) },
    authScopes: (user, _args, ctx) => isThemselves(user.id, ctx),
    resolve: (user, args, ctx) => ctx.domain.graph.suggestVenues(user.id, args.first),
  }),
);
