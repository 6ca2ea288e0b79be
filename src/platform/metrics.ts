import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per running app (tests run several in one process), exposed at `/metrics`. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = <Label extends string = string>(
    name: string,
    help: string,
    labelNames: readonly Label[] = [],
  ) => new Counter<Label>({ name, help, labelNames, registers: [registry] });
  const gauge = <Label extends string = string>(
    name: string,
    help: string,
    labelNames: readonly Label[] = [],
  ) => new Gauge<Label>({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    graphqlOperations: counter(
      'graphql_operations_total',
      'GraphQL operations by name, type and outcome (ok, error)',
      ['operation', 'type', 'outcome'],
    ),
    rateLimited: counter('http_rate_limited_total', 'Requests refused with 429, by limit', ['limit']),
    dbQueries: counter('db_queries_total', 'SQL statements sent through Prisma'),
    webhooks: counter(
      'webhook_requests_total',
      'Webhook deliveries by platform and outcome (accepted, duplicate, ignored, malformed, unauthorized, unknown_bot, error: answered 500)',
      ['platform', 'outcome'],
    ),
    webhookBatches: new Histogram({
      name: 'webhook_batch_events',
      help: 'Inbound webhook events per batch of the group commit, by outcome (committed; failed: every delivery in it answered 500)',
      labelNames: ['outcome'] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [registry],
    }),
    authFailures: counter('auth_failures_total', 'Requests refused with 401, by credential kind', ['kind']),
    jobs: counter(
      'jobs_total',
      'Job attempts run by this worker, by task and outcome (success; error: will be retried; permanent_failure: no attempts left)',
      ['task', 'outcome'],
    ),
    jobDuration: new Histogram({
      name: 'job_duration_seconds',
      help: 'How long job attempts ran, by task and outcome',
      labelNames: ['task', 'outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    jobsRecovered: counter(
      'jobs_recovered_total',
      'Jobs freed from workers that stopped answering, by task and outcome (RELEASED: runs again; SUPERSEDED: removed, a newer job with its key does the work; FAILED: it was the last attempt)',
      ['task', 'outcome'],
    ),
    jobRecoveryLatency: new Histogram({
      name: 'job_recovery_latency_seconds',
      help: "From a dead worker's last heartbeat to its jobs being freed, per dead worker",
      buckets: [1, 2, 5, 10, 20, 30, 45, 60, 120, 300, 900, 3600],
      registers: [registry],
    }),
    outboxPending: gauge(
      'outbox_pending',
      'Rows waiting to be processed, by outbox (inbound: messages received; send: messages to send) and channel',
      ['outbox', 'channel'],
    ),
    outboxOldestPending: gauge(
      'outbox_oldest_pending_seconds',
      'How long the oldest waiting row has waited, by outbox and channel (0 when none waits)',
      ['outbox', 'channel'],
    ),
    a2aEnvelopes: counter(
      'a2a_envelopes_total',
      'A2A envelopes by intent, direction (outbound, inbound) and outcome (sent, retry, waiting, failed, expired; accepted, rejected, duplicate)',
      ['intent', 'direction', 'outcome'],
    ),
    a2aBreakerState: gauge(
      'a2a_breaker_state',
      'A2A circuit breakers by scope (global, recipient:<agent>): 0 closed, 1 half-open, 2 open',
      ['scope'],
    ),
    clawpulseInboxPending: gauge(
      'clawpulse_inbox_pending',
      "Messages in the embedded ClawPulse gateway's inboxes not yet acknowledged, by the recipient's kind (consumer, venue, platform)",
      ['kind'],
    ),
    clawpulseInboxOldestPending: gauge(
      'clawpulse_inbox_oldest_pending_seconds',
      "How long the oldest unacknowledged message in the embedded gateway's inboxes has waited since it arrived, by the recipient's kind (0 when none waits)",
      ['kind'],
    ),
    a2aDecisionSeconds: new Histogram({
      name: 'a2a_decision_seconds',
      help: "From a booking request reaching a venue's agent to its answer being queued, by outcome (accept, decline, escalate)",
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    a2aInboxLagSeconds: new Histogram({
      name: 'a2a_inbox_lag_seconds',
      help: "How long a message waited in an agent's gateway inbox before we read it, by the recipient's kind (consumer, venue, platform)",
      labelNames: ['kind'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
      registers: [registry],
    }),
    llmCalls: counter(
      'llm_calls_total',
      'Language model calls by provider, model and outcome (ok; failed: provider in trouble; rejected: request refused; error: our bug)',
      ['provider', 'model', 'outcome'],
    ),
    llmCallDuration: new Histogram({
      name: 'llm_call_duration_seconds',
      help: 'How long language model calls took, by provider and outcome',
      labelNames: ['provider', 'outcome'] as const,
      buckets: [0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120],
      registers: [registry],
    }),
    llmFallbacks: counter(
      'llm_fallbacks_total',
      'Calls that left a provider for the next one, by reason (timeout, rate_limited, overloaded, server_error, network, misconfigured, circuit_open)',
      ['from', 'to', 'reason'],
    ),
    llmTokens: counter(
      'llm_tokens_total',
      'Tokens of answered language model calls, by provider, model and kind (input, output, cache_read, cache_write)',
      ['provider', 'model', 'kind'],
    ),
    llmBudgetRefusals: counter(
      'llm_budget_refusals_total',
      'Language model calls refused because a budget was used up, by scope (user, new_account, organization, platform)',
      ['scope'],
    ),
    llmPlatformBudgetUsed: gauge(
      'llm_platform_budget_used_ratio',
      "The share of the platform's daily model ceiling used today, by limit (tokens, cost); at 1 every call is refused",
      ['limit'],
    ),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
