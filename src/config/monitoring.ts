/**
 * Where /metrics and the readiness detail are served, and the token they need; where traces go;
 * from how long an operation is logged as slow.
 */
import { z } from 'zod';
import { type Context, optional, port, trimSlash, url } from './parse.ts';

export const monitoringEnv = z.object({
  // Monitoring: /metrics and the readiness detail need this bearer token, or are on this port only.
  METRICS_TOKEN: optional(z.string().min(16, 'at least 16 characters')),
  METRICS_PORT: optional(port),
  // Tracing: OpenTelemetry spans go over OTLP/HTTP to this collector (its base URL); unset, none are made.
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(url.transform(trimSlash)),
  OTEL_SERVICE_NAME: z.string().min(1).default('agnt'),
  // A GraphQL operation or job that takes longer is logged (warn) with its SQL breakdown; 0: never.
  SLOW_OPERATION_MS: z.coerce.number().int().min(0).default(1000),
});
type MonitoringEnv = z.output<typeof monitoringEnv>;

export function monitoringConfig(e: MonitoringEnv) {
  return {
    /** Bearer token for /metrics and the readiness detail, wherever they are served. */
    token: e.METRICS_TOKEN,
    /** A listener of their own; the public port then serves neither. */
    port: e.METRICS_PORT,
    /** The OTLP/HTTP collector's base URL (spans go to `<endpoint>/v1/traces`); unset: no tracing. */
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    /** `service.name` on every span. */
    serviceName: e.OTEL_SERVICE_NAME,
    /** Operations and jobs slower than this are logged with their SQL breakdown; 0 turns it off. */
    slowOperationMs: e.SLOW_OPERATION_MS,
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
