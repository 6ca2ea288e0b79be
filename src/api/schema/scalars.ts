import { GraphQLError, Kind } from 'graphql';
import { CALENDAR_MESSAGE, CALENDAR_YEARS, withinCalendar } from '../../domain/validation.ts';
import { builder } from '../builder.ts';

builder.scalarType('DateTime', {
  description: `An instant, as an ISO 8601 string with a time zone (UTC on output), in the years ${CALENDAR_YEARS.earliest} to ${CALENDAR_YEARS.latest}.`,
  serialize: (value) => (value as Date).toISOString(),
  parseValue: (value) => parseDate(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw badInput('DateTime must be a string');
    return parseDate(ast.value);
  },
});

function parseDate(value: unknown): Date {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:\d{2})$/.test(value)) {
    throw badInput('DateTime must be an ISO 8601 string with a time zone');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw badInput('DateTime is not a valid date');
  if (!withinCalendar(date)) throw badInput(CALENDAR_MESSAGE);
  return date;
}

/** A value the client sent that is not one: bad input, with its code. */
function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
