import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * The root logger. Requests, jobs and tool calls take children with dotted keys (`request.id`).
 * Lines go to stdout, or to `destination` (file descriptor 2 for a terminal program's stderr).
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  destination?: number,
): Logger {
  const options = {
    level,
    base: { service: 'agnt', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'authorization', '*.password', '*.secret', '*.token'],
      censor: '[redacted]',
    },
  };
  return destination === undefined ? pino(options) : pino(options, pino.destination(destination));
}
