import { fileURLToPath } from 'node:url';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './schema.ts';

export const SCHEMA_FILE = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

/** The schema as committed in schema.graphql. */
export function printSchemaFile(): string {
  return `# Printed from the code by \`npm run schema:print\`. Do not edit by hand.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}
