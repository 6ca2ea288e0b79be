import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImports, type Edge, explain, ruleBroken } from '../../scripts/check-imports.ts';

/** A small src/ tree with one of each thing the check must find, and things it must not. */
const FILES: Record<string, string> = {
  // Rule 1: domain imports an edge.
  'src/domain/venues/venues.ts':
    "import { schema } from '../../api/schema.ts';\nexport const venues = schema;\n",
  'src/api/schema.ts': 'export const schema = 1;\n',
  // Rule 2, type-only and spread over lines: still a violation.
  'src/integrations/mail/client.ts':
    "import type {\n  Venue,\n} from '../../domain/venues/venues.ts';\nexport type Mail = Venue;\n",
  // Rule 2: platform re-exports an edge.
  'src/platform/jobs.ts': "export * from '../worker/run.ts';\n",
  'src/worker/run.ts': 'export const run = 1;\n',
  // A file cycle inside one area.
  'src/domain/bookings/one.ts': "import { two } from './two.ts';\nexport const one = two;\n",
  'src/domain/bookings/two.ts': "import './one.ts';\nexport const two = 2;\n",
  // An area cycle without a file cycle: memory/a.ts → agents/b.ts → memory/c.ts.
  'src/domain/memory/a.ts': "import { b } from '../agents/b.ts';\nexport const a = b;\n",
  'src/domain/agents/b.ts': "export { c as b } from '../memory/c.ts';\n",
  'src/domain/memory/c.ts': 'export const c = 3;\n',
  // A cycle of type-only imports changes no load order: not reported.
  'src/domain/billing/x.ts': "import type { Y } from './y.ts';\nexport type X = Y | 1;\n",
  'src/domain/billing/y.ts': "import type { X } from './x.ts';\nexport type Y = X | 2;\n",
  // Comments that mention imports, packages and generated code are not read as edges.
  'src/domain/billing/z.ts':
    "/**\n * import { schema } from '../../api/schema.ts';\n */\n// import '../../worker/run.ts';\nimport { z } from 'zod';\nexport const zed = z;\n",
  'src/generated/client.ts': "import '../api/schema.ts';\n",
};

const root = mkdtempSync(join(tmpdir(), 'check-imports-'));
for (const [path, text] of Object.entries(FILES)) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the import check', () => {
  it('keeps the Prisma client out of reach of resolvers', () => {
    const edge = (from: string, to: string, typeOnly = false): Edge => ({ from, to, line: 1, typeOnly });
    const refused = 'api reaches the database through src/api/domain.ts only';
    expect(ruleBroken(edge('src/api/schema/venue.ts', 'src/platform/db.ts', true))).toBe(refused);
    expect(ruleBroken(edge('src/api/schema/venue.ts', 'src/api/prisma-client.ts'))).toBe(refused);
    expect(ruleBroken(edge('src/api/scopes.ts', 'src/generated/prisma/client.ts'))).toBe(refused);
    // A row type from Prisma's client is no way to the database.
    expect(ruleBroken(edge('src/api/schema/venue.ts', 'src/generated/prisma/client.ts', true))).toBeNull();
    // The builder hands the plugin its client; the context's builder puts it there.
    expect(ruleBroken(edge('src/api/builder.ts', 'src/api/prisma-client.ts'))).toBeNull();
    expect(ruleBroken(edge('src/api/yoga.ts', 'src/api/prisma-client.ts'))).toBeNull();
  });

  it('finds imports that point outward, type-only ones included', () => {
    const report = checkImports(root, []);
    expect(
      report.violations.map(({ edge, rule }) => [edge.from, edge.to, edge.line, edge.typeOnly, rule]),
    ).toEqual([
      ['src/domain/venues/venues.ts', 'src/api/schema.ts', 1, false, 'domain must not import an edge'],
      [
        'src/integrations/mail/client.ts',
        'src/domain/venues/venues.ts',
        3,
        true,
        'integrations must not import domain',
      ],
      ['src/platform/jobs.ts', 'src/worker/run.ts', 1, false, 'platform must not import an edge'],
    ]);
  });

  it('finds a cycle between files and one between areas, and leaves type-only cycles alone', () => {
    const report = checkImports(root, []);
    expect(report.fileCycles).toEqual([
      ['src/domain/bookings/one.ts', 'src/domain/bookings/two.ts', 'src/domain/bookings/one.ts'],
    ]);
    expect(report.areaCycles.map((cycle) => cycle.areas)).toEqual([
      ['src/domain/agents', 'src/domain/memory', 'src/domain/agents'],
    ]);
    expect(report.areaCycles[0]!.imports.map((edge) => `${edge.from} → ${edge.to}`)).toEqual([
      'src/domain/agents/b.ts → src/domain/memory/c.ts',
      'src/domain/memory/a.ts → src/domain/agents/b.ts',
    ]);
  });

  it('says each problem with the file and line to change', () => {
    const text = explain(checkImports(root, [])).join('\n\n');
    expect(text).toContain(
      'domain must not import an edge:\n  src/domain/venues/venues.ts:1 imports src/api/schema.ts',
    );
    expect(text).toContain(
      'integrations must not import domain:\n  src/integrations/mail/client.ts:3 imports src/domain/venues/venues.ts (type only)',
    );
    expect(text).toContain(
      'import cycle between files:\n  src/domain/bookings/one.ts\n  → src/domain/bookings/two.ts\n  → src/domain/bookings/one.ts',
    );
    expect(text).toContain(
      'import cycle between areas: src/domain/agents → src/domain/memory → src/domain/agents',
    );
  });

  it('lets a listed import through, and fails on a listed import that is gone', () => {
    const report = checkImports(root, [
      { from: 'src/domain/venues/venues.ts', to: 'src/api/schema.ts', why: 'being moved' },
      { from: 'src/domain/bookings/two.ts', to: 'src/domain/bookings/one.ts', why: 'being untangled' },
      { from: 'src/domain/memory/a.ts', to: 'src/api/schema.ts', why: 'long gone' },
    ]);
    expect(report.violations.map(({ edge }) => edge.from)).toEqual([
      'src/integrations/mail/client.ts',
      'src/platform/jobs.ts',
    ]);
    expect(report.fileCycles).toEqual([]);
    expect(report.stale).toEqual([
      { from: 'src/domain/memory/a.ts', to: 'src/api/schema.ts', why: 'long gone' },
    ]);
    expect(explain(report).at(-1)).toBe(
      'allowed import no longer found, remove it from ALLOWED:\n  src/domain/memory/a.ts → src/api/schema.ts',
    );
  });
});
