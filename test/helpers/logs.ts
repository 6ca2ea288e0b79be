/**
 * A pino logger whose lines land in an array, for tests that check what was logged (and that
 * nothing secret was).
 */
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

export type LogLine = { level: number; msg: string; [key: string]: unknown };

/**
 * A logger at `level` and the lines it has written, parsed, in order. `mixin` adds fields to
 * every line, as the app's logger does (`traceLogFields` with tracing on).
 */
export function capturingLogger(
  level = 'debug',
  { mixin }: { mixin?: () => Record<string, unknown> } = {},
): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level, ...(mixin ? { mixin } : {}) }, sink), lines };
}
