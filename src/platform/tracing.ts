/**
 * OpenTelemetry tracing, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test hands in an
 * exporter). Off, nothing of the SDK is loaded: every helper here answers from one module
 * variable, and callers ask `tracingActive()` before building anything per request.
 *
 * What is traced, and how:
 * - HTTP requests: a server span per request, made by src/platform/http.ts (`traceHttpRequest`),
 *   continuing the caller's W3C `traceparent` when it sends one;
 * - GraphQL operations: `@envelop/opentelemetry`, added to Yoga by src/api/yoga.ts
 *   (`graphqlTracingPlugin`); resolvers run inside the operation's span;
 * - Prisma: `@prisma/instrumentation` (the client reads it from a global, whatever loaded first);
 * - pg and ioredis: their OpenTelemetry instrumentations. These patch a module when it is
 *   `require`d, and an ESM `import` of these CommonJS packages does not pass their hook, so
 *   `startTracing` requires both itself once the hooks are in: that patches the classes'
 *   prototypes, shared with every copy imported before or after (no `--import` loader flag is
 *   needed). Only statements and commands made inside a span are traced, so graphile-worker's
 *   polling and the pub/sub connection stay out of the traces;
 * - outbound HTTP (Telegram, Anthropic, Stripe, ClawPulse, all on `fetch`): undici's
 *   diagnostics channels, which need no module patching;
 * - jobs: a span per run (`traceJob`, from src/worker/handler.ts), linked to the span that
 *   enqueued the job, whose `traceparent` travels in the payload's reserved `_trace` key
 *   (src/platform/jobs.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { useOpenTelemetry } from '@envelop/opentelemetry';
import type * as Api from '@opentelemetry/api';
import type { SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';

export interface TracingOptions {
  /** The collector's OTLP/HTTP base URL; spans are batched to `<endpoint>/v1/traces`. */
  endpoint: string | undefined;
  serviceName: string;
  /** Instead of a collector (tests): every span is handed to it as it ends. */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** Sends the spans not yet exported. */
  flush(): Promise<void>;
  /** Flushes, then stops tracing (instrumentations disabled, globals cleared). */
  shutdown(): Promise<void>;
}

interface Runtime {
  api: typeof Api;
  tracer: Api.Tracer;
  provider: TracerProvider;
  /** A GraphQL envelop plugin, built once from `@envelop/opentelemetry`. */
  graphqlPlugin: GraphqlTracingPlugin;
}

// One per process: OpenTelemetry's tracer provider, context manager and propagator are globals.
let runtime: Runtime | null = null;

/** True once tracing has started: the one check the hot paths make. */
export function tracingActive(): boolean {
  return runtime !== null;
}

/**
 * Starts tracing when an endpoint (or an exporter) is given; null otherwise, having loaded
 * nothing. Call it before creating the logger, which adds trace ids only when tracing is on.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing | null> {
  if (!options.endpoint && !options.exporter) return null;
  if (runtime) throw new Error('Tracing is already started in this process');
  const [
    api,
    sdk,
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    { resourceFromAttributes },
    { registerInstrumentations },
    { PgInstrumentation },
    { IORedisInstrumentation },
    { UndiciInstrumentation },
    { PrismaInstrumentation },
    { useOpenTelemetry },
  ] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/instrumentation'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-undici'),
    import('@prisma/instrumentation'),
    import('@envelop/opentelemetry'),
  ]);
  let processor: InstanceType<typeof sdk.SimpleSpanProcessor | typeof sdk.BatchSpanProcessor>;
  if (options.exporter) {
    processor = new sdk.SimpleSpanProcessor({ exporter: options.exporter });
  } else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processor = new sdk.BatchSpanProcessor({
      exporter: new OTLPTraceExporter({ url: `${options.endpoint}/v1/traces` }),
    });
  }
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [processor],
  });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager());
  api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  api.trace.setGlobalTracerProvider(provider);
  const disableInstrumentations = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Outside a span these would be graphile-worker's polling and the pub/sub connection,
      // each a trace of its own, every few seconds, telling nothing.
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new UndiciInstrumentation({
        requireParentforSpans: true,
        // An address as a trace may keep it: no bot token, no query (a weather call's is a place).
        requestHook: (span, request) => {
          const url = new URL(request.path, request.origin);
          const path = redactedPath(url.pathname);
          span.setAttribute('url.full', `${url.origin}${path}`);
          span.setAttribute('url.path', path);
          span.setAttribute('url.query', '');
        },
      }),
      new PrismaInstrumentation(),
    ],
  });
  // The patches happen on `require` (see above); these are the copies every import shares.
  const require = createRequire(import.meta.url);
  require('pg');
  require('ioredis');
  runtime = {
    api,
    tracer: provider.getTracer('agnt'),
    provider,
    // Operation spans only: a span per resolver would cost more than most resolvers do. The
    // document is recorded unless it has inline arguments (values belong in variables, which
    // are never recorded: they may hold personal data).
    graphqlPlugin: useOpenTelemetry(
      { resolvers: false, variables: false, result: false },
      provider,
      api.SpanKind.INTERNAL,
      {},
      'graphql',
    ),
  };
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      disableInstrumentations();
      await provider.shutdown();
      api.trace.disable();
      api.propagation.disable();
      api.context.disable();
      runtime = null;
    },
  };
}

/** A URL path with the secrets some services put in it (Telegram's `/bot<token>/…`) left out. */
export function redactedPath(path: string): string {
  return path.replace(/\/bot\d+:[^/]+/g, '/bot<token>');
}

export type GraphqlTracingPlugin = ReturnType<typeof useOpenTelemetry>;

/** The GraphQL operation plugin (an envelop plugin), or null when tracing is off. */
export function graphqlTracingPlugin(): GraphqlTracingPlugin | null {
  return runtime?.graphqlPlugin ?? null;
}

/**
 * Runs an HTTP request's handling inside a server span named by its route (`POST /graphql`),
 * continuing the trace the caller's `traceparent` header names. The span ends when the response
 * closes. Only call it when `tracingActive()`.
 */
export function traceHttpRequest(
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  handle: () => Promise<void>,
): Promise<void> {
  if (!runtime) return handle();
  const { api, tracer } = runtime;
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const method = req.method ?? 'GET';
  const span = tracer.startSpan(
    `${method} ${route}`,
    {
      kind: api.SpanKind.SERVER,
      // The path without its query (a webhook handshake's carries a verify token).
      attributes: {
        'http.request.method': method,
        'http.route': route,
        'url.path': redactedPath((req.url ?? '/').split('?')[0]!),
      },
    },
    parent,
  );
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
    span.end();
  });
  return api.context.with(api.trace.setSpan(parent, span), handle);
}

/** The current span as a W3C `traceparent`, or undefined when tracing is off or no span is active. */
export function currentTraceparent(): string | undefined {
  if (!runtime) return undefined;
  const span = runtime.api.trace.getActiveSpan()?.spanContext();
  if (!span || !runtime.api.isSpanContextValid(span)) return undefined;
  return `00-${span.traceId}-${span.spanId}-0${span.traceFlags & 1}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TracedJob {
  task: string;
  id: string;
  attempt: number;
  /** Where the job was enqueued, when it was enqueued inside a span. */
  traceparent: string | undefined;
}

/**
 * Runs one attempt of a job inside a span of its own trace (`job <task>`), linked to the span
 * that enqueued it: a job outlives the request that caused it (it may run hours later, or
 * again), so it is not that request's child. Only call it when `tracingActive()`.
 */
export function traceJob<T>(job: TracedJob, run: () => Promise<T>): Promise<T> {
  if (!runtime) return run();
  const { api, tracer } = runtime;
  const origin = job.traceparent ? TRACEPARENT.exec(job.traceparent) : null;
  const links: Api.Link[] = origin
    ? [
        {
          context: {
            traceId: origin[1] as string,
            spanId: origin[2] as string,
            traceFlags: Number.parseInt(origin[3] as string, 16),
            isRemote: true,
          },
        },
      ]
    : [];
  return tracer.startActiveSpan(
    `job ${job.task}`,
    {
      kind: api.SpanKind.CONSUMER,
      root: true,
      links,
      attributes: { 'job.task': job.task, 'job.id': job.id, 'job.attempt': job.attempt },
    },
    async (span) => {
      try {
        return await run();
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * `trace_id` and `span_id` of the active span, for every log line (a pino mixin). A new object
 * each time: pino merges the line's own fields into it.
 */
export function traceLogFields(): Record<string, string> {
  const span = runtime?.api.trace.getActiveSpan()?.spanContext();
  if (!span) return {};
  return { trace_id: span.traceId, span_id: span.spanId };
}
