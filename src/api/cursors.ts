/**
 * The connections paged by row id (`t.prismaConnection({ cursor: 'id' })`): Pothos decodes any
 * well-formed cursor to a value (a number, a string, an object) and Prisma sends it to PostgreSQL
 * as a uuid, which refused anything that is not one with "Unexpected error.". A cursor this API
 * never gave is refused as bad input instead, naming the argument it came in.
 */
import { ValidationError } from '../platform/errors.ts';
import { isUuid } from '../platform/uuid.ts';

export function byIdCursor<Q extends { cursor?: { id?: unknown } }>(
  query: Q,
  args: { after?: string | null; before?: string | null },
): Q {
  if (query.cursor && !isUuid(query.cursor.id)) {
    throw new ValidationError('Not a cursor of this list', args.before ? 'before' : 'after');
  }
  return query;
}
