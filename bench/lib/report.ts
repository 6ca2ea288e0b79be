/** The results as a Markdown table (readable in a terminal, pasteable into bench/README.md). */
import type { LoadResult } from './load.ts';
import type { CpuWindow } from './machine.ts';
import type { CustomResult } from './scenario.ts';
import type { ServerLoad } from './server.ts';

/** A custom scenario's own table and notes (see lib/scenario.ts). */
export interface CustomScenarioResult extends CustomResult {
  name: string;
  description: string;
}

export interface ScenarioResult {
  name: string;
  description: string;
  baseline: string | undefined;
  load: LoadResult;
  server: ServerLoad;
  cpu: CpuWindow;
  /** From the server's `db_queries_total` (see lib/metrics.ts); null when it does not count them. */
  sql: {
    /** SQL statements the server sent during the measurement… */
    statements: number;
    /** …per request sent (`load.sent`). */
    perRequest: number;
    /** The statements of each check request, alone on an idle server (one per body). */
    alone: number[];
    /** Requests the server itself counted in the window on the request's path (a cross-check of `load.sent`). */
    serverRequests: number | null;
    /** False when the count kept moving with no load: the figures are then approximate. */
    settled: boolean;
  } | null;
  /** The scenario's own cross-check after the measurement (`Prepared.verify`), when it has one. */
  verified?: { note: string; problem: boolean } | undefined;
}

export interface Ratio {
  name: string;
  baseline: string;
  throughput: number;
  p50: number;
  p99: number;
}

/** `b / a` for every scenario whose baseline ran in the same run. */
export function ratios(results: ScenarioResult[]): Ratio[] {
  return results.flatMap((b) => {
    const a = results.find((r) => r.name === b.baseline);
    if (!a) return [];
    return [
      {
        name: b.name,
        baseline: a.name,
        throughput: b.load.requestsPerSecond / a.load.requestsPerSecond,
        p50: b.load.p50Ms / a.load.p50Ms,
        p99: b.load.p99Ms / a.load.p99Ms,
      },
    ];
  });
}

export function formatResults(results: ScenarioResult[]): string {
  const rows = results.map((r) => [
    r.name,
    fixed(r.load.requestsPerSecond, 0),
    fixed(r.load.p50Ms, 2),
    fixed(r.load.p99Ms, 2),
    r.sql ? `${fixed(r.sql.perRequest, 2)}${r.sql.settled ? '' : '~'}` : '–',
    r.sql ? range(r.sql.alone) : '–',
    String(r.load.requests),
    String(r.load.failures),
    fixed(r.server.loopUtilization * 100, 0),
    r.server.cpuCores === null ? 'n/a' : fixed(r.server.cpuCores, 2),
    fixed(r.cpu.benchCores, 2),
    fixed(Math.max(0, r.cpu.machineCores - r.cpu.benchCores - (r.server.cpuCores ?? 0)), 2),
  ]);
  const resultsTable = table(
    [
      'scenario',
      'req/s',
      'p50 ms',
      'p99 ms',
      'SQL/req',
      'SQL alone',
      'requests',
      'failures',
      'server loop %',
      'server CPU',
      'bench CPU',
      'rest CPU',
    ],
    rows,
    [false, true, true, true, true, true, true, true, true, true, true, true],
  );
  const ratioRows = ratios(results).map((r) => [
    `${r.name} / ${r.baseline}`,
    `${fixed(r.throughput, 3)}×`,
    `${fixed(r.p50, 2)}×`,
    `${fixed(r.p99, 2)}×`,
  ]);
  const legend =
    'SQL/req: SQL statements the server sent per request during the measurement (its db_queries_total ' +
    'over the requests sent); SQL alone: those of one request on an idle server (the check; a range ' +
    'when the bodies differ); – when the server does not count them, ~ when the count kept moving ' +
    "without load. server loop %: time the server's event loop was busy. CPU in cores: server = the server process, " +
    'bench = this process (load generator, plus the server when in-process), rest = everything else ' +
    '(PostgreSQL, Redis, other programs).';
  const notes = results.flatMap((r) => [
    ...Object.entries(r.load.tolerated ?? {}).map(
      ([label, count]) => `${r.name}: ${count} answers were ${label} (counted apart, not as failures)`,
    ),
    ...(r.verified ? [`${r.name}: ${r.verified.note}`] : []),
  ]);
  const withNotes = notes.length ? `${legend}\n\n${notes.join('\n')}` : legend;
  if (!ratioRows.length) return `${resultsTable}\n\n${withNotes}`;
  const ratioTable = table(['b / a', 'throughput', 'p50 latency', 'p99 latency'], ratioRows, [
    false,
    true,
    true,
    true,
  ]);
  return `${resultsTable}\n\n${withNotes}\n\n${ratioTable}`;
}

/** A custom scenario's table, under a heading line, then its notes. */
export function formatCustomResult(result: CustomScenarioResult): string {
  const rows = result.rows;
  const numeric = result.header.map(
    (_, i) => rows.length > 0 && rows.every((row) => /^[-–\d.,×~%/ ]*$/.test(row[i] ?? '')),
  );
  return [
    `${result.name}: ${result.description}`,
    '',
    table(result.header, rows, numeric),
    ...(result.notes.length ? ['', ...result.notes] : []),
  ].join('\n');
}

/** `5`, or `4–6` when the values differ. */
function range(values: number[]): string {
  if (!values.length) return '–';
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? String(low) : `${low}–${high}`;
}

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (rightAligned[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (rightAligned[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
