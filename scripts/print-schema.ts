// `npm run schema:print`: writes schema.graphql from the code. A test fails when the file is stale.
import { writeFile } from 'node:fs/promises';
import { printSchemaFile, SCHEMA_FILE } from '../src/api/print.ts';

await writeFile(SCHEMA_FILE, printSchemaFile());
console.log(`Wrote ${SCHEMA_FILE}`);
