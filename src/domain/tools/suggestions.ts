/**
 * `suggest_venues`: places like the ones the person liked, from their taste graph
 * (src/domain/graph), each with the sentence saying why. For people only, in their own chat: what
 * someone likes is theirs, and an API key acting as its creator has no business reading it.
 */
import { z } from 'zod';
import type { Db } from '../../platform/db.ts';
import { SUGGESTIONS_MAX, suggestVenues } from '../graph/suggest.ts';
import { defineTool } from './contract.ts';
import { venueSummary, venueSummaryOutput } from './venues.ts';

export function suggestVenuesTool(deps: { db: Db }) {
  const { db } = deps;
  return defineTool({
    name: 'suggest_venues',
    description:
      'Venues the person has not been to that are like the ones they liked (shared cuisine or area, from their bookings, ratings and what they told you), each with a sentence saying why. Use when they ask for ideas or "somewhere like …".',
    sideEffect: 'READ',
    callers: { person: true },
    input: z.object({
      limit: z
        .number()
        .int()
        .min(1)
        .max(SUGGESTIONS_MAX)
        .optional()
        .describe(`At most ${SUGGESTIONS_MAX}; 5 when absent`),
    }),
    output: z.object({
      venues: z.array(
        venueSummaryOutput.extend({ why: z.string().describe('Why it is suggested, one sentence') }),
      ),
      note: z.string().optional(),
    }),
    async run(input, context) {
      const suggestions = await suggestVenues(db, context.userId, {
        first: input.limit ?? 5,
        now: context.now(),
      });
      return {
        venues: suggestions.map((s) => ({ ...venueSummary(s.venue), why: s.explanation })),
        ...(suggestions.length === 0
          ? { note: 'Nothing to go on yet: no bookings, ratings or remembered likes. Ask what they enjoy.' }
          : {}),
      };
    },
  });
}
