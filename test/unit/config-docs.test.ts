import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { ENV_VARIABLES } from '../../src/config/index.ts';

it('every environment variable has a line in .env.example and a row in the README', async () => {
  const example = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const inExample = new Set([...example.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
  const inReadme = new Set([...readme.matchAll(/^\| `([A-Z0-9_]+)` +\|/gm)].map((m) => m[1]));
  expect([...inExample].sort()).toEqual([...ENV_VARIABLES].sort());
  expect([...inReadme].sort()).toEqual([...ENV_VARIABLES].sort());
});
