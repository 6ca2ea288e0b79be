/**
 * The connections paged by row id (`t.prismaConnection({ cursor: 'id' })`): Pothos decodes any
 * well-formed cursor to a value (a number, a string, an object) and Prisma sends it to PostgreSQL
 * as a uuid, which refused anything that is not one with "Unexpected error.". A cursor this API
 * never gave is refused as bad input instead, naming the argument it came in: by `byIdCursor` for
 * a list read on its own (with the cursor Pothos decoded), by `idCursors` for one read with its
 * parent (`relatedConnection`, whose `query` sees the arguments as sent).
 */
import { ValidationError } from '../platform/errors.ts';
import { isUuid } from '../platform/uuid.ts';

export function byIdCursor<Q extends { cursor?: { id?: unknown } }>(
  query: Q,
  args: { after?: string | null; before?: string | null },
): Q {
  if (query.cursor && !isUuid(query.cursor.id)) throw notACursor(args.before ? 'before' : 'after');
  return query;
}

/**
 * For a `relatedConnection` paged by row id, as its `query`: `query` once its `after` and `before`
 * are known to be cursors of ids. `args` are the field's own (Pothos types only those) and the
 * connection's, which Pothos hands over too.
 */
export function idCursors<Q>(args: object, query: Q): Q {
  const paging = args as { after?: string | null; before?: string | null };
  for (const field of ['after', 'before'] as const) {
    const cursor = paging[field];
    if (cursor == null) continue;
    const decoded = Buffer.from(cursor, 'base64').toString('utf8');
    if (!decoded.startsWith(ID_CURSOR) || !isUuid(decoded.slice(ID_CURSOR.length))) throw notACursor(field);
  }
  return query;
}

/** How Pothos writes a string id into a cursor (before base64). */
const ID_CURSOR = 'GPC:S:';

function notACursor(field: 'after' | 'before'): ValidationError {
  return new ValidationError('Not a cursor of this list', field);
}
