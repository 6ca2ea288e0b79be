/** GraphQL: introspection and the limits every operation is held to. */
import { z } from 'zod';
import { bool, type Context, optional, positiveInt } from './parse.ts';

export const graphqlEnv = z.object({
  GRAPHQL_INTROSPECTION: optional(bool),
  GRAPHQL_MAX_DEPTH: positiveInt.default(10),
  GRAPHQL_MAX_COST: positiveInt.default(5000),
  GRAPHQL_MAX_ALIASES: positiveInt.default(15),
  GRAPHQL_MAX_TOKENS: positiveInt.default(1000),
  GRAPHQL_MAX_DIRECTIVES: positiveInt.default(10),
  GRAPHQL_MAX_CHARACTERS: positiveInt.default(15_000),
  GRAPHQL_WS_RECHECK_MS: positiveInt.default(5000),
});

export function graphqlConfig(e: z.output<typeof graphqlEnv>, { production }: Context) {
  return {
    introspection: e.GRAPHQL_INTROSPECTION ?? !production,
    maskErrors: true,
    maxDepth: e.GRAPHQL_MAX_DEPTH,
    maxCost: e.GRAPHQL_MAX_COST,
    maxAliases: e.GRAPHQL_MAX_ALIASES,
    maxTokens: e.GRAPHQL_MAX_TOKENS,
    maxDirectives: e.GRAPHQL_MAX_DIRECTIVES,
    maxCharacters: e.GRAPHQL_MAX_CHARACTERS,
    wsRecheckMs: e.GRAPHQL_WS_RECHECK_MS,
    graphiql: !production,
  };
}
