import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';

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
    jobs: new CountsAndDurations<'task' | 'outcome'>(registry, {
      count: {
        name: 'jobs_total',
        help: 'Job attempts run by this worker, by task and outcome (success; error: will be retried; permanent_failure: no attempts left)',
      },
      duration: { name: 'job_duration_seconds', help: 'How long job attempts ran, by task and outcome' },
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
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
    inboundFailed: gauge(
      'inbound_failed_last_day',
      'Chat messages received in the last 24 hours that could not be handled (FAILED, kept with their error for an operator; the person may have had no answer), by channel',
      ['channel'],
    ),
    deliveriesUnplaced: gauge(
      'delivery_orders_unplaced',
      'Delivery orders Lalamove has not confirmed (PLACING: the call may not have been made; PLACEMENT_UNKNOWN: no answer), by status: each needs an operator once it is minutes old',
      ['status'],
    ),
    deliveriesUnplacedOldest: gauge(
      'delivery_orders_unplaced_oldest_seconds',
      'How long the oldest unconfirmed delivery order has waited, by status (0 when none waits)',
      ['status'],
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

/** One series of `CountsAndDurations`: its labels' count and durations. */
export interface CountAndDuration {
  /** One event, with its duration in seconds when it is known. */
  add(seconds: number | null): void;
}

interface SeriesState {
  labels: Record<string, string>;
  count: number;
  /** Observations per bucket (not cumulative), the last one past every bound. */
  buckets: number[];
  sum: number;
  observed: number;
}

/**
 * A counter and a histogram of durations over the same labels, for a hot path (every job a
 * worker runs, thousands a second): the caller looks a series up once and then adds to it with
 * plain arithmetic, where prom-client's own metrics check and hash the labels on every call,
 * bound or not. Both are exposed on the registry as prom-client's Counter and Histogram expose
 * theirs (`<name>` for the count; `<name>_bucket`, `_sum` and `_count` for the durations).
 */
export class CountsAndDurations<Label extends string> {
  readonly #series = new Map<string, SeriesState>();
  readonly #bounds: readonly number[];

  constructor(
    registry: Registry,
    spec: {
      count: { name: string; help: string };
      duration: { name: string; help: string };
      buckets: readonly number[];
    },
  ) {
    this.#bounds = [...spec.buckets].sort((a, b) => a - b);
    // A series is shown once it was used, as prom-client's are: counted, or a duration observed.
    const all = () => [...this.#series.values()];
    registry.registerMetric(
      collected(
        spec.count.name,
        spec.count.help,
        'counter',
        () =>
          all()
            .filter((one) => one.count > 0)
            .map((one) => ({ labels: one.labels, value: one.count })),
        () => {
          for (const one of all()) one.count = 0;
        },
      ),
    );
    const { name } = spec.duration;
    registry.registerMetric(
      collected(
        name,
        spec.duration.help,
        'histogram',
        () =>
          all().flatMap((one) => {
            if (one.observed === 0) return [];
            let cumulative = 0;
            return [
              ...this.#bounds.map((le, i) => {
                cumulative += one.buckets[i] ?? 0;
                return { metricName: `${name}_bucket`, labels: { le, ...one.labels }, value: cumulative };
              }),
              { metricName: `${name}_bucket`, labels: { le: '+Inf', ...one.labels }, value: one.observed },
              { metricName: `${name}_sum`, labels: one.labels, value: one.sum },
              { metricName: `${name}_count`, labels: one.labels, value: one.observed },
            ];
          }),
        () => {
          for (const one of all()) {
            one.buckets = [];
            one.sum = 0;
            one.observed = 0;
          }
        },
      ),
    );
  }

  /** The series of these labels, to keep and add to. */
  series(labels: Record<Label, string>): CountAndDuration {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    let state = this.#series.get(key);
    if (!state) {
      state = { labels: { ...labels }, count: 0, buckets: [], sum: 0, observed: 0 };
      this.#series.set(key, state);
    }
    const one = state;
    const bounds = this.#bounds;
    return {
      add(seconds) {
        one.count += 1;
        if (seconds === null || !Number.isFinite(seconds)) return;
        // The first bound at or above the value, as prom-client's `le` buckets.
        let i = 0;
        while (i < bounds.length && seconds > (bounds[i] as number)) i += 1;
        one.buckets[i] = (one.buckets[i] ?? 0) + 1;
        one.sum += seconds;
        one.observed += 1;
      },
    };
  }
}

/**
 * A metric for the registry whose values are computed when it is read. The registry asks a
 * metric for its name, `get()` and `reset()` only; its type admits prom-client's classes.
 */
function collected(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  values: () => { labels: Record<string, string | number>; value: number; metricName?: string }[],
  reset: () => void,
): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, values: values(), aggregator: 'sum' as const }),
    reset,
  };
  return metric as unknown as Metric;
}
