/**
 * `npm run lint` runs this: the import rules of src/ (DESIGN.md, "Layout"). Arrows point inward.
 *
 * 1. `src/domain` never imports an edge (api, webhooks, worker, mcp, a2a, wiring, main.ts):
 *    business rules know nothing of GraphQL, HTTP, job payloads or how a process is
 *    put together.
 * 2. `src/integrations` and `src/platform` never import `src/domain` or an edge: an outside
 *    service's client and the plumbing carry no business rules, so domain can use both freely.
 * 3. No import cycle, neither between files nor between areas (`domain/bookings`,
 *    `integrations/lalamove`, `api/schema`, ...: a folder under a top-level folder of src/).
 *    A file cycle makes what a module sees at load time depend on who imported first; an area
 *    cycle means two areas cannot be understood, tested or moved apart.
 * 4. Resolvers reach the database through the domain operations of `src/api/domain.ts` alone: no
 *    file of `src/api` imports the Prisma client (`platform/db.ts`, or Prisma's generated client
 *    at run time) or the symbol the Pothos Prisma plugin finds its client under
 *    (`api/prisma-client.ts`), except the files that build the context and the builder.
 *
 * Type-only imports (`import type`, `export type`) count for rules 1 and 2: a type from an edge
 * still ties domain to that edge's shape. They are left out of rule 3: TypeScript erases them, so
 * they change no load order, and two areas sharing each other's types is not the tangle a cycle
 * of calls is. (`import { type X }` is not type-only: under `verbatimModuleSyntax` the import stays.)
 *
 * The code is ESM with `.ts` extensions on relative imports, so a regex over import and
 * export-from statements finds every edge; package imports are not ours and are skipped, and so is
 * `src/generated` (Prisma's output). Cycles are Tarjan's strongly connected components.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export interface Edge {
  /** Paths relative to the checked root, with `/`: `src/domain/bookings/bookings.ts`. */
  from: string;
  to: string;
  line: number;
  typeOnly: boolean;
}

export interface Allowed {
  from: string;
  to: string;
  /** Why it is here and who removes it: an entry is a debt with a name on it, not an exception. */
  why: string;
}

export interface Report {
  /** Imports that break rule 1 or 2, with the rule they break. */
  violations: { edge: Edge; rule: string }[];
  /** Runtime import cycles between files: each one path around a cycle, first file repeated last. */
  fileCycles: string[][];
  /** Runtime import cycles between areas: each a path around, with the file import behind each step. */
  areaCycles: { areas: string[]; imports: Edge[] }[];
  /** Allow-list entries that match no import any more: remove them. */
  stale: Allowed[];
}

/**
 * Known violations, each removed by work already under way; `npm run lint` passes with them and
 * fails on any other. An entry names one import (the file that imports, the file it imports) and
 * takes that import out of every rule, cycles included. Empty this list as the work lands: an
 * entry that matches no import any more fails the check too, so the list can only shrink.
 */
export const ALLOWED: Allowed[] = [];

const EDGES = ['api', 'webhooks', 'worker', 'mcp', 'a2a', 'wiring'].map((name) => `src/${name}/`);
const EDGE_FILES = ['src/main.ts'];

function isEdge(path: string): boolean {
  return EDGE_FILES.includes(path) || EDGES.some((prefix) => path.startsWith(prefix));
}

/** The files of src/api that may import what leads to the Prisma client (rule 4), by what they import. */
const CLIENT_IN_API: Record<string, readonly string[]> = {
  'src/platform/db.ts': ['src/api/context.ts', 'src/api/prisma-client.ts'],
  'src/api/prisma-client.ts': ['src/api/context.ts', 'src/api/builder.ts', 'src/api/yoga.ts'],
};

/** The rule an import breaks, or null. */
export function ruleBroken(edge: Edge): string | null {
  const { from, to } = edge;
  if (from.startsWith('src/api/')) {
    const prismaAtRunTime = to === 'src/generated/prisma/client.ts' && !edge.typeOnly;
    if (prismaAtRunTime || (CLIENT_IN_API[to] && !CLIENT_IN_API[to].includes(from))) {
      return 'api reaches the database through src/api/domain.ts only';
    }
  }
  if (from.startsWith('src/domain/') && isEdge(to)) return 'domain must not import an edge';
  for (const inner of ['src/integrations/', 'src/platform/']) {
    if (!from.startsWith(inner)) continue;
    if (to.startsWith('src/domain/')) return `${inner.slice(4, -1)} must not import domain`;
    if (isEdge(to)) return `${inner.slice(4, -1)} must not import an edge`;
  }
  return null;
}

/**
 * The area a file belongs to: the folder under a top-level folder of src/ (`src/domain/bookings`),
 * or the file itself when it sits directly in one (`src/platform/db.ts`, `src/app.ts`).
 */
export function areaOf(path: string): string {
  const parts = path.split('/');
  return parts.length > 3 ? parts.slice(0, 3).join('/') : path;
}

// `import … from '…'`, `export … from '…'` (multi-line lists included: the code ends each
// statement with `;`), and side-effect `import '…'`. Anchored at a line start so comments and
// strings that mention imports are not read as imports.
const STATEMENT = /^[ \t]*(import|export)\s+(type\s+)?(?:[^;'"`]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every import between files under `src/` of `root` (relative specifiers only). */
export function readImports(root: string): Edge[] {
  const base = resolve(root);
  const edges: Edge[] = [];
  for (const file of listFiles(join(base, 'src'))) {
    const from = toKey(base, file);
    if (from.startsWith('src/generated/')) continue;
    const source = readFileSync(file, 'utf8');
    const add = (specifier: string, index: number, typeOnly: boolean) => {
      if (!specifier.startsWith('.')) return;
      const to = toKey(base, resolve(dirname(file), specifier));
      const line = source.slice(0, index).split('\n').length;
      edges.push({ from, to, line, typeOnly });
    };
    for (const match of source.matchAll(STATEMENT)) {
      add(match[3]!, match.index + match[0].length - match[3]!.length, match[2] !== undefined);
    }
    for (const match of source.matchAll(DYNAMIC)) add(match[1]!, match.index, false);
  }
  return edges;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function toKey(base: string, path: string): string {
  return relative(base, path).split(sep).join('/');
}

/**
 * Tarjan's strongly connected components of a directed graph, each with more than one node or
 * a node that reaches itself: exactly the parts of the graph that hold a cycle.
 */
export function stronglyConnected(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string) => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest path from a component's first node around back to it, staying inside the component. */
function cycleThrough(component: string[], graph: Map<string, Set<string>>): string[] {
  const start = component[0]!;
  const inside = new Set(component);
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const target of [...(graph.get(node) ?? [])].sort()) {
      if (!inside.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at: string | undefined = node; at !== start && at; at = previous.get(at))
          path.splice(1, 0, at);
        return [...path, start];
      }
      if (previous.has(target)) continue;
      previous.set(target, node);
      queue.push(target);
    }
  }
  return [...component, start];
}

function graphOf(edges: Edge[], key: (path: string) => string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const edge of edges) {
    const from = key(edge.from);
    const to = key(edge.to);
    if (!graph.has(from)) graph.set(from, new Set());
    if (!graph.has(to)) graph.set(to, new Set());
    // A file's imports within its own area are the file graph's business, not the area graph's.
    if (from !== to) graph.get(from)!.add(to);
  }
  return graph;
}

/** Applies the three rules to the imports under `root`, less the allowed ones. */
export function checkImports(root: string, allowed: readonly Allowed[] = ALLOWED): Report {
  const all = readImports(root);
  const isAllowed = (edge: Edge) => allowed.some((a) => a.from === edge.from && a.to === edge.to);
  const edges = all.filter((edge) => !isAllowed(edge));
  const stale = allowed.filter((a) => !all.some((edge) => edge.from === a.from && edge.to === a.to));

  const violations = edges.flatMap((edge) => {
    const rule = ruleBroken(edge);
    return rule ? [{ edge, rule }] : [];
  });

  const runtime = edges.filter((edge) => !edge.typeOnly);
  const files = graphOf(runtime, (path) => path);
  const fileCycles = stronglyConnected(files).map((component) => cycleThrough(component, files));

  const areas = graphOf(runtime, areaOf);
  const areaCycles = stronglyConnected(areas).map((component) => {
    const path = cycleThrough(component, areas);
    const imports = path.slice(1).map((to, i) => {
      const from = path[i]!;
      return runtime.find((edge) => areaOf(edge.from) === from && areaOf(edge.to) === to)!;
    });
    return { areas: path, imports };
  });

  return { violations, fileCycles, areaCycles, stale };
}

/** The report in words, one problem per paragraph; empty when all is well. */
export function explain(report: Report): string[] {
  const at = (edge: Edge) =>
    `${edge.from}:${edge.line} imports ${edge.to}${edge.typeOnly ? ' (type only)' : ''}`;
  return [
    ...report.violations.map(({ edge, rule }) => `${rule}:\n  ${at(edge)}`),
    ...report.fileCycles.map((cycle) => `import cycle between files:\n  ${cycle.join('\n  → ')}`),
    ...report.areaCycles.map(
      ({ areas, imports }) =>
        `import cycle between areas: ${areas.join(' → ')}\n${imports.map((edge) => `  ${at(edge)}`).join('\n')}`,
    ),
    ...report.stale.map(
      (entry) => `allowed import no longer found, remove it from ALLOWED:\n  ${entry.from} → ${entry.to}`,
    ),
  ];
}

if (import.meta.main) {
  const problems = explain(checkImports(join(import.meta.dirname, '..')));
  if (problems.length > 0) {
    console.error(
      `${problems.join('\n\n')}\n\n${problems.length} import problem(s): see scripts/check-imports.ts`,
    );
    process.exit(1);
  }
  console.log(`imports: inward only, no cycles (${ALLOWED.length} known exception(s) allowed)`);
}
