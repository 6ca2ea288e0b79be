/**
 * A pino logger whose lines land in an array, for tests that check what was logged (and that
 * nothing secret was).
 */
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

export type LogLine = { level: number; msg: string; [key: string]: unknown };

/** A logger at `level` and the lines it has written, parsed, in order. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}
