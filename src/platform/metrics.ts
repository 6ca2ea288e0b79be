import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per running app (tests run several in one process), exposed at `/metrics`. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    graphqlOperations: new Counter({
      name: 'graphql_operations_total',
      help: 'GraphQL operations by name, type and outcome (ok, error)',
      labelNames: ['operation', 'type', 'outcome'] as const,
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'http_rate_limited_total',
      help: 'Requests refused with 429, by limit',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    dbQueries: new Counter({
      name: 'db_queries_total',
      help: 'SQL statements sent through Prisma',
      registers: [registry],
    }),
    webhooks: new Counter({
      name: 'webhook_requests_total',
      help: 'Webhook deliveries by platform and outcome (accepted, duplicate, ignored, malformed, unauthorized, unknown_bot)',
      labelNames: ['platform', 'outcome'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'auth_failures_total',
      help: 'Requests refused with 401, by credential kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'jobs_total',
      help: 'Job attempts run by this worker, by task and outcome (success; error: will be retried; permanent_failure: no attempts left)',
      labelNames: ['task', 'outcome'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'job_duration_seconds',
      help: 'How long job attempts ran, by task and outcome',
      labelNames: ['task', 'outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    jobsRecovered: new Counter({
      name: 'jobs_recovered_total',
      help: 'Jobs freed from workers that stopped answering, by task and outcome (RELEASED: runs again; SUPERSEDED: removed, a newer job with its key does the work; FAILED: it was the last attempt)',
      labelNames: ['task', 'outcome'] as const,
      registers: [registry],
    }),
    jobRecoveryLatency: new Histogram({
      name: 'job_recovery_latency_seconds',
      help: "From a dead worker's last heartbeat to its jobs being freed, per dead worker",
      buckets: [1, 2, 5, 10, 20, 30, 45, 60, 120, 300, 900, 3600],
      registers: [registry],
    }),
    outboxPending: new Gauge({
      name: 'outbox_pending',
      help: 'Rows waiting to be processed, by outbox (inbound: messages received; send: messages to send) and channel',
      labelNames: ['outbox', 'channel'] as const,
      registers: [registry],
    }),
    outboxOldestPending: new Gauge({
      name: 'outbox_oldest_pending_seconds',
      help: 'How long the oldest waiting row has waited, by outbox and channel (0 when none waits)',
      labelNames: ['outbox', 'channel'] as const,
      registers: [registry],
    }),
    llmCalls: new Counter({
      name: 'llm_calls_total',
      help: 'Language model calls by provider, model and outcome (ok; failed: provider in trouble; rejected: request refused; error: our bug)',
      labelNames: ['provider', 'model', 'outcome'] as const,
      registers: [registry],
    }),
    llmCallDuration: new Histogram({
      name: 'llm_call_duration_seconds',
      help: 'How long language model calls took, by provider and outcome',
      labelNames: ['provider', 'outcome'] as const,
      buckets: [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120],
      registers: [registry],
    }),
    llmFallbacks: new Counter({
      name: 'llm_fallbacks_total',
      help: 'Calls that left a provider for the next one, by reason (timeout, rate_limited, overloaded, server_error, network, misconfigured, circuit_open)',
      labelNames: ['from', 'to', 'reason'] as const,
      registers: [registry],
    }),
    llmTokens: new Counter({
      name: 'llm_tokens_total',
      help: 'Tokens of answered language model calls, by provider, model and kind (input, output, cache_read, cache_write)',
      labelNames: ['provider', 'model', 'kind'] as const,
      registers: [registry],
    }),
    llmBudgetRefusals: new Counter({
      name: 'llm_budget_refusals_total',
      help: 'Language model calls refused because a budget was used up, by scope (user, new_account, organization, platform)',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    llmPlatformBudgetUsed: new Gauge({
      name: 'llm_platform_budget_used_ratio',
      help: "The share of the platform's daily model ceiling used today, by limit (tokens, cost); at 1 every call is refused",
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
