/** Where /metrics and the readiness detail are served, and the token they need. */
import { z } from 'zod';
import { type Context, optional, port } from './parse.ts';

export const monitoringEnv = z.object({
  // Monitoring: /metrics and the readiness detail need this bearer token, or are on this port only.
  METRICS_TOKEN: optional(z.string().min(16, 'at least 16 characters')),
  METRICS_PORT: optional(port),
});
type MonitoringEnv = z.output<typeof monitoringEnv>;

export function monitoringConfig(e: MonitoringEnv) {
  return {
    /** Bearer token for /metrics and the readiness detail, wherever they are served. */
    token: e.METRICS_TOKEN,
    /** A listener of their own; the public port then serves neither. */
    port: e.METRICS_PORT,
  };
}

export function monitoringProblems(e: MonitoringEnv & { PORT: number }, { production }: Context): string[] {
  const problems: string[] = [];
  if (production && e.METRICS_TOKEN === undefined && e.METRICS_PORT === undefined)
    problems.push(
      'METRICS_TOKEN, METRICS_PORT: set one in production, so /metrics and the readiness detail are not public',
    );
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT)
    problems.push('METRICS_PORT: must differ from PORT');
  return problems;
}
