import type { z } from 'zod';
import { ValidationError } from '../platform/errors.ts';

/**
 * Parses domain input with a zod schema. The first problem becomes a ValidationError naming the
 * input field, which GraphQL returns as a typed error and MCP as an error result.
 */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : null;
  throw new ValidationError(issue.message, field);
}
