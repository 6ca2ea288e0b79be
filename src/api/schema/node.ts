/**
 * `node(id)` and `nodes(ids)`, in place of the relay plugin's own: an id that names nothing the
 * caller may see answers null, whether it is malformed, of no type, of no row, or of a row the
 * caller may not read. The four look alike on purpose, so an id reveals neither existence nor
 * type; the relay plugin's fields answered another organisation's id with its `__typename` (type
 * scopes run only as an object's fields resolve, and `__typename` has no resolver) and logged
 * an unknown id as an internal error.
 */
import { decodeGlobalID, resolveNodes } from '@pothos/plugin-relay';
import { RequestCache } from '@pothos/plugin-scope-auth';
import { type GraphQLResolveInfo, isObjectType } from 'graphql';
import { ValidationError } from '../../platform/errors.ts';
import { builder } from '../builder.ts';
import type { Context } from '../context.ts';

/** The most ids one `nodes(ids)` resolves. */
export const MAX_NODES = 100;

builder.queryField('node', (t) =>
  t.field({
    type: builder.nodeInterfaceRef(),
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx, info) => visibleNode(String(args.id), ctx, info),
  }),
);

builder.queryField('nodes', (t) =>
  t.field({
    type: [builder.nodeInterfaceRef()],
    nullable: { list: false, items: true },
    description: `The nodes of up to ${MAX_NODES} ids, in their order; null where an id names nothing the caller may see.`,
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_root, args, ctx, info) => {
      // Each id is a lookup of its own: a request naming thousands would be thousands of queries.
      if (args.ids.length > MAX_NODES) {
        throw new ValidationError(`Ask for at most ${MAX_NODES} ids at a time`, 'ids');
      }
      return Promise.all(args.ids.map((id) => visibleNode(String(id), ctx, info)));
    },
  }),
);

/** Prisma's answers for an id that names no row (P2025) or is not of the column's type (P2007). */
const NO_SUCH_ROW = new Set(['P2025', 'P2007']);

async function visibleNode(globalId: string, ctx: Context, info: GraphQLResolveInfo): Promise<unknown> {
  const answerNull = (reason: string) => {
    // Ids are guessed, mistyped and stale all the time: not worth more than a debug line.
    ctx.logger.debug({ 'node.id': globalId, 'node.reason': reason }, 'node(id) answered null');
    return null;
  };
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalID(globalId);
  } catch {
    return answerNull('malformed');
  }
  const type = info.schema.getType(decoded.typename);
  if (!isObjectType(type) || !type.getInterfaces().some((i) => i.name === 'Node')) {
    return answerNull('not a node type');
  }
  let node: unknown;
  try {
    [node] = await resolveNodes(builder, ctx, info, [decoded]);
  } catch (error) {
    if (NO_SUCH_ROW.has((error as { code?: string }).code ?? '')) return answerNull('no such row');
    throw error;
  }
  if (node == null) return answerNull('no such row');
  // The type's own authScopes, evaluated now (and cached for its fields) rather than as its
  // fields resolve, so a refusal is a null node and not a typed object with failing fields.
  const { pothosOptions } = builder.configStore.getTypeConfig(decoded.typename, 'Object');
  const authScopes = (pothosOptions as { authScopes?: unknown }).authScopes;
  if (authScopes !== undefined) {
    const cache = RequestCache.fromContext(ctx, builder);
    const failure = await (typeof authScopes === 'function'
      ? cache.evaluateTypeScopeFunction(authScopes as never, decoded.typename, node, info)
      : cache.evaluateScopeMap(authScopes as never, info));
    if (failure) return answerNull('not allowed');
  }
  return node;
}
