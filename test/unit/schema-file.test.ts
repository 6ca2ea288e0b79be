import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { printSchemaFile, SCHEMA_FILE } from '../../src/api/print.ts';

it('schema.graphql is what the code prints (run `npm run schema:print` after changing the API)', async () => {
  const committed = await readFile(SCHEMA_FILE, 'utf8');
  expect(committed).toBe(printSchemaFile());
});
