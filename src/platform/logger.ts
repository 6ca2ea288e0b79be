import { isatty } from 'node:tty';
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import { traceLogFields, tracingActive } from './tracing.ts';

export type { Logger };

export interface LoggerOptions {
  /** Where lines go: 1 (stdout, the default) or 2 (stderr, for a terminal program). */
  destination?: 1 | 2;
  /**
   * Readable lines instead of JSON when the destination is a terminal; true outside production.
   * Pipes, files and log collectors always get JSON.
   */
  prettyInTerminal?: boolean;
}

/**
 * The root logger. Requests, jobs and tool calls take children with dotted keys (`request.id`).
 * Lines are JSON, one a line, except for a person reading a terminal (see `prettyInTerminal`).
 * With tracing started before it is created, each line written inside a span carries its
 * `trace_id` and `span_id`.
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  { destination = 1, prettyInTerminal = false }: LoggerOptions = {},
): Logger {
  const options = {
    level,
    base: { service: 'agnt', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(tracingActive() ? { mixin: traceLogFields } : {}),
    redact: {
      paths: ['req.headers.authorization', 'authorization', '*.password', '*.secret', '*.token'],
      censor: '[redacted]',
    },
  };
  if (prettyInTerminal && isatty(destination)) {
    // In this thread and synchronous, so the last lines before process.exit() are not lost.
    return pino(
      options,
      pretty({
        destination,
        sync: true,
        colorize: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,service',
        singleLine: true,
      }),
    );
  }
  return destination === 1 ? pino(options) : pino(options, pino.destination(destination));
}
