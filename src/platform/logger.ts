import { type Logger, pino } from 'pino';

export type { Logger };

/** The root logger. Requests, jobs and tool calls take children with dotted keys (`request.id`). */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'agnt', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'authorization', '*.password', '*.secret', '*.token'],
      censor: '[redacted]',
    },
  });
}
